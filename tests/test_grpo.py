"""GRPO-PTR on a tiny audio model: audio reaches every forward, the PTR reward arithmetic, kill/resume, reload."""

from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import TrainerCallback

from emotionthinker.annotate.facts import Facts
from emotionthinker.config.grpo import GRPOStageConfig
from emotionthinker.config.model import ModelConfig
from emotionthinker.judge import judge
from emotionthinker.labels import DEFAULT_LABELS
from emotionthinker.model import build_tiny, generate, load
from emotionthinker.prompts import build_messages
from emotionthinker.rewards.ptr import completion_text
from emotionthinker.training.grpo import (
    PTR_STATE,
    AudioGRPOTrainer,
    GRPOPTRConfig,
    grpo_args,
    grpo_dataset,
    train_grpo,
)
from tests.conftest import tone, write
from tests.test_sft import TINY, corpus

PITCHES = (110.0, 170.0, 250.0, 340.0)  # a different clip per prompt, so that a mispaired clip changes log-probs


def facts(i: int) -> dict:
    return Facts(
        f"u{i}", "sad", "I lost my keys again today.", "en", "female", "adult", "low", "low", "low", "falling",
        "voiced", ("lost",),
    ).to_dict()  # fmt: skip


def judge_reward(prompts, completions, facts, **kwargs) -> list[float]:
    """R_t from the rule-based judge: sum_j g_j / 20 over the four 1-5 scores, in [0.2, 1]."""
    return [
        judge(completion_text(c), Facts.from_dict(dict(f))).reward() for c, f in zip(completions, facts, strict=True)
    ]


