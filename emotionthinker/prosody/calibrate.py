"""Turn physical measurements into relative levels (low / medium / high by default).

Levels are relative because absolute values are not comparable: recording gain differs by tens of dB
across corpora, and F0 is dominated by the speaker's sex. Pitch level is calibrated per corpus and
gender, energy and speed per corpus, from percentiles of the group (tertiles by default). A group
smaller than ``min_group`` uses the cuts pooled over its whole kind instead (all genders of the corpus
for pitch, then all corpora).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

LEVEL_NAMES = {
    2: ("low", "high"),
    3: ("low", "medium", "high"),
    4: ("very low", "low", "high", "very high"),
    5: ("very low", "low", "medium", "high", "very high"),
}
# feature -> (value key, grouping)
CALIBRATED = {
    "pitch": ("f0_median_hz", ("corpus", "gender")),
    "energy": ("active_level_dbfs", ("corpus",)),
    "speed": ("speed_syl_s", ("corpus",)),  # transcript syllables / speech time, else nuclei (features.speed_rate)
}


def level_names(percentiles: Sequence[float]) -> tuple[str, ...]:
    try:
        return LEVEL_NAMES[len(percentiles) + 1]
    except KeyError:
        n = len(percentiles)
        raise ValueError(f"{n} percentile cuts give {n + 1} levels; use 1 to 4 cuts") from None


def _usable(rec: dict, feature: str) -> float | None:
    value = rec.get(CALIBRATED[feature][0])
    if value is None or (feature in ("pitch",) and not rec.get("f0_reliable")):
        return None
    return float(value)


def _key(rec: dict, fields: Sequence[str]) -> str:
    return "|".join(str(rec.get(f) or "unknown") for f in fields)


def fit_thresholds(records: Iterable[dict], percentiles: Sequence[float], min_group: int) -> dict:
    """Cuts per feature and group; each group says whether it used its own values or a pooled fallback."""
    records = list(records)
    level_names(percentiles)
    out: dict = {"percentiles": list(percentiles), "levels": list(level_names(percentiles)), "min_group": min_group}
    for feature, (_, fields) in CALIBRATED.items():
        groups: dict[str, list[float]] = defaultdict(list)
        by_corpus: dict[str, list[float]] = defaultdict(list)
        pooled: list[float] = []
        for rec in records:
            v = _usable(rec, feature)
            if v is None:
                continue
            groups[_key(rec, fields)].append(v)
            by_corpus[str(rec.get("corpus"))].append(v)
            pooled.append(v)
        entry: dict = {"pooled": _cuts(pooled, percentiles), "groups": {}}
        for key, values in sorted(groups.items()):
            if len(values) >= min_group:
                entry["groups"][key] = {"cuts": _cuts(values, percentiles), "n": len(values), "source": "group"}
                continue
            corpus = key.split("|")[0]
            if feature == "pitch" and len(by_corpus[corpus]) >= min_group and key.split("|")[1] == "unknown":
                fallback, source = by_corpus[corpus], "corpus"
            else:
                fallback, source = pooled, "pooled"
            entry["groups"][key] = {"cuts": _cuts(fallback, percentiles), "n": len(values), "source": source}
        out[feature] = entry
    return out


def _cuts(values: list[float], percentiles: Sequence[float]) -> list[float] | None:
    return [round(float(c), 4) for c in np.percentile(values, percentiles)] if values else None


def level_of(value: float | None, cuts: Sequence[float] | None, names: Sequence[str]) -> str | None:
    """Level of ``value`` given increasing cuts.

    >>> level_of(120.0, [110.0, 130.0], ("low", "medium", "high"))
    'medium'
    >>> level_of(None, [110.0, 130.0], ("low", "medium", "high")) is None
    True
    """
    if value is None or cuts is None:
        return None
    return names[int(np.searchsorted(np.asarray(cuts), value, side="right"))]


def value_and_cuts(rec: dict, thresholds: dict, feature: str) -> tuple[float | None, list[float]]:
    """The value a features record's ``feature`` level is read from (None if missing or unreliable) and the cuts of
    its group, or the pooled cuts where its group had too few clips."""
    group = thresholds[feature]["groups"].get(_key(rec, CALIBRATED[feature][1]))
    return _usable(rec, feature), group["cuts"] if group else thresholds[feature]["pooled"]


def assign_levels(rec: dict, thresholds: dict) -> dict:
    names = thresholds["levels"]
    return {f"{feature}_level": level_of(*value_and_cuts(rec, thresholds, feature), names) for feature in CALIBRATED}


def report(labels: Iterable[dict], features: Iterable[dict], thresholds: dict) -> dict:
    """Label counts (overall and per emotion), F0 by gender, F0-range spread, and the fallbacks used."""
    labels, features = list(labels), list(features)
    counts = {k: dict(Counter(str(r.get(k)) for r in labels)) for k in
              ("pitch_level", "energy_level", "speed_level", "intonation", "status")}  # fmt: skip
    per_emotion: dict = defaultdict(lambda: defaultdict(Counter))
    for r in labels:
        for k in ("pitch_level", "energy_level", "speed_level", "intonation"):
            per_emotion[str(r.get("emotion"))][k][str(r.get(k))] += 1
    f0_by_gender: dict = {}
    for g in sorted({str(f.get("gender")) for f in features}):
        v = [f["f0_median_hz"] for f in features if str(f.get("gender")) == g and f.get("f0_median_hz")]
        if v:
            f0_by_gender[g] = {"n": len(v), **{f"p{q}": round(float(np.percentile(v, q)), 1) for q in (5, 50, 95)}}
    ranges = [f["f0_range_st"] for f in features if f.get("f0_range_st") is not None]
    return {
        "clips": len(labels),
        "label_counts": counts,
        "per_emotion": {e: {k: dict(v) for k, v in d.items()} for e, d in sorted(per_emotion.items())},
        "f0_by_gender_hz": f0_by_gender,
        "f0_range_st": {f"p{q}": round(float(np.percentile(ranges, q)), 2) for q in (5, 25, 50, 75, 95)}
        if ranges
        else None,
        "fallback_groups": {
            feat: sorted(k for k, g in thresholds[feat]["groups"].items() if g["source"] != "group")
            for feat in CALIBRATED
        },
    }
