"""Model selection: rank the evaluated candidates, apply the gates, compare the winner with the model in production.

>>> cands = {"a": {"uar": 0.5, "judge_overall": 3.0, "format_rate": 1.0},
...          "b": {"uar": 0.5, "judge_overall": 3.5, "format_rate": 0.95},
...          "c": {"uar": 0.7, "judge_overall": 4.0, "format_rate": 0.2}}
>>> ranking(cands, "uar", min_format_rate=0.9)
(['b', 'a'], {'c': 'format rate 0.200 is below promote.min_format_rate 0.9'})
>>> decide(0.5, None, 0.0).promote, decide(0.5, 0.6, 0.05).promote, decide(0.58, 0.6, 0.05).promote
(True, False, True)
"""

from __future__ import annotations

from dataclasses import dataclass

TIE_BREAK = "judge_overall"


def ranking(summaries: dict[str, dict], metric: str, min_format_rate: float) -> tuple[list[str], dict[str, str]]:
    """Candidates that pass the gates, best first (by ``metric``, then the judge's reasoning score), and why each of
    the others was left out."""
    passed, rejected = [], {}
    for name, s in summaries.items():
        value, fmt = s.get(metric), s.get("format_rate")
        if value is None:
            rejected[name] = f"no {metric} in its evaluation"
        elif fmt is None or fmt < min_format_rate:
            rejected[name] = (
                f"format rate {0.0 if fmt is None else fmt:.3f} is below promote.min_format_rate {min_format_rate}"
            )
        else:
            passed.append(name)
    passed.sort(key=lambda n: (summaries[n][metric], summaries[n].get(TIE_BREAK) or 0.0), reverse=True)
    return passed, rejected


@dataclass
class Decision:
    promote: bool
    reason: str


def decide(candidate: float, incumbent: float | None, tolerance: float, metric: str = "uar") -> Decision:
    """Promote when there is no model in production or the candidate is no worse than it by more than ``tolerance``
    on ``metric`` (measured on the same test clips)."""
    if incumbent is None:
        return Decision(True, "no model in production yet")
    if candidate + tolerance >= incumbent:
        return Decision(
            True, f"{metric} {candidate:.4f} against {incumbent:.4f} in production (tolerance {tolerance})"
        )
    gap = f"{metric} {candidate:.4f} is below {incumbent:.4f} of the model in production"
    return Decision(False, f"{gap} by more than promote.tolerance {tolerance}; the model in production stays")
