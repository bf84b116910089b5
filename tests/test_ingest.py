"""The ingest library and stage: quarantine reasons, label mapping, splits, re-runs, real EmoDB."""

import csv
import json
from collections import Counter, defaultdict

import numpy as np
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from emotionthinker.config import AudioLimits, CorpusSpec, DataConfig
from emotionthinker.corpora.ingest import ingest
from emotionthinker.corpora.splits import assign_splits
from emotionthinker.records import read_jsonl
from stages import ingest as stage
from tests.conftest import EMODB, tone, write

EMOTIONS = ["neutral", "happy", "sad", "angry"]


def _corpus(tmp_path, speakers=6, per=3):
    """A manifest corpus: `speakers` x 4 emotions x `per` good clips, plus one clip per failure mode."""
    root = tmp_path / "corpus"
    rows = []
    for s in range(speakers):
        for e, emo in enumerate(EMOTIONS):
            for k in range(per):
                name = f"s{s}_{emo}_{k}.wav"
                write(root / name, tone(0.5 + 0.1 * k, f0=120 + 20 * s + 5 * e))
                rows.append({"path": name, "emotion": emo, "speaker": f"spk{s}", "gender": "fm"[s % 2]})
    bad = {
        "missing.wav": None,
        "junk.wav": "text",
        "empty.wav": np.zeros(0, np.float32),
        "nan.wav": np.full(8000, np.nan, np.float32),
        "short.wav": tone(0.1),
        "long.wav": tone(6.0),
        "silent.wav": np.zeros(16000, np.float32),
        "clipped.wav": np.clip(tone(1.0, amp=3.0), -1, 1),
    }
    for name, x in bad.items():
        if isinstance(x, str):
            (root / name).write_text(x)
        elif x is not None:
            write(root / name, x, subtype="FLOAT" if name == "nan.wav" else None)
        rows.append({"path": name, "emotion": "sad", "speaker": "spk0", "gender": "f"})
    write(root / "bored.wav", tone(1.0))
    rows.append({"path": "bored.wav", "emotion": "frustrated", "speaker": "spk0", "gender": "f"})
    rows.append({"path": "nolabel.wav", "emotion": "", "speaker": "spk0", "gender": "f"})
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "emotion", "speaker", "gender"])
        w.writeheader()
        w.writerows(rows)
    return manifest


def _cfg(manifest, **kw):
    return DataConfig(
        corpora=[CorpusSpec(name="toy", format="manifest", manifest=manifest, language="en")],
        audio=AudioLimits(max_duration_s=5.0),
        workers=kw.pop("workers", 1),
        **kw,
    )


def test_a_rendered_clip_has_the_same_utt_id_wherever_the_repository_is():
    from pathlib import Path

    from emotionthinker.corpora.base import SourceClip
    from emotionthinker.corpora.ingest import _source_key, utt_id

    spec = CorpusSpec(name="synthetic", format="synthetic")
    ids = {utt_id("synthetic", _source_key(SourceClip(Path(f"{root}/data/synth/wav/a.wav"), "sad", "s1",
                                                      key="wav/a.wav"), spec))
           for root in ("/work/main", "/tmp/clone")}  # fmt: skip
    assert len(ids) == 1
    unkeyed = {_source_key(SourceClip(Path(f"{root}/x.wav"), "sad", "s1"), spec) for root in ("/a", "/b")}
    assert len(unkeyed) == 2  # with no root and no key the absolute path is all there is


def test_every_failure_mode_is_quarantined_with_its_reason(tmp_path):
    res = ingest(_cfg(_corpus(tmp_path)), tmp_path / "audio", repo_root=tmp_path, progress=False)
    reasons = {q["source_path"].rsplit("/", 1)[-1].split(":")[0]: q["reason"] for q in res.quarantine}
    assert reasons == {
        "missing.wav": "missing_file", "junk.wav": "unreadable", "empty.wav": "empty", "nan.wav": "non_finite",
        "short.wav": "too_short", "long.wav": "too_long", "silent.wav": "silent", "clipped.wav": "clipped",
        "bored.wav": "unmapped_label", "manifest.csv": "bad_metadata",
    }  # fmt: skip
    assert all("fix" in q["message"] or "fix" in q["message"].lower() for q in res.quarantine)
    assert not [q["source_path"] for q in res.quarantine if q["source_path"].startswith("/")]  # repo-relative
    assert len(res.manifest) == 6 * 4 * 3
    assert res.metrics["quarantined_by_reason"]["too_long"] == 1
    assert res.metrics["clips"] == 72 and res.metrics["quarantined"] == 10


