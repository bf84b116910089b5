"""Training of the reasoning reward model with transformers' ``Trainer``: data checks, the tiny or local backbone,
the regression (and optional pairwise) loss, checkpoints with resume, and the val metrics.

Work goes to ``work_dir``: ``fingerprint.json`` (params + data), the tiny model's tokenizer, and ``checkpoint-N``
folders every ``save_steps`` steps. A rerun with the same fingerprint resumes from the last checkpoint (a killed run
loses at most ``save_steps`` steps); a different one clears the folder and starts over. The finished model goes to
``out_dir`` through a temporary folder, so a kill never leaves half a model there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from emotionthinker.config.reward_model import RewardModelConfig
from emotionthinker.judge.scoring import DIMENSIONS
from emotionthinker.model.builder import TOKENIZER_FILES, WEIGHT_GLOBS, CheckpointError, parameter_count
from emotionthinker.model.tokenizer import train_tokenizer
from emotionthinker.rewards.reward_model import (
    HIGH,
    LOW,
    ReasoningRewardModel,
    to_score,
    to_target,
    write_reward_config,
)
from emotionthinker.rewards.rm_inputs import answer_line, completion_text, context_text, encode
from emotionthinker.rewards.rm_metrics import GOLD, evaluate_scores
from emotionthinker.training.checkpoints import last_checkpoint, precision_flags, prepare_work_dir, source_hash

logger = logging.getLogger(__name__)

TOKENIZER_DIR = "tokenizer"  # the tiny model's tokenizer inside work_dir, kept for resumes
CURVE_FIELDS = (
    "step", "epoch", "loss", "learning_rate", "grad_norm", "eval_loss", "eval_pairwise_accuracy",
    "eval_reward_spearman", "eval_policy_reward_spearman", *(f"eval_spearman_{d}" for d in DIMENSIONS),
    *(f"eval_mae_{d}" for d in DIMENSIONS),
)  # fmt: skip


# ------------------------------------------------------------------------------------------------ data
def check_rows(rows: Sequence[Mapping], name: str) -> list[dict]:
    """The rows of a data/rm file, checked: ``utt_id``, ``kind``, ``facts`` (a dict), ``completion`` (a string) and
    ``scores`` (the four dimensions, numbers in 1-5); ``caption`` and ``transcript`` may be missing. Errors name the
    file (``name``) and the row."""
    if not rows:
        raise ValueError(f"{name}: no rows; rerun the annotate stage (dvc repro annotate)")
    out = []
    for i, r in enumerate(rows, 1):
        where = f"{name} row {i} ({r.get('utt_id', '?') if isinstance(r, Mapping) else '?'})"
        if not isinstance(r, Mapping):
            raise ValueError(f"{where}: expected a JSON object, got {type(r).__name__}")
        missing = [k for k in ("utt_id", "kind", "facts", "completion", "scores") if r.get(k) is None]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}; data/rm rows come from the annotate stage")
        if not isinstance(r["facts"], Mapping):
            raise ValueError(f"{where}: facts must be an object (Facts.to_dict()), got {type(r['facts']).__name__}")
        if not isinstance(r["completion"], str):
            raise ValueError(f"{where}: completion must be a string")
        scores = r["scores"] if isinstance(r["scores"], Mapping) else {}
        bad = [d for d in DIMENSIONS if not _in_range(scores.get(d))]
        if bad:
            raise ValueError(f"{where}: scores need {', '.join(bad)} as numbers in {LOW:g}-{HIGH:g}, got {scores}")
        out.append(dict(r))
    return out


def _in_range(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and LOW <= x <= HIGH


def tokenizer_texts(rows: Sequence[Mapping]) -> Iterator[str]:
    """What the tiny model's BPE is trained on: each row's context, completion and answer line, in row order."""
    for r in rows:
        yield context_text(r["facts"], r.get("caption"), r.get("transcript"))
        yield completion_text(r["completion"])
        yield answer_line(r["completion"])


def score_matrix(rows: Sequence[Mapping]) -> np.ndarray:
    """The judge's scores of the rows, ``(n, 4)`` in ``DIMENSIONS`` order."""
    return np.array([[float(r["scores"][d]) for d in DIMENSIONS] for r in rows], dtype=np.float64)


def row_outputs(reward: ReasoningRewardModel, rows: Sequence[Mapping]) -> np.ndarray:
    """The reward model's raw outputs ``(n, 4)`` for data/rm rows, through the reward function's own path."""
    return reward.outputs(
        [r["completion"] for r in rows],
        [r["facts"] for r in rows],
        [r.get("caption") for r in rows],
        [r.get("transcript") for r in rows],
    )


