"""The sft stage: target fitting, free-text scores, the majority baseline, the DeepSpeed configs, and the stage run
end to end on a tiny model (outputs, metrics, resume after a kill, a params change starting over)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import yaml
from transformers import TrainerCallback, TrainingArguments

from emotionthinker.config import ModelConfig, SFTConfig
from emotionthinker.labels import DEFAULT_LABELS
from emotionthinker.model import build_tiny, load
from emotionthinker.prompts import format_target, is_well_formed
from emotionthinker.records import write_jsonl
from emotionthinker.training import COT_TASK, fit_target, majority_baseline, set_f1, token_f1
from emotionthinker.training.run import fingerprint, run_sft
from stages import sft as stage
from tests.conftest import REPO, tone, write
from tests.test_sft import TINY

SR = 16000

RATIONALE = "The voice is high and loud. The speaker talks fast. Everything points to joy."


class Tok:
    """A whitespace tokenizer: one token per word, so token counts are easy to compute by hand."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": text.replace("<", " <").replace(">", "> ").split()}

    def decode(self, ids, skip_special_tokens=False):
        return " ".join(ids)


def test_fit_target_drops_rationale_sentences_and_keeps_the_answer():
    target = format_target(RATIONALE, "happy")
    assert fit_target(target, Tok(), 100) == (target, False)
    text, cut = fit_target(target, Tok(), 16)
    assert cut and text == format_target("The voice is high and loud. The speaker talks fast.", "happy")
    assert is_well_formed(text, DEFAULT_LABELS)
    text, cut = fit_target(target, Tok(), 9)  # not even one sentence: cut inside it
    assert cut and text == format_target("The voice is high", "happy") and is_well_formed(text, DEFAULT_LABELS)
    assert fit_target("a b c d e", Tok(), 3) == ("a b c", True)  # a task answer keeps its first tokens
    with pytest.raises(ValueError, match="cannot hold"):
        fit_target(target, Tok(), 5)


def test_free_text_scores_by_hand():
    assert token_f1("a low voice", "a low voice") == 1.0
    assert token_f1("low", "a low voice") == pytest.approx(2 * (1 * 1 / 3) / (1 + 1 / 3))
    assert token_f1("loud", "a low voice") == 0.0
    assert set_f1("town", "town") == 1.0 and set_f1("River, town", "town river") == 1.0
    assert set_f1("town lives", "town") == pytest.approx(2 / 3) and set_f1("", "town") == 0.0


def test_majority_baseline_by_hand():
    train = [{"task": "pitch", "answer": a} for a in ("low", "low", "high")]
    train += [{"task": COT_TASK, "answer": a} for a in ("sad", "sad", "happy")]
    train += [{"task": "stress", "answer": "town"}] * 2
    val = [{"task": "pitch", "answer": a} for a in ("low", "high", "high", "medium")]
    val += [{"task": COT_TASK, "answer": a} for a in ("sad", "angry")]
    val += [{"task": "stress", "answer": "town river"}]
    assert majority_baseline(train, val) == {"pitch": 0.25, COT_TASK: 0.5, "stress": pytest.approx(2 / 3)}


