"""Rendering one planned utterance: espeak-ng, then Praat (parselmouth) prosody manipulation, then level.

Steps: espeak-ng reads the SSML (voice, rate, base pitch; emphasis, pauses and the drawn-out word come
from the SSML) and writes a WAV to stdout; the audio is resampled to 16 kHz and trimmed; a Praat
Manipulation replaces the pitch tier (new_st = median + shift + range_scale * range_norm * (st - median)
+ contour(u) + declination(u) + tremor(t), u the relative time over the voiced stretch; range_norm
pulls voices with an unusually narrow or wide native range halfway to a common one) and the
duration tier (final lengthening, and a duration clamp that keeps clips within 1.5-4 s), and
resynthesises by overlap-add; then a spectral tilt, the level (reference + gain), silence padding,
a very low noise floor and a soft peak limiter are applied, and the clip is written as PCM16.
Everything is deterministic: the same plan gives the same bytes (Praat's random generator, used by
overlap-add in voiceless stretches, is seeded per clip; it is process-global, so render one clip at
a time per process, as :func:`~emotionthinker.synth.render_corpus` does).
"""

from __future__ import annotations

import io
import math
import subprocess
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from emotionthinker.synth.corpus import UtterancePlan

SAMPLE_RATE = 16000
REF_DBFS = -28.0  # level of active speech before gain_db and the speaker's level offset
LEAD_S, TAIL_S = 0.12, 0.18  # silence padding around the speech
MIN_TOTAL_S, MAX_TOTAL_S = 1.5, 4.0  # clip length the duration clamp keeps to
NOISE_FLOOR_DBFS = -72.0
LIMIT_THRESHOLD = 10 ** (-1.5 / 20)  # soft limiter starts here (-1.5 dBFS)
LIMIT_CEILING = 10 ** (-0.3 / 20)  # and never exceeds this
FINAL_STRETCH = 0.3  # final lengthening acts on the last 30% of the speech
OCTAVE_ERROR_ST = 8.0  # pitch-tier points this far from the median are analysis errors
NATIVE_RANGE_SD = 1.6  # common F0 spread (st) that voices are pulled towards
SOFT_FLOOR_RATIO = 1.35  # F0 is compressed below pitch_floor * this (81 Hz male, 135 Hz female)


def espeak(voice: str, wpm: int, pitch: int, amplitude: int, ssml: str) -> tuple[np.ndarray, int]:
    """espeak-ng's rendering of ``ssml`` as float64 samples and their rate (no files written)."""
    cmd = ["espeak-ng", "-v", voice, "-s", str(wpm), "-p", str(pitch), "-a", str(amplitude), "-m", "--stdout", ssml]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0 or len(proc.stdout) < 100:
        raise RuntimeError(
            f"espeak-ng failed (exit {proc.returncode}) for voice {voice}: {proc.stderr.decode(errors='replace')}"
        )
    import soundfile as sf

    samples, sr = sf.read(io.BytesIO(proc.stdout), dtype="float64")
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    return samples, int(sr)


