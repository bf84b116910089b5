"""The pipeline end to end through its Prefect flow on the micro profile, in a temporary copy of the repository.

Checks the contracts between stages (every clip flows from the manifest to labels to EmotionCoT records, models,
the leaderboard and the BentoML store), that a second run with nothing changed runs nothing, that a params change
reruns only what depends on it, and that a failing stage fails the flow with its own error.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from emotionthinker.annotate.degrade import DEGRADATIONS
from emotionthinker.prompts import is_well_formed, parse_answer
from emotionthinker.records import read_jsonl
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def _env(root: Path) -> dict:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "PREFECT_HOME": str(root / ".prefect"), "BENTOML_HOME": str(root / "bento")}  # fmt: skip


def _run(cmd, cwd, ok: bool = True):
    proc = subprocess.run(cmd, cwd=cwd, env=_env(cwd), capture_output=True, text=True, timeout=900)
    if ok:
        assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


FLOW = [sys.executable, "-m", "flows.pipeline"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (REPO / f).is_file() and not f.startswith(("data/", "metrics/", "plots/")) and f != "dvc.lock":
            (root / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, root / f)
    _run(["git", "init", "-q"], root)
    started = time.perf_counter()
    out = _run([*FLOW, "--profile", "micro", "--set", f"promote.store={root / 'bento'}"], root)
    assert time.perf_counter() - started < 600, "the micro pipeline should finish within 10 minutes"
    assert "train-pipeline completed; ran ingest, prosody, annotate, validate, sft" in out.stdout
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
    real = [r for r in rm if "counterfactual" not in r]
    assert Counter(r["kind"] for r in real) == {k: 2 * len(cot["train"]) for k in ["gold", *DEGRADATIONS]}  # 2 golds
    assert len({r["completion"] for r in real if r["kind"] == "gold"}) == 2 * len(cot["train"])
    made_up = [r for r in rm if "counterfactual" in r]  # the micro profile: one counterfactual clip per train clip
    assert Counter(r["kind"] for r in made_up) == {k: len(cot["train"]) for k in ["gold", *DEGRADATIONS]}
    assert {r["utt_id"] for r in made_up} == {r["utt_id"] for r in cot["train"]}
    val_rm = read_jsonl(repo / "data" / "rm" / "val.jsonl")
    assert Counter(r["kind"] for r in val_rm) == {k: len(cot["val"]) for k in ["gold", *DEGRADATIONS]}
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
    policy = {s: read_jsonl(repo / "data" / "rm_policy" / f"{s}.jsonl") for s in ("train", "val")}
    assert {s: len(v) for s, v in policy.items()} == {s: len(cot[s]) for s in policy}  # micro: 1 sample per clip
    assert all(r["kind"] == "policy" and 1.0 <= min(r["scores"].values()) for v in policy.values() for r in v)
    rm_metrics = json.loads((repo / "metrics" / "reward_model.json").read_text())
    assert rm_metrics["training"]["steps"] > 0 and (repo / "models" / "reward" / "reward_config.json").exists()
    assert rm_metrics["data"]["train_rows"] == len(rm) + len(policy["train"])
    assert rm_metrics["val"]["rows"] == len(val_rm) and rm_metrics["val"]["policy"]["rows"] == len(policy["val"])
    for variant in ("grpo", "grpo_ptr"):
        g = json.loads((repo / "metrics" / f"{variant}.json").read_text())
        assert g["training"]["steps"] == 2 and g["val"]["after"]["clips"] == 4
        assert (repo / "models" / variant / "config.json").exists() and (repo / "plots" / f"{variant}.csv").exists()
    ev = json.loads((repo / "metrics" / "eval.json").read_text())
    assert set(ev["candidates"]) == {"sft", "grpo", "grpo_ptr"} and ev["data"]["clips"] == len(cot["test"])
    assert 0.0 <= ev["baseline"]["uar"] <= 1.0 and (repo / "plots" / "confusion_grpo_ptr.png").exists()
    assert "| baseline |" in (repo / "reports" / "leaderboard.md").read_text()
    promoted = json.loads((repo / "metrics" / "promote.json").read_text())
    assert promoted["decision"] == "promoted" and promoted["served"].startswith("emotionthinker:")


def test_a_second_run_runs_nothing(repo):
    assert "ran nothing (all up to date)" in _run(FLOW, repo).stdout
    out = _run(["dvc", "repro"], repo).stdout
    assert "Data and pipelines are up to date" in out
    for stage in ("ingest", "prosody", "annotate", "validate", "sft", "policy_samples", "reward_model",
                  "grpo@grpo_ptr", "grpo@grpo", "evaluate", "promote"):  # fmt: skip
        assert f"Stage '{stage}' didn't change, skipping" in out


def test_ingest_rerun_in_a_copy_elsewhere_leaves_every_later_stage_up_to_date(repo, tmp_path):
    """The copy has new file times and another path; ingest decodes every clip again and must write the same
    manifest and audio, so nothing downstream reruns."""
    moved = tmp_path / "elsewhere"
    subprocess.run(["cp", "-r", str(repo), str(moved)], check=True)  # cp without -p: every mtime is new
    _run(["dvc", "repro", "--force", "ingest"], moved)
    decoded = json.loads((moved / "metrics" / "ingest.json").read_text())["decoded_this_run"]
    assert decoded == 4 * 9 * 2  # the skip cache saw new mtimes, so it decoded every clip
    assert (moved / "data" / "manifest.jsonl").read_bytes() == (repo / "data" / "manifest.jsonl").read_bytes()
    assert json.loads(_run(["dvc", "status", "--json"], moved).stdout) == {}


def test_changing_a_grpo_param_makes_only_the_grpo_stages_stale(repo):
    """evaluate and promote then rerun because the grpo models they read changed; no data or SFT stage reruns."""
    params_file = repo / "params.yaml"
    before = params_file.read_text()
    params = yaml.safe_load(before)
    params["grpo"]["learning_rate"] = 3e-5
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        stale = json.loads(_run(["dvc", "status", "--json"], repo).stdout)
    finally:
        params_file.write_text(before)
    assert set(stale) == {"grpo@grpo_ptr", "grpo@grpo"}


def test_a_failing_stage_fails_the_flow_with_its_own_error(repo):
    params_file = repo / "params.yaml"
    before = params_file.read_text()
    try:
        out = _run([*FLOW, "--stage", "sft", "--set", "sft.prosody.epochs=-1"], repo, ok=False)
    finally:
        params_file.write_text(before)
    assert out.returncode == 1
    assert "stage sft failed" in out.stderr and "prosody.epochs" in out.stderr  # the stage's own message


def test_changing_an_annotate_param_reruns_only_annotate(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["annotate"]["seed"] = 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = _run(["dvc", "repro", "validate"], repo).stdout  # the data stages (sft would retrain on the new tasks)
    assert "Stage 'ingest' didn't change" in out and "Stage 'prosody' didn't change" in out
    assert "Running stage 'annotate'" in out