def test_manifest_records_are_complete_and_audio_is_16k_mono(tmp_path):
    import soundfile as sf

    res = ingest(_cfg(_corpus(tmp_path)), tmp_path / "audio", repo_root=tmp_path, progress=False)
    rec = res.manifest[0]
    assert set(rec) == {
        "utt_id", "corpus", "audio_path", "source_path", "duration_s", "emotion", "source_label", "speaker",
        "gender", "age", "language", "transcription", "split", "meta",
    }  # fmt: skip
    assert rec["speaker"].startswith("toy_spk") and rec["language"] == "en" and rec["gender"] in ("female", "male")
    assert not rec["audio_path"].startswith("/")  # relative to the repo root
    info = sf.info(str(tmp_path / rec["audio_path"]))
    assert info.samplerate == 16000 and info.channels == 1
    assert abs(info.duration - rec["duration_s"]) < 1e-3
    assert len({r["utt_id"] for r in res.manifest}) == len(res.manifest)


def test_splits_are_speaker_independent_and_cover_every_emotion(tmp_path):
    res = ingest(_cfg(_corpus(tmp_path, speakers=8)), tmp_path / "audio", repo_root=tmp_path, progress=False)
    split_of = defaultdict(set)
    for r in res.manifest:
        split_of[r["speaker"]].add(r["split"])
    assert all(len(s) == 1 for s in split_of.values())
    per_split = defaultdict(Counter)
    for r in res.manifest:
        per_split[r["split"]][r["emotion"]] += 1
    assert set(per_split) == {"train", "val", "test"}
    assert all(set(c) == set(EMOTIONS) for c in per_split.values())
    assert res.metrics["split"]["train"] == 6 * 12


def test_explicit_test_speakers(tmp_path):
    manifest = _corpus(tmp_path, speakers=6)
    cfg = DataConfig(
        corpora=[CorpusSpec(name="toy", format="manifest", manifest=manifest, test_speakers=["spk4", "spk5"])],
        audio=AudioLimits(max_duration_s=5.0),
        workers=1,
    )
    res = ingest(cfg, tmp_path / "audio", repo_root=tmp_path, progress=False)
    assert {r["speaker"] for r in res.manifest if r["split"] == "test"} == {"toy_spk4", "toy_spk5"}


def test_reingest_skips_unchanged_clips_and_redoes_changed_ones(tmp_path):
    manifest = _corpus(tmp_path)
    first = ingest(_cfg(manifest, workers=2), tmp_path / "audio", repo_root=tmp_path, progress=False)
    assert first.metrics["decoded_this_run"] == 72 + 8  # good clips and the ones that fail on decoding
    second = ingest(_cfg(manifest, workers=2), tmp_path / "audio", repo_root=tmp_path, progress=False)
    assert second.metrics["decoded_this_run"] == 1  # only missing.wav, which has no signature
    assert second.manifest == first.manifest and second.quarantine == first.quarantine
    write(manifest.parent / "s0_sad_0.wav", tone(0.9, f0=300))
    third = ingest(_cfg(manifest, workers=2), tmp_path / "audio", repo_root=tmp_path, progress=False)
    assert third.metrics["decoded_this_run"] == 2
    changed = [r for r in third.manifest if r["source_path"].endswith("s0_sad_0.wav")][0]
    assert changed["duration_s"] == pytest.approx(0.9, abs=1e-3)