def length_reward(prompts, completions, **kwargs) -> list[float]:
    """An R_t that differs between completions of a random model, so that advantages are not all zero."""
    return [min(1.0, len(completion_text(c)) / 40) for c in completions]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A fake repository root: 1 s tones and EmotionCoT-like records pointing at them; a tiny model folder."""
    root = tmp_path_factory.mktemp("repo")
    records = []
    for i, f0 in enumerate(PITCHES):
        path = f"data/audio/clip{i}.wav"
        write(root / path, tone(1.0, f0=f0, amp=0.3))
        records.append(
            {
                "utt_id": f"u{i}", "split": "train", "audio_path": path, "emotion": "Sad" if i % 2 else "happy",
                "facts": facts(i), "caption": "A woman speaks low and slowly.",
            }
        )  # fmt: skip
    model_dir = build_tiny(ModelConfig(**TINY), corpus(), 1.0, root / "tiny")
    return root, records, model_dir


def config(root, out, **kw) -> GRPOPTRConfig:
    args = {
        "output_dir": str(out),
        "audio_root": str(root),
        "per_device_train_batch_size": 4,
        "num_generations": 2,
        "max_completion_length": 12,
        "learning_rate": 1e-2,
        "lr_scheduler_type": "constant",
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "use_cpu": True,
        "seed": 0,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    return GRPOPTRConfig(**{**args, **kw})


class SpyTrainer(AudioGRPOTrainer):
    """Records every log-prob pass (which one, rows, audio rows), the loss inputs and the reward combination."""

    def __init__(self, *args, **kwargs):
        self.passes, self.old, self.combined = [], [], []
        super().__init__(*args, **kwargs)

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *a, **kw):
        features = kw.get("input_features")
        features = self._audio["input_features"] if features is None else features
        kind = "ref" if model is self.ref_model else "loss" if torch.is_grad_enabled() else "old"
        out = super()._get_per_token_logps_and_entropies(model, input_ids, attention_mask, logits_to_keep, *a, **kw)
        self.passes.append({"kind": kind, "rows": input_ids.size(0), "audio_rows": features.size(0), "logps": out[0]})
        return out

    def _compute_loss(self, model, inputs):
        self.old.append((inputs.get("old_per_token_logps"), inputs["completion_mask"]))
        return super()._compute_loss(model, inputs)

    def _combine_ptr(self, rewards_per_func, mode):
        out = super()._combine_ptr(rewards_per_func, mode)
        self.combined.append({"step": self.state.global_step, "raw": rewards_per_func.clone(), "out": out.clone()})
        return out


class GenerateSpy:
    """Wraps model.generate to record the inputs it was given."""

    def __init__(self, model):
        self.calls, self.inner = [], model.generate
        model.generate = self

    def __call__(self, **kwargs):
        self.calls.append({k: getattr(v, "shape", v) for k, v in kwargs.items()})
        return self.inner(**kwargs)


def spy_run(root, records, model_dir, out, **kw):
    model, processor = load(model_dir)
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    gen = GenerateSpy(model)
    trainer = SpyTrainer(
        model, processor, kw.pop("reward", length_reward), config(root, out, **kw), grpo_dataset(records)
    )
    trainer.train()
    return trainer, start, gen


@pytest.fixture(scope="module")
def run(repo, tmp_path_factory):
    """2 prompts x 2 completions per step, 2 iterations per generation (old log-probs), beta > 0 (reference)."""
    root, records, model_dir = repo
    out = tmp_path_factory.mktemp("grpo")
    trainer, start, gen = spy_run(
        root, records, model_dir, out, max_steps=2, num_iterations=2, beta=0.04, progressive=False
    )
    return trainer, start, gen, out


def rows(trainer) -> list[dict]:
    return [h for h in trainer.state.log_history if "loss" in h]


def test_one_generation_feeds_audio_to_generate_and_every_logprob_pass(run):
    trainer, start, gen, _ = run
    assert len(gen.calls) == 1  # one generation serves both iterations
    call = gen.calls[0]
    assert call["input_features"][0] == 4 and call["feature_attention_mask"][0] == 4 and call["input_ids"][0] == 4
    assert [p["kind"] for p in trainer.passes] == ["old", "ref", "loss", "loss"]
    assert all(p["rows"] == p["audio_rows"] == 4 for p in trainer.passes)
    # first loss pass is before any update: the policy's log-probs equal the old ones row by row, so each shuffled
    # completion was scored with its own clip
    old, mask = trainer.old[0]
    first = trainer.passes[2]["logps"]
    assert old is not None and torch.allclose((first * mask).detach(), old * mask, atol=1e-5)
    history = rows(trainer)
    assert len(history) == 2 and all(math.isfinite(h["loss"]) for h in history)
    assert history[1]["kl"] > 0  # the policy moved away from the reference after step 1
    assert "completions/mean_length" in history[0]
    for key in ("ptr/format", "ptr/outcome", "ptr/reasoning", "ptr/tau", "ptr/tau_below_one", "ptr/gate"):
        assert key in history[0], key
    assert history[0]["ptr/switched_on"] == 1.0 and history[0]["ptr/switched_on_step"] == 0.0  # progressive off
    now = trainer.model.state_dict()
    changed = [k for k in start if not torch.equal(start[k], now[k])]
    assert len(changed) > len(start) // 2


def test_logged_rewards_are_the_ptr_combination(run):
    trainer, _, _, _ = run
    (record,) = trainer.combined
    raw, out = record["raw"], record["out"]
    f, o, t = raw[:, 0], raw[:, 1], raw[:, 2]
    tau = []
    for g in range(raw.size(0) // 2):
        rt, ok = t[2 * g : 2 * g + 2], o[2 * g : 2 * g + 2] > 0.5
        diff = rt[ok].mean() - rt[~ok].mean() if ok.any() and (~ok).any() else torch.tensor(0.0)
        tau += [math.exp(min(0.0, float(diff)))] * 2
    expected = 0.3 * f + 1.0 * o + 0.5 * 1.0 * torch.tensor(tau) * t
    assert torch.allclose(out.sum(dim=1), expected, atol=1e-6)
    logged = rows(trainer)[0]
    assert logged["reward"] == pytest.approx(float(expected.mean()), abs=1e-6)
    assert logged["ptr/reward"] == pytest.approx(float(expected.mean()), abs=1e-6)
    assert logged["rewards/format_reward/mean"] == pytest.approx(0.3 * float(f.mean()), abs=1e-6)
    assert logged["rewards/outcome_reward/mean"] == pytest.approx(float(o.mean()), abs=1e-6)
    assert logged["ptr/reasoning"] == pytest.approx(float(t.mean()), abs=1e-6)

    # a batch with a distrusted group: correct answer's R_t 0.4 < wrong answer's 0.9 -> tau = exp(-0.5)
    crafted = torch.tensor([[1.0, 1.0, 0.4], [1.0, 0.0, 0.9], [0.0, 0.0, 0.5], [1.0, 0.0, 0.7]])
    trainer._metrics["eval"].clear()
    cols = trainer._combine_ptr(crafted, "eval")
    want = torch.tensor([0.3 + 1.0 + 0.5 * math.exp(-0.5) * 0.4, 0.3 + 0.5 * math.exp(-0.5) * 0.9, 0.25, 0.65])
    assert torch.allclose(cols.sum(dim=1), want, atol=1e-6)
    assert torch.allclose(cols[:, 0], 0.3 * crafted[:, 0]) and torch.allclose(cols[:, 1], crafted[:, 1])
    metrics = trainer._metrics["eval"]
    assert metrics["ptr/tau_below_one"] == [0.5]
    assert metrics["ptr/tau"][0] == pytest.approx((math.exp(-0.5) + 1) / 2)


def test_grad_accumulation_splits_audio_with_its_rows(repo, tmp_path):
    root, records, model_dir = repo
    trainer, _, gen = spy_run(
        root, records, model_dir, tmp_path / "accum", reward=judge_reward, max_steps=1,
        per_device_train_batch_size=2, gradient_accumulation_steps=2, beta=0.04, progressive=False,
    )  # fmt: skip
    assert trainer.args.steps_per_generation == 2 and len(gen.calls) == 1 and gen.calls[0]["input_features"][0] == 4
    # generation batch of 4 (ref pass over all of it, no old pass: steps align), then two micro-batches of 2
    assert [(p["kind"], p["rows"], p["audio_rows"]) for p in trainer.passes] == [
        ("ref", 4, 4), ("loss", 2, 2), ("loss", 2, 2),
    ]  # fmt: skip
    (record,) = trainer.combined
    assert ((record["raw"][:, 2] >= 0.2) & (record["raw"][:, 2] <= 1.0)).all()  # the judge's R_t range
    assert math.isfinite(rows(trainer)[0]["loss"])


class StopAfterSave(TrainerCallback):
    """Raises right after checkpoint-``step`` is written, as a kill would stop the run."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt(f"killed after step {self.step}")


