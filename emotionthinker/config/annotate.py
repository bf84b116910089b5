"""Config of the annotate stage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from emotionthinker.config.base import Strict


class EndpointSettings(Strict):
    base_url: str = Field("http://localhost:8000/v1", description="OpenAI-compatible API root.")
    model: str = Field("", description="Model name the endpoint serves.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key (may be unset).")
    concurrency: int = Field(8, ge=1, description="Requests in flight.")
    max_retries: int = Field(5, ge=0, description="Retries per clip, with exponential backoff.")


class AnnotateConfig(Strict):
    """EmotionCoT records, prosody SFT tasks and reward-model data (the ``annotate`` section of params)."""

    writer: Literal["grammar", "llm"] = Field("grammar", description="Offline grammar writer, or an LLM endpoint.")
    seed: int = Field(0, description="Seed of the writer, the task sets and the degradations.")
    llm: EndpointSettings = Field(default_factory=EndpointSettings)
    contrastive_per_clip: int = Field(1, ge=0, description="Contrastive pairs made from each train/val clip.")
    contrastive_semitones: float = Field(3.0, gt=0, description="Pitch shift of a contrastive pair (st).")
    contrastive_tempo: float = Field(1.3, gt=1, description="Tempo factor of a contrastive pair.")
    contrastive_gain_db: float = Field(6.0, gt=0, description="Gain difference of a contrastive pair (dB).")
    contrastive_pause_s: float = Field(0.4, ge=0, description="Pause between the two halves of a pair.")
    contrastive_max_half_s: float | None = Field(
        1.8,
        gt=0,
        description="Each half keeps its first seconds (null: all), so a pair is no longer than the clips and the "
        "SpeechLLM's audio window (sized to the longest clip) stays short.",
    )
    rm_degradations_per_clip: int = Field(
        0, ge=0, description="Degraded rationales per clip for the reward model; 0 = one of every kind."
    )
    rm_rationales_per_clip: int = Field(
        5,
        ge=1,
        description="Gold rationales per train clip in the reward-model data, each with its degradations: the "
        "EmotionCoT one and the rest written by the grammar writer for the same facts. More of them is what lifts a "
        "small reward model (one per clip: Spearman 0.65 on factual alignment; five: 0.83). Val keeps one per clip.",
    )
    rm_counterfactuals_per_clip: int = Field(
        10,
        ge=0,
        description="Counterfactual clips per train clip in the reward-model data: the clip's text and emotion with "
        "the cues (pitch and contour, energy, rate, gender, stress) of other train clips of the same emotion, a "
        "rationale written for them and its degradations. They teach the reward model to check claims against the "
        "facts rather than recognise the clip (factual alignment Spearman 0.73 -> 0.91). Val has none.",
    )
    workers: int = Field(0, ge=0, description="Processes for audio manipulation; 0 = one per core.")

    @model_validator(mode="after")
    def _llm(self) -> AnnotateConfig:
        if self.writer == "llm" and not self.llm.model:
            raise ValueError("annotate.writer is 'llm' but annotate.llm.model is empty; name the endpoint's model")
        return self
