"""The synthetic corpus: a balanced, deterministic plan, and audio whose prosody really carries the emotion."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from emotionthinker.config import CorpusSpec, SynthConfig
from emotionthinker.labels import DEFAULT_LABELS
from emotionthinker.synth import PROFILES, RENDER_VERSION, config_hash, plan_corpus, render_corpus
from emotionthinker.synth.profiles import (
    FEMALE_EXTRA,
    FEMALE_VARIANTS,
    LADEN_SENTENCES,
    MALE_EXTRA,
    MALE_VARIANTS,
    NEUTRAL_SENTENCES,
)

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

SMALL = SynthConfig(speakers=3, neutral_sentences=1, laden_sentences=1)


# ------------------------------------------------------------------------------------------------ plan


def test_bank_sizes() -> None:
    assert len(NEUTRAL_SENTENCES) >= 8
    assert set(LADEN_SENTENCES) == set(DEFAULT_LABELS) == set(PROFILES)
    assert all(len(v) >= 4 for v in LADEN_SENTENCES.values())


def test_plan_is_balanced() -> None:
    plans = plan_corpus(SMALL)
    assert len(plans) == 3 * len(DEFAULT_LABELS) * 2
    assert len({p.utt_id for p in plans}) == len(plans)
    cells = Counter((p.speaker, p.emotion) for p in plans)
    assert set(cells) == {(s, e) for s in ("syn01", "syn02", "syn03") for e in DEFAULT_LABELS}
    assert set(cells.values()) == {2}
    assert {p.speaker: p.gender for p in plans} == {"syn01": "female", "syn02": "male", "syn03": "female"}
    # the same neutral texts in every emotion, per speaker
    for spk in ("syn01", "syn02", "syn03"):
        by_emotion = defaultdict(set)
        for p in plans:
            if p.speaker == spk and p.sentence_kind == "neutral":
                by_emotion[p.emotion].add(p.text)
        assert len(by_emotion) == len(DEFAULT_LABELS)
        assert len({frozenset(t) for t in by_emotion.values()}) == 1
    for p in plans:
        assert len(p.emphasis) == 1 and p.emphasis[0] in p.text
        assert '<emphasis level="strong">' in p.ssml and p.ssml.startswith("<speak>")
        assert p.contour in ("rising", "falling", "rising-falling", "falling-rising", "level")
        if p.sentence_kind == "neutral":
            assert p.content_emotion is None and p.content_agrees is None
        else:
            assert p.content_agrees == (p.content_emotion == p.emotion)
            assert p.text in LADEN_SENTENCES[p.content_emotion]
        assert ("+whisper" in p.voice) == (p.emotion == "whisper")
    meta = plans[0].meta()
    json.dumps(meta)
    for key in ("utt_id", "speaker", "gender", "emotion", "text", "voice", "espeak", "pitch_shift_st", "range_scale",
                "rate_factor", "gain_db", "contour", "tremor", "emphasis", "content_emotion", "content_agrees",
                "sentence_kind"):  # fmt: skip
        assert key in meta


def test_plan_deterministic_and_seeded() -> None:
    assert plan_corpus(SMALL) == plan_corpus(SynthConfig(speakers=3, neutral_sentences=1, laden_sentences=1))
    other = plan_corpus(SMALL.model_copy(update={"seed": SMALL.seed + 1}))
    assert [p.utt_id for p in other] == [p.utt_id for p in plan_corpus(SMALL)]
    assert other != plan_corpus(SMALL)
    assert config_hash(SMALL) != config_hash(SMALL.model_copy(update={"seed": SMALL.seed + 1}))


def test_up_to_32_speakers_have_distinct_voices_and_the_first_20_stay_as_they_were(caplog) -> None:
    from emotionthinker.synth.corpus import make_speakers

    twenty = make_speakers(SynthConfig(speakers=20))
    with caplog.at_level("WARNING"):
        many = make_speakers(SynthConfig(speakers=32))
    assert many[:20] == twenty  # the extra pool only serves speakers 21 and up
    assert len({s.variant for s in many}) == 32 and not caplog.records
    with caplog.at_level("WARNING"):
        more = make_speakers(SynthConfig(speakers=36))
    assert len({s.variant for s in more}) == 34  # 18 female speakers, 16 female variants
    assert "2 female of them reuse" in caplog.text


@pytest.mark.parametrize(
    ("gender", "variants"), [("female", FEMALE_VARIANTS + FEMALE_EXTRA), ("male", MALE_VARIANTS + MALE_EXTRA)]
)
def test_every_voice_variant_exists_and_sounds_its_gender(gender, variants) -> None:
    """espeak-ng falls back to its default voice for a variant it does not know: each must sound like itself."""
    import parselmouth

    from emotionthinker.synth.render import espeak

    def f0_and_samples(voice):
        x, sr = espeak(voice, 170, 50, 100, "<speak>The report is in the second drawer.</speak>")
        f0 = parselmouth.Sound(x, sr).to_pitch(0.01, 60, 600).selected_array["frequency"]
        return float(np.median(f0[f0 > 0])), x

    default = f0_and_samples("en-us")[1]
    for v in variants:
        f0, x = f0_and_samples(f"en-us+{v}")
        assert (f0 > 150) == (gender == "female"), (v, f0)
        assert len(x) != len(default) or not np.allclose(x, default), v


def test_variation_zero_gives_the_profiles() -> None:
    cfg = SMALL.model_copy(update={"variation": 0.0})
    for p in plan_corpus(cfg):
        prof = PROFILES[p.emotion]
        assert p.pitch_shift_st == pytest.approx(prof.pitch_shift_st, abs=0.01)
        assert p.contour == prof.contour
        assert p.gain_db == pytest.approx(prof.gain_db, abs=0.01)


@pytest.mark.parametrize("share", [0.0, 0.25, 0.6])
def test_disagree_share(share: float) -> None:
    cfg = SynthConfig(speakers=20, neutral_sentences=1, laden_sentences=4, disagree_share=share, seed=3)
    laden = [p for p in plan_corpus(cfg) if p.sentence_kind == "laden"]
    assert len(laden) == 20 * len(DEFAULT_LABELS) * 4
    observed = sum(not p.content_agrees for p in laden) / len(laden)
    assert observed == pytest.approx(share, abs=0.01)
    # disagreeing content is spread over emotions, not piled on one
    if share > 0:
        assert len({p.content_emotion for p in laden if not p.content_agrees}) == len(DEFAULT_LABELS)


def test_plan_rejects_bad_config() -> None:
    with pytest.raises(ValueError, match="no emotion profile"):
        plan_corpus(SynthConfig(labels=("neutral", "boredom")))
    with pytest.raises(ValueError, match="neutral_sentences"):
        plan_corpus(SynthConfig(neutral_sentences=len(NEUTRAL_SENTENCES) + 1))


# ------------------------------------------------------------------------------------------------ audio


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("synth")
    manifest = render_corpus(SMALL, out, workers=2, progress=False)
    return out, [json.loads(line) for line in manifest.read_text().splitlines()]


@pytest.fixture(scope="module")
def measured(corpus: tuple[Path, list[dict]]) -> dict[str, dict]:
    import parselmouth

    out, records = corpus
    res = {}
    for r in records:
        snd = parselmouth.Sound(str(out / r["path"]))
        x = snd.values[0]
        f0 = snd.to_pitch().selected_array["frequency"]
        voiced = f0[f0 > 0]
        q = max(1, len(voiced) // 4)
        res[r["meta"]["utt_id"]] = {
            "speaker": r["speaker"],
            "emotion": r["emotion"],
            "kind": r["meta"]["sentence_kind"],
            "f0": float(np.median(voiced)) if len(voiced) else float("nan"),
            "voiced_share": len(voiced) / len(f0),
            "rms_db": float(20 * np.log10(np.sqrt(np.mean(x**2)))),
            "duration": snd.duration,
            "rise_st": float(12 * np.log2(np.median(voiced[-q:]) / np.median(voiced[:q]))) if len(voiced) > 8 else 0.0,
        }
    return res


def _per_speaker(measured: dict[str, dict], key: str) -> dict[str, dict[str, float]]:
    acc: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for m in measured.values():
        acc[m["speaker"]][m["emotion"]].append(m[key])
    return {s: {e: float(np.mean(v)) for e, v in d.items()} for s, d in acc.items()}


def test_manifest_and_stamp(corpus: tuple[Path, list[dict]]) -> None:
    out, records = corpus
    assert len(records) == len(plan_corpus(SMALL))
    for r in records:
        assert (out / r["path"]).is_file() and r["path"].startswith("wav/")
        assert r["language"] == "en" and r["transcription"] == r["meta"]["text"]
        assert r["emotion"] == r["meta"]["emotion"] and r["gender"] in ("female", "male")
        assert 0.5 <= r["meta"]["duration_scale"] <= 2.0
    stamp = json.loads((out / "synth.json").read_text())
    assert stamp["config_hash"] == config_hash(SMALL) and stamp["render_version"] == RENDER_VERSION
    assert stamp["config"]["speakers"] == 3
    assert not list(out.rglob("*.part"))


def test_audio_format(corpus: tuple[Path, list[dict]]) -> None:
    import soundfile as sf

    out, records = corpus
    for r in records:
        info = sf.info(str(out / r["path"]))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert 1.0 <= info.duration <= 5.0
        pcm, _ = sf.read(str(out / r["path"]), dtype="int16")
        assert np.abs(pcm.astype(np.int32)).max() < 32767  # not clipped
        assert np.abs(pcm.astype(np.int32)).max() > 300  # not silent


def test_wav_bytes_deterministic(corpus: tuple[Path, list[dict]]) -> None:
    from emotionthinker.synth.render import render_utterance

    out, _ = corpus
    plans = {p.utt_id: p for p in plan_corpus(SMALL)}
    other = {p.utt_id: p for p in plan_corpus(SMALL.model_copy(update={"seed": SMALL.seed + 1}))}
    # sad and whisper both go through the duration tier, whose overlap-add draws random numbers in voiceless parts
    for uid in ("syn01_sad_n01", "syn02_whi_l01"):
        data, _ = render_utterance(plans[uid])  # in this process; the corpus was rendered in workers
        assert data == (out / "wav" / f"{uid}.wav").read_bytes()
        assert render_utterance(other[uid])[0] != data


def test_pitch_level(measured: dict[str, dict]) -> None:
    f0 = _per_speaker(measured, "f0")
    for spk, by in f0.items():
        for high in ("angry", "happy", "surprise", "fear"):
            # at least 1.5 semitones above sad, for every speaker
            assert 12 * np.log2(by[high] / by["sad"]) > 1.5, (spk, high, by)


def test_level(measured: dict[str, dict]) -> None:
    rms = _per_speaker(measured, "rms_db")
    for spk, by in rms.items():
        assert by["sad"] < by["angry"] - 2.0, (spk, by)
        assert by["whisper"] < by["neutral"], (spk, by)


def test_whisper_unvoiced(measured: dict[str, dict]) -> None:
    share = _per_speaker(measured, "voiced_share")
    for spk, by in share.items():
        assert by["neutral"] > 0.3
        assert by["whisper"] < 0.3 * by["neutral"], (spk, by)


def test_surprise_rises(measured: dict[str, dict]) -> None:
    rises = [m["rise_st"] for m in measured.values() if m["emotion"] == "surprise"]
    assert np.mean(rises) > 1.5 and sum(r > 0 for r in rises) >= 0.8 * len(rises), rises
    falls = [m["rise_st"] for m in measured.values() if m["emotion"] in ("angry", "sad")]
    assert np.mean(falls) < np.mean(rises) - 3.0


def test_sad_slower_than_angry(measured: dict[str, dict]) -> None:
    for spk in ("syn01", "syn02", "syn03"):
        sad = measured[f"{spk}_sad_n01"]["duration"]
        angry = measured[f"{spk}_ang_n01"]["duration"]
        assert sad > angry, (spk, sad, angry)


def test_cached_second_call_renders_nothing(corpus: tuple[Path, list[dict]], monkeypatch: pytest.MonkeyPatch) -> None:
    import emotionthinker.synth.corpus as synth_corpus

    out, _ = corpus

    def boom(job: object) -> None:
        raise AssertionError("rendered although the corpus is cached")

    monkeypatch.setattr(synth_corpus, "_render_job", boom)
    t0 = time.perf_counter()
    manifest = render_corpus(SMALL, out, workers=2, progress=False)
    assert time.perf_counter() - t0 < 2.0
    assert manifest == out / "manifest.jsonl"


def test_adapter(corpus: tuple[Path, list[dict]]) -> None:
    from emotionthinker.corpora.base import SourceClip, get_adapter

    out, records = corpus
    options = {**SMALL.model_dump(mode="json"), "out_dir": str(out)}
    clips = list(get_adapter("synthetic")(CorpusSpec(name="synth", format="synthetic", options=options)))
    assert len(clips) == len(records) and all(isinstance(c, SourceClip) for c in clips)
    c = clips[0]
    assert c.source_path.is_absolute() and c.source_path.is_file()
    assert c.key == records[0]["path"]  # what its utt_id hashes: the same wherever the corpus is rendered
    assert c.source_label == records[0]["emotion"] and c.speaker == "syn01" and c.gender == "female"
    assert c.language == "en" and c.transcription == records[0]["transcription"]
    assert c.meta["utt_id"] == records[0]["meta"]["utt_id"] and "pitch_shift_st" in c.meta
    with pytest.raises(ValueError, match="synthetic options"):
        list(get_adapter("synthetic")(CorpusSpec(name="s", format="synthetic", options={"speakerz": 3})))