def encode_rows(rows: Sequence[Mapping], tokenizer, max_length: int, side: str) -> tuple[list[dict], int]:
    """Training examples (``input_ids``, ``labels`` on the [0, 1] scale, ``group``: an index per utt_id, ``gold``) and
    the number of rows that were truncated."""
    groups: dict[str, int] = {}
    examples, cut = [], 0
    targets = to_target(score_matrix(rows))
    for r, y in zip(rows, targets, strict=True):
        ids, was_cut = encode(tokenizer, r["facts"], r.get("caption"), r.get("transcript"), r["completion"],
                              max_length, side)  # fmt: skip
        cut += was_cut
        group = groups.setdefault(r["utt_id"], len(groups))
        examples.append({"input_ids": ids, "labels": y.tolist(), "group": group, "gold": r["kind"] == GOLD})
    return examples, cut


class RewardCollator:
    """Pads ``input_ids`` (right, with the pad id) and stacks labels, groups and gold flags."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, examples: Sequence[Mapping]) -> dict[str, torch.Tensor]:
        width = max(len(e["input_ids"]) for e in examples)
        ids = torch.full((len(examples), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for i, e in enumerate(examples):
            ids[i, : len(e["input_ids"])] = torch.tensor(e["input_ids"], dtype=torch.long)
            mask[i, : len(e["input_ids"])] = 1
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": torch.tensor([e["labels"] for e in examples], dtype=torch.float32),
            "group": torch.tensor([e["group"] for e in examples], dtype=torch.long),
            "gold": torch.tensor([e["gold"] for e in examples], dtype=torch.bool),
        }


class GroupSampler(torch.utils.data.Sampler):
    """All rows of an utt_id in a row, the utt_ids in a new seeded order each epoch: batches then hold gold rows with
    their own degradations (for the pairwise loss)."""

    def __init__(self, groups: Sequence[int], seed: int):
        by_group: dict[int, list[int]] = {}
        for i, g in enumerate(groups):
            by_group.setdefault(int(g), []).append(i)
        self.groups = list(by_group.values())
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return sum(len(g) for g in self.groups)

    def __iter__(self):
        order = list(range(len(self.groups)))
        random.Random(self.seed * 1000003 + self.epoch).shuffle(order)
        return iter([i for g in order for i in self.groups[g]])


# ------------------------------------------------------------------------------------------------ loss
def regression_loss(
    outputs: torch.Tensor, targets: torch.Tensor, kind: str = "censored", margin: float = 0.0
) -> torch.Tensor:
    """Mean squared error on the [0, 1] scale. ``censored``: a label on a bound (a judge score clamped to 5 or 1)
    only says the unclamped score is at or beyond it, so a prediction past the bound is not an error, and one short
    of ``bound + margin`` is: the model learns to overshoot a little, and its clamped score lands on the bound.

    >>> out, y = torch.tensor([[1.2, 0.5], [-0.3, 0.4]]), torch.tensor([[1.0, 0.5], [0.0, 0.6]])
    >>> round(regression_loss(out, y, "censored").item(), 4), round(regression_loss(out, y, "mse").item(), 4)
    (0.01, 0.0425)
    >>> round(regression_loss(out, y, "censored", margin=0.25).item(), 4)  # 1.2 is 0.05 short of 1.25
    0.0106
    """
    err = outputs.float() - targets
    if kind == "censored":
        err = torch.where(targets >= 1.0, (err - margin).clamp(max=0.0), err)
        err = torch.where(targets <= 0.0, (err + margin).clamp(min=0.0), err)
    elif kind != "mse":
        raise ValueError(f"loss '{kind}': use censored or mse")
    return err.pow(2).mean()


def pairwise_loss(
    outputs: torch.Tensor, group: torch.Tensor, gold: torch.Tensor, weights: torch.Tensor, margin: float
) -> torch.Tensor:
    """Mean hinge ``max(0, margin - (R_gold - R_degraded))`` over the (gold, degradation) pairs of the same group in
    the batch, R on clamped outputs (what the reward reports); 0 when the batch has no pair."""
    r = outputs.float().clamp(0.0, 1.0) @ weights.to(outputs.device, torch.float32)
    pair = (group[:, None] == group[None, :]) & gold[:, None] & ~gold[None, :]
    if not pair.any():
        return outputs.sum() * 0.0
    diff = r[:, None] - r[None, :]
    return torch.relu(margin - diff[pair]).mean()


class RewardModelTrainer(Trainer):
    """``Trainer`` with the reward model's loss (regression, plus the pairwise term when ``pairwise_weight`` > 0)
    and, for the pairwise term, batches of whole utt_id groups."""

    loss_is_scaled_for_ga = False  # a per-batch mean: the Trainer divides by the accumulation steps

    def __init__(self, *args, loss_kind: str = "censored", bound_margin: float = 0.0, pairwise_weight: float = 0.0,
                 pairwise_margin: float = 0.05, weights: Sequence[float] = (0.25,) * 4, **kwargs):  # fmt: skip
        super().__init__(*args, **kwargs)
        self.loss_kind = loss_kind
        self.bound_margin = bound_margin
        self.pairwise_weight = pairwise_weight
        self.pairwise_margin = pairwise_margin
        self.r_weights = torch.tensor(list(weights), dtype=torch.float32)

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.pairwise_weight > 0:
            return GroupSampler([e["group"] for e in dataset], self.args.seed)
        return super()._get_train_sampler(train_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        targets = inputs.pop("labels")
        group, gold = inputs.pop("group"), inputs.pop("gold")
        logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False).logits
        loss = regression_loss(logits, targets, self.loss_kind, self.bound_margin)
        if self.pairwise_weight > 0:
            loss = loss + self.pairwise_weight * pairwise_loss(logits, group, gold, self.r_weights,
                                                               self.pairwise_margin)  # fmt: skip
        return (loss, {"logits": logits}) if return_outputs else loss


# ----------------------------------------------------------------------------------------------- model
def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_tiny(cfg: RewardModelConfig, tokenizer):
    """A small ``Qwen2ForSequenceClassification`` with four regression outputs, seeded by ``cfg.seed``. The pad id is
    set so that the head reads each row's last real token."""
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    if tokenizer.pad_token_id is None:
        raise ValueError("the reward model's tokenizer has no pad token; train it with train_tokenizer")
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.kv_heads,
        max_position_embeddings=max(512, cfg.max_length),
        rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_theta},
        tie_word_embeddings=False,
        use_cache=False,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        num_labels=len(DIMENSIONS),
        problem_type="regression",
    )
    _seed(cfg.seed)
    return Qwen2ForSequenceClassification(config).to(torch.float32)


