"""Config of the grpo stage: GRPO-PTR on the SFT model (the ``grpo`` section of params).

The reward weights and the schedule's defaults equal those of ``emotionthinker.rewards.ptr`` (a test checks it; configs
import nothing from the library, which imports them). ``emotionthinker.training.grpo.grpo_args`` turns this section
into the trainer's ``GRPOPTRConfig``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

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
    logging_steps: int = Field(1, ge=1, description="Rows of plots/<variant>.csv every N optimizer steps.")
    deepspeed: Path | None = Field(
        None, description="DeepSpeed JSON (configs/deepspeed/zero2.json or zero3.json) for GPU runs under accelerate."
    )
    threads: int = Field(0, ge=0, description="CPU threads for torch; 0 = torch's default.")
    eval_clips: int = Field(0, ge=0, description="Val clips answered before and after training; 0 = all.")
    eval_batch_size: int = Field(16, ge=1, description="Clips per generation batch in that evaluation.")
    variants: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {"grpo_ptr": {}},
        description="Named runs, each the settings it changes from the ones above; dvc.yaml trains one stage per "
        "name. The paper's ablations: plain GRPO {alpha_reasoning: 0}, without trust {trust: false}, without the "
        "schedule {progressive: false}, the judge instead of the reward model {reasoning_reward: judge}.",
    )

    @model_validator(mode="after")
    def _check(self) -> GRPOStageConfig:
        for name, changes in self.variants.items():
            if not name or not all(c.isalnum() or c in "_-" for c in name):
                raise ValueError(f"grpo.variants: name {name!r} must be letters, digits, _ and -")
            unknown = sorted(k for k in changes if k not in type(self).model_fields or k == "variants")
            if unknown:
                raise ValueError(f"grpo.variants.{name}: unknown setting(s) {unknown}; use keys of the grpo section")
        if self.deepspeed is not None and self.deepspeed.suffix != ".json":
            raise ValueError(
                f"grpo.deepspeed: '{self.deepspeed}' is not a .json DeepSpeed config (configs/deepspeed/)"
            )
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


def variant_config(section: dict[str, Any], name: str) -> GRPOStageConfig:
    """The settings of the variant ``name``: the grpo section with the variant's changes applied, validated.

    >>> variant_config({"beta": 0.1, "variants": {"plain": {"alpha_reasoning": 0}}}, "plain").alpha_reasoning
    0.0
    """
    whole = GRPOStageConfig.model_validate(section)
    if name not in whole.variants:
        raise ValueError(f"grpo variant '{name}' is not in grpo.variants ({', '.join(whole.variants)}); add it there")
    base = {k: v for k, v in section.items() if k != "variants"}
    return GRPOStageConfig.model_validate({**base, **whole.variants[name], "variants": {name: whole.variants[name]}})
