"""Classification metrics of emotion answers: accuracy, unweighted average recall, macro-F1, confusion matrices.

An answer that could not be parsed (``None``) is wrong for every gold label and is counted in its own confusion
column, ``NO_ANSWER``; it is not a class of its own in the averages. UAR averages the recall of the classes present
in the gold labels (the usual speech-emotion definition: each emotion weighs the same however many clips it has).
Macro-F1 averages the F1 of the classes present in the gold labels or in the predictions (scikit-learn's default
set), so predicting a class that never occurs costs F1.

>>> gold = ["sad", "sad", "angry", "happy"]
>>> pred = ["sad", "angry", "angry", None]
>>> accuracy(gold, pred)
0.5
>>> round(uar(gold, pred), 4)  # recalls: sad 1/2, angry 1/1, happy 0/1
0.5
>>> round(macro_f1(gold, pred), 4)  # F1: sad 2/3, angry 2/3, happy 0
0.4444
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

NO_ANSWER = "(no answer)"


def _check(gold: Sequence[str], pred: Sequence[str | None]) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions; give one prediction per clip")
    if not gold:
        raise ValueError("no clips to score")


def accuracy(gold: Sequence[str], pred: Sequence[str | None]) -> float:
    """Share of clips whose answer equals the gold label."""
    _check(gold, pred)
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)


def wilson_interval(share: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval (SciPy's) of a share of ``n`` independent right-or-wrong answers: how far the accuracy
    of another draw of ``n`` clips could lie. On 81 clips an accuracy of 0.75 spans 0.65-0.83.

    >>> [round(v, 3) for v in wilson_interval(61 / 81, 81)]
    [0.649, 0.834]
    """
    from scipy.stats import binomtest

    if n < 1:
        raise ValueError(f"n={n}: an interval needs at least one answer")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share={share} is not a proportion in [0, 1]")
    ci = binomtest(round(share * n), n).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)


def recalls(gold: Sequence[str], pred: Sequence[str | None]) -> dict[str, float]:
    """Recall of every class present in ``gold``: the share of its clips answered with it.

    >>> recalls(["a", "a", "b"], ["a", "b", "b"])
    {'a': 0.5, 'b': 1.0}
    """
    _check(gold, pred)
    hit, total = Counter(), Counter(gold)
    for g, p in zip(gold, pred, strict=True):
        hit[g] += g == p
    return {c: hit[c] / total[c] for c in sorted(total)}


def uar(gold: Sequence[str], pred: Sequence[str | None]) -> float:
    """Unweighted average recall: the mean of :func:`recalls` over the gold classes."""
    r = recalls(gold, pred)
    return sum(r.values()) / len(r)


def f1_scores(gold: Sequence[str], pred: Sequence[str | None]) -> dict[str, float]:
    """F1 of every class present in ``gold`` or ``pred`` (unparsed answers excluded as a class).

    >>> f1_scores(["a", "a", "b"], ["a", "c", "b"])
    {'a': 0.6666666666666666, 'b': 1.0, 'c': 0.0}
    """
    _check(gold, pred)
    classes = sorted(set(gold) | {p for p in pred if p is not None})
    tp, fp, fn = Counter(), Counter(), Counter()
    for g, p in zip(gold, pred, strict=True):
        if g == p:
            tp[g] += 1
        else:
            fn[g] += 1
            if p is not None:
                fp[p] += 1
    out = {}
    for c in classes:
        denom = 2 * tp[c] + fp[c] + fn[c]
        out[c] = 2 * tp[c] / denom if denom else 0.0
    return out


def macro_f1(gold: Sequence[str], pred: Sequence[str | None]) -> float:
    """The mean of :func:`f1_scores`."""
    f = f1_scores(gold, pred)
    return sum(f.values()) / len(f)


def confusion(gold: Sequence[str], pred: Sequence[str | None], labels: Sequence[str]) -> dict:
    """Counts with gold labels as rows and answers as columns: ``labels`` plus any other answer given, then
    ``NO_ANSWER``. Returns ``{"rows": [...], "columns": [...], "counts": [[...], ...]}``.

    >>> confusion(["a", "b"], ["b", None], ["a", "b"])["counts"]
    [[0, 1, 0], [0, 0, 1]]
    """
    _check(gold, pred)
    rows = list(labels) + sorted({g for g in gold} - set(labels))
    extra = sorted({p for p in pred if p is not None} - set(rows))
    columns = rows + extra + [NO_ANSWER]
    index = {c: i for i, c in enumerate(columns)}
    counts = [[0] * len(columns) for _ in rows]
    for g, p in zip(gold, pred, strict=True):
        counts[rows.index(g)][index[NO_ANSWER if p is None else p]] += 1
    return {"rows": rows, "columns": columns, "counts": counts}


def classification_report(gold: Sequence[str], pred: Sequence[str | None]) -> dict:
    """n, accuracy, UAR, macro-F1, and per gold class its n, recall and F1."""
    r, f = recalls(gold, pred), f1_scores(gold, pred)
    n = Counter(gold)
    return {
        "n": len(gold),
        "accuracy": accuracy(gold, pred),
        "uar": sum(r.values()) / len(r),
        "macro_f1": sum(f.values()) / len(f),
        "per_emotion": {c: {"n": n[c], "recall": r[c], "f1": f[c]} for c in sorted(n)},
    }


def by_group(groups: Sequence[str], gold: Sequence[str], pred: Sequence[str | None]) -> dict[str, dict]:
    """:func:`classification_report` of each group (a corpus, a speaker) on its own."""
    idx: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        idx[g].append(i)
    return {
        g: classification_report([gold[i] for i in rows], [pred[i] for i in rows]) for g, rows in sorted(idx.items())
    }
