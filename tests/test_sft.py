"""SFT: examples, the audio collator, TRL's SFTTrainer on a tiny model (loss, checkpoints, resume), evaluation."""

from __future__ import annotations

import json
import math
import pickle

import pytest
import torch
from transformers import TrainerCallback

from emotionthinker.config.model import ModelConfig
from emotionthinker.labels import DEFAULT_LABELS
from emotionthinker.model import IGNORE_INDEX, build_tiny, load
from emotionthinker.prompts import SYSTEM_PROMPT, format_target, question
from emotionthinker.training import (
    COT_TASK,
    TASK_SYSTEM_PROMPT,
    AudioCollator,
    AudioSFTTrainer,
    EmotionSFTConfig,
    evaluate_tasks,
    last_checkpoint,
    sft_examples,
    train_sft,
)
from tests.conftest import tone, write

PITCH_Q = "How high is the speaker's voice pitched in this recording? Answer with one of: low, medium, high."
ENERGY_Q = "What is the energy level of the speaker in this clip? Choose one: low, medium, high."
CONTRAST_Q = "Which part is louder, the first or the second?"
RATIONALE = "The voice is high and fast, with a lot of energy."
TINY = {
    "seed": 3,
    "max_audio_s": 1.0,
    "vocab_size": 400,
    "text_layers": 1,
    "hidden_size": 64,
    "heads": 2,
    "kv_heads": 1,
    "intermediate_size": 128,
    "audio_layers": 1,
    "audio_d_model": 64,
    "audio_heads": 2,
    "audio_ffn_dim": 128,
}


