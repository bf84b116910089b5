"""Audio manipulations for the contrastive prosody pairs: pure functions on float arrays.

Pitch and tempo are changed by PSOLA (Praat's overlap-add resynthesis through parselmouth), which keeps
the other dimension: a pitch shift keeps the timing, a tempo change keeps the pitch. ``resynthesise``
also returns the *unmodified* resynthesis from the same analysis, so that both halves of a pair carry
the same PSOLA artefacts and only the requested parameter tells them apart.

>>> import numpy as np
>>> x = np.ones(4, dtype=np.float32) * 0.1
>>> [round(float(v), 3) for v in apply_gain(x, 6.0)]
[0.2, 0.2, 0.2, 0.2]
>>> join_pair(x, x, 10, 0.5).shape
(13,)
"""

from __future__ import annotations

import numpy as np
import parselmouth
from parselmouth.praat import call, run

PITCH_FLOOR = 60.0
PITCH_CEILING = 600.0
MAX_PEAK = 0.95  # a pair louder than this is scaled down as a whole, which keeps the level difference


def _manipulation(samples: np.ndarray, sr: int, floor: float, ceiling: float) -> parselmouth.Data:
    snd = parselmouth.Sound(np.asarray(samples, dtype=np.float64), sampling_frequency=sr)
    return call(snd, "To Manipulation", 0.01, floor, ceiling)


def _resynth(manip: parselmouth.Data, n_hint: int | None = None) -> np.ndarray:
    out = call(manip, "Get resynthesis (overlap-add)")
    y = np.asarray(out.values[0], dtype=np.float32)
    if n_hint is not None and abs(len(y) - n_hint) <= 2:  # overlap-add may add or drop a sample at the ends
        y = np.pad(y, (0, max(0, n_hint - len(y))))[:n_hint]
    return y


def _shift(manip: parselmouth.Data, semitones: float) -> None:
    tier = call(manip, "Extract pitch tier")
    call(
        tier,
        "Shift frequencies",
        call(tier, "Get start time"),
        call(tier, "Get end time"),
        float(semitones),
        "semitones",
    )
    call([tier, manip], "Replace pitch tier")


def _stretch(manip: parselmouth.Data, start: float, end: float, factor: float) -> None:
    # a duration tier holds the *duration* factor: > 1 lengthens, so a tempo factor f is a duration 1/f
    tier = call("Create DurationTier", "tempo", start, end)
    call(tier, "Add point", start, 1.0 / float(factor))
    call([manip, tier], "Replace duration tier")


def resynthesise(
    samples: np.ndarray,
    sr: int,
    semitones: float = 0.0,
    tempo: float = 1.0,
    floor: float = PITCH_FLOOR,
    ceiling: float = PITCH_CEILING,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(unmodified PSOLA resynthesis, resynthesis with pitch shifted by ``semitones`` and tempo scaled by
    ``tempo``) from one pitch analysis. Both are float32 at ``sr``.

    Praat draws random numbers when it changes durations (unvoiced stretches); ``seed`` makes the output
    reproducible (Praat's generator is seeded for this call and reseeded unpredictably afterwards)."""
    if tempo <= 0:
        raise ValueError(f"tempo factor must be positive, got {tempo}")
    if seed is not None:
        run(f"random_initializeWithSeedUnsafelyButPredictably ({int(seed) % 2**31})")
    try:
        manip = _manipulation(samples, sr, floor, ceiling)
        reference = _resynth(manip, len(samples))
        if semitones:
            _shift(manip, semitones)
        if tempo != 1.0:
            _stretch(manip, 0.0, len(samples) / sr, tempo)
        modified = _resynth(manip, len(samples) if tempo == 1.0 else None)
    finally:
        if seed is not None:
            run("random_initializeSafelyAndUnpredictably ()")
    return reference, modified


def shift_pitch(
    samples: np.ndarray, sr: int, semitones: float, floor: float = PITCH_FLOOR, ceiling: float = PITCH_CEILING
) -> np.ndarray:
    """The clip with every F0 point moved by ``semitones`` (PSOLA); timing and spectrum envelope kept."""
    return resynthesise(samples, sr, semitones=semitones, floor=floor, ceiling=ceiling)[1]


def change_tempo(
    samples: np.ndarray,
    sr: int,
    factor: float,
    floor: float = PITCH_FLOOR,
    ceiling: float = PITCH_CEILING,
    seed: int | None = 0,
) -> np.ndarray:
    """The clip played ``factor`` times as fast (its duration divided by ``factor``), pitch kept (PSOLA).
    Reproducible for a ``seed`` (None: Praat's random state)."""
    return resynthesise(samples, sr, tempo=factor, floor=floor, ceiling=ceiling, seed=seed)[1]


def apply_gain(samples: np.ndarray, db: float) -> np.ndarray:
    """The clip scaled by ``db`` decibels (no clipping here: ``join_pair``'s caller limits the peak)."""
    return (np.asarray(samples, dtype=np.float32) * np.float32(10 ** (db / 20))).astype(np.float32)


def join_pair(a: np.ndarray, b: np.ndarray, sr: int, pause_s: float) -> np.ndarray:
    """``a``, ``pause_s`` of digital silence, then ``b``."""
    gap = np.zeros(int(round(pause_s * sr)), dtype=np.float32)
    return np.concatenate([np.asarray(a, np.float32), gap, np.asarray(b, np.float32)])


def limit_peak(samples: np.ndarray, peak: float = MAX_PEAK) -> np.ndarray:
    """Scale the whole signal down when its peak exceeds ``peak``, so that PCM16 never clips."""
    top = float(np.max(np.abs(samples))) if len(samples) else 0.0
    return (samples * (peak / top)).astype(np.float32) if top > peak else samples
