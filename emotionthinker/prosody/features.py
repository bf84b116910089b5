"""Every prosodic measurement of one clip, in physical units: ``extract(samples, sr, cfg, ...) -> dict``.

Degenerate input gets explicit values, never a guess: a clip shorter than 0.3 s is ``too_short``, a clip
with too little voicing is ``insufficient_voiced`` with null F0 statistics, and so on.
"""

from __future__ import annotations

import numpy as np
import parselmouth

from emotionthinker.config import ProsodyConfig
from emotionthinker.prosody.contour import contour
from emotionthinker.prosody.energy import levels, voice_activity
from emotionthinker.prosody.pitch import f0_stats, first_pass_median, track, voice_quality
from emotionthinker.prosody.rate import count_syllables, syllable_nuclei
from emotionthinker.prosody.stress import age_level, estimate_gender, word_prominence

MIN_CLIP_S = 0.3


def _formant_dispersion(snd: parselmouth.Sound, voiced_times: np.ndarray) -> float | None:
    """Median spacing of F1..F4 (Hz) in 0.5 s of voiced speech: longer vocal tracts have denser formants."""
    if len(voiced_times) < 5:
        return None
    mid = float(np.median(voiced_times))
    part = snd.extract_part(max(0.0, mid - 0.25), min(snd.duration, mid + 0.25))  # Burg is costly; 0.5 s is enough
    formant = part.to_formant_burg(time_step=0.025, max_number_of_formants=5, maximum_formant=5250)
    fs = np.array([[formant.get_value_at_time(i, t) for i in (1, 4)] for t in formant.xs()])
    fs = fs[np.all(np.isfinite(fs), axis=1)]
    return float(np.median((fs[:, 1] - fs[:, 0]) / 3)) if len(fs) >= 3 else None


CUT_TAIL_S = 0.1  # speech in the clip's last 100 ms: the recording may stop before its transcript does
MIN_NUCLEI_SHARE = 0.75  # fewer nuclei than this share of the transcript's syllables: the clip may not hold them all


def speed_rate(out: dict, speech: np.ndarray, hop_s: float) -> dict:
    """The rate the speed level is calibrated on (``speed_syl_s``) and where it came from (``speed_source``).

    The transcript's syllables over the speech time where the clip holds the whole transcript, else the
    articulation rate from syllable nuclei. Counting nuclei misses or splits syllables (on the synthetic corpus
    the count differs from the transcript's by 1.2 syllables SD in ten), so with a transcript the rate follows
    the speaking rate more closely. A clip that ends in speech, or has under 3/4 as many nuclei as the
    transcript has syllables, was likely cut (EmoDB's 2-s copy): its transcript overstates its syllables.

    >>> row = {"text_rate_syl_s": 5.0, "text_syllables": 10, "syllable_nuclei": 9, "articulation_rate_syl_s": 4.5,
    ...        "rate_source": "voiced_nuclei"}
    >>> speed_rate(row, np.array([1, 1, 0] + [0] * 10), 0.01)  # ends in 100 ms of silence
    {'speed_syl_s': 5.0, 'speed_source': 'transcript'}
    >>> speed_rate(row, np.array([0] * 10 + [1]), 0.01)  # still speaking when the clip stops
    {'speed_syl_s': 4.5, 'speed_source': 'voiced_nuclei'}
    """
    tail = speech[-max(1, int(round(CUT_TAIL_S / hop_s))) :]
    whole = (
        out.get("text_rate_syl_s") is not None
        and not tail.any()
        and out.get("syllable_nuclei", 0) >= MIN_NUCLEI_SHARE * out["text_syllables"]
    )
    if whole:
        return {"speed_syl_s": out["text_rate_syl_s"], "speed_source": "transcript"}
    return {"speed_syl_s": out.get("articulation_rate_syl_s"), "speed_source": out.get("rate_source")}


