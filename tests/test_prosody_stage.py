"""The prosody stage end to end on a small manifest the test writes, in-process and on a Dask LocalCluster."""

import json
import logging

import pytest
import soundfile as sf
import yaml

from emotionthinker.records import read_jsonl, write_jsonl
from stages import prosody as stage
from tests.test_prosody import SR, glide, harmonic


def _manifest(tmp_path, broken=True):
    rows = []
    for s, (gender, base) in enumerate([("male", 110.0), ("female", 210.0)]):
        for i, emotion in enumerate(["sad", "neutral", "angry", "happy"]):
            f0 = base * 2 ** (i * 3 / 12)  # each emotion three semitones above the previous
            x = glide(f0, f0 * 1.3, 1.0) if emotion == "happy" else harmonic(f0, 1.0, amp=0.05 * (i + 1))
            path = tmp_path / "audio" / f"s{s}_{emotion}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, x, SR)
            rows.append({"utt_id": f"u{s}{i}", "corpus": "toy", "audio_path": str(path), "speaker": f"toy_s{s}",
                         "gender": gender, "age": 30, "language": "en", "transcription": "happy people sing today",
                         "emotion": emotion, "split": "train", "meta": {}})  # fmt: skip
    if broken:
        rows.append({**rows[0], "utt_id": "gone", "audio_path": str(tmp_path / "audio" / "missing.wav")})
    write_jsonl(tmp_path / "manifest.jsonl", rows)
    return tmp_path / "manifest.jsonl"


def _run(tmp_path, **prosody):
    tmp_path.mkdir(parents=True, exist_ok=True)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"prosody": {"min_group": 3, **prosody}}))
    return stage.main(params, _manifest(tmp_path), tmp_path / "out", tmp_path / "m.json", tmp_path / "cal.png")


def test_stage_writes_features_thresholds_labels_and_a_plot(tmp_path):
    rep = _run(tmp_path, workers=1)
    feats = {f["utt_id"]: f for f in read_jsonl(tmp_path / "out" / "features.jsonl")}
    labels = {r["utt_id"]: r for r in read_jsonl(tmp_path / "out" / "labels.jsonl")}
    assert len(feats) == len(labels) == 9
    assert feats["gone"]["status"] == "error" and "missing.wav" in feats["gone"]["error"]
    assert rep["errors"] == [{"utt_id": "gone", "error": feats["gone"]["error"]}]
    # levels are relative within each gender: both speakers' sad clips low, angry/happy clips high
    for s in (0, 1):
        assert labels[f"u{s}0"]["pitch_level"] == "low"
        assert labels[f"u{s}3"]["pitch_level"] == "high"
        assert labels[f"u{s}3"]["intonation"] == "rising"
    assert labels["u00"]["energy_level"] == "low" and labels["u02"]["energy_level"] == "high"
    assert feats["u00"]["speaker_f0_median_hz"] == pytest.approx(110 * 2 ** (4.5 / 12), rel=0.1)
    th = json.loads((tmp_path / "out" / "thresholds.json").read_text())
    assert set(th["pitch"]["groups"]) == {"toy|male", "toy|female"}
    assert (tmp_path / "cal.png").stat().st_size > 10_000
    assert rep["per_emotion"]["sad"]["pitch_level"] == {"low": 2, "None": 1}  # the broken clip has no level


def test_stage_on_a_dask_local_cluster_matches_in_process(tmp_path, caplog):
    a = _run(tmp_path / "a", workers=1)
    with caplog.at_level(logging.INFO):
        b = _run(tmp_path / "b", workers=2, chunk_size=2)
    chatter = [r.getMessage() for r in caplog.records if r.name.startswith("distributed") and r.levelno < 30]
    assert chatter == []  # the cluster's start, stop and shutdown tracebacks stay out of the stage's log
    fa = read_jsonl(tmp_path / "a" / "out" / "features.jsonl")
    fb = read_jsonl(tmp_path / "b" / "out" / "features.jsonl")
    strip = (
        [{k: v for k, v in f.items() if k != "error"} for f in fa],
        [{k: v for k, v in f.items() if k != "error"} for f in fb],
    )
    assert [f["utt_id"] for f in fa] == [f["utt_id"] for f in fb]
    assert strip[0] == strip[1]
    assert a["label_counts"] == b["label_counts"]


def test_missing_manifest_is_a_clear_error(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("prosody: {}\n")
    with pytest.raises(FileNotFoundError, match="run the ingest stage first"):
        stage.main(params, tmp_path / "nope.jsonl", tmp_path / "o", tmp_path / "m.json", tmp_path / "p.png")
    params.write_text("prosody: {f0_floor: 700}\n")
    assert stage.cli(["--params", str(params), "--manifest", str(tmp_path / "nope.jsonl")]) == 2
