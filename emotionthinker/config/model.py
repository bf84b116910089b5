"""Config of the SpeechLLM: a tiny Qwen2-Audio built from the corpus, or a local Qwen2-Audio / Qwen2.5-Omni."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from emotionthinker.config.base import Strict


class ModelConfig(Strict):
    """The policy model (the ``model`` section of params)."""

    backbone: Literal["tiny", "qwen2-audio", "qwen2.5-omni"] = Field(
        "tiny",
        description="tiny: a Qwen2-Audio of a few million parameters built from a config and a tokenizer trained on "
        "the corpus (CPU, minutes); qwen2-audio / qwen2.5-omni: a local checkpoint at `path` (GPU).",
    )
    path: Path | None = Field(
        None,
        description="Local checkpoint folder (config.json, *.safetensors, tokenizer and processor files) for "
        "qwen2-audio (e.g. Qwen2-Audio-7B-Instruct) or qwen2.5-omni (e.g. Qwen2.5-Omni-7B; its thinker is used).",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights dtype; auto = the checkpoint's own (float32 for tiny). Use bfloat16 on GPU."
    )
    seed: int = Field(0, description="Seed of the tiny model's weight init; the same seed gives the same weights.")
    max_audio_s: float | None = Field(
        None,
        gt=0,
        le=30,
        description="Longest clip (s) the tiny model's feature extractor and encoder are sized for; None = the "
        "longest clip in the data. Clips are padded to ceil(max_audio_s) + 1 s. Checkpoints keep their own (30 s).",
    )
    vocab_size: int = Field(
        4096, ge=300, le=65536, description="Target size of the tiny model's BPE (a small corpus may give fewer)."
    )
    num_mel_bins: Literal[80, 128] = Field(
        128, description="Mel bins of the tiny model's front end (Qwen2-Audio: 128)."
    )
    hop_length: Literal[160, 320] = Field(
        160,
        description="Tiny model's mel hop in samples: 160 (10 ms, as Qwen2-Audio) or 320 (20 ms: half the encoder "
        "frames and audio tokens, so training runs faster on a CPU). Checkpoints keep their own.",
    )
    n_fft: Literal[400, 512, 800, 1024] = Field(
        400,
        description="Tiny model's STFT window in samples: 400 (25 ms, Whisper's) or longer. 1024 (64 ms) resolves the "
        "harmonics of male voices (100-130 Hz apart), which a 25 ms window smears: on the default corpus the audio "
        "warm-up's val F0 error fell from 3.0 to 1.4 semitones. Checkpoints keep their own.",
    )
    audio_layers: int = Field(2, ge=1, le=32, description="Tiny audio encoder: transformer layers.")
    audio_d_model: int = Field(128, ge=16, le=1280, description="Tiny audio encoder: width.")
    audio_heads: int = Field(4, ge=1, le=32, description="Tiny audio encoder: attention heads (divide audio_d_model).")
    audio_ffn_dim: int = Field(512, ge=16, description="Tiny audio encoder: feed-forward width.")
    text_layers: int = Field(4, ge=1, le=64, description="Tiny language model: decoder layers.")
    hidden_size: int = Field(256, ge=32, le=8192, description="Tiny language model: width.")
    heads: int = Field(4, ge=1, le=64, description="Tiny language model: attention heads (divide hidden_size).")
    kv_heads: int = Field(2, ge=1, le=64, description="Tiny language model: key/value heads (divide heads; GQA).")
    intermediate_size: int = Field(512, ge=32, description="Tiny language model: MLP width.")
    max_positions: int = Field(4096, ge=512, description="Tiny language model: longest token sequence (RoPE).")
    repetition_penalty: float = Field(
        1.3,
        ge=1.0,
        le=2.0,
        description="Tiny model's generation_config.repetition_penalty, applied by greedy decoding (evaluation and "
        "serving) to the answer's own tokens (model.chat.generate; sampled rollouts use none). Released Qwen chat "
        "checkpoints ship 1.05-1.1 and keep their own. Without it the tiny model loops on a phrase until it closes "
        "the answer tag without a label: on the default corpus 1.3 took models/base's val EmotionCoT emotion "
        "accuracy from 0.39 to 0.61 and format from 0.90 to 0.97 (test: 0.39 -> 0.57, 0.88 -> 0.98).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        if self.backbone == "tiny" and self.path is not None:
            raise ValueError(
                "model.path is set but model.backbone is 'tiny' (built from the corpus, nothing loaded): drop "
                "model.path, or set model.backbone to qwen2-audio (also for a tiny model built before) or qwen2.5-omni"
            )
        if self.backbone != "tiny" and self.path is None:
            raise ValueError(
                f"model.backbone '{self.backbone}' loads a local checkpoint: set model.path to its folder "
                "(nothing is downloaded), or use backbone 'tiny'"
            )
        if self.audio_d_model % self.audio_heads:
            raise ValueError(
                f"model.audio_d_model={self.audio_d_model} must be a multiple of model.audio_heads={self.audio_heads}"
            )
        if self.hidden_size % self.heads:
            raise ValueError(f"model.hidden_size={self.hidden_size} must be a multiple of model.heads={self.heads}")
        if (self.hidden_size // self.heads) % 2:
            raise ValueError(
                f"model.hidden_size / model.heads = {self.hidden_size // self.heads} must be even (rotary embedding)"
            )
        if self.heads % self.kv_heads:
            raise ValueError(f"model.heads={self.heads} must be a multiple of model.kv_heads={self.kv_heads}")
        return self
