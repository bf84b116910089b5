"""Prosody SFT task sets; the contrastive manipulations are checked by measuring the audio again."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emotionthinker.annotate.contrast import apply_gain, change_tempo, join_pair, limit_peak, shift_pitch
from emotionthinker.annotate.facts import Facts, caption
from emotionthinker.annotate.tasks import (
    INTONATIONS,
    LEVELS,
    OPTIONS,
    attribute_tasks,
    caption_tasks,
    contrastive_tasks,
    stress_tasks,
)
from emotionthinker.config import ProsodyConfig
from emotionthinker.prosody.features import extract

SR = 16000
CFG = ProsodyConfig()
PAUSE = 0.4


def harmonic(f0: float, seconds: float, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 11))
    return (amp * x / np.max(np.abs(x))).astype(np.float32)


def syllables(f0: float = 170.0, n: int = 6, on: float = 0.15, off: float = 0.08, amp: float = 0.3, seed: int = 0):
    """``n`` bursts of a harmonic complex (F0 wobbling by a few percent) with quiet, noisy gaps between."""
    rng = np.random.default_rng(seed)
    parts = [np.zeros(int(0.1 * SR), np.float32)]
    for i in range(n):
        burst = harmonic(f0 * (1 + 0.03 * np.sin(i + seed)), on, amp) * np.hanning(int(on * SR)).astype(np.float32)
        parts += [burst, (0.002 * rng.standard_normal(int(off * SR))).astype(np.float32)]
    parts.append(np.zeros(int(0.1 * SR), np.float32))
    return np.concatenate(parts)


def st(a: float, b: float) -> float:
    return 12 * np.log2(a / b)


def facts(uid: str, **kw) -> Facts:
    base = dict(utt_id=uid, emotion="sad", transcript="I lost it again.", language="en", gender="female",
                age_level="adult", pitch="low", energy="medium", speed="high", intonation="falling",
                voicing="voiced", stressed_words=("lost",))  # fmt: skip
    return Facts(**{**base, **kw})


def clip(uid: str, split: str = "train") -> dict:
    return {"utt_id": uid, "audio_path": f"data/audio/{uid}.wav", "split": split}


# --- the manipulations, measured --------------------------------------------------------------------------------


@pytest.mark.parametrize("f0", [150.0, 200.0])
@pytest.mark.parametrize("semitones", [3.0, -3.0, 2.0])
def test_shift_pitch_moves_measured_f0_by_the_semitones(f0, semitones):
    x = syllables(f0)
    y = shift_pitch(x, SR, semitones)
    assert len(y) == len(x)
    before, after = extract(x, SR, CFG), extract(y, SR, CFG)
    err = st(after["f0_median_hz"], before["f0_median_hz"]) - semitones
    assert abs(err) < 0.5, f"shift {semitones:+} st measured {err + semitones:+.2f} st"
    assert abs(after["speech_s"] - before["speech_s"]) <= 0.03  # timing kept


@pytest.mark.parametrize("factor", [1.3, 1 / 1.3])
def test_change_tempo_scales_duration_and_keeps_pitch(factor):
    x = syllables(180.0)
    y = change_tempo(x, SR, factor)
    before, after = extract(x, SR, CFG), extract(y, SR, CFG)
    assert len(x) / len(y) == pytest.approx(factor, rel=0.03)
    assert before["speech_s"] / after["speech_s"] == pytest.approx(factor, rel=0.03)  # the speech itself, too
    assert abs(st(after["f0_median_hz"], before["f0_median_hz"])) < 0.5


@pytest.mark.parametrize("db", [6.0, -6.0, 3.0])
def test_apply_gain_moves_the_active_level(db):
    x = syllables(160.0)
    diff = extract(apply_gain(x, db), SR, CFG)["active_level_dbfs"] - extract(x, SR, CFG)["active_level_dbfs"]
    assert diff == pytest.approx(db, abs=0.3)


def test_join_pair_puts_a_silent_pause_between_the_halves():
    a, b = syllables(150.0), syllables(200.0, n=4)
    y = join_pair(a, b, SR, PAUSE)
    gap = int(PAUSE * SR)
    assert len(y) == len(a) + gap + len(b)
    assert np.array_equal(y[: len(a)], a) and np.array_equal(y[len(a) + gap :], b)
    assert not np.any(y[len(a) : len(a) + gap])


@pytest.mark.parametrize("kind,amount", [("speed", 1.3), ("speed", 1 / 1.3), ("energy", 6.0), ("pitch", 3.0)])
def test_make_pair_trims_each_half_to_max_half_s(kind, amount):
    from emotionthinker.annotate.tasks import PairPlan, make_pair

    x = syllables(n=12, seed=1)  # about 3.7 s
    plan = PairPlan("u", kind, amount, "second", "up", "unused.wav")
    full = make_pair(x, SR, plan, pause_s=0.4)
    short = make_pair(x, SR, plan, pause_s=0.4, max_half_s=1.2)
    assert len(full) > 2 * len(x) * 0.7
    assert len(short) == 2 * int(1.2 * SR) + int(0.4 * SR)  # both halves cut to 1.2 s: no longer than a clip
    assert not np.any(short[int(1.2 * SR) : int(1.6 * SR)])  # the pause is still silent
    assert abs(short[int(1.2 * SR) - 1]) < 1e-3  # faded out at the cut, no click
    short_clip = x[: int(0.8 * SR)]  # shorter than max_half_s even slowed down: untouched
    assert np.array_equal(make_pair(short_clip, SR, plan, 0.4, 1.2), make_pair(short_clip, SR, plan, 0.4))


def test_limit_peak_scales_the_whole_signal():
    x = np.array([0.5, -2.0, 1.0], np.float32)
    y = limit_peak(x, 0.95)
    assert np.max(np.abs(y)) == pytest.approx(0.95) and y[2] / y[0] == pytest.approx(2.0)
    quiet = x * 0.1
    assert np.array_equal(limit_peak(quiet, 0.95), quiet)


# --- contrastive pairs --------------------------------------------------------------------------------------------


@pytest.fixture
def corpus(tmp_path):
    """10 voiced clips and 2 whispered (noise) ones under ``tmp_path`` as the repo root."""
    rng = np.random.default_rng(3)
    clips, fx = [], {}
    for i in range(12):
        uid = f"c{i:02d}"
        if i < 10:
            x = syllables(150.0 + 5 * i, n=5 + i % 3, seed=i)
            fx[uid] = facts(uid)
        else:
            x = (0.05 * rng.standard_normal(int(1.5 * SR))).astype(np.float32)
            fx[uid] = facts(uid, voicing="unvoiced", pitch=None, intonation=None)
        path = tmp_path / "data" / "audio" / f"{uid}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), x, SR, subtype="PCM_16")
        clips.append(clip(uid, "train" if i % 4 else "val"))
    return tmp_path, clips, fx


def _run(root: Path, clips, fx, seed=7, per_clip=3, workers=1, out="pairs"):
    return contrastive_tasks(clips, fx, root / "data" / out, root, rng_seed=seed, per_clip=per_clip,
                             workers=workers, progress=False)  # fmt: skip


def _halves(rec: dict, root: Path, n_orig: int) -> tuple[np.ndarray, np.ndarray]:
    y, sr = sf.read(str(root / rec["audio_path"]), dtype="float32")
    assert sr == SR
    gap = int(PAUSE * SR)
    first_len = len(y) - gap - n_orig if rec["meta"]["modified_half"] == "first" else n_orig
    if rec["meta"]["kind"] != "speed":
        assert first_len == n_orig
    assert not np.any(y[first_len : first_len + gap]), "the pause is silent"
    return y[:first_len], y[first_len + gap :]


def test_contrastive_pairs_are_balanced_correct_and_measurable(corpus):
    root, clips, fx = corpus
    recs = _run(root, clips, fx)
    kinds = Counter(r["meta"]["kind"] for r in recs)
    assert kinds == {"pitch": 10, "speed": 12, "energy": 12}  # every clip gets each kind it can; no whisper pitch
    for kind in kinds:
        answers = Counter(r["answer"] for r in recs if r["meta"]["kind"] == kind)
        assert answers["first"] == answers["second"] == kinds[kind] // 2
        directions = Counter(r["meta"]["direction"] for r in recs if r["meta"]["kind"] == kind)
        assert abs(directions["up"] - directions["down"]) <= 1
    assert not any(r["meta"]["kind"] == "pitch" and r["utt_id"] in ("c10", "c11") for r in recs)
    n_orig = {c["utt_id"]: sf.info(str(root / c["audio_path"])).frames for c in clips}
    by_id = {c["utt_id"]: c for c in clips}
    for r in recs:
        m = r["meta"]
        assert set(r) >= {"task", "utt_id", "audio_path", "question", "answer", "split", "options", "meta"}
        assert (
            r["task"] == "contrastive"
            and r["options"] == ["first", "second"]
            and r["split"] == by_id[r["utt_id"]]["split"]
        )
        assert r["audio_path"] == f"data/pairs/{r['utt_id']}_{m['kind']}_mod{m['modified_half']}.wav"
        assert sf.info(str(root / r["audio_path"])).subtype == "PCM_16"
        assert {"pitch": "higher in pitch", "speed": "faster", "energy": "louder"}[m["kind"]] in r["question"]
        first, second = _halves(r, root, n_orig[r["utt_id"]])
        a, b = extract(first, SR, CFG), extract(second, SR, CFG)
        if m["kind"] == "pitch":
            diff = st(a["f0_median_hz"], b["f0_median_hz"])
            assert abs(abs(diff) - 3.0) < 0.5 and r["answer"] == ("first" if diff > 0 else "second")
        elif m["kind"] == "speed":
            ratio = len(second) / len(first)  # > 1: the first half is shorter, i.e. faster
            assert abs(max(ratio, 1 / ratio) - 1.3) < 0.03 * 1.3 and r["answer"] == (
                "first" if ratio > 1 else "second"
            )
        else:
            diff = a["active_level_dbfs"] - b["active_level_dbfs"]
            assert abs(abs(diff) - 6.0) < 0.3 and r["answer"] == ("first" if diff > 0 else "second")
    assert len(list((root / "data" / "pairs").glob("*.wav"))) == len(recs)


def test_contrastive_pairs_are_deterministic_for_a_seed_whatever_the_workers(corpus):
    root, clips, fx = corpus
    one = _run(root, clips, fx, seed=11, per_clip=1, workers=1, out="a")
    two = _run(root, clips, fx, seed=11, per_clip=1, workers=2, out="b")
    strip = [{**r, "audio_path": Path(r["audio_path"]).name} for r in one]
    assert strip == [{**r, "audio_path": Path(r["audio_path"]).name} for r in two]
    for r, s in zip(one, two, strict=True):
        assert np.array_equal(sf.read(str(root / r["audio_path"]))[0], sf.read(str(root / s["audio_path"]))[0])
    other = _run(root, clips, fx, seed=12, per_clip=1, workers=1, out="c")
    assert [r["meta"] for r in other] != [r["meta"] for r in one]
    # one pair per clip, spread over the kinds, and each kind's answers split exactly
    assert len({r["utt_id"] for r in one}) == len(one) >= 10
    for kind in ("pitch", "speed", "energy"):
        answers = Counter(r["answer"] for r in one if r["meta"]["kind"] == kind)
        assert answers["first"] == answers["second"] >= 1


def test_a_failing_clip_is_skipped_and_answers_stay_balanced(corpus, caplog):
    root, clips, fx = corpus
    (root / clips[3]["audio_path"]).unlink()
    (root / clips[5]["audio_path"]).write_bytes(b"not audio at all")
    recs = _run(root, clips, fx, per_clip=3, workers=2)
    assert not {r["utt_id"] for r in recs} & {clips[3]["utt_id"], clips[5]["utt_id"]}
    assert "no such file" in caplog.text and "c05: contrastive pairs failed" in caplog.text
    for kind in ("pitch", "speed", "energy"):
        answers = Counter(r["answer"] for r in recs if r["meta"]["kind"] == kind)
        assert answers["first"] == answers["second"] > 0
    assert len(list((root / "data" / "pairs").glob("*.wav"))) == len(recs)  # dropped pairs leave no file


def test_odd_counts_leave_one_pair_out(corpus):
    root, clips, fx = corpus
    recs = _run(root, clips[:9], fx, per_clip=3)  # 9 voiced clips: 9 of each kind -> 8
    assert Counter(r["meta"]["kind"] for r in recs) == {"pitch": 8, "speed": 8, "energy": 8}


def test_contrastive_rejects_a_tempo_that_is_not_faster(corpus):
    root, clips, fx = corpus
    with pytest.raises(ValueError, match="tempo"):
        contrastive_tasks(clips, fx, root / "x", root, rng_seed=0, per_clip=1, tempo=0.8)


# --- attribute, stress and caption tasks -------------------------------------------------------------------------


def test_attribute_tasks_skip_unknown_levels_and_always_list_the_options():
    fx = {
        "a": facts("a"),
        "b": facts("b", pitch=None, intonation=None, energy="high"),
        "c": facts("c", speed=None, intonation="rising-falling"),
    }
    clips = [clip("a"), clip("b", "test"), clip("c"), clip("no_facts")]
    out = attribute_tasks(fx, clips)
    assert set(out) == {"pitch", "energy", "speed", "intonation"}
    assert [r["utt_id"] for r in out["pitch"]] == ["a", "c"]
    assert [r["utt_id"] for r in out["speed"]] == ["a", "b"]
    assert [r["utt_id"] for r in out["energy"]] == ["a", "b", "c"]
    assert [(r["utt_id"], r["answer"]) for r in out["intonation"]] == [("a", "falling"), ("c", "rising-falling")]
    assert [r["answer"] for r in out["energy"]] == ["moderate", "loud", "moderate"]  # medium, high, medium
    for task, recs in out.items():
        options = list(OPTIONS[task])
        assert options == list(INTONATIONS) if task == "intonation" else len(options) == len(LEVELS)
        for r in recs:
            assert r["task"] == task and r["options"] == options and r["answer"] in options
            assert ", ".join(options) in r["question"]
            assert r["audio_path"] == f"data/audio/{r['utt_id']}.wav"
            json.dumps(r)
    assert out["energy"][1]["split"] == "test"


def test_attribute_questions_vary_by_clip_but_are_deterministic():
    fx = {f"u{i}": facts(f"u{i}") for i in range(40)}
    clips = [clip(u) for u in fx]
    one, two = attribute_tasks(fx, clips), attribute_tasks(fx, clips)
    assert one == two
    for recs in one.values():
        assert len({r["question"] for r in recs}) >= 3


def test_stress_tasks_need_a_transcript_and_a_stressed_word():
    fx = {
        "a": facts("a", transcript="We really won the final.", stressed_words=("really", "final")),
        "b": facts("b", stressed_words=()),
        "c": facts("c", transcript=None),
        "d": facts("d", transcript="", stressed_words=("x",)),
    }
    recs = stress_tasks(fx, [clip(u) for u in fx])
    assert [r["utt_id"] for r in recs] == ["a"]
    assert recs[0]["answer"] == "really, final" and recs[0]["task"] == "stress"
    assert '"We really won the final."' in recs[0]["question"]


def test_caption_tasks_answer_with_the_caption():
    fx = {"a": facts("a"), "b": facts("b", voicing="unvoiced", pitch=None)}
    recs = caption_tasks(fx, [clip("a"), clip("b", "val")])
    assert [r["answer"] for r in recs] == [caption(fx["a"]), caption(fx["b"])]
    assert all(r["task"] == "caption" and "descri" in r["question"].lower() for r in recs)