def _frame_db(x: np.ndarray, sr: int, frame_s: float = 0.01) -> np.ndarray:
    n = int(sr * frame_s)
    frames = x[: len(x) // n * n].reshape(-1, n)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)


def trim(x: np.ndarray, sr: int, below_peak_db: float = 45.0) -> np.ndarray:
    """Cut leading and trailing silence (frames more than ``below_peak_db`` under the loudest frame)."""
    db = _frame_db(x, sr)
    active = np.flatnonzero(db > db.max() - below_peak_db)
    if active.size == 0:
        return x
    n = int(sr * 0.01)
    start = max(0, active[0] * n - int(0.02 * sr))
    end = min(len(x), (active[-1] + 1) * n + int(0.04 * sr))
    return x[start:end]


def contour_st(shape: str, size: float, u: np.ndarray) -> np.ndarray:
    """Pitch-contour shape in semitones over relative time ``u`` in [0, 1]; roughly zero-mean."""
    if shape == "level" or size == 0:
        return np.zeros_like(u)
    if shape == "falling":  # from +size/2 down to -size/2, steepest near the end (final fall)
        return size * (0.5 - u**1.5) - size * 0.1
    if shape == "rising":  # flat, then a rise of `size` over the last 60%, steepest at the end
        r = np.clip((u - 0.4) / 0.6, 0.0, 1.0)
        return size * (r**1.2 - 0.27)
    if shape == "rising-falling":  # hat pattern
        return size * (np.sin(np.pi * u) - 0.64)
    if shape == "falling-rising":  # dip in the middle, back up at the end
        return size * (0.64 - np.sin(np.pi * u))
    raise ValueError(f"unknown contour '{shape}'")


def _manipulate(plan: UtterancePlan, x: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """Praat pitch and duration manipulation; returns the resynthesised samples and facts about it."""
    import parselmouth

    # overlap-add draws random periods in voiceless stretches: seed Praat's generator for byte-identical output
    parselmouth.praat.run(f"random_initializeWithSeedUnsafelyButPredictably ({plan.noise_seed})")
    try:
        return _manipulate_seeded(plan, x)
    finally:
        parselmouth.praat.run("random_initializeSafelyAndUnpredictably ()")


def _manipulate_seeded(plan: UtterancePlan, x: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    import parselmouth
    from parselmouth.praat import call

    snd = parselmouth.Sound(x, sampling_frequency=SAMPLE_RATE)
    xmin, xmax = snd.xmin, snd.xmax
    manip = call(snd, "To Manipulation", 0.01, plan.pitch_floor, plan.pitch_ceiling)

    tier = call(manip, "Extract pitch tier")
    n = int(call(tier, "Get number of points"))
    native_sd, range_norm = 0.0, 1.0
    if n >= 3:
        ts = np.array([call(tier, "Get time from index", i + 1) for i in range(n)])
        fs = np.array([call(tier, "Get value at index", i + 1) for i in range(n)])
        st = 12 * np.log2(fs / 100.0)
        med = float(np.median(st))
        keep = np.abs(st - med) < OCTAVE_ERROR_ST  # pitch-analysis octave jumps: drop, PSOLA interpolates
        ts, st = ts[keep], st[keep]
        native_sd = float(np.std(st))
        # voices differ a lot in their own F0 range (0.8-3 st sd); pull them halfway to a common range
        range_norm = float(np.clip((NATIVE_RANGE_SD / max(native_sd, 0.1)) ** 0.5, 0.6, 1.6))
        u = (ts - ts[0]) / max(ts[-1] - ts[0], 1e-3)
        deviation = plan.range_scale * range_norm * (st - med)
        if plan.contour in ("rising", "falling-rising"):
            # a final rise replaces the voice's own nuclear fall: fade the native movement out towards the end
            deviation *= 1.0 - 0.7 * np.clip((u - 0.5) / 0.5, 0.0, 1.0)
        new = med + plan.pitch_shift_st + deviation
        new += contour_st(plan.contour, plan.contour_st, u) + plan.declination_st * (0.5 - u)
        if plan.tremor:
            new += plan.tremor_st * np.sin(2 * np.pi * plan.tremor_hz * ts + plan.tremor_phase)
        # a soft floor: below the lowest comfortable pitch the voice bottoms out instead of going on down
        floor_st = 12 * np.log2(plan.pitch_floor * SOFT_FLOOR_RATIO / 100.0)
        new = np.where(new < floor_st, floor_st - 0.25 * (floor_st - new), new)
        hz = np.clip(100.0 * 2 ** (new / 12), 50.0, 900.0)
        new_tier = call("Create PitchTier", "shaped", xmin, xmax)
        for t, f in zip(ts, hz, strict=True):
            call(new_tier, "Add point", float(t), float(f))
        call([manip, new_tier], "Replace pitch tier")

    # duration: final lengthening over the last stretch, and a clamp to the allowed clip length
    speech = xmax - xmin
    lengthening = plan.final_lengthening
    mean_factor = (1 - FINAL_STRETCH) + FINAL_STRETCH * (1 + lengthening) / 2
    predicted = speech * mean_factor
    lo, hi = MIN_TOTAL_S - LEAD_S - TAIL_S, MAX_TOTAL_S - LEAD_S - TAIL_S - 0.02
    scale = min(1.0, hi / predicted) if predicted > hi else max(1.0, lo / predicted)
    if lengthening != 1.0 or scale != 1.0:
        dur = call("Create DurationTier", "rate", xmin, xmax)
        call(dur, "Add point", xmin, scale)
        call(dur, "Add point", xmin + (1 - FINAL_STRETCH) * speech, scale)
        call(dur, "Add point", xmax, scale * lengthening)
        call([manip, dur], "Replace duration tier")
    out = call(manip, "Get resynthesis (overlap-add)")
    facts = {
        "duration_scale": round(scale, 3),
        "native_f0_sd_st": round(native_sd, 2),
        "range_norm": round(range_norm, 3),
    }
    return np.asarray(out.values[0], dtype=np.float64), facts


def tilt(x: np.ndarray, db_per_oct: float, pivot_hz: float = 500.0) -> np.ndarray:
    """Spectral tilt: ``db_per_oct`` per octave above ``pivot_hz`` (vocal effort)."""
    if db_per_oct == 0:
        return x
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / SAMPLE_RATE)
    octaves = np.log2(np.maximum(f, pivot_hz) / pivot_hz)
    return np.fft.irfft(spec * 10 ** (db_per_oct * octaves / 20), n=len(x))


def active_rms_db(x: np.ndarray, below_peak_db: float = 30.0) -> float:
    """RMS level (dBFS) of the frames within ``below_peak_db`` of the loudest one: the speech level."""
    db = _frame_db(x, SAMPLE_RATE)
    active = db[db > db.max() - below_peak_db]
    return float(10 * np.log10(np.mean(10 ** (active / 10))))


def limit(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Soft peak limiter: samples above LIMIT_THRESHOLD are bent (tanh) below LIMIT_CEILING.
    Returns the limited signal and the share of samples that were touched."""
    a = np.abs(x)
    over = a > LIMIT_THRESHOLD
    if not over.any():
        return x, 0.0
    room = LIMIT_CEILING - LIMIT_THRESHOLD
    y = x.copy()
    y[over] = np.sign(x[over]) * (LIMIT_THRESHOLD + room * np.tanh((a[over] - LIMIT_THRESHOLD) / room))
    return y, float(over.mean())


def render_utterance(plan: UtterancePlan) -> tuple[bytes, dict[str, Any]]:
    """The WAV bytes (16 kHz mono PCM16) of one planned utterance, and facts measured while rendering."""
    import parselmouth
    import soundfile as sf

    raw, sr = espeak(plan.voice, plan.espeak_wpm, plan.espeak_pitch, plan.espeak_amplitude, plan.ssml)
    x = parselmouth.Sound(raw, sampling_frequency=sr).resample(SAMPLE_RATE).values[0]
    x = trim(np.asarray(x, dtype=np.float64), SAMPLE_RATE)
    x, manip_facts = _manipulate(plan, x)
    x = tilt(x, plan.tilt_db_per_oct)
    target = REF_DBFS + plan.gain_db + plan.speaker_level_db
    x = x * 10 ** ((target - active_rms_db(x)) / 20)
    x = np.concatenate([np.zeros(int(LEAD_S * SAMPLE_RATE)), x, np.zeros(int(TAIL_S * SAMPLE_RATE))])
    rng = np.random.default_rng(plan.noise_seed)
    x = x + rng.normal(0.0, 10 ** (NOISE_FLOOR_DBFS / 20), size=len(x))
    x, limited = limit(x)
    pcm = np.round(np.clip(x, -1.0, 1.0) * 32767).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, pcm, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    peak = float(np.abs(pcm).max()) / 32767
    facts = {
        "duration_s": round(len(pcm) / SAMPLE_RATE, 3),
        **manip_facts,
        "speech_level_dbfs": round(target, 2),
        "peak_dbfs": round(20 * math.log10(max(peak, 1e-9)), 2),
        "limited_share": round(limited, 5),
    }
    return buf.getvalue(), facts
