"""Audio variants with exactly known prosody, for the audio warm-up.

A clip resampled by ``s`` semitones plays ``2 ** (s / 12)`` times faster: F0 and the syllable rates scale by that
factor and every time shrinks by it, while ranges in semitones, contour shapes and voicing stay. A gain of ``g`` dB
moves the levels by ``g``. Resampling moves the formants with F0, so a voice sounds like a smaller or larger speaker;
PSOLA (``pitch_st``, ``tempo``: Praat's resynthesis, as the contrastive pairs use) moves F0 alone or the timing
alone, and only those teach the encoder to hear pitch apart from the voice's timbre and rate apart from pitch. So
the measurements of a variant follow from those of the clip (:func:`shifted`).

(The same variants as extra prosody-phase SFT examples, relabelled from the prosody stage's thresholds, were tried
and dropped: on the default corpus they left val pitch, speed and contrastive accuracy unchanged within noise at equal
and at 1.5 times the compute.)
"""

from __future__ import annotations

import numpy as np


def factors(semitones: float = 0.0, pitch_st: float = 0.0, tempo: float = 1.0) -> tuple[float, float]:
    """``(f0_factor, time_factor)`` of a variant: how much F0 is raised, how many times faster it plays.

    >>> factors(12.0), factors(pitch_st=12.0), factors(tempo=1.25)
    ((2.0, 2.0), (2.0, 1.0), (1.0, 1.25))
    """
    return 2 ** ((semitones + pitch_st) / 12), 2 ** (semitones / 12) * tempo


def shift_audio(
    samples: np.ndarray,
    semitones: float,
    gain_db: float = 0.0,
    sr: int = 16000,
    pitch_st: float = 0.0,
    tempo: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """The clip with F0 moved by ``pitch_st`` and played ``tempo`` times as fast (PSOLA, seeded), then played
    ``2 ** (semitones / 12)`` times faster (resampled: pitch and tempo up together) and ``gain_db`` louder, clipped
    to [-1, 1].

    >>> len(shift_audio(np.zeros(16000, np.float32), 12.0))
    8000
    """
    import soxr

    x = np.asarray(samples, dtype=np.float32)
    if pitch_st or tempo != 1.0:
        from emotionthinker.annotate.contrast import resynthesise

        x = resynthesise(x, sr, semitones=pitch_st, tempo=tempo, seed=seed)[1]
    if semitones:
        x = soxr.resample(x, sr * 2 ** (semitones / 12), sr)
    return np.clip(x * 10 ** (gain_db / 20), -1.0, 1.0).astype(np.float32)


def shifted(
    row: dict | None, semitones: float, gain_db: float, pitch_st: float = 0.0, tempo: float = 1.0
) -> dict | None:
    """A features row as it reads for the variant of :func:`shift_audio`: F0 and the rates scale by
    :func:`factors`, the level moves by ``gain_db``, the rest (ranges in semitones, shares, HNR, gender) stays.

    >>> shifted({"f0_median_hz": 100.0, "speech_rate_syl_s": 4.0, "active_level_dbfs": -20.0}, 12, 6)
    {'f0_median_hz': 200.0, 'speech_rate_syl_s': 8.0, 'active_level_dbfs': -14.0}
    >>> shifted({"f0_median_hz": 100.0, "speech_rate_syl_s": 4.0}, 0, 0, pitch_st=12)
    {'f0_median_hz': 200.0, 'speech_rate_syl_s': 4.0}
    """
    if row is None:
        return None
    out = dict(row)
    f0_factor, time_factor = factors(semitones, pitch_st, tempo)
    if out.get("f0_median_hz") is not None:
        out["f0_median_hz"] = float(out["f0_median_hz"]) * f0_factor
    for key in ("articulation_rate_syl_s", "speech_rate_syl_s", "speed_syl_s"):
        if out.get(key) is not None:
            out[key] = float(out[key]) * time_factor
    if out.get("active_level_dbfs") is not None:
        out["active_level_dbfs"] = float(out["active_level_dbfs"]) + gain_db
    return out
