"""Audio variants with exactly known prosody, for the audio warm-up.

A clip resampled by ``s`` semitones plays ``2 ** (s / 12)`` times faster: F0 and the syllable rates scale by that
factor and every time shrinks by it, while ranges in semitones, contour shapes and voicing stay. A gain of ``g`` dB
moves the levels by ``g``. So the measurements of a variant follow from those of the clip (:func:`shifted`).

(The same variants as extra prosody-phase SFT examples, relabelled from the prosody stage's thresholds, were tried
and dropped: on the default corpus they left val pitch, speed and contrastive accuracy unchanged within noise at equal
and at 1.5 times the compute.)
"""

from __future__ import annotations

import numpy as np


def shift_audio(samples: np.ndarray, semitones: float, gain_db: float = 0.0, sr: int = 16000) -> np.ndarray:
    """The clip played ``2 ** (semitones / 12)`` times faster (pitch and tempo up together) and ``gain_db`` louder,
    clipped to [-1, 1].

    >>> len(shift_audio(np.zeros(16000, np.float32), 12.0))
    8000
    """
    import soxr

    x = np.asarray(samples, dtype=np.float32)
    if semitones:
        x = soxr.resample(x, sr * 2 ** (semitones / 12), sr)
    return np.clip(x * 10 ** (gain_db / 20), -1.0, 1.0).astype(np.float32)


def shifted(row: dict | None, semitones: float, gain_db: float) -> dict | None:
    """A features row as it reads for the clip resampled by ``semitones`` and ``gain_db`` louder: F0 and the rates
    scale by ``2 ** (semitones / 12)``, the level moves by ``gain_db``, the rest (ranges in semitones, shares, HNR,
    gender) stays.

    >>> shifted({"f0_median_hz": 100.0, "speech_rate_syl_s": 4.0, "active_level_dbfs": -20.0}, 12, 6)
    {'f0_median_hz': 200.0, 'speech_rate_syl_s': 8.0, 'active_level_dbfs': -14.0}
    """
    if row is None:
        return None
    out, factor = dict(row), 2 ** (semitones / 12)
    for key in ("f0_median_hz", "articulation_rate_syl_s", "speech_rate_syl_s"):
        if out.get(key) is not None:
            out[key] = float(out[key]) * factor
    if out.get("active_level_dbfs") is not None:
        out["active_level_dbfs"] = float(out["active_level_dbfs"]) + gain_db
    return out
