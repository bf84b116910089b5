"""The Prefect side: params profiles and overrides, the deployments of prefect.yaml, the retraining trigger.
(The flow itself runs end to end in tests/test_pipeline.py.)"""

from __future__ import annotations

import json

import pytest
import yaml

from emotionthinker.config import load_yaml
from flows.pipeline import apply_params
from tests.conftest import REPO

PARAMS = """\
# top comment
data:
  labels: {set: [sad, happy]}   # kept
grpo:
  learning_rate: 2.0e-5   # the tiny model needs more than the paper's
  variants: {grpo_ptr: {}}
"""


def test_profile_and_overrides_edit_params_keeping_comments(tmp_path, monkeypatch):
    params = tmp_path / "params.yaml"
    params.write_text(PARAMS)
    profiles = tmp_path / "configs" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "fast.yaml").write_text("grpo: {max_steps: 5}\n")
    monkeypatch.setattr("flows.pipeline.REPO", tmp_path)
    applied = apply_params(params, "fast", {"grpo.learning_rate": "1e-6", "data.labels.set": "[a, b, c]"})
    assert applied == {"profile": "fast", "grpo.learning_rate": 1e-6, "data.labels.set": ["a", "b", "c"]}
    text = params.read_text()
    assert "# top comment" in text and "# the tiny model needs more than the paper's" in text
    doc = load_yaml(params)  # the stages' reader
    assert doc["grpo"] == {"learning_rate": 1e-6, "variants": {"grpo_ptr": {}}, "max_steps": 5}
    assert doc["data"]["labels"]["set"] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="known profiles: fast"):
        apply_params(params, "nope")
    with pytest.raises(ValueError, match="no section 'sft'"):
        apply_params(params, None, {"sft.epochs": "1"})
    before = params.read_text()
    assert apply_params(params) == {} and params.read_text() == before  # nothing asked, nothing written


@pytest.mark.parametrize("profile", ["cpu-tiny", "micro", "gpu"])
def test_every_profile_yields_valid_params(profile, tmp_path, monkeypatch):
    from emotionthinker.config import DataConfig, ModelConfig, RewardModelConfig, SFTConfig
    from emotionthinker.config.evaluate import EvaluateConfig, PromoteConfig
    from emotionthinker.config.grpo import variant_config

    params = tmp_path / "params.yaml"
    params.write_text((REPO / "params.yaml").read_text())
    apply_params(params, profile)
    raw = load_yaml(params)
    DataConfig.model_validate(raw["data"])
    ModelConfig.model_validate(raw["model"])
    SFTConfig.model_validate(raw["sft"])
    RewardModelConfig.model_validate(raw["reward_model"])
    EvaluateConfig.model_validate(raw["evaluate"])
    PromoteConfig.model_validate(raw["promote"])
    for name in raw["grpo"]["variants"]:
        variant_config(raw["grpo"], name)
    assert raw["launcher"].split()[0] in ("python", "accelerate")


def _differences(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _differences(a.get(k), b.get(k), f"{path}.{k}")]
    return [] if a == b else [f"{path}: {a!r} -> {b!r}"]


@pytest.mark.parametrize("before", [None, "gpu", "micro"])
def test_cpu_tiny_profile_gives_back_params_yaml_after_any_profile(before, tmp_path):
    """cpu-tiny is the embedded default: after trying gpu or micro, `--profile cpu-tiny` must restore every key."""
    params = tmp_path / "params.yaml"
    params.write_text((REPO / "params.yaml").read_text())
    default = load_yaml(params)
    if before:
        apply_params(params, before)
        assert _differences(default, load_yaml(params))  # the profile changed something
    apply_params(params, "cpu-tiny")
    assert _differences(default, load_yaml(params)) == []


def test_deployments_in_prefect_yaml_load_and_their_parameters_validate():
    from prefect.flows import load_flow_from_entrypoint

    config = yaml.safe_load((REPO / "prefect.yaml").read_text())
    names = {d["name"] for d in config["deployments"]}
    assert names == {"retrain-nightly", "retrain-weekly", "full-run", "gpu-stage"}
    pools = {d["name"]: d["work_pool"]["name"] for d in config["deployments"]}
    assert pools["gpu-stage"] == "gpu" and pools["retrain-nightly"] == "cpu"
    for d in config["deployments"]:
        f = load_flow_from_entrypoint(str(REPO / d["entrypoint"]))
        f.validate_parameters(d.get("parameters") or ({"stage": "sft"} if d["name"] == "gpu-stage" else {}))
        for schedule in d.get("schedules", []):
            assert len(schedule["cron"].split()) == 5
        target = (d.get("parameters") or {}).get("gpu_deployment")
        if target:
            assert target.split("/") == ["gpu-stage", "gpu-stage"]  # flow name / deployment name


def test_retrain_sees_new_files_in_a_corpus(tmp_path, monkeypatch):
    from flows.retrain import data_changed
    from tests.conftest import tone, write

    corpus = tmp_path / "corpus"
    write(corpus / "a.wav", tone(0.5))
    manifest = corpus / "manifest.jsonl"
    manifest.write_text(json.dumps({"audio_path": "a.wav", "emotion": "sad"}) + "\n")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"data": {"corpora": [{"name": "mine", "format": "manifest", "manifest": str(manifest)}]}}))  # fmt: skip
    first = data_changed.fn(tmp_path)
    assert first["changed"] and first["first_run"] and first["files_now"] == {"mine": 2}

    from emotionthinker.corpora.sources import sources_fingerprint
    from stages.ingest import load_config

    (tmp_path / "metrics").mkdir()
    fp = sources_fingerprint(load_config(tmp_path / "params.yaml", tmp_path / "data"), tmp_path)
    (tmp_path / "metrics" / "ingest.json").write_text(json.dumps({"sources": fp}))
    assert not data_changed.fn(tmp_path)["changed"]
    write(corpus / "b.wav", tone(0.5))
    again = data_changed.fn(tmp_path)
    assert again["changed"] and again["files_now"] == {"mine": 3} and again["files_before"] == {"mine": 2}
