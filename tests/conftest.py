"""Shared fixtures: tiny signals and corpora made by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
EMODB = REPO.parent / "shared" / "data" / "emodb"


def tone(seconds: float = 1.0, sr: int = 16000, f0: float = 200.0, amp: float = 0.3, channels: int = 1) -> np.ndarray:
    """A harmonic tone (fundamental and two overtones), float32, shape (n,) or (n, channels)."""
    t = np.arange(int(seconds * sr)) / sr
    x = (
        amp
        * (np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(4 * np.pi * f0 * t) + 0.25 * np.sin(6 * np.pi * f0 * t))
        / 1.75
    )
    x = x.astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def write(path: Path, samples: np.ndarray, sr: int = 16000, subtype: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, sr, subtype=subtype)
    return path


@pytest.fixture
def tone_file(tmp_path):
    def make(name: str, **kw) -> Path:
        sr = kw.pop("sr", 16000)
        return write(tmp_path / name, tone(sr=sr, **kw), sr)

    return make
