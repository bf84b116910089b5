"""The validate stage on a tiny dataset made here: clean data passes; each way of breaking it fails the expectation
meant for it (exit 1), a warning is reported without stopping the pipeline, and a missing input names its stage."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from emotionthinker.annotate.tasks import LEVELS
from emotionthinker.config import ValidateConfig
from emotionthinker.judge import DIMENSIONS
from emotionthinker.prompts import TAG_FORMAT, build_messages, format_target, is_well_formed
from emotionthinker.prosody import LABEL_FIELDS
from stages import validate as stage
from tests.conftest import tone, write

LABELS = ["neutral", "happy", "sad"]
SPEAKERS = {"t_s1": "train", "t_s2": "val", "t_s3": "test"}
RATIONALE = ("The speaker talks in a steady voice with a medium pitch and a falling contour at the end. " * 5).strip()


def clips() -> list[dict]:
    """Three speakers, one per split; two clips of every emotion each (distinct tones, 0.5 s)."""
    out = []
    for spk, split in SPEAKERS.items():
        for emo in LABELS:
            for k in range(2):
                uid = f"{spk}_{emo}_{k}"
                out.append(
                    {
                        "utt_id": uid,
                        "speaker": spk,
                        "split": split,
                        "emotion": emo,
                        "duration_s": 0.5,
                        "f0": 110.0 + 9 * len(out),
                    }
                )
    return out


def build(root: Path, specs: list[dict], validate: dict | None = None) -> None:
    """Write params, audio and every data file the stage reads, consistent with each other."""
    (root / "params.yaml").write_text(
        yaml.safe_dump(
            {
                "data": {"corpora": [{"name": "t", "format": "synthetic"}], "labels": {"set": LABELS}},
                "validate": {"min_train_clips": 2, **(validate or {})},
            }
        )
    )
    data = root / "data"
    manifest, features, labels, cot, pitch, stress, rm = [], [], [], {s: [] for s in SPEAKERS.values()}, [], [], {}
    for c in specs:
        path = f"data/audio/t/{c['utt_id']}.wav"
        write(root / path, tone(0.5, f0=c["f0"]))
        manifest.append(
            {
                "utt_id": c["utt_id"],
                "corpus": "t",
                "audio_path": path,
                "source_path": f"/src/{c['utt_id']}",
                "duration_s": c["duration_s"],
                "emotion": c["emotion"],
                "source_label": c["emotion"],
                "speaker": c["speaker"],
                "gender": "female",
                "age": None,
                "language": "en",
                "transcription": "I lost it.",
                "split": c["split"],
                "meta": {},
            }
        )
        features.append(
            {
                "utt_id": c["utt_id"],
                "duration_s": c["duration_s"],
                "status": "ok",
                "f0_median_hz": c["f0"],
                "f0_reliable": True,
                "active_level_dbfs": -20.5,
            }
        )
        labels.append(
            {
                **dict.fromkeys(LABEL_FIELDS),
                **{k: c[k] for k in ("utt_id", "speaker", "emotion", "split")},
                "corpus": "t",
                "status": "ok",
                "pitch_level": "medium",
                "energy_level": "low",
                "speed_level": "high",
                "intonation": "falling",
                "stressed_words": ["lost"],
            }
        )
        target = format_target(RATIONALE, c["emotion"])
        cot[c["split"]].append(
            {
                "utt_id": c["utt_id"],
                "split": c["split"],
                "audio_path": path,
                "emotion": c["emotion"],
                "messages": build_messages(path, LABELS),
                "rationale": RATIONALE,
                "target": target,
            }
        )
        task = {"utt_id": c["utt_id"], "audio_path": path, "split": c["split"]}
        pitch.append({**task, "task": "pitch", "question": "Pitch?", "answer": "medium", "options": list(LEVELS)})
        stress.append({**task, "task": "stress", "question": "Which word?", "answer": "lost", "options": []})
        if c["split"] != "test":
            rm.setdefault(c["split"], []).extend(
                [
                    {
                        "utt_id": c["utt_id"],
                        "kind": "gold",
                        "completion": target,
                        "reward": 1.0,
                        "scores": dict.fromkeys(DIMENSIONS, 5.0),
                    },
                    {
                        "utt_id": c["utt_id"],
                        "kind": "truncate",
                        "completion": target[:40],
                        "reward": 0.4,
                        "scores": dict.fromkeys(DIMENSIONS, 2.0),
                    },
                ]
            )
    files = {
        "manifest.jsonl": manifest,
        "quarantine.jsonl": [],
        "features.jsonl": features,
        "labels.jsonl": labels,
        "sft_tasks/pitch.jsonl": pitch,
        "sft_tasks/stress.jsonl": stress,
        **{f"emotioncot/{s}.jsonl": r for s, r in cot.items()},
        **{f"rm/{s}.jsonl": rm.get(s, []) for s in ("train", "val")},
    }
    for rel, recs in files.items():
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_text("".join(json.dumps(r) + "\n" for r in recs))


def run(root: Path, gx_dir: Path) -> tuple[int, dict]:
    code = stage.cli(
        [
            "--params",
            str(root / "params.yaml"),
            "--data-dir",
            str(root / "data"),
            "--gx-dir",
            str(gx_dir),
            "--report-dir",
            str(root / "reports" / "validation"),
            "--metrics",
            str(root / "metrics.json"),
            "--root",
            str(root),
        ]
    )
    return code, json.loads((root / "metrics.json").read_text())


def failed(metrics: dict) -> set[str]:
    return {name for name, c in metrics["checks"].items() if not c["success"]}


@pytest.fixture(scope="module")
def gx_dir(tmp_path_factory) -> Path:
    """One GX context for the module: it only holds config and suites, results are replaced by every run."""
    return tmp_path_factory.mktemp("gx") / "gx"


def test_clean_data_passes_with_counts_and_data_docs(tmp_path, gx_dir, capsys):
    build(tmp_path, clips())
    code, m = run(tmp_path, gx_dir)
    assert code == 0, capsys.readouterr().out
    assert m["success"] and m["failed"] == 0 and m["critical_failures"] == m["warning_failures"] == 0
    assert m["evaluated"] == m["passed"] == sum(s["evaluated"] for s in m["suites"].values()) > 80
    assert m["suites"]["manifest"]["rows"] == 18 and m["suites"]["speakers"]["rows"] == 3
    assert m["suites"]["audio_hashes"]["rows"] == 18 and m["suites"]["rm"]["rows"] == 24
    assert (tmp_path / "reports" / "validation" / "index.html").exists()
    assert len(list((tmp_path / "reports" / "validation" / "validations").rglob("*.html"))) == len(m["suites"])
    assert "validation passed" in capsys.readouterr().out
    # a rerun keeps the committed suites byte for byte (expectation ids are stable)
    suites = {p.name: p.read_text() for p in (gx_dir / "expectations").glob("*.json")}
    assert run(tmp_path, gx_dir)[0] == 0
    assert {p.name: p.read_text() for p in (gx_dir / "expectations").glob("*.json")} == suites
    assert not list((gx_dir / "uncommitted").rglob("*.html"))  # the only Data Docs site is the report folder
    assert "uncommitted/" in (gx_dir / ".gitignore").read_text()


def _with(specs: list[dict], utt_id: str, **changes) -> list[dict]:
    return [{**c, **changes} if c["utt_id"] == utt_id else c for c in specs]


# each breakage, the check meant for it, and everything it trips (consequences in other files included)
BREAKAGES = {
    "speaker_leak": ("speakers.single_split", {"speakers.single_split"}),
    "unknown_label": (
        "manifest.emotion_in_labels",
        {
            "manifest.emotion_in_labels",
            "emotioncot.emotion_in_labels",
            "emotioncot.answer_in_labels",
            "emotioncot.answer_matches_emotion",
            "train_balance.min_clips",
        },
    ),  # 'bored' has no train clip either
    "missing_audio": ("audio.exists", {"audio.exists", "sft_tasks.audio_exists"}),
    "bad_duration": ("manifest.duration_bounds", {"manifest.duration_bounds", "audio.duration_matches"}),
    "malformed_target": ("emotioncot.target_format", {"emotioncot.target_format"}),
    "duplicate_clip": ("audio_hashes.single_split", {"audio_hashes.single_split"}),
}
EXAMPLE = {
    "speaker_leak": {"n_splits": 2, "speaker": "t_s1", "splits": "test,train"},
    "unknown_label": {"emotion": "bored", "utt_id": "t_s2_sad_0"},
    "missing_audio": {"exists": False, "utt_id": "t_s2_happy_0", "audio_path": "data/audio/t/t_s2_happy_0.wav"},
    "bad_duration": {"duration_s": 45.0, "utt_id": "t_s1_happy_1"},
    "malformed_target": {
        "target": "<answer>neutral</answer><think>the answer came first</think>",
        "utt_id": "t_s3_neutral_0",
        "file_split": "test",
    },
    "duplicate_clip": {"n_splits": 2, "splits": "test,train", "utt_ids": "t_s1_sad_0,t_s3_sad_1"},
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_each_breakage_fails_its_expectation(tmp_path, gx_dir, capsys, breakage):
    check, trips = BREAKAGES[breakage]
    specs = clips()
    if breakage == "speaker_leak":  # a test clip recorded by the train speaker
        specs = _with(specs, "t_s3_sad_0", speaker="t_s1")
    elif breakage == "unknown_label":
        specs = _with(specs, "t_s2_sad_0", emotion="bored")
    elif breakage == "bad_duration":
        specs = _with(specs, "t_s1_happy_1", duration_s=45.0)
    build(tmp_path, specs)
    data = tmp_path / "data"
    if breakage == "missing_audio":
        (data / "audio" / "t" / "t_s2_happy_0.wav").unlink()
    elif breakage == "malformed_target":  # answer before the reasoning
        path = data / "emotioncot" / "test.jsonl"
        recs = [json.loads(line) for line in path.read_text().splitlines()]
        recs[0]["target"] = f"<answer>{recs[0]['emotion']}</answer><think>the answer came first</think>"
        path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    elif breakage == "duplicate_clip":  # the same bytes under a train and a test utt_id
        shutil.copy(data / "audio" / "t" / "t_s1_sad_0.wav", data / "audio" / "t" / "t_s3_sad_1.wav")

    code, m = run(tmp_path, gx_dir)
    assert code == 1 and not m["success"]
    assert failed(m) == trips and m["checks"][check]["severity"] == "critical"
    failure = next(f for s in m["suites"].values() for f in s["failures"] if f["check"] == check)
    assert failure["unexpected_count"] == 1
    assert all(failure["examples"][0].get(k) == v for k, v in EXAMPLE[breakage].items()), failure["examples"]
    out = capsys.readouterr().out
    assert "validation FAILED" in out and f"CRITICAL {check}" in out


def test_a_warning_is_reported_without_failing_and_severity_is_configurable(tmp_path, gx_dir, capsys):
    extra = [
        {
            "utt_id": f"t_s1_neutral_x{k}",
            "speaker": "t_s1",
            "split": "train",
            "emotion": "neutral",
            "duration_s": 0.5,
            "f0": 400.0 + 5 * k,
        }
        for k in range(4)
    ]
    build(tmp_path, clips() + extra, validate={"max_imbalance_ratio": 2.0})  # neutral 6 : 2 in train
    code, m = run(tmp_path, gx_dir)
    assert code == 0 and m["success"]
    assert failed(m) == {"train_balance.imbalance"} and m["warning_failures"] == 1 and m["critical_failures"] == 0
    assert "WARNING  train_balance.imbalance" in capsys.readouterr().out
    build(
        tmp_path,
        clips() + extra,
        validate={"max_imbalance_ratio": 2.0, "severity": {"train_balance.imbalance": "critical"}},
    )
    code, m = run(tmp_path, gx_dir)
    assert code == 1 and m["checks"]["train_balance.imbalance"]["severity"] == "critical"


def test_a_missing_input_names_the_file_and_the_stage(tmp_path, gx_dir, caplog):
    build(tmp_path, clips())
    (tmp_path / "data" / "rm" / "train.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match=r"rm/train\.jsonl: missing; the annotate stage makes it"):
        stage.main(tmp_path / "params.yaml", tmp_path / "data", gx_dir, tmp_path / "r", tmp_path / "m.json", tmp_path)
    shutil.rmtree(tmp_path / "data" / "sft_tasks")
    (tmp_path / "data" / "features.jsonl").unlink()
    assert run_code(tmp_path, gx_dir) == 2
    assert "features.jsonl: missing; the prosody stage makes it" in caplog.text


def run_code(root: Path, gx_dir: Path) -> int:
    return stage.cli(
        [
            "--params",
            str(root / "params.yaml"),
            "--data-dir",
            str(root / "data"),
            "--gx-dir",
            str(gx_dir),
            "--metrics",
            str(root / "m.json"),
            "--report-dir",
            str(root / "r"),
        ]
    )


def test_config_rejects_unknown_checks_and_reversed_bounds():
    with pytest.raises(ValidationError, match="unknown check.*speakers.single_split"):
        ValidateConfig(severity={"speaker.leak": "critical"})
    with pytest.raises(ValidationError, match="rationale_words"):
        ValidateConfig(rationale_words=(200, 50))
    assert ValidateConfig(severity={"audio.mono": "off"}).severity_of("audio.mono") == "off"
    assert ValidateConfig().severity_of("train_balance.imbalance") == "warning"


@pytest.mark.parametrize(
    "text",
    [
        "<think>a</think><answer>sad</answer>",
        " <think>multi\nline</think>\n<answer>sad</answer> ",
        "<think>a</think>",
        "<answer>sad</answer><think>a</think>",
        "<think>a</think><answer>sad</answer><answer>sad</answer>",
        "<think>a<think>b</think><answer>sad</answer>",
        "x <think>a</think><answer>sad</answer>",
    ],
)
def test_the_tag_format_expectation_agrees_with_the_prompt_parser(text):
    assert bool(re.search(TAG_FORMAT, text)) == is_well_formed(text, ["sad"])