def tiny_tokenizer(cfg: RewardModelConfig, train_rows: Sequence[Mapping], work_dir: Path):
    """The tiny model's BPE, trained on the train rows' texts once and kept in ``work_dir`` for resumes."""
    from transformers import AutoTokenizer

    folder = Path(work_dir) / TOKENIZER_DIR
    if (folder / "tokenizer.json").exists():
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    tok = train_tokenizer(tokenizer_texts(train_rows), cfg.vocab_size)
    tok.save_pretrained(folder)
    return tok


def check_checkpoint(path: Path) -> None:
    """A causal-LM folder must hold config.json, weights and a tokenizer; the error names the path and the files."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(
            f"reward_model.path {path}: no such folder; expected a local causal-LM checkpoint (config.json, "
            "*.safetensors or pytorch_model*.bin, tokenizer.json or vocab.json + merges.txt)"
        )
    missing = []
    if not (path / "config.json").exists():
        missing.append("config.json")
    if not any(any(path.glob(g)) for g in WEIGHT_GLOBS):
        missing.append(" or ".join(WEIGHT_GLOBS))
    tokenizer_sets = (*TOKENIZER_FILES, ("tokenizer.model",))
    if not any(all((path / f).exists() for f in files) for files in tokenizer_sets):
        missing.append(" or ".join(" + ".join(files) for files in tokenizer_sets))
    if missing:
        raise CheckpointError(f"reward_model.path {path}: not a causal-LM checkpoint, missing {'; '.join(missing)}")


def load_causal_lm(cfg: RewardModelConfig):
    """A local causal-LM checkpoint with a new 4-output regression head and its own tokenizer (local files only);
    LoRA adapters (PEFT, task SEQ_CLS: the head stays fully trainable) when ``cfg.lora.enabled``."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    check_checkpoint(cfg.path)
    tokenizer = AutoTokenizer.from_pretrained(cfg.path, local_files_only=True)
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise CheckpointError(f"reward_model.path {cfg.path}: the tokenizer has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    _seed(cfg.seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        cfg.path, num_labels=len(DIMENSIONS), problem_type="regression", local_files_only=True, dtype=torch.float32
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    if cfg.lora.enabled:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                          target_modules=list(cfg.lora.target_modules), task_type="SEQ_CLS")  # fmt: skip
        model = get_peft_model(model, lora)
    return model, tokenizer


