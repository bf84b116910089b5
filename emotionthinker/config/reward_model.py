"""Config of the reward_model stage: the reasoning reward model that scores a rationale on the judge's four
dimensions (the ``reward_model`` section of params).

Two backbones: ``tiny``, a small Qwen2 sequence-regression model built from this config with a BPE trained on the
reward-model train texts (CPU, minutes), and ``causal-lm``, any local causal-LM checkpoint folder at ``path`` given
a four-output regression head (GPU; optionally LoRA adapters). Nothing is downloaded.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from emotionthinker.config.base import Strict
from emotionthinker.config.sft import LoraConfig

N_DIMENSIONS = 4  # factual_alignment, interpretative_quality, caption_completeness, fluency_structure


class PolicySamplesConfig(Strict):
    """On-policy reward-model data (the policy_samples stage): the SFT model's own sampled answers to the train and
    val clips, scored by the judge, so that the reward model also learns to rank what GRPO will ask it to rank."""

    per_clip: int = Field(
        4,
        ge=0,
        le=64,
        description="Answers sampled per train and val clip; 0 = off (the reward model then trains on the annotate "
        "stage's gold rationales and degradations only).",
    )
    temperature: float = Field(0.7, gt=0, le=2, description="Sampling temperature; the default matches grpo's.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling.")
    max_new_tokens: int = Field(160, ge=8, le=4096, description="Longest answer; default: grpo's completion length.")
    batch_size: int = Field(16, ge=1, description="Clips per generation batch.")
    seed: int = Field(0, description="Seed of the sampling.")
    threads: int = Field(0, ge=0, description="CPU threads for torch; 0 = torch's default.")


class RewardModelConfig(Strict):
    """The reasoning reward model: backbone, input layout, training schedule and the weights of R_t."""

    backbone: Literal["tiny", "causal-lm"] = Field(
        "tiny",
        description="tiny: a Qwen2 regression model built from the sizes below and a BPE trained on the train "
        "texts; causal-lm: the local checkpoint at `path` (e.g. Qwen2.5-0.5B) with a new 4-output regression head.",
    )
    path: Path | None = Field(
        None,
        description="causal-lm only: a local checkpoint folder (config.json, *.safetensors or pytorch_model*.bin, "
        "tokenizer files). Loaded with local_files_only; nothing is downloaded.",
    )
    # tiny backbone sizes
    vocab_size: int = Field(4096, ge=300, le=65536, description="tiny: target BPE size (a small corpus gives fewer).")
    hidden_size: int = Field(128, ge=16, le=4096, description="tiny: model width.")
    layers: int = Field(2, ge=1, le=48, description="tiny: decoder layers.")
    heads: int = Field(4, ge=1, le=64, description="tiny: attention heads (divide hidden_size).")
    kv_heads: int = Field(2, ge=1, le=64, description="tiny: key/value heads (divide heads; GQA).")
    intermediate_size: int = Field(256, ge=16, description="tiny: MLP width.")
    rope_theta: float = Field(
        10000.0,
        gt=0,
        description="tiny: rotary base. A large base (Qwen2.5: 1e6) keeps attention between equal tokens far apart "
        "strong, e.g. the answer tag and the facts' emotion.",
    )
    # input
    max_length: int = Field(
        384,
        ge=32,
        le=32768,
        description="Longest input in tokens (context + completion). A longer completion loses tokens from the side "
        "set by truncation_side; the context (facts, caption, transcript) is cut only when it alone would take "
        "more than half of max_length.",
    )
    truncation_side: Literal["left", "right"] = Field(
        "left",
        description="Which end of an over-long completion is dropped: left keeps its end (the conclusion, the answer "
        "tag and any cut-off), right keeps its beginning.",
    )
    # training
    epochs: float = Field(2.0, gt=0, description="Passes over the train rows (fractions allowed).")
    learning_rate: float = Field(1e-3, gt=0, lt=1, description="Peak learning rate (AdamW; warmup then cosine).")
    batch_size: int = Field(32, ge=1, description="Rows per device per optimizer step (before grad_accum).")
    eval_batch_size: int = Field(64, ge=1, description="Rows per batch when scoring val and in the reward function.")
    grad_accum: int = Field(1, ge=1, description="Batches accumulated per optimizer step.")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of the optimizer steps spent warming up.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping.")
    loss: Literal["censored", "mse"] = Field(
        "censored",
        description="Regression loss on targets scaled to [0, 1]. censored: the judge clamps its scores to 1-5, so a "
        "label of 5 (or 1) only says 'at least 5' (or 'at most 1'): predictions beyond a bound are not penalised. "
        "mse: plain squared error.",
    )
    bound_margin: float = Field(
        0.1,
        ge=0,
        le=0.5,
        description="censored loss: how far past a bound (on the [0, 1] scale; 0.1 = 0.4 score points) a prediction "
        "for a label of 5 or 1 should go, so that its clamped score lands on the bound like the judge's.",
    )
    pairwise_weight: float = Field(
        0.0,
        ge=0,
        description="Weight of a margin loss between each gold row and its own degradations (same utt_id) in a batch; "
        "0 = off. Batches are then built from whole utt_id groups.",
    )
    pairwise_margin: float = Field(
        0.05, ge=0, le=1, description="Margin in R_t (0-1) the gold row should keep over each of its degradations."
    )
    weights: list[float] = Field(
        default_factory=lambda: [0.25] * N_DIMENSIONS,
        description="w_j of R_t = sum_j w_j * g_j / 5, in the order factual_alignment, interpretative_quality, "
        "caption_completeness, fluency_structure; non-negative, summing to 1.",
    )
    seed: int = Field(0, description="Seed of the tiny model's init, the data order and the tokenizer.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 on a GPU that supports it, else fp32 (CPU bf16 is many times slower)."
    )
    threads: int = Field(
        0,
        ge=0,
        description="CPU threads for torch; 0 = torch's default (one per core). On a CPU shared with other jobs, 1 "
        "avoids threads spinning against each other (it was 10x faster on a busy 2-core machine).",
    )
    save_steps: int = Field(
        100, ge=1, description="Checkpoint every N optimizer steps; a rerun resumes from the last."
    )
    save_total_limit: int = Field(2, ge=1, description="Checkpoints kept in the work folder.")
    logging_steps: int = Field(10, ge=1, description="Training-curve rows every N steps.")
    lora: LoraConfig = Field(
        default_factory=LoraConfig, description="causal-lm only: train LoRA adapters (merged into the output)."
    )
    policy_samples: PolicySamplesConfig = Field(
        default_factory=PolicySamplesConfig,
        description="The SFT model's own judged answers, added to the train rows (and scored apart on val).",
    )

    @field_validator("weights")
    @classmethod
    def _weights(cls, w: list[float]) -> list[float]:
        if len(w) != N_DIMENSIONS:
            raise ValueError(
                f"reward_model.weights has {len(w)} entries; give {N_DIMENSIONS}, one per dimension "
                "(factual_alignment, interpretative_quality, caption_completeness, fluency_structure), "
                "e.g. [0.25, 0.25, 0.25, 0.25]"
            )
        if any(not math.isfinite(x) or x < 0 for x in w):
            raise ValueError(f"reward_model.weights {w}: every weight must be a finite number >= 0")
        if abs(sum(w) - 1.0) > 1e-6:
            raise ValueError(
                f"reward_model.weights {w} sum to {sum(w):.6g}; they must sum to 1 (divide each by {sum(w):.6g})"
            )
        return w

    @model_validator(mode="after")
    def _consistent(self) -> RewardModelConfig:
        if self.backbone == "tiny" and self.path is not None:
            raise ValueError(
                "reward_model.path is set but reward_model.backbone is 'tiny' (built from the data, nothing loaded): "
                "drop reward_model.path, or set reward_model.backbone to causal-lm to fine-tune that checkpoint"
            )
        if self.backbone == "causal-lm" and self.path is None:
            raise ValueError(
                "reward_model.backbone 'causal-lm' loads a local checkpoint: set reward_model.path to its folder "
                "(nothing is downloaded), or use backbone 'tiny'"
            )
        if self.backbone == "tiny" and self.lora.enabled:
            raise ValueError(
                "reward_model.lora.enabled is for causal-lm backbones; the tiny model trains all its weights: set "
                "reward_model.lora.enabled to false"
            )
        if self.hidden_size % self.heads:
            raise ValueError(
                f"reward_model.hidden_size={self.hidden_size} must be a multiple of reward_model.heads={self.heads}"
            )
        if (self.hidden_size // self.heads) % 2:
            raise ValueError(
                f"reward_model.hidden_size / reward_model.heads = {self.hidden_size // self.heads} must be even "
                "(rotary embedding)"
            )
        if self.heads % self.kv_heads:
            raise ValueError(
                f"reward_model.heads={self.heads} must be a multiple of reward_model.kv_heads={self.kv_heads}"
            )
        return self
