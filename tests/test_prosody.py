"""Prosody measurements checked against signals whose truth is known by construction."""

import numpy as np
import pytest

from emotionthinker.config import ProsodyConfig
from emotionthinker.prosody.calibrate import assign_levels, fit_thresholds
from emotionthinker.prosody.features import extract

SR = 16000
CFG = ProsodyConfig()


def harmonic(f0, seconds=1.0, harmonics=range(1, 11), tilt=1.0, amp=0.3, sr=SR, jitter=0.0):
    """A voiced-like harmonic complex; f0 may be an array (a glide), amplitudes fall as 1/k**tilt.

    ``jitter`` perturbs each glottal cycle's period at random by that relative standard deviation."""
    n = int(seconds * sr)
    f = np.broadcast_to(np.asarray(f0, dtype=float), (n,)).copy()
    if jitter:
        rng, i = np.random.default_rng(5), 0
        while i < n:
            period = int(sr / f[i])
            f[i : i + period] *= 1 + jitter * rng.standard_normal()
            i += period
    phase = 2 * np.pi * np.cumsum(f) / sr
    x = sum(np.sin(k * phase) / k**tilt for k in harmonics)
    return (amp * x / np.max(np.abs(x))).astype(np.float32)


def glide(f_start, f_end, seconds):
    n = int(seconds * SR)
    return harmonic(f_start * (f_end / f_start) ** (np.arange(n) / n), seconds)


def syllables(n=5, f0=180.0, on=0.16, off=0.09, amp=0.3, gain_db=None):
    """``n`` syllable-like bursts with raised-cosine envelopes and a quiet, unvoiced-like dip between them."""
    parts = []
    rng = np.random.default_rng(0)
    for i in range(n):
        burst = harmonic(f0, on, amp=amp) * np.hanning(int(on * SR)).astype(np.float32) ** 0.5
        if gain_db is not None:
            burst *= 10 ** (gain_db[i] / 20)
        parts += [burst, (0.003 * rng.standard_normal(int(off * SR))).astype(np.float32)]
    return np.concatenate(parts)


def pad(x, seconds):
    z = np.zeros(int(seconds * SR), np.float32)
    return np.concatenate([z, x, z])


# --- F0 -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("f0", [80, 100, 130, 165, 200, 250, 330])
def test_f0_within_2_percent_on_harmonic_tones(f0):
    r = extract(harmonic(f0), SR, CFG)
    assert r["f0_median_hz"] == pytest.approx(f0, rel=0.02)
    assert r["f0_reliable"] and r["status"] == "ok"


@pytest.mark.parametrize("tilt", [0.0, 0.5, 2.0, 3.0])
def test_f0_unchanged_by_spectral_tilt(tilt):
    assert extract(harmonic(140, tilt=tilt), SR, CFG)["f0_median_hz"] == pytest.approx(140, rel=0.02)


@pytest.mark.parametrize("f0", [100, 150, 220])
def test_f0_right_with_a_missing_fundamental(f0):
    r = extract(harmonic(f0, harmonics=range(2, 12)), SR, CFG)
    assert r["f0_median_hz"] == pytest.approx(f0, rel=0.02)


def test_second_pass_centred_on_the_speaker_median_keeps_f0():
    r = extract(harmonic(120), SR, CFG, speaker_median=125.0)
    assert r["f0_median_hz"] == pytest.approx(120, rel=0.02)


def test_range_and_sd_in_semitones_follow_a_glide():
    r = extract(glide(100, 200, 1.5), SR, CFG)  # one octave
    assert 9.5 < r["f0_range_st"] < 12.0  # p5..p95 of a 12 st glide: 10.8 st
    assert 2.8 < r["f0_sd_st"] < 4.0  # uniform over 12 st: 3.46


# --- level, activity, rate --------------------------------------------------------------------------------------


def test_active_level_unchanged_by_silence_padding():
    x = syllables()
    a, b = extract(x, SR, CFG), extract(pad(x, 1.0), SR, CFG)
    assert abs(a["active_level_dbfs"] - b["active_level_dbfs"]) <= 0.2
    assert abs(a["speech_s"] - b["speech_s"]) <= 0.02
    assert b["speech_share"] < 0.5 * a["speech_share"]