@pytest.mark.parametrize("zero", [2, 3])
def test_deepspeed_configs_resolve_every_auto_value(zero, tmp_path):
    path = REPO / "configs" / "deepspeed" / f"zero{zero}.json"
    args = TrainingArguments(output_dir=str(tmp_path), deepspeed=str(path), use_cpu=True, bf16=False)
    ds = args.hf_deepspeed_config
    ds.trainer_config_process(args)
    model = torch.nn.Linear(4, 4)
    model.config = type("C", (), {"hidden_size": 64, "to_dict": lambda self: {"hidden_size": 64}})()
    ds.trainer_config_finalize(args, model, num_training_steps=10)
    text = json.dumps(ds.config)
    assert '"auto"' not in text, text
    assert ds.config["zero_optimization"]["stage"] == zero
    assert ds.config["train_micro_batch_size_per_gpu"] == args.per_device_train_batch_size
    accel = yaml.safe_load((REPO / "configs" / "accelerate" / f"deepspeed_zero{zero}.yaml").read_text())
    assert accel["deepspeed_config"]["deepspeed_config_file"] == f"configs/deepspeed/zero{zero}.json"


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="sft.tasks: unknown task"):
        SFTConfig(tasks=["pitch", "loudness"])
    with pytest.raises(ValueError, match="sft.deepspeed"):
        SFTConfig(deepspeed="configs/deepspeed/zero2.yaml")
    with pytest.raises(ValueError, match="extra"):
        SFTConfig.model_validate({"prosody": {"epoch": 2}})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A repository root with 1 s tones: pitch/energy/contrastive/stress/caption tasks and EmotionCoT records."""
    root = tmp_path_factory.mktemp("sftstage")
    tasks: dict[str, list[dict]] = {t: [] for t in ("pitch", "energy", "contrastive", "stress", "caption")}
    cot = {"train": [], "val": []}
    for i in range(10):
        high, loud = i % 2 == 1, i % 4 >= 2
        path = f"data/audio/c{i}.wav"
        write(root / path, tone(1.0, f0=320.0 if high else 110.0, amp=0.5 if loud else 0.1))
        split = "train" if i < 7 else "val"
        level = "high" if high else "low"
        base = {"utt_id": f"u{i}", "audio_path": path, "split": split}
        tasks["pitch"].append({**base, "task": "pitch", "question": "Pitch? low, medium or high.", "answer": level,
                               "options": ["low", "medium", "high"]})  # fmt: skip
        tasks["energy"].append({**base, "task": "energy", "question": "Energy? low, medium or high.",
                                "answer": "high" if loud else "low", "options": ["low", "high"]})  # fmt: skip
        tasks["contrastive"].append({**base, "task": "contrastive", "question": "Which part is louder?",
                                     "answer": "second", "options": ["first", "second"],
                                     "meta": {"kind": "energy", "amount": 6.0, "modified_half": "second",
                                              "direction": "up"}})  # fmt: skip
        tasks["stress"].append({**base, "task": "stress", "question": "Which word is stressed?", "answer": "town"})
        tasks["caption"].append({**base, "task": "caption", "question": "Describe the voice.",
                                 "answer": f"A voice with {level} pitch."})  # fmt: skip
        emotion = "happy" if high else "sad"
        cot[split].append({**base, "emotion": emotion, "target": format_target(RATIONALE, emotion)})
    for task, rows in tasks.items():
        write_jsonl(root / "data" / "sft_tasks" / f"{task}.jsonl", rows)
    manifest = [{"utt_id": f"u{i}", "audio_path": f"data/audio/c{i}.wav", "split": "train" if i < 7 else "val",
                 "duration_s": 1.0}
                for i in range(10)]  # fmt: skip
    write_jsonl(root / "data" / "manifest.jsonl", manifest)
    features = [{"utt_id": f"u{i}", "status": "ok", "f0_reliable": True, "f0_median_hz": 320.0 if i % 2 else 110.0,
                 "active_level_dbfs": -12.0 if i % 4 >= 2 else -26.0, "gender": "female" if i % 3 else "male",
                 "speech_share": 1.0} for i in range(10)]  # fmt: skip
    write_jsonl(root / "data" / "features.jsonl", features)
    for split, rows in cot.items():
        write_jsonl(root / "data" / "emotioncot" / f"{split}.jsonl", rows)
    return root


def params(root, **sft) -> dict:
    phase = {"epochs": 1.0, "learning_rate": 3e-3, "batch_size": 4, "warmup_ratio": 0.0}
    return {
        "data": {"labels": {"set": list(DEFAULT_LABELS)}},
        "model": TINY,
        "sft": {
            "tasks": ["pitch", "energy", "contrastive", "stress", "caption"],
            "audio_warmup": {"epochs": 2.0, "batch_size": 4},
            "prosody": {**phase, "epochs": 2.0},
            "cold_start": phase,
            "save_steps": 2,
            "logging_steps": 1,
            "eval": {"batch_size": 8, "free_text_max_new_tokens": 8, "cot_max_new_tokens": 24},
            **sft,
        },
    }


def run_stage(root, monkeypatch, p: dict):
    monkeypatch.chdir(root)
    (root / "params.yaml").write_text(yaml.safe_dump(p))
    return stage.main(
        root / "params.yaml", root / "data", root / "models" / "base", root / "work", root / "metrics" / "sft.json",
        root / "plots" / "sft.csv", root / "plots" / "sft_eval.png", root / "samples.jsonl",
    )  # fmt: skip


class Kill(TrainerCallback):
    """Raises at a step of the first phase, as a kill would stop the run (after the checkpoint of step 2)."""

    def __init__(self, at: int):
        self.at = at

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at and args.output_dir.endswith("prosody"):
            raise KeyboardInterrupt(f"killed at step {self.at}")


def test_stage_end_to_end_resume_and_restart(data, monkeypatch):
    root = data
    p = params(root)
    # killed at step 3 of the prosody phase, after checkpoint-2
    import emotionthinker.training.run as run_mod

    original = run_mod.train_sft

    def killing(*args, **kwargs):
        return original(*args, **{**kwargs, "callbacks": [Kill(3)]})

    monkeypatch.setattr(run_mod, "train_sft", killing)
    with pytest.raises(KeyboardInterrupt):
        run_stage(root, monkeypatch, p)
    assert (root / "work" / "prosody" / "checkpoint-2").is_dir() and (root / "work" / "eval_before.json").exists()
    assert not (root / "models" / "base").exists()
    monkeypatch.setattr(run_mod, "train_sft", original)

    result = run_stage(root, monkeypatch, p)
    # 35 prosody train examples, batch 4, 2 epochs -> 18 steps; the resumed phase reached them all
    assert result["data"]["prosody_train"] == 35
    assert result["phases"]["prosody"]["steps"] == 18
    state = json.loads((root / "work" / "prosody" / "checkpoint-18" / "trainer_state.json").read_text())
    logged = [h["step"] for h in state["log_history"] if "loss" in h]
    assert logged[:3] == [1, 2, 3] and logged[-1] == 18  # the log of steps 1-2 came back from checkpoint-2
    # cold start: 7 CoT + 25% replay (2) = 9 examples -> 3 steps
    assert result["data"]["cold_start_cot"] == 7 and result["data"]["cold_start_replay"] == 2
    assert result["phases"]["cold_start"]["steps"] == 3
    # 7 train clips and their 7 contrastive pairs, batch 4, 2 epochs -> 7 steps, done once (before the kill)
    warm = result["audio_warmup"]
    assert warm["clips"] == 14 and warm["examples"] == 14 and warm["steps"] == 7

    model, processor = load(root / "models" / "base")
    assert model.config.model_type == "qwen2_audio" and processor.feature_extractor.chunk_length == 2
    table = result["eval"]
    assert set(table) == {"pitch", "energy", "contrastive", "stress", "caption", COT_TASK}
    assert table["pitch"]["metric"] == "accuracy" and table["stress"]["metric"] == "f1"
    assert table["caption"]["metric"] == "token_f1" and table[COT_TASK]["metric"] == "emotion_accuracy"
    assert table["pitch"]["n"] == 3 and table[COT_TASK]["n"] == 3
    assert table["contrastive"]["majority"] == 1.0 and table["pitch"]["majority"] == pytest.approx(1 / 3, abs=1e-3)
    assert {"before", "after_prosody", "after_cold_start", "majority"} <= set(table["pitch"])
    assert "before" not in table[COT_TASK] and 0.0 <= table[COT_TASK]["format_rate"] <= 1.0
    lo, hi = table["pitch"]["ci95"]["after_cold_start"]  # Wilson, 3 clips: wide, and around the figure
    assert lo <= table["pitch"]["after_cold_start"] <= hi and hi - lo > 0.4
    assert set(table[COT_TASK]["ci95"]) == {"after_cold_start"} and "ci95" not in table["stress"]
    rows = list(csv.DictReader((root / "plots" / "sft.csv").open()))
    assert [r["phase"] for r in rows].count("prosody") == 18 and [r["phase"] for r in rows].count("cold_start") == 3
    assert [int(r["step"]) for r in rows] == list(range(1, 22))  # one step axis across both phases
    assert (root / "plots" / "sft_eval.png").stat().st_size > 10_000
    saved = json.loads((root / "metrics" / "sft.json").read_text())
    assert saved["eval"] == json.loads(json.dumps(table)) and saved["model"]["parameters"] > 0
    lines = stage.format_summary(result)
    assert lines[0].split()[:2] == ["task", "metric"] and any(line.startswith("emotion_cot") for line in lines)

    # a rerun reuses everything; a params change starts over
    again = run_stage(root, monkeypatch, p)
    assert again["eval"] == result["eval"] and again["phases"] == result["phases"]
    # the work's time survives the rerun (warm-up, phases, evaluations as timed then); the call's own is its own
    parts = result["audio_warmup"]["seconds"] + sum(p["train_seconds"] for p in result["phases"].values())
    assert result["work_seconds"] == pytest.approx(parts + sum(result["eval_seconds"].values()), abs=0.15)
    assert again["work_seconds"] == result["work_seconds"] and again["total_seconds"] < again["work_seconds"]
    changed = params(root, seed=1)
    files = [root / "data" / "sft_tasks" / "pitch.jsonl"]
    assert fingerprint(SFTConfig.model_validate(changed["sft"]), *_model_and_labels(p), files) != fingerprint(
        SFTConfig.model_validate(p["sft"]), *_model_and_labels(p), files
    )
    steps = []

    class Steps(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            steps.append(state.global_step)

    monkeypatch.setattr(run_mod, "train_sft", lambda *a, **k: original(*a, **{**k, "callbacks": [Steps()]}))
    run_stage(root, monkeypatch, changed)
    assert steps[:2] == [1, 2]  # from scratch, not from checkpoint-18


def _model_and_labels(p):
    from emotionthinker.config import ModelConfig

    return ModelConfig.model_validate(p["model"]), list(DEFAULT_LABELS)


def test_stage_cli_reports_bad_params(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"sft": {"prosody": {"epochs": -1}}}))
    assert stage.cli(["--params", "params.yaml", "--data-dir", "data"]) == 2
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"sft": {}}))
    assert stage.cli(["--params", "params.yaml", "--data-dir", "nowhere"]) == 2


def test_run_sft_names_the_missing_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the annotate stage"):
        run_sft(SFTConfig(), _model_and_labels(params(tmp_path))[0], DEFAULT_LABELS, tmp_path, tmp_path / "o",
                tmp_path / "w")  # fmt: skip


def test_warmup_targets_are_z_scored_and_mask_unreliable_f0():
    from emotionthinker.training.warmup import PAIR_TARGETS, TARGETS, target_matrix

    rows = [
        {"f0_reliable": True, "f0_median_hz": 100.0, "active_level_dbfs": -20.0, "gender": "male"},
        {"f0_reliable": True, "f0_median_hz": 400.0, "active_level_dbfs": -10.0, "gender": "female"},
        {"f0_reliable": False, "f0_median_hz": 250.0, "active_level_dbfs": -30.0, "gender": None},
    ]
    y, mean, std = target_matrix(rows)
    names = [k for k, _ in TARGETS]
    f0, level, gender = names.index("f0_median_hz"), names.index("active_level_dbfs"), names.index("gender")
    assert y.shape == (3, len(TARGETS) + len(PAIR_TARGETS))
    assert mean[f0] == pytest.approx(np.log2(200.0))
    assert y[0, f0] == pytest.approx(-1.0) and y[1, f0] == pytest.approx(1.0)
    assert torch.isnan(torch.tensor(y[2, f0])) and torch.isnan(torch.tensor(y[2, gender]))  # unreliable F0, no gender
    assert y[:, level] == pytest.approx([0.0, 1.2247, -1.2247], abs=1e-4)
    rate = names.index("articulation_rate_syl_s")
    assert torch.isnan(torch.tensor(y[:, rate])).all()  # missing everywhere: masked, never a NaN loss


def test_resampled_targets_match_a_measurement_of_the_resampled_clip():
    from emotionthinker.training.augment import shift_audio
    from emotionthinker.training.warmup import frame_targets, measure_frames

    x = tone(1.5, f0=150.0, amp=0.3)
    x[8000:9600] = 0.0  # a pause, so that the speech share and the nuclei have something to move
    predicted = frame_targets(measure_frames(x, SR), 0.08, 30, semitones=4.0, gain_db=-6.0)
    measured = frame_targets(measure_frames(shift_audio(x, 4.0, -6.0), SR), 0.08, 30)
    both = np.isfinite(predicted[:, 0]) & np.isfinite(measured[:, 0])
    assert both.sum() >= 12
    assert np.abs(predicted[both, 0] - measured[both, 0]).max() * 12 < 0.2  # F0 within 0.2 semitones
    assert 2 ** predicted[both, 0].mean() == pytest.approx(150.0 * 2 ** (4 / 12), rel=0.01)
    level = np.isfinite(predicted[:, 2]) & np.isfinite(measured[:, 2])
    assert np.median(np.abs(predicted[level, 2] - measured[level, 2])) < 1.0  # dB
    assert np.isnan(predicted[20:, 0]).all()  # past the end of the 1.19 s resampled clip


@pytest.mark.parametrize(("pitch_st", "tempo"), [(3.0, 1.0), (0.0, 1.25)])
def test_psola_targets_match_a_measurement_of_the_psola_clip(pitch_st, tempo):
    from emotionthinker.training.augment import shift_audio
    from emotionthinker.training.warmup import frame_targets, measure_frames

    x = tone(1.5, f0=150.0, amp=0.3)
    x[8000:9600] = 0.0
    predicted = frame_targets(measure_frames(x, SR), 0.08, 30, pitch_st=pitch_st, tempo=tempo)
    measured = frame_targets(measure_frames(shift_audio(x, 0.0, pitch_st=pitch_st, tempo=tempo), SR), 0.08, 30)
    both = np.isfinite(predicted[:, 0]) & np.isfinite(measured[:, 0])
    assert both.sum() >= 10
    assert np.median(np.abs(predicted[both, 0] - measured[both, 0])) * 12 < 0.2  # F0 within 0.2 semitones
    assert 2 ** np.median(measured[both, 0]) == pytest.approx(150.0 * 2 ** (pitch_st / 12), rel=0.01)
    # the pause moves with the tempo: the token where speech stops again is the same in both
    speech_p, speech_m = predicted[:, 4], measured[:, 4]
    assert np.argmax(np.nan_to_num(speech_p, nan=1.0) < 0.5) == np.argmax(np.nan_to_num(speech_m, nan=1.0) < 0.5)
    ends = np.isfinite(predicted[:, 2]).sum(), np.isfinite(measured[:, 2]).sum()
    assert abs(ends[0] - ends[1]) <= 1 and ends[0] == pytest.approx(1.5 / tempo / 0.08, abs=1)


def test_warm_up_pairs_carry_the_deltas_they_were_made_with(tmp_path):
    from emotionthinker.training.run import warmup_clips

    write_jsonl(tmp_path / "manifest.jsonl", [{"utt_id": "u1", "audio_path": "a/u1.wav", "split": "train"}])
    write_jsonl(tmp_path / "features.jsonl", [{"utt_id": "u1", "f0_median_hz": 120.0}])
    pairs = [
        {"utt_id": "u1", "audio_path": "p/e.wav", "split": "train",
         "meta": {"kind": "energy", "amount": -6.0, "modified_half": "second"}},
        {"utt_id": "u1", "audio_path": "p/s.wav", "split": "train",
         "meta": {"kind": "speed", "amount": 1.3, "modified_half": "first"}},
        {"utt_id": "u2", "audio_path": "p/v.wav", "split": "val",
         "meta": {"kind": "pitch", "amount": 3.0, "modified_half": "first"}},
    ]  # fmt: skip
    write_jsonl(tmp_path / "sft_tasks" / "contrastive.jsonl", pairs)
    clips = warmup_clips(tmp_path)
    assert [p for p, _ in clips] == ["a/u1.wav", "p/e.wav", "p/s.wav"]  # val pairs stay out
    assert clips[1][1] == {"pair_delta_log2_f0": 0.0, "pair_delta_log_rate": 0.0, "pair_delta_db": -6.0}
    assert clips[2][1]["pair_delta_log_rate"] == pytest.approx(-np.log(1.3))  # the faster half came first
    assert len(warmup_clips(tmp_path, contrastive=False)) == 1
    del pairs[0]["meta"]
    write_jsonl(tmp_path / "sft_tasks" / "contrastive.jsonl", pairs)
    with pytest.raises(ValueError, match="no 'meta'.*dvc repro annotate"):
        warmup_clips(tmp_path)


def test_warm_up_data_is_the_same_from_two_processes_as_from_one(tmp_path):
    from emotionthinker.training.warmup import prepare

    built = build_tiny(ModelConfig.model_validate(TINY), ["low medium high"] * 4, 1.0, tmp_path / "m")
    _, processor = load(built)
    clips = []
    for i, f0 in enumerate((110.0, 180.0, 260.0)):
        write(tmp_path / f"c{i}.wav", tone(0.8, f0=f0, amp=0.2))
        clips.append((f"c{i}.wav", {"f0_reliable": True, "f0_median_hz": f0, "active_level_dbfs": -20.0}))
    write(tmp_path / "pair.wav", np.concatenate([tone(0.5, f0=150.0, amp=0.2), np.zeros(3200, np.float32),
                                                 tone(0.5, f0=150.0, amp=0.4)]))  # fmt: skip
    clips.append(("pair.wav", {"pair_delta_log2_f0": 0.0, "pair_delta_log_rate": 0.0, "pair_delta_db": 6.0}))
    kw = dict(shifts_st=[0.0, 2.0], gains_db=[0.0], psola=[[3.0, 1.0], [0.0, 1.25]], progress=False)
    one = prepare(clips, processor, tmp_path, workers=1, **kw)
    two = prepare(clips, processor, tmp_path, workers=2, **kw)
    assert one.input_features.shape[0] == 3 * 4 + 2 and one.clips == 4  # a pair gets no PSOLA copies
    for name in ("input_features", "attention_mask", "clip_targets", "frame_targets"):
        assert torch.equal(torch.nan_to_num(getattr(one, name)), torch.nan_to_num(getattr(two, name))), name
    # the PSOLA pitch variant of a clip reads 3 semitones higher than the clip; its tempo variant is shorter
    f0 = one.clip_targets[:, 0]
    assert float(f0[2] - f0[0]) > 0 and one.attention_mask[3].sum() < one.attention_mask[0].sum()


def test_warm_up_teaches_the_encoder_pitch_and_level(tmp_path):
    from emotionthinker.training.warmup import warm_up_audio

    built = build_tiny(ModelConfig.model_validate(TINY), ["low medium high"] * 4, 1.0, tmp_path / "m")
    model, processor = load(built)
    clips = []
    for i, f0 in enumerate(np.geomspace(100.0, 320.0, 12)):
        amp = (0.05, 0.15, 0.4)[i % 3]
        path = f"c{i}.wav"
        write(tmp_path / path, tone(1.0, f0=float(f0), amp=amp))
        row = {"f0_reliable": True, "f0_median_hz": float(f0), "active_level_dbfs": 20 * np.log10(amp * 0.6)}
        clips.append((path, row))
    result = warm_up_audio(model, processor, clips, tmp_path, 20.0, 3e-3, 8, shifts_st=[-2.0, 0.0, 2.0],
                           progress=False)  # fmt: skip
    assert result["clips"] == 12 and result["examples"] == 36 and result["steps"] == 90
    assert result["loss_last"] < 0.5 * result["loss_first"]
    assert result["frame_loss_last"] < 0.5 * result["frame_loss_first"]