def init_model(cfg: RewardModelConfig, train_rows: Sequence[Mapping], work_dir: Path):
    """The backbone and tokenizer to train: tiny (built) or causal-lm (loaded)."""
    if cfg.backbone == "tiny":
        tokenizer = tiny_tokenizer(cfg, train_rows, work_dir)
        return build_tiny(cfg, tokenizer), tokenizer
    return load_causal_lm(cfg)


# --------------------------------------------------------------------------------------------- training
def fingerprint(cfg: RewardModelConfig, train_rows: Sequence[Mapping], val_rows: Sequence[Mapping]) -> str:
    """SHA-1 of the config, the rows and the reward package's code: a resume must match it. Settings that do not
    change the trained model (``threads``) are left out."""
    import emotionthinker.rewards

    h = hashlib.sha1()
    h.update(source_hash(emotionthinker.rewards).encode())
    h.update(cfg.model_dump_json(exclude={"threads"}).encode())
    for rows in (train_rows, val_rows):
        h.update(b"\x00")
        for r in rows:
            h.update(json.dumps(r, sort_keys=True, ensure_ascii=False, default=str).encode())
    return h.hexdigest()


def trainer_args(cfg: RewardModelConfig, output_dir: Path, n_val: int) -> TrainingArguments:
    """The Trainer settings of the stage: eval each epoch, checkpoints every ``save_steps``."""
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=cfg.epochs,
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        warmup_steps=cfg.warmup_ratio,  # a float below 1 is a ratio of the total steps
        lr_scheduler_type="cosine",
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        seed=cfg.seed,
        data_seed=cfg.seed,
        eval_strategy="epoch" if n_val else "no",
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        remove_unused_columns=False,
        label_names=["labels"],
        dataloader_num_workers=0,
        # random batches: grouping by length would fill a batch with one degradation kind (length tells them apart),
        # and the loss swings from batch to batch; the pairwise loss samples whole utt_id groups (its own sampler)
        train_sampling_strategy="random",
        **precision_flags(cfg.precision, "reward_model.precision"),
    )


def metrics_fn(val_rows: Sequence[Mapping], weights: Sequence[float]):
    """``compute_metrics`` for the Trainer's epoch evaluations: flat ``spearman_<dim>``, ``mae_<dim>``,
    ``reward_spearman`` and ``pairwise_accuracy`` (the eval set is read in order, so rows line up)."""

    def compute(pred) -> dict[str, float]:
        outputs = np.asarray(pred.predictions, dtype=np.float64).reshape(-1, len(DIMENSIONS))
        targets = LOW + (HIGH - LOW) * np.asarray(pred.label_ids, dtype=np.float64).reshape(-1, len(DIMENSIONS))
        m = evaluate_scores(to_score(outputs), targets, val_rows, weights)
        flat = {"pairwise_accuracy": m["pairwise_accuracy"]["overall"], "reward_spearman": m["reward"]["spearman"]}
        if "policy" in m:
            flat["policy_reward_spearman"] = m["policy"]["reward"]["spearman"]
        for d, v in m["dimensions"].items():
            flat[f"spearman_{d}"], flat[f"mae_{d}"] = v["spearman"], v["mae"]
        return {k: (float("nan") if v is None else v) for k, v in flat.items()}

    return compute


def curve_rows(log_history: Sequence[Mapping]) -> list[dict]:
    """One row per logged step (``CURVE_FIELDS``): the training log and, at epoch ends, the eval metrics."""
    by_step: dict[int, dict] = {}
    for h in log_history:
        if "loss" not in h and "eval_loss" not in h:
            continue
        row = by_step.setdefault(int(h["step"]), {"step": int(h["step"])})
        row["epoch"] = round(float(h.get("epoch", 0.0)), 4)
        for key in CURVE_FIELDS[2:]:
            if h.get(key) is not None:
                row[key] = round(float(h[key]), 6)
    return [by_step[s] for s in sorted(by_step)]


def _save_final(model, tokenizer, cfg: RewardModelConfig, out_dir: Path) -> None:
    """Model (LoRA merged), tokenizer and reward_config.json, written to a temporary folder then renamed."""
    from peft import PeftModel

    if isinstance(model, PeftModel):
        model = model.merge_and_unload()
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    write_reward_config(tmp, cfg.weights, cfg.max_length, cfg.truncation_side, backbone=cfg.backbone, loss=cfg.loss)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)