class StepRecorder(TrainerCallback):
    def __init__(self):
        self.steps, self.start_weights = [], None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.start_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def test_kill_and_resume_restores_weights_and_schedule(repo, tmp_path):
    root, records, model_dir = repo
    out = tmp_path / "resume"
    train = grpo_dataset(records)
    # threshold 0 and min_steps 1: R_t switches on at step 1 (the second step); a fresh schedule would say step 2
    kw = {"max_steps": 3, "save_strategy": "steps", "save_steps": 1, "schedule_threshold": 0.0}
    kw |= {"schedule_min_steps": 1, "num_iterations": 1, "beta": 0.04}
    with pytest.raises(KeyboardInterrupt):
        train_grpo(model_dir, length_reward, train, config(root, out, **kw), callbacks=[StopAfterSave(2)])
    state = json.loads((out / "checkpoint-2" / PTR_STATE).read_text())
    assert state["combiner"]["schedule"]["switched_on_step"] == 1 and state["global_step"] == 2
    assert not (out / "checkpoint-3").exists()

    steps = StepRecorder()
    trainer = train_grpo(model_dir, length_reward, train, config(root, out, **kw), callbacks=[steps])
    assert steps.steps == [3] and trainer.state.global_step == 3
    assert trainer.ptr.schedule.switched_on_step == 1
    last = rows(trainer)[-1]
    assert last["step"] == 3 and last["ptr/gate"] == 1.0 and last["ptr/switched_on_step"] == 1.0
    saved = load(out / "checkpoint-2")[0].state_dict()
    fresh = load(model_dir)[0].state_dict()
    bad = [k for k in saved if not torch.equal(saved[k], steps.start_weights[k])]
    assert not bad, bad[:5]  # resumed from the checkpoint's weights (transformers 5 key names)
    assert any(not torch.equal(saved[k], fresh[k]) for k in saved)  # which are not the initial ones
    assert load(out / "checkpoint-3")[1].feature_extractor is not None  # checkpoints carry the processor

    # a rerun of the finished run trains nothing: same step, same log, same weights, same schedule
    again = StepRecorder()
    rerun = train_grpo(model_dir, length_reward, train, config(root, out, **kw), callbacks=[again])
    assert again.steps == [] and rerun.state.global_step == 3 and rows(rerun) == rows(trainer)
    assert rerun.ptr.schedule.switched_on_step == 1 and not (out / "checkpoint-4").exists()
    assert rerun.restored_from == "checkpoint-3" and trainer.restored_from is None
    done = load(out / "checkpoint-3")[0].state_dict()
    assert all(torch.equal(v, rerun.model.state_dict()[k]) for k, v in done.items())


def test_saved_model_reloads_and_generates(run, repo, tmp_path):
    trainer, _, _, _ = run
    root, records, _ = repo
    trainer.save_model(str(tmp_path / "thinker"))
    model, processor = load(tmp_path / "thinker")
    mine = trainer.model.state_dict()
    assert all(torch.equal(v, mine[k]) for k, v in model.state_dict().items())
    from emotionthinker.audio import load as load_audio

    texts = generate(
        model, processor, [build_messages(records[0]["audio_path"])], [load_audio(root / records[0]["audio_path"])], 8
    )
    assert len(texts) == 1 and isinstance(texts[0], str)


