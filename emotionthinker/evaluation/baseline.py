"""The reference a user would otherwise pick: logistic regression over prosodic and spectral statistics.

Per clip: the prosody stage's measurements (F0 level, range and SD in semitones, level, SNR, speech share, rates,
jitter, shimmer, HNR, the contour's fit) and the mean and SD of 20 MFCCs and their deltas (librosa), z-scored on
train; missing values take the train mean. Trained on train, scored like every candidate, on the same clips.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

PROSODIC = (
    "f0_median_hz", "f0_range_st", "f0_sd_st", "active_level_dbfs", "snr_db", "speech_share", "speech_rate_syl_s",
    "articulation_rate_syl_s", "jitter_pct", "shimmer_pct", "hnr_db", "contour_range_st", "contour_net_st",
    "contour_first_st", "contour_second_st",
)  # fmt: skip
N_MFCC = 20


def prosodic_vector(row: Mapping | None) -> np.ndarray:
    """The PROSODIC measurements of a features row (F0 as log2 Hz), NaN where missing or unreliable.

    >>> prosodic_vector({"f0_median_hz": 200.0, "f0_reliable": True, "hnr_db": 12.0})[[0, 10]].tolist()
    [7.643856189774724, 12.0]
    """
    row = row or {}
    out = []
    for key in PROSODIC:
        v = row.get(key)
        if v is None or (key.startswith("f0_") and not row.get("f0_reliable", True)):
            out.append(math.nan)
        else:
            out.append(math.log2(v) if key == "f0_median_hz" and v > 0 else float(v))
    return np.array(out, dtype=np.float64)


def spectral_vector(samples: np.ndarray, sr: int) -> np.ndarray:
    """Mean and SD over time of 20 MFCCs and of their deltas (80 values)."""
    import librosa

    mfcc = librosa.feature.mfcc(y=samples.astype(np.float32), sr=sr, n_mfcc=N_MFCC, n_fft=512, hop_length=160)
    delta = librosa.feature.delta(mfcc, width=9, mode="nearest")  # nearest: also for clips under 9 frames
    return np.concatenate([mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1)]).astype(np.float64)


def clip_vector(features: Mapping | None, samples: np.ndarray, sr: int) -> np.ndarray:
    """One clip's input to the baseline: its prosodic measurements (a features row), then its spectral statistics."""
    return np.concatenate([prosodic_vector(features), spectral_vector(samples, sr)])


class ProsodyBaseline:
    """Standardise (train statistics, missing values to the mean), then multinomial logistic regression."""

    def __init__(self, C: float = 1.0, seed: int = 0):
        self.C = C
        self.seed = seed

    def fit(self, X: np.ndarray, y: Sequence[str]) -> ProsodyBaseline:
        from sklearn.linear_model import LogisticRegression

        if len(set(y)) < 2:
            raise ValueError("the baseline needs train clips of at least two emotions")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a feature missing on every clip: mean 0, SD 1
            self.mean_ = np.nan_to_num(np.nanmean(X, axis=0))
            std = np.nanstd(X, axis=0)
        self.std_ = np.where(np.isfinite(std) & (std > 1e-9), std, 1.0)
        self.clf_ = LogisticRegression(C=self.C, max_iter=5000, random_state=self.seed).fit(self._z(X), list(y))
        return self

    def _z(self, X: np.ndarray) -> np.ndarray:
        X = np.where(np.isfinite(X), X, self.mean_)
        return (X - self.mean_) / self.std_

    def predict(self, X: np.ndarray) -> list[str]:
        return [str(p) for p in self.clf_.predict(self._z(X))]