@pytest.mark.parametrize("gain_db", [-20.0, -6.0, 6.0])
def test_active_level_tracks_gain(gain_db):
    x = syllables(amp=0.1)
    a = extract(x, SR, CFG)["active_level_dbfs"]
    b = extract(x * 10 ** (gain_db / 20), SR, CFG)["active_level_dbfs"]
    assert abs((b - a) - gain_db) <= 0.2


def test_active_level_of_a_sine_is_minus_3_dbfs():
    x = (np.sin(2 * np.pi * 200 * np.arange(SR) / SR)).astype(np.float32) * 0.5
    assert extract(x, SR, CFG)["active_level_dbfs"] == pytest.approx(20 * np.log10(0.5) - 3.01, abs=0.1)


def test_snr_reflects_the_noise_floor():
    x = pad(syllables(), 0.5)
    rng = np.random.default_rng(1)
    quiet = extract(x + 0.0005 * rng.standard_normal(len(x)).astype(np.float32), SR, CFG)
    noisy = extract(x + 0.005 * rng.standard_normal(len(x)).astype(np.float32), SR, CFG)
    assert quiet["snr_db"] - noisy["snr_db"] == pytest.approx(20, abs=4)


def test_syllable_nuclei_count_the_bursts():
    assert extract(syllables(n=6), SR, CFG)["syllable_nuclei"] == 6


def test_articulation_rate_unchanged_by_padding_while_rate_with_pauses_drops():
    x = syllables(n=6)
    a, b = extract(x, SR, CFG), extract(pad(x, 1.0), SR, CFG)
    assert b["articulation_rate_syl_s"] == pytest.approx(a["articulation_rate_syl_s"], rel=0.03)
    assert b["speech_rate_syl_s"] < 0.5 * a["speech_rate_syl_s"]


def test_text_rate_uses_the_transcript_syllables():
    r = extract(syllables(n=6), SR, CFG, transcript="Happy people sing today", language="en")
    assert r["text_syllables"] == 7
    assert r["text_rate_syl_s"] == pytest.approx(7 / r["speech_s"], rel=1e-3)
    assert extract(syllables(n=6), SR, CFG, transcript="你好", language="zh")["text_rate_syl_s"] is None