def train_reward_model(
    cfg: RewardModelConfig,
    train_rows: Sequence[Mapping],
    val_rows: Sequence[Mapping],
    out_dir: Path,
    work_dir: Path,
    callbacks: Sequence[TrainerCallback] | None = None,
) -> tuple[dict, list[dict]]:
    """Train on ``train_rows``, evaluate on ``val_rows`` each epoch and at the end, write the model to ``out_dir``.

    Rows are data/rm records (see ``check_rows``). Resumes from the last checkpoint in ``work_dir`` when the
    fingerprint matches. Returns ``(metrics, curve_rows)``; the final val metrics come from the saved folder, read
    back through ``ReasoningRewardModel`` (the reward GRPO will call).
    """
    started = time.perf_counter()
    train_rows, val_rows = check_rows(train_rows, "train"), list(val_rows)
    if val_rows:
        val_rows = check_rows(val_rows, "val")
    work_dir, out_dir = Path(work_dir), Path(out_dir)
    prepare_work_dir(work_dir, fingerprint(cfg, train_rows, val_rows))
    model, tokenizer = init_model(cfg, train_rows, work_dir)
    train_ex, cut_train = encode_rows(train_rows, tokenizer, cfg.max_length, cfg.truncation_side)
    val_ex, cut_val = encode_rows(val_rows, tokenizer, cfg.max_length, cfg.truncation_side)
    logger.info("reward model: %d train rows (%d truncated), %d val rows (%d truncated), %.2fM parameters",
                len(train_ex), cut_train, len(val_ex), cut_val, parameter_count(model) / 1e6)  # fmt: skip

    checkpoints = work_dir / "checkpoints"
    trainer = RewardModelTrainer(
        model=model,
        args=trainer_args(cfg, checkpoints, len(val_ex)),
        train_dataset=train_ex,
        eval_dataset=val_ex or None,
        data_collator=RewardCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        compute_metrics=metrics_fn(val_rows, cfg.weights) if val_rows else None,
        callbacks=list(callbacks or []),
        loss_kind=cfg.loss,
        bound_margin=cfg.bound_margin,
        pairwise_weight=cfg.pairwise_weight,
        pairwise_margin=cfg.pairwise_margin,
        weights=cfg.weights,
    )
    resume = last_checkpoint(checkpoints)
    if resume:
        logger.info("resuming the reward model from %s", resume)
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    train_seconds = time.perf_counter() - t0
    state = trainer.state
    start_step = int(Path(resume).name.split("-")[1]) if resume else 0
    samples = (state.global_step - start_step) * cfg.batch_size * cfg.grad_accum

    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)  # before LoRA is merged
    _save_final(trainer.model, tokenizer, cfg, out_dir)
    reward = ReasoningRewardModel.from_pretrained(out_dir, device=trainer.args.device, batch_size=cfg.eval_batch_size)
    val = {}
    if val_rows:
        t1 = time.perf_counter()
        raw = row_outputs(reward, val_rows)
        unclamped = LOW + (HIGH - LOW) * raw
        val = evaluate_scores(to_score(raw), score_matrix(val_rows), val_rows, cfg.weights, raw=unclamped)
        val["seconds"] = round(time.perf_counter() - t1, 2)
    losses = [h["loss"] for h in state.log_history if "loss" in h]
    n_params = parameter_count(reward.model)
    metrics = {
        "model": {
            "backbone": cfg.backbone,
            "path": str(cfg.path) if cfg.path else None,
            "parameters": n_params,
            "trainable_parameters": trainable,
            "vocab_size": len(tokenizer),
            "max_length": cfg.max_length,
        },
        "data": {
            "train_rows": len(train_ex),
            "val_rows": len(val_ex),
            "train_truncated": cut_train,
            "val_truncated": cut_val,
            "mean_tokens": round(float(np.mean([len(e["input_ids"]) for e in train_ex])), 1),
        },
        "training": {
            "steps": int(state.global_step),
            "epochs": round(float(state.epoch or 0.0), 3),
            "resumed_from": Path(resume).name if resume else None,
            "first_loss": round(losses[0], 5) if losses else None,
            "final_loss": round(losses[-1], 5) if losses else None,
            "train_seconds": round(train_seconds, 1),
            "samples_per_second": round(samples / train_seconds, 2) if train_seconds > 0 else None,
            "device": str(trainer.args.device),
            "threads": torch.get_num_threads(),
        },
        "val": val,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    return metrics, curve_rows(state.log_history)