def speaker_f0_median(samples: np.ndarray, sr: int, cfg: ProsodyConfig) -> float | None:
    """First-pass median F0 of one clip; the stage pools these per speaker for the second pass."""
    if len(samples) < MIN_CLIP_S * sr:
        return None
    return first_pass_median(samples, sr, cfg.f0_floor, cfg.f0_ceiling)


def extract(
    samples: np.ndarray,
    sr: int,
    cfg: ProsodyConfig,
    transcript: str | None = None,
    language: str | None = None,
    gender: str | None = None,
    age: float | None = None,
    speaker_median: float | None = None,
) -> dict:
    """Measure one mono clip. ``speaker_median`` (Hz) centres the second pitch pass on the speaker."""
    duration = len(samples) / sr
    out: dict = {"duration_s": round(duration, 4), "status": "ok"}
    if duration < MIN_CLIP_S:
        out.update(status="too_short", contour="too_short", stressed_words=[], gender=gender,
                   gender_source="metadata" if gender else None, age_level=age_level(age))  # fmt: skip
        return out
    hop = cfg.time_step
    act = voice_activity(samples, sr, hop_s=hop)
    out["speech_s"] = round(act.speech_s, 3)
    out["speech_share"] = round(act.speech_s / duration, 3)
    out.update(levels(samples, sr, act))

    snd = parselmouth.Sound(samples.astype(np.float64), sr)
    pt = track(samples, sr, hop, cfg.f0_floor, cfg.f0_ceiling, speaker_median, cfg.speaker_range_octaves,
               act.speech, hop)  # fmt: skip
    out.update(f0_stats(pt, hop, cfg.min_voiced_s))
    if not out["f0_reliable"]:
        out["status"] = "insufficient_voiced"
    out.update(voice_quality(snd, pt))

    # voicing per energy frame, for the nuclei
    voiced_frames = np.zeros(len(act.speech), dtype=bool)
    idx = np.clip(np.round(pt.times[pt.voiced] / hop).astype(int), 0, len(voiced_frames) - 1)
    voiced_frames[idx] = True
    # without voicing (whisper) the voiced-peak test would find no syllable at all: count energy peaks
    nuclei = syllable_nuclei(samples, sr, voiced_frames if out["f0_reliable"] else None, hop_s=hop)
    out["rate_source"] = "voiced_nuclei" if out["f0_reliable"] else "energy_peaks"
    out["syllable_nuclei"] = len(nuclei)
    out["speech_rate_syl_s"] = round(len(nuclei) / duration, 3)
    out["articulation_rate_syl_s"] = round(len(nuclei) / act.speech_s, 3) if act.speech_s > 0 else None

    out.update(contour(pt.times, pt.f0, hop, cfg.min_contour_voiced_s, cfg.shape_st, cfg.flat_range_st,
                       cfg.expressive_range_st, cfg.min_contour_confidence))  # fmt: skip

    words = count_syllables(transcript, language) if transcript else None
    out["text_syllables"] = sum(words[1]) if words else None
    out["text_rate_syl_s"] = round(sum(words[1]) / act.speech_s, 3) if words and act.speech_s > 0 else None
    out.update(speed_rate(out, act.speech, hop))
    if words and out["f0_reliable"]:
        out.update(word_prominence(words[0], words[1], nuclei, pt.times, pt.f0, act.frame_db, hop, language,
                                   cfg.stress_z))  # fmt: skip
    else:
        out.update(stressed_words=[], stress_scores=None)

    if gender:
        out.update(gender=gender, gender_source="metadata", gender_confidence=1.0)
    else:
        disp = None
        if out["f0_median_hz"] is not None and 140 < out["f0_median_hz"] < 190:  # ambiguous: ask the formants
            disp = _formant_dispersion(snd, pt.times[pt.voiced])
        g, conf = estimate_gender(out["f0_median_hz"], disp)
        out.update(gender=g, gender_source="estimated" if g else None, gender_confidence=conf)
    out["age_level"] = age_level(age)
    return out
