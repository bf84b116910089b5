"""Config of the grpo stage: GRPO-PTR on the SFT model (the ``grpo`` section of params).

The reward weights and the schedule's defaults equal those of ``emotionthinker.rewards.ptr`` (a test checks it; configs
import nothing from the library, which imports them). ``emotionthinker.training.grpo.grpo_args`` turns this section
into the trainer's ``GRPOPTRConfig``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from emotionthinker.config.base import Strict


class GRPOStageConfig(Strict):
    """GRPO-PTR (docs/DESIGN.md): R = alpha_f*R_format + alpha_o*R_outcome + alpha_t*gate*tau*R_t, per group of
    ``num_generations`` completions of one clip. Paper values: G 8, beta 0.04, lr 1e-6 (7B)."""

    reasoning_reward: Literal["model", "judge"] = Field(
        "model", description="R_t from the trained reward model (models/reward) or from the rule-based judge."
    )
    alpha_format: float = Field(0.3, ge=0, description="Weight of the format reward.")
    alpha_outcome: float = Field(1.0, ge=0, description="Weight of the outcome (answer) reward.")
    alpha_reasoning: float = Field(
        0.5, ge=0, description="Weight of the reasoning reward R_t; 0 = plain GRPO (ablation)."
    )
    trust: bool = Field(True, description="Scale R_t by the group's trust weight tau; false = ablation.")
    progressive: bool = Field(
        True, description="Keep R_t off until the running outcome accuracy reaches the threshold."
    )
    schedule_threshold: float = Field(
        0.5, ge=0, le=1, description="Running outcome accuracy that switches R_t on (paper ~0.5)."
    )
    schedule_window: int = Field(10, ge=1, description="Steps the running accuracy pools.")
    schedule_min_steps: int = Field(10, ge=0, description="Steps before R_t may switch on.")
    schedule_ramp_steps: int = Field(0, ge=0, description="Steps R_t's gate takes to reach 1.")
    num_generations: int = Field(8, ge=2, description="Completions sampled per clip (the group size G).")
    prompts_per_step: int = Field(2, ge=1, description="Clips per device per optimizer step.")
    grad_accum: int = Field(
        1, ge=1, description="Micro-batches per optimizer step; prompts_per_step * num_generations must divide by it."
    )
    max_completion_length: int = Field(384, ge=8, description="Most new tokens per completion (think + answer).")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass.")
    beta: float = Field(0.04, ge=0, description="KL coefficient against the SFT model (0: no reference model).")
    num_iterations: int = Field(1, ge=1, description="Policy updates per generation batch (mu in the paper).")
    epsilon: float = Field(0.2, gt=0, lt=1, description="PPO clipping range of the importance ratio.")
    learning_rate: float = Field(1e-6, gt=0, lt=1, description="Peak learning rate (AdamW).")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Share of the updates spent warming up.")
    epochs: float = Field(1.0, gt=0, description="Passes over the EmotionCoT train prompts (fractions allowed).")
    max_steps: int = Field(0, ge=0, description="Optimizer steps; 0 = run `epochs` passes instead.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping.")
    seed: int = Field(0, description="Seed of data order and sampling.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 on a GPU that supports it, else fp32 (CPU bf16 is many times slower)."
    )
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward (large backbones).")
    save_steps: int = Field(50, ge=1, description="Checkpoint every N optimizer steps; a rerun resumes from the last.")
    save_total_limit: int = Field(2, ge=1, description="Checkpoints kept.")
    logging_steps: int = Field(1, ge=1, description="Rows of plots/grpo.csv every N optimizer steps.")

    @model_validator(mode="after")
    def _check(self) -> GRPOStageConfig:
        completions = self.prompts_per_step * self.num_generations
        if completions % self.grad_accum:
            raise ValueError(
                f"grpo: prompts_per_step * num_generations = {completions} completions per step must divide by "
                f"grad_accum={self.grad_accum}; set grad_accum to a divisor of {completions}"
            )
        return self

    @property
    def per_device_batch_size(self) -> int:
        """Completions per micro-batch (TRL's per_device_train_batch_size)."""
        return self.prompts_per_step * self.num_generations // self.grad_accum