def test_speed_uses_the_transcript_only_where_the_clip_holds_all_of_it():
    x = pad(syllables(n=6), 0.3)
    whole = extract(x, SR, CFG, transcript="Happy people sing today", language="en")  # 7 syllables, 6 nuclei
    assert whole["speed_source"] == "transcript" and whole["speed_syl_s"] == whole["text_rate_syl_s"]
    bare = extract(x, SR, CFG)
    assert bare["speed_source"] == "voiced_nuclei" and bare["speed_syl_s"] == bare["articulation_rate_syl_s"]
    # the same six bursts said to hold 13 syllables: under 3/4 of them were heard, the clip was likely cut
    cut = extract(x, SR, CFG, transcript="Happy people sing today and happy people dance", language="en")
    assert cut["text_syllables"] == 13 and cut["speed_source"] == "voiced_nuclei"
    # a clip that stops while still speaking (EmoDB's 2-s copies) does not trust its transcript either
    ends = extract(np.concatenate([np.zeros(SR // 4, np.float32), syllables(n=6)[: -int(0.09 * SR)]]), SR, CFG,
                   transcript="Happy people sing today", language="en")  # fmt: skip
    assert ends["speed_source"] == "voiced_nuclei"


# --- voice quality -------------------------------------------------------------------------------------------------


def test_jitter_rises_with_f0_perturbation_and_hnr_with_noise():
    clean = extract(harmonic(150, 1.0), SR, CFG)
    wobbly = extract(harmonic(150, 1.0, jitter=0.02), SR, CFG)
    rng = np.random.default_rng(2)
    x = harmonic(150, 1.0)
    noisy = extract(x + 0.05 * rng.standard_normal(len(x)).astype(np.float32), SR, CFG)
    assert clean["jitter_pct"] < 0.2 and clean["shimmer_pct"] < 1.0
    assert wobbly["jitter_pct"] > 1.0 > 5 * clean["jitter_pct"]
    assert noisy["hnr_db"] < clean["hnr_db"] - 5


# --- contour --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signal, expected",
    [
        (glide(140, 220, 1.2), "rising"),
        (glide(220, 140, 1.2), "falling"),
        (np.concatenate([glide(140, 220, 0.6), glide(220, 140, 0.6)]), "rising-falling"),
        (np.concatenate([glide(220, 140, 0.6), glide(140, 220, 0.6)]), "falling-rising"),
        (harmonic(180, 1.2), "flat"),
        (np.concatenate([glide(120, 330, 0.4), glide(330, 100, 0.4), glide(100, 300, 0.4)]), "expressive"),
    ],
)
def test_contour_shapes(signal, expected):
    r = extract(signal, SR, CFG)
    assert r["contour"] == expected, r


def test_a_pause_is_not_read_as_a_pitch_valley():
    x = np.concatenate([harmonic(180, 0.6), np.zeros(int(0.4 * SR), np.float32), harmonic(180, 0.6)])
    assert extract(x, SR, CFG)["contour"] == "flat"


@pytest.mark.parametrize("seconds", [0.8, 1.6, 3.2])
def test_contour_label_does_not_depend_on_duration(seconds):
    assert extract(glide(150, 230, seconds), SR, CFG)["contour"] == "rising"


def test_contour_label_survives_unvoiced_gaps():
    rng = np.random.default_rng(3)
    hiss = (0.02 * rng.standard_normal(int(0.15 * SR))).astype(np.float32)  # a fricative-like gap
    x = np.concatenate([glide(140, 170, 0.5), hiss, glide(170, 200, 0.5), hiss, glide(200, 235, 0.5)])
    r = extract(x, SR, CFG)
    assert r["contour"] == "rising" and r["contour_confidence"] > 0.8


def test_silence_and_short_clips_give_no_contour():
    silent = extract(np.zeros(SR, np.float32), SR, CFG)
    assert silent["contour"] == "too_short" and silent["f0_median_hz"] is None
    assert silent["status"] == "insufficient_voiced"
    short = extract(harmonic(200, 0.2), SR, CFG)
    assert short["status"] == "too_short" and short["contour"] == "too_short" and "f0_median_hz" not in short


def test_whisper_like_noise_has_no_reliable_f0_but_a_rate():
    rng = np.random.default_rng(4)
    r = extract((0.1 * rng.standard_normal(SR)).astype(np.float32), SR, CFG)
    assert not r["f0_reliable"] and r["status"] == "insufficient_voiced"
    # whispered syllables: noise bursts; their nuclei come from energy peaks alone
    bursts = np.concatenate([np.concatenate([0.1 * rng.standard_normal(int(0.15 * SR)), 0.002 * rng.standard_normal(
        int(0.1 * SR))]) for _ in range(5)]).astype(np.float32)  # fmt: skip
    w = extract(bursts, SR, CFG)
    assert w["rate_source"] == "energy_peaks" and w["syllable_nuclei"] == 5


# --- stress, speaker traits ------------------------------------------------------------------------------------------


def test_the_word_with_the_pitch_and_energy_peak_is_stressed():
    # "alpha bravo charlie": 2 + 2 + 2 syllables; bravo's syllables are louder and higher
    parts = []
    for i in range(6):
        f0, gain = (230.0, 2.0) if i in (2, 3) else (170.0, 0.5)
        burst = harmonic(f0, 0.16, amp=0.3 * gain) * np.hanning(int(0.16 * SR)).astype(np.float32) ** 0.5
        parts += [burst, np.zeros(int(0.08 * SR), np.float32) + 1e-4]
    r = extract(np.concatenate(parts), SR, CFG, transcript="Alpha bravo charlie", language="en")
    assert r["stressed_words"] == ["bravo"], r["stress_scores"]


@pytest.mark.parametrize("f0, gender", [(105, "male"), (125, "male"), (210, "female"), (240, "female")])
def test_gender_is_estimated_only_when_metadata_is_missing(f0, gender):
    r = extract(harmonic(f0), SR, CFG)
    assert r["gender"] == gender and r["gender_source"] == "estimated" and r["gender_confidence"] > 0.5
    given = extract(harmonic(f0), SR, CFG, gender="female" if gender == "male" else "male", age=70)
    assert given["gender_source"] == "metadata" and given["gender"] != gender and given["age_level"] == "senior"
    assert r["age_level"] is None  # never guessed from audio


def test_stereo_and_mono_agree(tmp_path):
    import soundfile as sf

    from emotionthinker.audio import load

    x = syllables()
    sf.write(tmp_path / "m.wav", x, SR)
    sf.write(tmp_path / "s.wav", np.stack([x, x], axis=1), SR)
    a, b = (extract(load(tmp_path / n), SR, CFG) for n in ("m.wav", "s.wav"))
    for k in ("f0_median_hz", "active_level_dbfs", "articulation_rate_syl_s", "contour"):
        assert a[k] == pytest.approx(b[k], abs=0.05) if isinstance(a[k], float) else a[k] == b[k]


# --- calibration -----------------------------------------------------------------------------------------------------


def _rec(corpus, gender, f0, level, rate):
    return {"corpus": corpus, "gender": gender, "f0_median_hz": f0, "f0_reliable": True, "active_level_dbfs": level,
            "speed_syl_s": rate}  # fmt: skip


def test_pitch_levels_are_relative_to_corpus_and_gender():
    recs = [_rec("a", "male", 100 + i, -30 + i * 0.1, 4 + i * 0.01) for i in range(30)]
    recs += [_rec("a", "female", 190 + 2 * i, -30 + i * 0.1, 4 + i * 0.01) for i in range(30)]
    th = fit_thresholds(recs, (100 / 3, 200 / 3), min_group=10)
    assert th["pitch"]["groups"]["a|male"]["source"] == "group"
    # a 128 Hz man is high for the men; a 200 Hz woman is low for the women, though her F0 is far higher
    assert assign_levels(_rec("a", "male", 128, -28, 4.1), th)["pitch_level"] == "high"
    assert assign_levels(_rec("a", "female", 200, -28, 4.1), th)["pitch_level"] == "low"
    counts = {lv: sum(assign_levels(r, th)["pitch_level"] == lv for r in recs) for lv in ("low", "medium", "high")}
    assert counts == {"low": 20, "medium": 20, "high": 20}


def test_energy_is_calibrated_per_corpus():
    recs = [_rec("loud", "male", 120, -20 + i * 0.1, 4) for i in range(30)]
    recs += [_rec("quiet", "male", 120, -45 + i * 0.1, 4) for i in range(30)]
    th = fit_thresholds(recs, (100 / 3, 200 / 3), min_group=10)
    assert assign_levels(_rec("quiet", "male", 120, -42.2, 4), th)["energy_level"] == "high"
    assert assign_levels(_rec("loud", "male", 120, -19.5, 4), th)["energy_level"] == "low"


def test_small_groups_fall_back_to_pooled_cuts():
    recs = [_rec("a", "male", 100 + i, -30, 4) for i in range(40)] + [_rec("a", "female", 200, -30, 4)] * 3
    th = fit_thresholds(recs, (50.0,), min_group=10)
    assert th["levels"] == ["low", "high"]
    assert th["pitch"]["groups"]["a|female"]["source"] == "pooled"
    assert th["pitch"]["groups"]["a|female"]["cuts"] == th["pitch"]["pooled"]


def test_unreliable_f0_gets_no_pitch_level():
    recs = [_rec("a", "male", 100 + i, -30, 4) for i in range(30)]
    th = fit_thresholds(recs, (100 / 3, 200 / 3), min_group=10)
    bad = {**_rec("a", "male", 300, -30, 4), "f0_reliable": False}
    assert assign_levels(bad, th)["pitch_level"] is None
