"""Promotion into the BentoML model store: gates, the comparison with the model in production, atomic saves."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from emotionthinker.registry import MANIFEST, Registry, RegistryError
from stages import promote as stage


def model_folder(path, seed: str):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"model_type": "qwen2_audio", "seed": seed}))
    (path / "model.safetensors").write_bytes(seed.encode() * 50_000)
    return path


def summary(uar: float, fmt: float = 1.0, judge: float = 3.0) -> dict:
    return {"accuracy": uar, "uar": uar, "macro_f1": uar, "format_rate": fmt, "judge_overall": judge,
            "per_emotion": {}, "per_corpus": {}}  # fmt: skip


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    for name in ("sft", "grpo_ptr"):
        model_folder(root / "models" / name, name)
    params = {"promote": {"store": str(tmp_path / "bento"), "tolerance": 0.0}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def write_eval(root, candidates: dict[str, dict], fingerprint: str = "split-1"):
    result = {
        "data": {"split": "test", "clips": 8, "fingerprint": fingerprint},
        "settings": {"max_new_tokens": 64, "temperature": 0.0},
        "candidates": {n: {"summary": s, "details": {"path": f"models/{n}"}} for n, s in candidates.items()},
    }
    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics" / "eval.json").write_text(json.dumps(result))


def run(root) -> dict:
    return stage.main(root / "params.yaml", root / "metrics" / "eval.json", root / "metrics" / "promote.json", root)


def test_first_run_promotes_the_best_candidate_with_its_metadata(repo, tmp_path):
    write_eval(repo, {"sft": summary(0.40), "grpo_ptr": summary(0.55)})
    out = run(repo)
    assert out["decision"] == "promoted" and out["winner"]["candidate"] == "grpo_ptr"
    current = Registry(tmp_path / "bento").current("emotionthinker")
    assert current["tag"] == out["served"] and current["labels"] == {"candidate": "grpo_ptr", "metric": "uar",
                                                                     "value": "0.5500"}  # fmt: skip
    meta = current["metadata"]
    assert meta["metrics"]["uar"] == 0.55 and meta["test_fingerprint"] == "split-1" and len(meta["model_hash"]) == 40
    assert (tmp_path / "bento" / "models" / "emotionthinker").is_dir()
    assert (repo / "models" / "grpo_ptr" / "model.safetensors").read_bytes() == \
        (current["path"] and open(f"{current['path']}/model.safetensors", "rb").read())  # fmt: skip
    assert json.loads((repo / "metrics" / "promote.json").read_text())["decision"] == "promoted"


def test_a_worse_candidate_leaves_the_incumbent_and_says_why(repo, tmp_path):
    write_eval(repo, {"grpo_ptr": summary(0.55)})
    first = run(repo)
    model_folder(repo / "models" / "sft", "sft-retrained")  # new weights, worse on the same split
    write_eval(repo, {"sft": summary(0.50)})
    out = run(repo)
    assert out["decision"] == "kept" and out["served"] == first["served"]
    assert "0.5000 is below 0.5500" in out["reason"] and out["incumbent"]["measured"] == "recorded on this test split"
    assert Registry(tmp_path / "bento").current("emotionthinker")["tag"] == first["served"]
    # within the tolerance it is promoted
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["promote"]["tolerance"] = 0.06
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    assert run(repo)["decision"] == "promoted"


def test_the_same_weights_are_not_saved_twice(repo, tmp_path):
    write_eval(repo, {"grpo_ptr": summary(0.55)})
    first = run(repo)
    again = run(repo)
    assert again["decision"] == "unchanged" and again["served"] == first["served"]
    assert len([p for p in (tmp_path / "bento" / "models" / "emotionthinker").iterdir() if p.is_dir()]) == 1


def test_gates_reject_candidates_that_break_the_answer_format(repo):
    write_eval(repo, {"sft": summary(0.40, fmt=0.5), "grpo_ptr": summary(0.70, fmt=0.2)})
    out = run(repo)
    assert out["decision"] == "kept" and out["served"] is None and out["ranking"] == []
    assert set(out["rejected"]) == {"sft", "grpo_ptr"} and "min_format_rate" in out["reason"]


def test_ties_are_broken_by_the_judged_reasoning(repo):
    write_eval(repo, {"sft": summary(0.5, judge=3.2), "grpo_ptr": summary(0.5, judge=3.9)})
    assert run(repo)["winner"]["candidate"] == "grpo_ptr"


def test_an_interrupted_save_never_becomes_the_served_model_and_is_cleaned_up(repo, tmp_path, monkeypatch):
    write_eval(repo, {"sft": summary(0.40)})
    first = run(repo)
    registry = Registry(tmp_path / "bento")

    real_copytree = shutil.copytree

    def killed(src, dst, **kw):  # dies after one file of the copy into the store (BaseException: no cleanup runs)
        dst = type(tmp_path)(dst)
        if registry.home not in dst.parents:
            return real_copytree(src, dst, **kw)
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copy(type(tmp_path)(src) / "config.json", dst / "config.json")
        raise KeyboardInterrupt("killed during the copy")

    monkeypatch.setattr(shutil, "copytree", killed)
    write_eval(repo, {"grpo_ptr": summary(0.60)})
    with pytest.raises(KeyboardInterrupt):
        run(repo)
    monkeypatch.setattr(shutil, "copytree", real_copytree)
    versions = [p for p in (tmp_path / "bento" / "models" / "emotionthinker").iterdir() if p.is_dir()]
    assert len(versions) == 2  # the partial copy is on disk ...
    assert registry.current("emotionthinker")["tag"] == first["served"]  # ... but is not what is served
    partial = next(p for p in versions if p.name != first["served"].split(":")[1])
    assert not (partial / MANIFEST).exists()
    out = run(repo)  # the next run removes it, then saves the candidate properly
    assert out["recovered_interrupted_saves"] == [f"emotionthinker:{partial.name}"] and not partial.exists()
    assert out["decision"] == "promoted" and registry.verify(out["served"])


def test_a_damaged_served_model_is_an_error_not_a_silent_fallback(repo, tmp_path):
    write_eval(repo, {"sft": summary(0.40)})
    tag = run(repo)["served"]
    registry = Registry(tmp_path / "bento")
    (registry.home / "models" / "emotionthinker" / tag.split(":")[1] / "model.safetensors").write_bytes(b"x")
    with pytest.raises(RegistryError, match="missing or incomplete"):
        registry.current("emotionthinker")
    with pytest.raises(RegistryError, match="not a model folder"):
        registry.save("emotionthinker", tmp_path)
