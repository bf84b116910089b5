"""Prosody: measurement in physical units (features), calibration into levels, and per-clip labels."""

from __future__ import annotations

from emotionthinker.prosody.calibrate import assign_levels

LABEL_FIELDS = (
    "utt_id", "corpus", "speaker", "emotion", "split", "status", "gender", "gender_source", "age_level",
    "pitch_level", "energy_level", "speed_level", "intonation", "contour_shape", "contour_dynamics",
    "contour_confidence", "stressed_words", "f0_median_hz", "f0_range_st", "active_level_dbfs",
    "articulation_rate_syl_s",
)  # fmt: skip


def labels(features: dict, clip: dict, thresholds: dict) -> dict:
    """The label record of one clip: its calibrated levels, contour, stress and speaker traits.

    Physical values ride along so that every level can be traced to the measurement behind it.
    """
    rec = {k: features.get(k) for k in LABEL_FIELDS}
    rec.update({k: clip.get(k) for k in ("utt_id", "corpus", "speaker", "emotion", "split")})
    rec["intonation"] = features.get("contour")
    rec["stressed_words"] = features.get("stressed_words") or []
    rec.update(assign_levels(features, thresholds) if features.get("status") != "error" else {})
    return rec