def corpus() -> list[str]:
    texts = [SYSTEM_PROMPT, TASK_SYSTEM_PROMPT, question(DEFAULT_LABELS), PITCH_Q, ENERGY_Q, CONTRAST_Q]
    texts += [*DEFAULT_LABELS, "low", "medium", "high", "first", "second", format_target(RATIONALE, "happy")]
    return texts * 3


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A fake repository root: 1 s tones (low / high pitch, soft / loud) and task + CoT records pointing at them."""
    root = tmp_path_factory.mktemp("repo")
    tasks, cot = [], []
    for i in range(8):
        high = i % 2 == 1
        path = f"data/audio/clip{i}.wav"
        write(root / path, tone(1.0, f0=320.0 if high else 110.0, amp=0.5 if i % 4 >= 2 else 0.1))
        tasks.append(
            {
                "task": "pitch",
                "utt_id": f"u{i}",
                "audio_path": path,
                "question": PITCH_Q,
                "answer": "high" if high else "low",
                "split": "train" if i < 6 else "test",
                "options": ["low", "medium", "high"],
            }
        )
        if i < 4:
            tasks.append(
                {
                    "task": "energy" if i < 2 else "contrastive",
                    "utt_id": f"e{i}",
                    "audio_path": path,
                    "question": ENERGY_Q if i < 2 else CONTRAST_Q,
                    "answer": ("high" if i % 4 >= 2 else "low") if i < 2 else "second",
                    "split": "train",
                    "options": ["low", "medium", "high"] if i < 2 else ["first", "second"],
                }
            )
        if i < 3:
            emotion = "happy" if high else "sad"
            cot.append(
                {
                    "utt_id": f"u{i}",
                    "audio_path": path,
                    "split": "train",
                    "emotion": emotion,
                    "target": format_target(RATIONALE, emotion),
                }
            )
    tasks.append({**tasks[0], "task": "caption", "question": "Describe the voice.", "answer": "A low voice."})
    model_dir = build_tiny(ModelConfig(**TINY), corpus(), 1.0, root / "tiny")
    return root, tasks, cot, model_dir


def config(root, out, **kw) -> EmotionSFTConfig:
    args = {
        "output_dir": str(out),
        "audio_root": str(root),
        "per_device_train_batch_size": 2,
        "learning_rate": 3e-3,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "logging_steps": 1,
        "save_steps": 2,
        "report_to": [],
        "use_cpu": True,
        "bf16": False,
        "activation_checkpointing": False,
        "dataloader_num_workers": 0,
        "seed": 0,
        "disable_tqdm": True,
    }
    return EmotionSFTConfig(**{**args, **kw})


class StepRecorder(TrainerCallback):
    def __init__(self):
        self.steps = []
        self.start_weights = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.start_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def losses(trainer) -> list[float]:
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def test_sft_examples_by_phase(repo):
    _, tasks, cot, _ = repo
    prosody = sft_examples(tasks, cot, DEFAULT_LABELS, "prosody")
    assert len(prosody) == len(tasks) and COT_TASK not in set(prosody["task"])
    row = prosody[0]
    assert set(row) >= {"messages", "target", "audio_path", "task", "answer", "options"}
    assert row["target"] == "low" and row["messages"][0]["content"][0]["text"] == TASK_SYSTEM_PROMPT
    assert row["messages"][1]["content"][1]["text"] == PITCH_Q
    cold = sft_examples(tasks, cot, DEFAULT_LABELS, "cold_start", cold_start_count=2)
    assert len(cold) == 2 and set(cold["task"]) == {COT_TASK}
    assert cold[0]["target"] == cot[0]["target"] and cold[0]["answer"] == "sad"
    assert cold[0]["messages"][0]["content"][0]["text"] == SYSTEM_PROMPT
    assert len(sft_examples(tasks, cot, DEFAULT_LABELS, "joint")) == len(tasks) + len(cot)
    assert len(sft_examples(tasks, cot, DEFAULT_LABELS, "prosody", split="test")) == 2
    with pytest.raises(ValueError, match="phase 'rl'"):
        sft_examples(tasks, cot, DEFAULT_LABELS, "rl")
    with pytest.raises(ValueError, match="no examples"):
        sft_examples([], cot, DEFAULT_LABELS, "prosody")


def test_collator_masks_labels_outside_the_assistant_turn(repo):
    root, tasks, cot, model_dir = repo
    model, processor = load(model_dir)
    examples = sft_examples(tasks, cot, DEFAULT_LABELS, "joint")
    collator = pickle.loads(pickle.dumps(AudioCollator(processor, "qwen2_audio", root)))
    rows = [examples[0], examples[len(examples) - 1]]  # a task example and a CoT example, from the Arrow dataset
    batch = collator(rows)
    assert {"input_ids", "attention_mask", "input_features", "feature_attention_mask", "labels"} <= set(batch)
    tok = processor.tokenizer
    end = tok.convert_tokens_to_ids("<|im_end|>")
    for i, e in enumerate(rows):
        labels, mask = batch["labels"][i], batch["attention_mask"][i]
        kept = labels != IGNORE_INDEX
        completion = tok(e["target"], add_special_tokens=False)["input_ids"] + [end]
        assert labels[kept].tolist() == completion  # only the target and its <|im_end|>
        n = int(mask.sum())
        assert not kept[n:].any() and kept[n - len(completion) : n].all() and not kept[: n - len(completion)].any()
    with torch.no_grad():
        assert torch.isfinite(model(**batch).loss)


def test_train_sft_checkpoints_and_resumes(repo, tmp_path):
    root, tasks, cot, model_dir = repo
    model, processor = load(model_dir)
    train = sft_examples(tasks, cot, DEFAULT_LABELS, "joint", split="train")
    held = sft_examples(tasks, cot, DEFAULT_LABELS, "prosody", split="test")
    out = tmp_path / "sft"
    cfg = config(root, out, max_steps=4, activation_checkpointing=True, eval_strategy="steps", eval_steps=2)
    trainer = train_sft(model, processor, "qwen2_audio", train, held, cfg)
    assert trainer.state.global_step == 4
    evals = [h["eval_loss"] for h in trainer.state.log_history if "eval_loss" in h]
    assert len(evals) == 2 and all(math.isfinite(x) for x in evals)  # the held-out set goes through the collator
    assert len(losses(trainer)) == 4 and all(math.isfinite(x) for x in losses(trainer))
    assert (out / "checkpoint-2").is_dir() and (out / "checkpoint-4").is_dir()
    assert last_checkpoint(out) == str(out / "checkpoint-4")
    assert (out / "checkpoint-4" / "model.safetensors").exists()
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4

    # a second call with more steps picks up at step 4, from a freshly loaded model
    model2, processor2 = load(model_dir)
    steps = StepRecorder()
    trainer2 = train_sft(
        model2, processor2, "qwen2_audio", train, held, config(root, out, max_steps=6), callbacks=[steps]
    )
    assert steps.steps == [5, 6] and trainer2.state.global_step == 6
    assert (out / "checkpoint-6").is_dir()
    saved = load(out / "checkpoint-4")[0].state_dict()
    fresh = load(model_dir)[0].state_dict()
    bad = [k for k in saved if not torch.equal(saved[k], steps.start_weights[k])]
    assert not bad, (bad[:5], len(bad), len(saved))  # started from the checkpoint's weights
    assert any(not torch.equal(saved[k], fresh[k]) for k in saved)  # which are not the initial ones


def test_train_sft_overfits_a_repeated_batch(repo, tmp_path):
    root, tasks, cot, model_dir = repo
    model, processor = load(model_dir)
    batch = sft_examples(tasks[:2], cot[:0], DEFAULT_LABELS, "prosody")  # one batch of 2, seen every step
    cfg = config(root, tmp_path / "overfit", max_steps=16, save_strategy="no")
    trainer = train_sft(model, processor, "qwen2_audio", batch, None, cfg)
    curve = losses(trainer)
    assert len(curve) == 16 and all(math.isfinite(x) for x in curve)
    assert sum(curve[-3:]) / 3 < 0.5 * sum(curve[:3]) / 3, curve
    assert last_checkpoint(tmp_path / "overfit") is None


def test_loss_scores_only_the_labelled_positions_with_the_same_loss_and_gradient(repo, tmp_path, monkeypatch):
    import trl.trainer.utils as trl_utils
    from trl.trainer.sft_trainer import SFTTrainer

    root, tasks, cot, model_dir = repo
    model, processor = load(model_dir)
    rows = sft_examples(tasks, cot, DEFAULT_LABELS, "joint").select([0, 1, 2, len(tasks)])  # 3 one-word tasks, 1 CoT
    collator = AudioCollator(processor, "qwen2_audio", root)
    batch = collator(list(rows))
    trainer = AudioSFTTrainer(model=model, args=config(root, tmp_path / "loss"), data_collator=collator,
                              train_dataset=rows, processing_class=processor)  # fmt: skip
    scored: list[int] = []
    chunked = trl_utils._ChunkedLogProbFunction

    class Counting:
        @staticmethod
        def apply(hidden, *args):
            scored.append(hidden.shape[0])
            return chunked.apply(hidden, *args)

    monkeypatch.setattr(trl_utils, "_ChunkedLogProbFunction", Counting)
    grads = []
    for compute in (SFTTrainer.compute_loss, AudioSFTTrainer.compute_loss):  # TRL's own, then ours
        trainer.model.zero_grad()
        loss = compute(trainer, trainer.model, {k: v.clone() for k, v in batch.items()})
        loss.backward()
        grads.append((loss.item(), trainer.model.lm_head.weight.grad.clone()))
    labelled = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    n_batch, n_tokens = batch["labels"].shape
    assert scored == [n_batch * (n_tokens - 1), labelled] and labelled < n_batch * (n_tokens - 1) / 2
    (full, full_grad), (compact, compact_grad) = grads
    assert compact == pytest.approx(full, rel=1e-5) and 0.5 < full < 20
    assert torch.allclose(compact_grad, full_grad, atol=1e-6) and full_grad.abs().sum() > 0
    assert trl_utils._use_triton(torch.device("cpu")) is False  # restored once the loss is computed


def test_evaluate_tasks_keys_and_ranges(repo):
    root, tasks, cot, model_dir = repo
    model, processor = load(model_dir)
    examples = sft_examples(tasks, cot, DEFAULT_LABELS, "joint")
    metrics, predictions = evaluate_tasks(
        model, processor, "qwen2_audio", examples, batch_size=4, audio_root=root, max_new_tokens=8,
        free_text_max_new_tokens=8,
    )  # fmt: skip
    assert set(metrics) == {"pitch", "energy", "contrastive", "caption", COT_TASK}
    assert metrics["pitch"]["n"] == 8 and metrics[COT_TASK]["n"] == 3 and metrics["energy"]["n"] == 2
    assert set(metrics[COT_TASK]) == {"n", "format_rate", "emotion_accuracy"}
    assert set(metrics["caption"]) == {"n", "token_f1"} and set(metrics["pitch"]) == {"n", "accuracy"}
    for task, row in metrics.items():
        for k, v in row.items():
            if k != "n":
                assert 0.0 <= v <= 1.0, (task, k)
    assert len(predictions) == len(examples)
    assert {p["task"] for p in predictions} == set(metrics) and all(isinstance(p["output"], str) for p in predictions)


def test_config_defaults_for_audio_batches(tmp_path):
    cfg = EmotionSFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    assert cfg.bf16 is (torch.cuda.is_available() and torch.cuda.is_bf16_supported())  # never bf16 on a CPU
    assert cfg.activation_checkpointing is True  # TRL's default (gradient_checkpointing=True), kept
    assert cfg.remove_unused_columns is False and cfg.dataset_kwargs == {"skip_prepare_dataset": True}
    assert cfg.phase == "prosody" and cfg.cold_start_count is None
    with pytest.raises(ValueError, match="phase"):
        EmotionSFTConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, phase="grpo")
    with pytest.raises(ValueError, match="remove_unused_columns"):
        EmotionSFTConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, remove_unused_columns=True)