def test_audio_of_clips_gone_from_the_corpus_is_pruned(tmp_path):
    manifest = _corpus(tmp_path)
    ingest(_cfg(manifest), tmp_path / "audio", repo_root=tmp_path, progress=False)
    assert len(list((tmp_path / "audio").glob("*/*.wav"))) == 72
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(line for line in lines if "s1_" not in line) + "\n")
    res = ingest(_cfg(manifest), tmp_path / "audio", repo_root=tmp_path, progress=False)
    assert len(res.manifest) == 60 and len(list((tmp_path / "audio").glob("*/*.wav"))) == 60


def test_a_corpus_with_nothing_usable_is_an_error_that_says_why(tmp_path):
    (tmp_path / "m.jsonl").write_text(json.dumps({"path": "gone.wav", "emotion": "sad", "speaker": "a"}) + "\n")
    cfg = DataConfig(corpora=[CorpusSpec(name="empty", format="manifest", manifest=tmp_path / "m.jsonl")], workers=1)
    with pytest.raises(Exception, match=r"corpus 'empty'.*missing_file"):
        ingest(cfg, tmp_path / "audio", repo_root=tmp_path, progress=False)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 30), min_size=1, max_size=25),
    emotions=st.lists(st.sampled_from(EMOTIONS), min_size=1, max_size=30),
    seed=st.integers(0, 1000),
)
@example(sizes=[4, 1, 1], emotions=["neutral", "happy"], seed=0)  # both small speakers went to val, none to test
def test_split_invariants(sizes, emotions, seed):
    clips = [(f"spk{i}", emotions[(i + j) % len(emotions)]) for i, n in enumerate(sizes) for j in range(n)]
    out = assign_splits({"c": clips}, val=0.15, test=0.15, seed=seed)["c"]
    assert set(out) == {s for s, _ in clips}  # every speaker gets exactly one split
    assert set(out.values()) <= {"train", "val", "test"}
    if len(sizes) >= 3:
        assert set(out.values()) == {"train", "val", "test"}
    assert out == assign_splits({"c": clips}, val=0.15, test=0.15, seed=seed)["c"]  # deterministic


def test_split_shares_are_close_to_target_with_many_speakers():
    clips = [(f"spk{i}", EMOTIONS[j % 4]) for i in range(40) for j in range(20)]
    out = assign_splits({"c": clips}, val=0.15, test=0.15, seed=3)["c"]
    n = Counter(out.values())
    assert n["val"] == 6 and n["test"] == 6 and n["train"] == 28


def test_stage_cli_reports_a_malformed_config_without_a_traceback(tmp_path, caplog):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"data": {"corpora": [{"name": "x", "format": "ravdess"}]}}))
    assert stage.cli(["--params", str(params), "--out-dir", str(tmp_path / "d")]) == 2
    assert "needs `root:" in caplog.text
    params.write_text(yaml.safe_dump({"data": {"corpora": [{"name": "x", "format": "nope", "root": "."}]}}))
    assert stage.cli(["--params", str(params), "--out-dir", str(tmp_path / "d")]) == 2
    params.write_text("data: [unclosed")
    assert stage.cli(["--params", str(params), "--out-dir", str(tmp_path / "d")]) == 2
    assert "not valid YAML" in caplog.text


@pytest.mark.skipif(not (EMODB / "manifest.csv").exists(), reason="shared EmoDB copy not present")
def test_emodb_manifest_ingests_all_535_clips_speaker_independently(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"data": {"corpora": [
        {"name": "emodb", "format": "manifest", "manifest": str(EMODB / "manifest.csv")}]}}))  # fmt: skip
    m = stage.main(params, tmp_path / "data", tmp_path / "metrics.json")
    assert m["clips"] == 535 and m["quarantined"] == 0
    recs = read_jsonl(tmp_path / "data" / "manifest.jsonl")
    splits = defaultdict(set)
    for r in recs:
        splits[r["speaker"]].add(r["split"])
    assert len(splits) == 10 and all(len(v) == 1 for v in splits.values())
    assert Counter(r["emotion"] for r in recs)["neutral"] == 79 + 81  # boredom maps onto neutral by default
    assert {r["language"] for r in recs} == {"de"}
