"""What the service says about a clip besides the model's answer: the measured prosody as calibrated facts and a
caption, the cue claims of the rationale checked against them, the F0 contour and a waveform envelope for the
page, and the helpers of the batched generation step (duration groups, the PCM wire format).

The facts are made as the training data's were: ``prosody.features.extract`` measures, ``prosody.labels`` with the
promoted model's thresholds calibrates (pooled cuts when the clip's corpus is unknown), ``annotate.facts.Facts``
and ``caption`` describe. A rationale's claims are found with the judge's own lexicon (``claim_offsets``), so "the
cues the rationale cites" on the page are the ones the judge would score.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence

import numpy as np

from emotionthinker.annotate.facts import Facts
from emotionthinker.annotate.lexicon import claim_offsets
from emotionthinker.config import ProsodyConfig
from emotionthinker.prosody import labels as prosody_labels
from emotionthinker.prosody.calibrate import CALIBRATED
from emotionthinker.prosody.features import extract

# physical values reported next to the levels: the measurement behind each level, and the contour's numbers
VALUES = (
    "duration_s", "speech_s", "voiced_s", "f0_median_hz", "f0_p5_hz", "f0_p95_hz", "f0_range_st",
    "active_level_dbfs", "snr_db", "speed_syl_s", "speed_source", "articulation_rate_syl_s", "speech_rate_syl_s",
    "syllable_nuclei",
    "contour_shape", "contour_dynamics", "contour_confidence", "contour_net_st", "jitter_pct", "shimmer_pct", "hnr_db",
    "gender_confidence",
)  # fmt: skip
MAX_CONTOUR_POINTS = 1500
WAVEFORM_BINS = 800


def _plain(value):
    """JSON-safe: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def calibration_groups(features: dict, thresholds: dict | None) -> dict[str, str | None]:
    """Which cuts each level used: the clip's own group (e.g. ``synthetic|female``) or ``pooled``."""
    if not thresholds:
        return {f: None for f in CALIBRATED}
    out = {}
    for feature, (_, fields) in CALIBRATED.items():
        key = "|".join(str(features.get(f) or "unknown") for f in fields)
        out[feature] = key if key in thresholds[feature]["groups"] else "pooled"
    return out


def measure(
    samples: np.ndarray,
    sr: int,
    thresholds: dict | None,
    cfg: ProsodyConfig | None = None,
    corpus: str | None = None,
    transcript: str | None = None,
    language: str | None = None,
) -> tuple[dict, Facts, dict]:
    """``(features, facts, prosody)`` of one clip: the raw measurement, the calibrated facts, and the JSON block
    with levels, physical values and the calibration groups used."""
    cfg = cfg or ProsodyConfig()
    features = extract(samples, sr, cfg, transcript=transcript, language=language)
    features["corpus"] = corpus
    clip = {"utt_id": "upload", "corpus": corpus, "transcription": transcript, "language": language, "meta": {}}
    if thresholds:
        label = prosody_labels(features, clip, thresholds)
    else:  # a model promoted without thresholds: measured values only, no levels
        label = {**{k: features.get(k) for k in ("status", "gender", "age_level", "stressed_words")},
                 "intonation": features.get("contour")}  # fmt: skip
    facts = Facts.from_records(clip, label)
    levels = {"pitch": facts.pitch, "energy": facts.energy, "speed": facts.speed, "intonation": facts.intonation,
              "gender": facts.gender, "voicing": facts.voicing}  # fmt: skip
    prosody = {
        "status": features.get("status"),
        "levels": levels,
        "values": _plain({k: features.get(k) for k in VALUES}),
        "stressed_words": list(facts.stressed_words),
        "calibration": calibration_groups(features, thresholds),
    }
    return _plain(features), facts, prosody


def cited_cues(rationale: str | None, facts: Facts) -> list[dict]:
    """The cue claims the rationale makes, where they are in it, and whether the measurement agrees.

    ``agrees`` is None when the clip has no measurement for that attribute (e.g. an uncertain contour).
    """
    if not rationale:
        return []
    measured = facts.cues()
    out = []
    for start, end, attribute, value, phrase in claim_offsets(rationale):
        truth = measured.get(attribute)
        out.append({"attribute": attribute, "value": value, "phrase": phrase, "start": start, "end": end,
                    "measured": truth, "agrees": None if truth is None else truth == value})  # fmt: skip
    return out


