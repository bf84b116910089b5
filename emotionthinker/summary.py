"""The key figures of each stage, from its metrics file: one line per stage for the console
(``emotionthinker summary``) and for the Prefect artifacts of ``flows/pipeline.py``."""

from __future__ import annotations

import json
from pathlib import Path


def _load(metrics_dir: Path, name: str) -> dict | None:
    path = Path(metrics_dir) / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _f(x, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def stage_figures(stage: str, metrics_dir: Path = Path("metrics")) -> str | None:
    """One line of the stage's key figures, or None when its metrics file is missing. ``stage`` is a dvc.yaml stage
    name (``grpo@grpo_ptr`` reads ``metrics/grpo_ptr.json``)."""
    name = {"validate": "validation", "evaluate": "eval"}.get(stage, stage.split("@")[-1])
    m = _load(metrics_dir, name)
    if m is None:
        return None
    if stage == "ingest":
        return (f"{m['clips']} clips ({m['hours']:.2f} h), split {m['split']}, quarantined {m['quarantined']} "
                f"{m['quarantined_by_reason'] or ''}")  # fmt: skip
    if stage == "prosody":
        stress = m.get("stress_vs_known") or {}
        f0 = {g: v["p50"] for g, v in m["f0_by_gender_hz"].items()}
        return f"status {m['label_counts']['status']}; F0 median by gender (Hz) {f0}" + (
            f"; stress F1 vs known emphasis {stress['f1']}" if stress else "")  # fmt: skip
    if stage == "annotate":
        cot = m["emotioncot"]
        return (f"{cot['records']} EmotionCoT records, {cot['words']['median']} words median, distinct 4-grams "
                f"{cot['distinct_4gram_ratio_1000']}; judge means {cot['judge_mean']}; tasks {m['sft_tasks']}; "
                f"{m['rm']['records']} reward-model records")  # fmt: skip
    if stage == "validate":
        return (f"{'passed' if m['success'] else 'FAILED'}: {m['passed']}/{m['evaluated']} expectations; "
                f"{m['critical_failures']} critical, {m['warning_failures']} warning failures")  # fmt: skip
    if stage == "sft":
        ev = m["eval"]
        tasks = ", ".join(f"{t} {_f(r.get('after_cold_start', r.get('after_prosody')))}" for t, r in ev.items())
        cot = ev.get("emotion_cot", {})
        return (f"val: {tasks} (majority emotion {_f(cot.get('majority'))}, format {_f(cot.get('format_rate'))}); "
                f"{m.get('work_seconds', m['total_seconds']):.0f} s")  # fmt: skip
    if stage == "reward_model":
        val = m["val"] or {}
        dims = val.get("dimensions", {})
        rho = ", ".join(f"{d.split('_')[0]} {_f(v.get('spearman'))}" for d, v in dims.items())
        pw = (val.get("pairwise_accuracy") or {}).get("overall")
        policy = val.get("policy")
        on_policy = f"; R_t Spearman on policy samples {_f(policy['reward']['spearman'])}" if policy else ""
        return f"val Spearman {rho}; pairwise accuracy {_f(pw)}{on_policy}; {m['total_seconds']:.0f} s"
    if stage == "policy_samples":
        parts = [f"{s} {v['rows']} answers, format {_f(v.get('format_rate'))}, accuracy {_f(v.get('accuracy'))}, "
                 f"judge IQ {_f(v.get('judge', {}).get('interpretative_quality'), 2)}"
                 for s, v in m["splits"].items() if v["rows"]]  # fmt: skip
        return "; ".join(parts or ["off (reward_model.policy_samples.per_clip: 0)"]) + f"; {m['total_seconds']:.0f} s"
    if stage.startswith("grpo"):
        b, a, t = m["val"]["before"], m["val"]["after"], m["training"]
        on = t["reasoning_switched_on_step"]
        return (f"val accuracy {_f(b['accuracy'])} -> {_f(a['accuracy'])}, judge {_f(b['judge_overall'], 2)} -> "
                f"{_f(a['judge_overall'], 2)}, format {_f(a['format_rate'])}; {t['steps']} steps, R_t "
                + ("never on" if on is None else f"on at step {on}") + f"; {m['total_seconds']:.0f} s")  # fmt: skip
    if stage == "evaluate":
        rows = {**{n: c["summary"] for n, c in m["candidates"].items()}, "baseline": m["baseline"]}
        return "; ".join(f"{n} UAR {_f(s['uar'])} acc {_f(s['accuracy'])}" for n, s in rows.items())
    if stage == "promote":
        return f"{m['decision']}: {m['reason']} (served: {m.get('served') or 'nothing yet'})"
    return json.dumps({k: v for k, v in m.items() if not isinstance(v, (dict, list))})
