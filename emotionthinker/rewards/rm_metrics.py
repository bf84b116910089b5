"""Validation metrics of the reasoning reward model: per-dimension Spearman and MAE, and pairwise accuracy of R_t
between each gold rationale and its own degradations; on the policy's own sampled answers (kind ``policy``, from the
policy_samples stage), Spearman and MAE apart, as those are what GRPO asks the reward model to rank.

A note on Spearman here: the judge clamps its scores to 1-5, and most rows score exactly 5 on factual alignment and
caption completeness. A continuous prediction breaks those ties, so even a perfect ranking of the groups cannot
reach a rank correlation of 1 (about 0.70 and 0.62 on the default data). ``score_of`` clamps predictions to 1-5 the
same way, which restores the ties for rows the model puts beyond a bound; metrics report both (``spearman`` on the
clamped scores, ``spearman_raw`` on the unclamped ones).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from emotionthinker.judge.scoring import DIMENSIONS

GOLD = "gold"
POLICY = "policy"  # a sampled answer of the SFT model, scored by the judge: not a degradation of the gold row


def spearman(pred: Sequence[float], target: Sequence[float]) -> float:
    """Spearman rank correlation (ties get their mean rank); nan when either side is constant or has < 2 values.

    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40])
    1.0
    >>> spearman([4, 3, 2, 1], [1, 2, 3, 5])
    -1.0
    """
    from scipy.stats import spearmanr

    p, t = np.asarray(pred, dtype=float), np.asarray(target, dtype=float)
    if len(p) != len(t):
        raise ValueError(f"spearman: {len(p)} predictions for {len(t)} targets")
    if len(p) < 2 or np.ptp(p) == 0 or np.ptp(t) == 0:
        return float("nan")
    return float(spearmanr(p, t).statistic)


def mae(pred: Sequence[float], target: Sequence[float]) -> float:
    """Mean absolute error.

    >>> mae([1.0, 2.0, 5.0], [1.5, 2.0, 4.0])
    0.5
    """
    p, t = np.asarray(pred, dtype=float), np.asarray(target, dtype=float)
    if len(p) != len(t) or not len(p):
        raise ValueError(f"mae: {len(p)} predictions for {len(t)} targets")
    return float(np.mean(np.abs(p - t)))


def reward_of(scores: np.ndarray | Sequence[Sequence[float]], weights: Sequence[float]) -> np.ndarray:
    """R_t = sum_j w_j * g_j / 5 for each row of 1-5 scores (columns in ``DIMENSIONS`` order).

    >>> reward_of([[5, 5, 5, 5], [1, 3, 5, 5]], [0.25] * 4).tolist()
    [1.0, 0.7]
    """
    s = np.asarray(scores, dtype=float).reshape(-1, len(DIMENSIONS))
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(DIMENSIONS),):
        raise ValueError(f"need {len(DIMENSIONS)} weights, got {len(w)}")
    return s @ w / 5.0


def pairwise_accuracy(rows: Sequence[Mapping], rewards: Sequence[float]) -> dict:
    """Share of (gold, degradation) pairs of the same ``utt_id`` whose gold reward is strictly higher, overall and
    per degradation ``kind``; ``pairs`` counts them. Rows without a gold row of their utt_id, and policy samples
    (which may be as good as the gold row), are not paired.

    >>> rows = [{"utt_id": "a", "kind": "gold"}, {"utt_id": "a", "kind": "truncate"},
    ...         {"utt_id": "a", "kind": "break_tags"}, {"utt_id": "b", "kind": "gold"},
    ...         {"utt_id": "b", "kind": "truncate"}]
    >>> pairwise_accuracy(rows, [0.9, 0.5, 0.9, 0.8, 0.3])
    {'overall': 0.6666666666666666, 'pairs': 3, 'by_kind': {'break_tags': 0.0, 'truncate': 1.0}}
    """
    if len(rows) != len(rewards):
        raise ValueError(f"pairwise_accuracy: {len(rewards)} rewards for {len(rows)} rows")
    gold: dict[str, list[float]] = defaultdict(list)
    for r, x in zip(rows, rewards, strict=True):
        if r["kind"] == GOLD:
            gold[r["utt_id"]].append(float(x))
    wins: dict[str, list[bool]] = defaultdict(list)
    for r, x in zip(rows, rewards, strict=True):
        if r["kind"] not in (GOLD, POLICY):
            for g in gold.get(r["utt_id"], ()):
                wins[r["kind"]].append(g > float(x))
    flat = [w for v in wins.values() for w in v]
    return {
        "overall": sum(flat) / len(flat) if flat else float("nan"),
        "pairs": len(flat),
        "by_kind": {k: sum(v) / len(v) for k, v in sorted(wins.items())},
    }


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 4)


def mae_by_kind(rows: Sequence[Mapping], predicted: np.ndarray, targets: np.ndarray) -> dict[str, dict[str, float]]:
    """Mean absolute error per row ``kind`` and dimension: which degradations the model misjudges, and on what.

    >>> mae_by_kind([{"kind": "gold"}, {"kind": "truncate"}, {"kind": "gold"}],
    ...             np.array([[5, 5, 5, 5], [5, 5, 5, 3], [4, 5, 5, 5]]), np.full((3, 4), 5.0))["gold"]
    {'factual_alignment': 0.5, 'interpretative_quality': 0.0, 'caption_completeness': 0.0, 'fluency_structure': 0.0}
    """
    kinds = np.array([r["kind"] for r in rows])
    return {
        k: {d: _finite(mae(predicted[kinds == k, j], targets[kinds == k, j])) for j, d in enumerate(DIMENSIONS)}
        for k in sorted(set(kinds.tolist()))
    }


def _agreement(predicted: np.ndarray, targets: np.ndarray, weights: Sequence[float], raw: np.ndarray | None) -> dict:
    out: dict = {"rows": len(predicted), "dimensions": {}}
    if not len(predicted):  # every row was of the other group
        none = {"spearman": None, "mae": None}
        return {**out, "dimensions": {d: dict(none) for d in DIMENSIONS}, "reward": none}
    for j, dim in enumerate(DIMENSIONS):
        pair = (predicted[:, j], targets[:, j])
        d = {"spearman": _finite(spearman(*pair)), "mae": _finite(mae(*pair))}
        if raw is not None:
            d["spearman_raw"] = _finite(spearman(raw[:, j], targets[:, j]))
        out["dimensions"][dim] = d
    r_pred, r_true = reward_of(predicted, weights), reward_of(targets, weights)
    out["reward"] = {"spearman": _finite(spearman(r_pred, r_true)), "mae": _finite(mae(r_pred, r_true))}
    return out


def evaluate_scores(
    predicted: np.ndarray,
    targets: np.ndarray,
    rows: Sequence[Mapping],
    weights: Sequence[float],
    raw: np.ndarray | None = None,
) -> dict:
    """All val metrics of 1-5 ``predicted`` scores against the judge's ``targets`` (both ``(n, 4)``).

    On the annotate stage's rows (gold rationales and degradations), per dimension: ``spearman`` and ``mae`` (and
    ``spearman_raw`` of the unclamped ``raw`` predictions when given); for R_t: ``spearman`` and ``mae`` against the
    labels' R_t; ``pairwise_accuracy`` of the predicted R_t, and ``labels_pairwise_accuracy``, that of the labels
    themselves (the ceiling: a degradation can tie its gold row); ``mae_by_kind``, the MAE per kind and dimension.
    On policy rows, when there are any, the same Spearman and MAE figures under ``policy``. Undefined values (a
    constant column) are None.
    """
    predicted, targets = np.asarray(predicted, dtype=float), np.asarray(targets, dtype=float)
    raw = None if raw is None else np.asarray(raw, dtype=float)
    policy = np.array([r["kind"] == POLICY for r in rows], dtype=bool)
    if len(policy) != len(predicted):
        raise ValueError(f"evaluate_scores: {len(predicted)} predictions for {len(rows)} rows")
    annotated = [r for r, p in zip(rows, policy, strict=True) if not p]
    keep = ~policy
    out = _agreement(predicted[keep], targets[keep], weights, None if raw is None else raw[keep])
    r_pred, r_true = reward_of(predicted[keep], weights), reward_of(targets[keep], weights)
    pw = pairwise_accuracy(annotated, r_pred)
    by_kind = {k: _finite(v) for k, v in pw["by_kind"].items()}
    out["pairwise_accuracy"] = {"overall": _finite(pw["overall"]), "pairs": pw["pairs"], "by_kind": by_kind}
    out["labels_pairwise_accuracy"] = _finite(pairwise_accuracy(annotated, r_true)["overall"])
    out["mae_by_kind"] = mae_by_kind(annotated, predicted[keep], targets[keep])
    if policy.any():
        out["policy"] = _agreement(predicted[policy], targets[policy], weights, None if raw is None else raw[policy])
    return out
