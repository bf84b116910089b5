"""The DVC pipeline end to end on a small synthetic corpus, in a temporary copy of the repository.

Checks the contracts between stages (every clip flows from the manifest to labels to EmotionCoT records)
and that a second ``dvc repro`` with nothing changed does nothing.
"""

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from emotionthinker.annotate.degrade import DEGRADATIONS
from emotionthinker.prompts import is_well_formed, parse_answer
from emotionthinker.records import read_jsonl
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def _run(cmd, cwd):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


MICRO_MODEL = {"vocab_size": 600, "text_layers": 1, "hidden_size": 64, "heads": 2, "kv_heads": 1,
               "intermediate_size": 128, "audio_layers": 1, "audio_d_model": 64, "audio_heads": 2,
               "audio_ffn_dim": 128}  # fmt: skip


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (REPO / f).is_file() and not f.startswith(("data/", "metrics/", "plots/")) and f != "dvc.lock":
            (root / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, root / f)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["corpora"][0]["options"].update(speakers=4, neutral_sentences=1, laden_sentences=1)
    params["prosody"]["min_group"] = 5
    params["model"].update(MICRO_MODEL)
    phase = {"epochs": 0.5, "learning_rate": 1e-3, "batch_size": 8}
    params["sft"].update(prosody=phase, cold_start=phase, save_steps=1000, audio_warmup={"epochs": 1.0})
    params["sft"]["eval"].update(max_per_task=4, free_text_max_new_tokens=8, cot_max_new_tokens=24)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(["git", "init", "-q"], root)
    _run(["dvc", "repro"], root)
    return root


def test_every_stage_produced_its_outputs_and_they_agree(repo):
    manifest = read_jsonl(repo / "data" / "manifest.jsonl")
    labels = read_jsonl(repo / "data" / "labels.jsonl")
    assert len(manifest) == 4 * 9 * 2 and len(labels) == len(manifest)
    assert {r["utt_id"] for r in labels} == {r["utt_id"] for r in manifest}
    cot = {s: read_jsonl(repo / "data" / "emotioncot" / f"{s}.jsonl") for s in ("train", "val", "test")}
    by_split = Counter(r["split"] for r in manifest)
    assert {s: len(v) for s, v in cot.items()} == dict(by_split)
    for rec in cot["train"]:
        assert is_well_formed(
            rec["target"],
            ["neutral", "happy", "sad", "angry", "contempt or disgust", "confused", "whisper", "surprise", "fear"],
        )
        assert parse_answer(rec["target"]) == rec["emotion"]
        assert rec["judge"]["factual_alignment"] == 5.0
    rm = read_jsonl(repo / "data" / "rm" / "train.jsonl")
    assert Counter(r["kind"] for r in rm) == {k: len(cot["train"]) for k in ["gold", *DEGRADATIONS]}
    tasks = {p.stem for p in (repo / "data" / "sft_tasks").glob("*.jsonl")}
    assert tasks == {"pitch", "energy", "speed", "intonation", "stress", "caption", "contrastive"}
    pairs = read_jsonl(repo / "data" / "sft_tasks" / "contrastive.jsonl")
    assert all((repo / p["audio_path"]).exists() for p in pairs) and len(pairs) > 0
    assert not any(p["split"] == "test" for p in pairs)
    metrics = json.loads((repo / "metrics" / "annotate.json").read_text())
    assert metrics["emotioncot"]["records"] == len(manifest)
    sft = json.loads((repo / "metrics" / "sft.json").read_text())
    assert sft["data"]["cold_start_cot"] == len(cot["train"]) and (repo / "models" / "base" / "config.json").exists()
    assert set(sft["eval"]) == {*tasks, "emotion_cot"} and sft["phases"]["prosody"]["steps"] > 0


def test_a_second_repro_does_nothing(repo):
    out = _run(["dvc", "repro"], repo).stdout
    assert "Data and pipelines are up to date" in out
    for stage in ("ingest", "prosody", "annotate", "validate", "sft"):
        assert f"Stage '{stage}' didn't change, skipping" in out


def test_changing_an_annotate_param_reruns_only_annotate(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["annotate"]["seed"] = 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = _run(["dvc", "repro", "validate"], repo).stdout  # the data stages (sft would retrain on the new tasks)
    assert "Stage 'ingest' didn't change" in out and "Stage 'prosody' didn't change" in out
    assert "Running stage 'annotate'" in out
