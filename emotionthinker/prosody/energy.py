"""Frame energy, voice activity and levels, in dBFS.

Voice activity thresholds adapt to the recording: they sit between the clip's own noise floor and
its speech peaks, so that neither gain nor silence padding moves them. Frames of digital silence (more
than 60 dB below the loudest frame) are left out of the statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FLOOR_DB = -120.0


def frame_power(x: np.ndarray, sr: int, hop_s: float, win_s: float) -> np.ndarray:
    """Mean power of windows of ``win_s`` centred every ``hop_s`` (frame i centred at i * hop_s)."""
    hop, win = max(1, int(round(hop_s * sr))), max(1, int(round(win_s * sr)))
    n_frames = max(1, int(np.ceil(len(x) / hop)))
    c = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    centres = np.arange(n_frames) * hop
    lo = np.clip(centres - win // 2, 0, len(x))
    hi = np.clip(centres + (win - win // 2), 0, len(x))
    return (c[hi] - c[lo]) / np.maximum(hi - lo, 1)


def to_db(power: np.ndarray) -> np.ndarray:
    return np.maximum(10 * np.log10(np.maximum(power, 1e-30)), FLOOR_DB)


@dataclass
class Activity:
    speech: np.ndarray  # bool per frame
    frame_db: np.ndarray
    hop_s: float
    threshold_db: float

    @property
    def speech_s(self) -> float:
        return float(self.speech.sum() * self.hop_s)


def _fill_short(mask: np.ndarray, value: bool, max_len: int) -> np.ndarray:
    """Set runs of ``value`` no longer than ``max_len`` frames to ``not value``; runs of False that touch an
    edge are leading or trailing silence, not gaps, and stay.

    >>> _fill_short(np.array([1, 0, 0, 1, 0, 0, 0, 1, 0], bool), False, 2).astype(int).tolist()
    [1, 1, 1, 1, 0, 0, 0, 1, 0]
    """
    out = mask.copy()
    hit = np.concatenate([[False], mask == value, [False]]).astype(np.int8)
    starts = np.flatnonzero(np.diff(hit) == 1)
    ends = np.flatnonzero(np.diff(hit) == -1)
    for s, e in zip(starts, ends, strict=True):
        if e - s <= max_len and (value is True or (s > 0 and e < len(mask))):
            out[s:e] = not value
    return out


def voice_activity(
    x: np.ndarray, sr: int, hop_s: float = 0.01, win_s: float = 0.03, min_gap_s: float = 0.15, min_run_s: float = 0.05
) -> Activity:
    """Speech frames from energy, with a threshold between the clip's noise floor and its speech peaks."""
    db = to_db(frame_power(x, sr, hop_s, win_s))
    loudest = float(db.max())
    live = db[db > loudest - 60.0]
    peak, floor = float(np.percentile(live, 95)), float(np.percentile(live, 10))
    threshold = min(floor + max(6.0, 0.3 * (peak - floor)), peak - 10.0)
    speech = db > threshold
    speech = _fill_short(speech, False, int(round(min_gap_s / hop_s)))  # bridge stop closures and short gaps
    speech = _fill_short(speech, True, int(round(min_run_s / hop_s)))  # drop clicks
    return Activity(speech, db, hop_s, threshold)


def levels(x: np.ndarray, sr: int, act: Activity) -> dict[str, float | None]:
    """Active speech level, noise floor and SNR (dB), from the same frames as ``act``."""
    power = 10 ** (act.frame_db / 10)
    if not act.speech.any():
        return {"active_level_dbfs": None, "noise_floor_dbfs": None, "snr_db": None}
    active = float(10 * np.log10(power[act.speech].mean()))
    quiet = act.frame_db[~act.speech]
    quiet = quiet[quiet > FLOOR_DB]  # digital silence says nothing about the recording's noise
    noise = (
        float(10 * np.log10(np.mean(10 ** (quiet / 10)))) if len(quiet) >= 5 else float(np.percentile(act.frame_db, 5))
    )
    noise = max(noise, FLOOR_DB)
    return {
        "active_level_dbfs": round(active, 2),
        "noise_floor_dbfs": round(noise, 2),
        "snr_db": round(min(active - noise, 100.0), 2),
    }
