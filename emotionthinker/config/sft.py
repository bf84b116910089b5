"""Config of the sft stage: prosody-centric SFT, then a cold start on EmotionCoT (the ``sft`` section of params)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from emotionthinker.config.base import Strict

PROSODY_TASKS = ("pitch", "energy", "speed", "intonation", "stress", "contrastive", "caption")


class PhaseConfig(Strict):
    """One training phase: how long and how fast."""

    epochs: float = Field(2.0, gt=0, description="Passes over the phase's train examples (fractions allowed).")
    learning_rate: float = Field(1e-3, gt=0, lt=1, description="Peak learning rate (AdamW; warmup then cosine).")
    batch_size: int = Field(8, ge=1, description="Examples per device per step.")
    grad_accum: int = Field(1, ge=1, description="Steps accumulated per optimizer update.")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of the phase's updates spent warming up.")


class LoraConfig(Strict):
    """Low-rank adapters (PEFT) on the language model, for large backbones; the audio encoder stays frozen."""

    enabled: bool = Field(False, description="Train LoRA adapters instead of every weight; merged into the output.")
    r: int = Field(16, ge=1, description="Adapter rank.")
    alpha: int = Field(32, ge=1, description="Adapter scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the adapter input.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="Linear layers (by name suffix) that get adapters.",
    )


class EvalConfig(Strict):
    """In-stage evaluation on val, by greedy generation through the serving path."""

    batch_size: int = Field(16, ge=1, description="Clips per generation batch.")
    max_per_task: int = Field(0, ge=0, description="Val examples per task; 0 = all.")
    before_max_per_task: int = Field(
        24,
        ge=0,
        description="Val examples per task for the model before SFT (0 = as max_per_task): an untrained model "
        "answers at full length, so a sample keeps this slow evaluation short.",
    )
    task_max_new_tokens: int = Field(16, ge=1, description="New tokens for a one-word task answer.")
    free_text_max_new_tokens: int = Field(64, ge=1, description="New tokens for caption and stress answers.")
    cot_max_new_tokens: int = Field(320, ge=16, description="New tokens for an EmotionCoT answer (think + answer).")


class WarmupConfig(Strict):
    """Audio warm-up of a model built from scratch (see emotionthinker/training/warmup.py); checkpoints skip it."""

    epochs: float = Field(4.0, ge=0, description="Passes over the train clips and their variants; 0 = no warm-up.")
    learning_rate: float = Field(1e-3, gt=0, lt=1, description="Peak learning rate (AdamW, cosine to zero).")
    batch_size: int = Field(16, ge=1, description="Clips per step.")
    shifts_st: list[float] = Field(
        default_factory=lambda: [0.0],
        description="Each clip is also heard resampled by these semitones (pitch and tempo together), so that pitch "
        "is learnt apart from the voice; e.g. [-4, -2, 0, 2, 4].",
    )
    gains_db: list[float] = Field(
        default_factory=lambda: [0.0],
        description="... and at these gains, so that level is learnt apart from the voice.",
    )
    psola: list[tuple[float, float]] = Field(
        default_factory=list,
        description="... and, once each, with F0 moved by pitch_st semitones or the tempo scaled (PSOLA, formants "
        "and timing kept), [[pitch_st, tempo], ...]: pitch learnt apart from timbre, rate apart from pitch; e.g. "
        "[[-3, 1], [3, 1], [0, 0.8], [0, 1.25]].",
    )
    frame_weight: float = Field(
        1.0, ge=0, description="Weight of the per-token targets (F0, voicing, energy, nuclei, speech) in the loss."
    )
    contrastive: bool = Field(
        True, description="Also train the per-token targets on the train split's contrastive-pair audio."
    )
    workers: int = Field(0, ge=0, description="Processes that make and measure the variants; 0 = one per core.")

    @model_validator(mode="after")
    def _check(self) -> WarmupConfig:
        if not self.shifts_st or not self.gains_db:
            raise ValueError("sft.audio_warmup.shifts_st and gains_db need at least one value each (0 = unchanged)")
        if any(abs(s) > 12 for s in self.shifts_st):
            raise ValueError(f"sft.audio_warmup.shifts_st {self.shifts_st}: keep shifts within one octave (12)")
        if any(abs(p) > 12 or not 0.5 <= t <= 2.0 for p, t in self.psola):
            raise ValueError(f"sft.audio_warmup.psola {self.psola}: keep pitch_st within 12 and tempo in [0.5, 2]")
        return self


class SFTConfig(Strict):
    """The sft stage (see docs/DESIGN.md): phase 1 trains prosody perception, phase 2 a cold start on EmotionCoT."""

    tasks: list[str] = Field(
        default_factory=lambda: list(PROSODY_TASKS),
        description=f"Prosody-phase tasks, from {', '.join(PROSODY_TASKS)}.",
    )
    audio_warmup: WarmupConfig = Field(
        default_factory=WarmupConfig,
        description="Tiny backbone only: train the random audio encoder to carry the measured prosody first.",
    )
    prosody: PhaseConfig = Field(default_factory=PhaseConfig, description="Phase 1: the prosody tasks.")
    cold_start: PhaseConfig = Field(
        default_factory=lambda: PhaseConfig(epochs=3.0, learning_rate=5e-4),
        description="Phase 2: EmotionCoT think + answer targets.",
    )
    cold_start_count: int = Field(
        5000, ge=1, description="EmotionCoT train records for the cold start (the paper: 5K); fewer if fewer exist."
    )
    replay_share: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Prosody examples mixed into the cold start, as a share of its CoT examples, so that phase 2 "
        "does not erase phase 1 (0 = pure cold start).",
    )
    max_target_tokens: int = Field(
        384,
        ge=16,
        description="Longest training target in tokens. A longer EmotionCoT target loses rationale sentences from "
        "its end, keeping </think><answer>label</answer>; a longer task answer is cut.",
    )
    freeze_audio: bool = Field(
        True,
        description="Train the language model only and keep the audio encoder (and projector) as they are: the "
        "warm-up's (tiny) or the checkpoint's. On the default corpus training the tiny encoder as well lowered val "
        "pitch accuracy from 0.60 to 0.40.",
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping.")
    seed: int = Field(0, description="Seed of data order and dropout.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 on a GPU that supports it, else fp32 (CPU bf16 is many times slower)."
    )
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward (large backbones).")
    save_steps: int = Field(50, ge=1, description="Checkpoint every N optimizer steps; a rerun resumes from the last.")
    save_total_limit: int = Field(2, ge=1, description="Checkpoints kept per phase.")
    logging_steps: int = Field(10, ge=1, description="Training-curve rows every N steps.")
    dataloader_workers: int = Field(0, ge=0, description="DataLoader worker processes (0: load in the main one).")
    lora: LoraConfig = Field(default_factory=LoraConfig)
    deepspeed: Path | None = Field(
        None, description="DeepSpeed JSON (configs/deepspeed/zero2.json or zero3.json) for GPU runs under accelerate."
    )
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @model_validator(mode="after")
    def _check(self) -> SFTConfig:
        unknown = [t for t in self.tasks if t not in PROSODY_TASKS]
        if unknown:
            raise ValueError(f"sft.tasks: unknown task(s) {unknown}; choose from {', '.join(PROSODY_TASKS)}")
        if not self.tasks:
            raise ValueError("sft.tasks is empty: the prosody phase needs at least one task")
        if self.deepspeed is not None and self.deepspeed.suffix != ".json":
            raise ValueError(
                f"sft.deepspeed: '{self.deepspeed}' is not a .json DeepSpeed config (see configs/deepspeed/)"
            )
        return self