def f0_contour(samples: np.ndarray, sr: int, cfg: ProsodyConfig | None = None) -> dict:
    """The F0 track the measurement used (same two-pass tracker, speech frames only): times (s), Hz or None."""
    from emotionthinker.prosody.energy import voice_activity
    from emotionthinker.prosody.pitch import track

    cfg = cfg or ProsodyConfig()
    hop = cfg.time_step
    act = voice_activity(samples, sr, hop_s=hop)
    pt = track(samples, sr, hop, cfg.f0_floor, cfg.f0_ceiling, None, cfg.speaker_range_octaves, act.speech, hop)
    step = max(1, math.ceil(len(pt.times) / MAX_CONTOUR_POINTS))
    times, f0 = pt.times[::step], pt.f0[::step]
    return {
        "times_s": [round(float(t), 3) for t in times],
        "f0_hz": [round(float(f), 1) if np.isfinite(f) else None for f in f0],
        "hop_s": round(hop * step, 4),
    }


def waveform(samples: np.ndarray, sr: int, bins: int = WAVEFORM_BINS) -> dict:
    """Min and max per bin (the page draws the clip from this instead of decoding the file itself).

    >>> w = waveform(np.array([0.0, 0.5, -0.25, 1.0], dtype=np.float32), 4, bins=2)
    >>> w["min"], w["max"], w["duration_s"]
    ([0.0, -0.25], [0.5, 1.0], 1.0)
    """
    n = len(samples)
    bins = max(1, min(bins, n))
    edges = np.linspace(0, n, bins + 1).astype(int)
    lo = [round(float(samples[a:b].min()), 4) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    hi = [round(float(samples[a:b].max()), 4) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return {"min": lo, "max": hi, "duration_s": round(n / sr, 4)}


def group_by_duration(durations: Sequence[float], keys: Sequence[int], max_ratio: float = 1.5) -> list[list[int]]:
    """Indices of a batch split into groups of one key (max_new_tokens) and similar duration.

    Clips of a group are generated together; in one group the longest is at most ``max_ratio`` times the shortest,
    so that short clips do not carry long left padding (the audio tokens grow with duration). Groups come out
    shortest first, indices within a group in input order.

    >>> group_by_duration([1.0, 3.0, 1.2, 2.9, 1.1], [16, 16, 16, 16, 8])
    [[0, 2], [4], [1, 3]]
    """
    if max_ratio < 1:
        raise ValueError(f"max_ratio={max_ratio} must be >= 1")
    order = sorted(range(len(durations)), key=lambda i: (keys[i], durations[i]))
    groups: list[list[int]] = []
    for i in order:
        g = groups[-1] if groups else None
        if g and keys[g[0]] == keys[i] and durations[i] <= max_ratio * max(durations[g[0]], 1e-6):
            g.append(i)
        else:
            groups.append([i])
    return [sorted(g) for g in sorted(groups, key=lambda g: (min(durations[i] for i in g), keys[g[0]]))]


def encode_pcm(samples: np.ndarray) -> str:
    """Float32 little-endian PCM as base64: exact (the model sees the same samples) and a third of JSON floats."""
    return base64.b64encode(np.asarray(samples, dtype="<f4").tobytes()).decode("ascii")


def decode_pcm(text: str, max_samples: int) -> np.ndarray:
    """The inverse of :func:`encode_pcm`; raises ValueError for input no client of ours would send."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError("pcm is not valid base64") from None
    if len(raw) % 4:
        raise ValueError(f"pcm holds {len(raw)} bytes, not whole float32 samples")
    if len(raw) // 4 > max_samples:
        raise ValueError(f"pcm holds {len(raw) // 4} samples; at most {max_samples} are accepted")
    x = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if len(x) == 0 or not np.all(np.isfinite(x)):
        raise ValueError("pcm is empty or holds NaN/inf samples")
    return x