def test_logprobs_match_an_unpadded_forward(run, repo):
    """Left-padded prompts and right-padded completions score as each row alone does (positions, audio rows)."""
    trainer, _, _, _ = run
    root, records, _ = repo
    prompts = [build_messages(records[0]["audio_path"]), build_messages(records[1]["audio_path"], ["sad", "happy"])]
    prompt_ids, _, audio = trainer._tokenize_prompts(prompts)
    assert len(prompt_ids[0]) != len(prompt_ids[1])  # so the shorter prompt is left-padded
    completions = [[5, 9, 13, 2], [7, 2]]
    pad, width_p, width_c = trainer.processing_class.pad_token_id, max(map(len, prompt_ids)), 4
    ids = torch.tensor([[pad] * (width_p - len(p)) + p + c + [pad] * (width_c - len(c))
                        for p, c in zip(prompt_ids, completions, strict=True)])  # fmt: skip
    mask = torch.tensor([[0] * (width_p - len(p)) + [1] * (len(p) + len(c)) + [0] * (width_c - len(c))
                         for p, c in zip(prompt_ids, completions, strict=True)])  # fmt: skip
    model = trainer.model
    with torch.no_grad():
        logps, _, _ = trainer._get_per_token_logps_and_entropies(model, ids, mask, width_c, **audio)
        for i, (p, c) in enumerate(zip(prompt_ids, completions, strict=True)):
            row = torch.tensor([p + c])
            logits = model(
                input_ids=row, attention_mask=torch.ones_like(row),
                input_features=audio["input_features"][i : i + 1],
                feature_attention_mask=audio["feature_attention_mask"][i : i + 1],
            ).logits  # fmt: skip
            want = logits[0, len(p) - 1 : -1].log_softmax(-1).gather(-1, torch.tensor(c)[:, None])[:, 0]
            assert torch.allclose(logps[i, : len(c)], want, atol=1e-4), (i, logps[i], want)
    with pytest.raises(ValueError, match="0 audio part"):
        trainer._tokenize_prompts([[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]])


def test_grpo_dataset_columns_and_errors(repo):
    _, records, _ = repo
    ds = grpo_dataset(records, DEFAULT_LABELS)
    assert set(ds.column_names) == {"prompt", "emotion", "facts", "caption", "transcript", "audio_path", "utt_id"}
    assert ds[1]["emotion"] == "sad" and ds[0]["transcript"] == "I lost my keys again today."
    user = ds[0]["prompt"][1]["content"]
    assert user[0]["type"] == "audio" and user[0]["path"] == records[0]["audio_path"]
    assert len(grpo_dataset(records, split="train")) == 4
    with pytest.raises(ValueError, match="not in the label set"):
        grpo_dataset([{**records[0], "emotion": "bored"}])
    with pytest.raises(ValueError, match="audio_path"):
        grpo_dataset([{**records[0], "audio_path": None}])
    with pytest.raises(ValueError, match="no EmotionCoT records"):
        grpo_dataset(records, split="test")


def test_config_defaults_and_validation(tmp_path):
    cfg = GRPOPTRConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    assert cfg.bf16 is False and cfg.activation_checkpointing is False  # never bf16 / recompute on a CPU
    assert cfg.reward_weights == [1.0, 1.0, 1.0] and cfg.beta == 0.04 and cfg.remove_unused_columns is False
    assert (cfg.alpha_format, cfg.alpha_outcome, cfg.alpha_reasoning, cfg.schedule_threshold) == (0.3, 1.0, 0.5, 0.5)
    assert cfg.schedule().enabled and cfg.ptr_config().trust
    base = {"output_dir": str(tmp_path), "use_cpu": True, "report_to": []}
    with pytest.raises(ValueError, match="alpha_format"):
        GRPOPTRConfig(**base, reward_weights=[1.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="remove_unused_columns"):
        GRPOPTRConfig(**base, remove_unused_columns=True)
    with pytest.raises(ValueError, match="sum_then_normalize"):
        GRPOPTRConfig(**base, multi_objective_aggregation="normalize_then_sum")
    with pytest.raises(ValueError, match="threshold"):
        GRPOPTRConfig(**base, schedule_threshold=1.5)
    with pytest.raises(ValueError, match="alpha_reasoning"):
        GRPOPTRConfig(**base, alpha_reasoning=-1.0)


def test_stage_config_maps_onto_the_trainer_config(tmp_path):
    stage = GRPOStageConfig(prompts_per_step=2, num_generations=4, grad_accum=2, alpha_reasoning=0.0, max_steps=5)
    args = grpo_args(stage, tmp_path / "out", tmp_path, ["sad", "happy"])
    assert args.per_device_train_batch_size == 4 and args.gradient_accumulation_steps == 2
    assert args.generation_batch_size == 8 and args.steps_per_generation == 2  # 2 prompts x 4 completions
    assert args.alpha_reasoning == 0.0 and args.alpha_format == 0.3 and args.labels == ["sad", "happy"]
    assert args.max_steps == 5 and args.beta == 0.04 and args.bf16 is torch.cuda.is_available()
    assert grpo_args(GRPOStageConfig(), tmp_path, tmp_path, DEFAULT_LABELS).max_steps == -1
    with pytest.raises(ValueError, match="grad_accum"):
        GRPOStageConfig(prompts_per_step=1, num_generations=3, grad_accum=2)
