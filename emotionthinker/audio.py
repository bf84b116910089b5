"""Decoding, checking and normalising audio. Pure functions on arrays, plus ``decode`` at the I/O edge.

Every problem a clip can have is an :class:`AudioProblem` with a reason code, so that callers can
quarantine it with a message instead of crashing.

>>> import numpy as np
>>> x = np.zeros(8000, dtype=np.float32)
>>> check_clip(x, 16000, AudioLimits()).reason
'silent'
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from emotionthinker.config import AudioLimits

# Reason codes a clip can be quarantined with, and the fix each message suggests.
REASONS: dict[str, str] = {
    "missing_file": "check the path in the corpus metadata",
    "unreadable": "re-encode it as wav/flac (ffmpeg -i in.x -ar 16000 -ac 1 out.wav) or remove it",
    "empty": "the file holds no samples; remove it",
    "non_finite": "the file holds NaN or inf samples; re-export it",
    "too_short": "remove it, or lower data.audio.min_duration_s to keep it",
    "too_long": "split it, or raise data.audio.max_duration_s",
    "silent": "no audible signal; remove it or lower data.audio.silence_dbfs",
    "clipped": "heavily clipped; re-record at a lower gain or raise data.audio.clipping_ratio",
    "unmapped_label": "map it in the corpus entry's label_map, or keep it with labels.extra",
    "bad_filename": "rename it to the corpus's naming scheme or remove it",
    "bad_metadata": "fix the metadata row",
}


class AudioProblem(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Problem:
    reason: str
    message: str


def decode(path: str | Path, start_s: float | None = None, end_s: float | None = None) -> tuple[np.ndarray, int]:
    """Read audio as float32 of shape (frames, channels) and its sample rate.

    libsndfile reads wav/flac/ogg/mp3; anything else (mp4, m4a, webm) goes through ffmpeg. Raises
    AudioProblem('missing_file' | 'unreadable').
    """
    path = Path(path)
    if not path.is_file():
        raise AudioProblem("missing_file", f"{path}: no such file")
    try:
        with sf.SoundFile(str(path)) as f:
            sr = f.samplerate
            first = int(round((start_s or 0.0) * sr))
            last = int(round(end_s * sr)) if end_s is not None else -1
            f.seek(min(first, f.frames))
            frames = (last - first) if last >= 0 else -1
            data = f.read(frames=frames, dtype="float32", always_2d=True)
        return data, sr
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        sndfile_error = str(e)
    return _decode_ffmpeg(path, start_s, end_s, sndfile_error)


def _decode_ffmpeg(path: Path, start_s: float | None, end_s: float | None, why: str) -> tuple[np.ndarray, int]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioProblem("unreadable", f"{path}: libsndfile cannot read it ({why}) and ffmpeg is not installed")
    sr = 16000  # ffmpeg resamples on the way out, so the rate is ours to choose
    cmd = [ffmpeg, "-v", "error", "-nostdin"]
    if start_s:
        cmd += ["-ss", f"{start_s:.3f}"]
    cmd += ["-i", str(path)]
    if end_s is not None:
        cmd += ["-t", f"{end_s - (start_s or 0.0):.3f}"]
    cmd += ["-vn", "-ac", "1", "-ar", str(sr), "-f", "f32le", "-"]
    proc = subprocess.run(cmd, capture_output=True, timeout=300)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise AudioProblem("unreadable", f"{path}: cannot decode ({err[-1] if err else why})")
    return np.frombuffer(proc.stdout, dtype=np.float32).reshape(-1, 1).copy(), sr


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels of a (frames, channels) array; 1-D input is returned as is."""
    return samples if samples.ndim == 1 else samples.mean(axis=1, dtype=np.float64).astype(np.float32)


def resample(samples: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    if sr == target_sr:
        return samples.astype(np.float32, copy=False)
    return soxr.resample(samples, sr, target_sr, quality="HQ").astype(np.float32)


def frame_rms_db(samples: np.ndarray, sr: int, frame_s: float = 0.05) -> np.ndarray:
    """RMS level of consecutive frames in dBFS (a full-scale sine reads -3 dB)."""
    n = max(1, int(sr * frame_s))
    usable = len(samples) // n * n
    if usable == 0:
        usable, n = len(samples), max(1, len(samples))
    frames = samples[:usable].reshape(-1, n).astype(np.float64)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)


def check_clip(samples: np.ndarray, sr: int, limits: AudioLimits) -> Problem | None:
    """The first reason this clip cannot be used, or None. ``samples`` may be mono or (frames, channels)."""
    if samples.size == 0:
        return Problem("empty", "0 samples")
    if not np.all(np.isfinite(samples)):
        bad = int(np.sum(~np.isfinite(samples)))
        return Problem("non_finite", f"{bad} NaN/inf samples")
    duration = samples.shape[0] / sr
    if duration < limits.min_duration_s:
        return Problem(
            "too_short",
            f"{duration:.2f} s of audio; clips must be at least {limits.min_duration_s} s (data.audio.min_duration_s)",
        )
    if duration > limits.max_duration_s:
        return Problem(
            "too_long",
            f"{duration:.2f} s of audio; clips must be at most {limits.max_duration_s} s (data.audio.max_duration_s)",
        )
    mono = to_mono(samples)
    loudest = float(frame_rms_db(mono - mono.mean(), sr).max())
    if loudest < limits.silence_dbfs:
        return Problem(
            "silent", f"loudest 50 ms is {loudest:.1f} dBFS, below data.audio.silence_dbfs={limits.silence_dbfs}"
        )
    clipped = float(np.mean(np.abs(samples) >= 0.999))
    if clipped > limits.clipping_ratio:
        return Problem(
            "clipped",
            f"{100 * clipped:.1f}% of samples at full scale; at most {100 * limits.clipping_ratio:.1f}% allowed "
            "(data.audio.clipping_ratio)",
        )
    return None


def normalise(samples: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    """Mono, ``target_sr``, DC removed: the form every stage downstream reads."""
    mono = resample(to_mono(samples), sr, target_sr)
    return (mono - mono.mean()).astype(np.float32)


def load(path: str | Path, sr: int = 16000) -> np.ndarray:
    """A clip as every stage reads it: mono float32 at ``sr``, DC removed. Raises AudioProblem."""
    samples, source_sr = decode(path)
    return normalise(samples, source_sr, sr)


def write_wav(path: Path, samples: np.ndarray, sr: int) -> None:
    """Write PCM16 atomically (a temp file renamed), so a killed run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.wav")
    sf.write(str(tmp), np.clip(samples, -1.0, 1.0), sr, subtype="PCM_16")
    tmp.replace(path)
