"""Reasoning quality of generated answers: the judge's four dimensions, the reward model's, and whether a
rationale's own cues support its own answer.

The scores come from the scorers GRPO-PTR rewards with (``emotionthinker.rewards.JudgeReward`` and
``ReasoningRewardModel``), so the metric and the reward cannot drift apart.

>>> supports_answer("<think>Her voice is low and slow.</think><answer>sad</answer>")
True
>>> supports_answer("<think>She speaks loudly and fast.</think><answer>sad</answer>")
False
>>> supports_answer("<think>Hard to say.</think><answer>sad</answer>") is None
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from emotionthinker.annotate.lexicon import evidence, find_claims
from emotionthinker.judge.scoring import DIMENSIONS, rationale_of
from emotionthinker.labels import DEFAULT_LABELS, normalise
from emotionthinker.prompts import parse_answer


def supports_answer(completion: str, labels: Sequence[str] = DEFAULT_LABELS) -> bool | None:
    """True when the prosodic cues the rationale claims add up to support for its own answer (the lexicon's evidence
    table, -2..+2 per cue and emotion, summed over distinct cues), False when they add up to zero or less; None
    when there is no answer of the label set or no cue to weigh."""
    answer = parse_answer(completion, labels)
    if answer is None:
        return None
    cues = {(a, v) for a, v, _ in find_claims(rationale_of(completion)) if a not in ("gender", "stress")}
    if not cues:
        return None
    return sum(evidence(normalise(answer), a, v) for a, v in cues) > 0


def score_matrix(scores: Sequence[Mapping[str, float]]) -> np.ndarray:
    """``(n, 4)`` from the per-completion dicts that ``JudgeReward.scores`` and ``ReasoningRewardModel.scores``
    return (the rewards GRPO-PTR trains with, so that metric and reward are one scorer)."""
    rows = [[s[d] for d in DIMENSIONS] for s in scores]
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(DIMENSIONS))


def summarise(scores: np.ndarray, weights: Sequence[float] = (0.25, 0.25, 0.25, 0.25)) -> dict:
    """Mean of each dimension, the mean overall score (1-5) and the mean R_t = sum_j w_j g_j / 5."""
    if len(scores) == 0:
        return {"n": 0}
    means = scores.mean(axis=0)
    return {
        "n": int(len(scores)),
        **{d: round(float(m), 4) for d, m in zip(DIMENSIONS, means, strict=True)},
        "overall": round(float(scores.mean()), 4),
        "reward": round(float((scores @ np.asarray(weights)).mean() / 5.0), 4),
    }


def consistency(completions: Sequence[str], labels: Sequence[str]) -> dict:
    """The share of rationales whose cues support their own answer, over those that have an answer and a cue."""
    verdicts = [supports_answer(c, labels) for c in completions]
    known = [v for v in verdicts if v is not None]
    return {"rate": round(sum(known) / len(known), 4) if known else None, "n": len(known)}
