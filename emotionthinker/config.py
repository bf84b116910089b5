"""Typed configuration. Stages parse their section of params.yaml into these; the library never reads files itself.

Every field carries a help text, and validation errors say how to fix the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emotionthinker.labels import DEFAULT_LABELS

CORPUS_FORMATS = (
    "synthetic", "manifest", "emodb", "ravdess", "cremad", "tess", "esd", "savee", "iemocap", "meld",
)  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CorpusSpec(_Strict):
    """One corpus to ingest: an entry of ``data.corpora``."""

    name: str = Field(description="Short name; becomes the `corpus` field and the folder under data/audio/.")
    format: Literal[CORPUS_FORMATS] = Field(  # type: ignore[valid-type]
        description="Adapter to read it with: a directory layout (emodb, ravdess, ...), 'manifest' or 'synthetic'."
    )
    root: Path | None = Field(None, description="Corpus folder, for directory formats.")
    manifest: Path | None = Field(None, description="JSONL or CSV manifest, for format 'manifest'.")
    language: str | None = Field(None, description="Language code used when records carry none (e.g. 'en', 'de').")
    label_map: dict[str, str | None] = Field(
        default_factory=dict,
        description="Overrides of the format's label mapping: source label -> canonical label, or null to drop it.",
    )
    test_speakers: list[str] = Field(
        default_factory=list, description="Speakers forced into the test split (e.g. RAVDESS actors 21-24)."
    )
    options: dict[str, Any] = Field(default_factory=dict, description="Format-specific options (see README).")

    @model_validator(mode="after")
    def _paths_for_format(self) -> CorpusSpec:
        if self.format == "manifest" and self.manifest is None:
            raise ValueError(f"corpus '{self.name}': format 'manifest' needs `manifest: path/to/file.jsonl|csv`")
        if self.format not in ("manifest", "synthetic") and self.root is None:
            raise ValueError(f"corpus '{self.name}': format '{self.format}' needs `root: path/to/corpus/folder`")
        return self


class LabelsConfig(_Strict):
    set: tuple[str, ...] = Field(DEFAULT_LABELS, description="Canonical labels, in prompt order.")
    extra: tuple[str, ...] = Field((), description="Labels outside the set that are kept verbatim instead of dropped.")


class AudioLimits(_Strict):
    sample_rate: int = Field(16000, description="Rate every clip is resampled to.")
    min_duration_s: float = Field(0.3, gt=0, description="Shorter clips are quarantined (too_short).")
    max_duration_s: float = Field(30.0, gt=0, description="Longer clips are quarantined (too_long).")
    silence_dbfs: float = Field(-60.0, description="A clip whose loudest 50 ms is below this RMS level is silent.")
    clipping_ratio: float = Field(
        0.01, ge=0, le=1, description="Share of samples at full scale above which a clip is heavily clipped."
    )

    @model_validator(mode="after")
    def _order(self) -> AudioLimits:
        if self.min_duration_s >= self.max_duration_s:
            raise ValueError(
                f"data.audio.min_duration_s={self.min_duration_s} must be below max_duration_s={self.max_duration_s}"
            )
        return self


class SplitConfig(_Strict):
    val: float = Field(0.15, ge=0, lt=1, description="Target share of clips in val.")
    test: float = Field(0.15, ge=0, lt=1, description="Target share of clips in test.")
    seed: int = Field(13, description="Seed of the speaker assignment; the same seed gives the same splits.")

    @model_validator(mode="after")
    def _sum(self) -> SplitConfig:
        if self.val + self.test >= 1:
            raise ValueError(f"data.split.val + data.split.test = {self.val + self.test}; leave some for train (< 1)")
        return self


class DataConfig(_Strict):
    corpora: list[CorpusSpec] = Field(description="Corpora to ingest.")
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    audio: AudioLimits = Field(default_factory=AudioLimits)
    split: SplitConfig = Field(default_factory=SplitConfig)
    workers: int = Field(0, ge=0, description="Decoding processes; 0 means one per CPU core.")

    @field_validator("corpora")
    @classmethod
    def _unique(cls, corpora: list[CorpusSpec]) -> list[CorpusSpec]:
        if not corpora:
            raise ValueError("data.corpora is empty; list at least one corpus (the default is the synthetic one)")
        names = [c.name for c in corpora]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"data.corpora: names must be unique, repeated: {dupes}")
        return corpora


class SynthConfig(_Strict):
    """The embedded synthetic corpus (espeak-ng renderings with emotion-specific prosody)."""

    speakers: int = Field(12, ge=3, le=40, description="Number of synthetic speakers (espeak-ng voice variants).")
    neutral_sentences: int = Field(
        3, ge=1, description="Emotion-neutral sentences rendered in every emotion, per speaker."
    )
    laden_sentences: int = Field(2, ge=0, description="Emotion-laden sentences per speaker and emotion.")
    disagree_share: float = Field(
        0.25, ge=0, le=1, description="Share of emotion-laden sentences whose content disagrees with the prosody."
    )
    variation: float = Field(
        1.0, ge=0, description="Scale of per-utterance random variation of the emotion profiles (0 = none)."
    )
    seed: int = Field(7, description="Seed; the same seed and sizes give the same corpus.")
    labels: tuple[str, ...] = Field(DEFAULT_LABELS, description="Emotions to render; each needs a profile.")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file with an error that names it."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


class ProsodyConfig(_Strict):
    """Prosody measurement and calibration (the ``prosody`` section of params)."""

    time_step: float = Field(0.01, gt=0, le=0.05, description="Analysis hop in seconds for pitch and energy.")
    f0_floor: float = Field(60.0, ge=30, description="First-pass pitch floor (Hz), before the speaker's F0 is known.")
    f0_ceiling: float = Field(600.0, le=1200, description="First-pass pitch ceiling (Hz).")
    speaker_range_octaves: tuple[float, float] = Field(
        (0.8, 1.3), description="Second pass searches [median / 2**a, median * 2**b] around the speaker's median F0."
    )
    min_voiced_s: float = Field(0.3, ge=0, description="Voiced time below which F0 statistics are flagged unreliable.")
    min_contour_voiced_s: float = Field(0.25, ge=0, description="Voiced time below which a contour is too_short.")
    shape_st: float = Field(2.0, gt=0, description="Net rise or fall (semitones) that makes a contour rising/falling.")
    flat_range_st: float = Field(4.0, gt=0, description="F0 range (p5-p95, semitones) below which dynamics are flat.")
    expressive_range_st: float = Field(10.0, gt=0, description="F0 range at or above which dynamics are expressive.")
    min_contour_confidence: float = Field(0.35, ge=0, le=1, description="Contours less sure than this are uncertain.")
    stress_z: float = Field(1.0, description="Prominence z-score at or above which a word counts as stressed.")
    level_percentiles: tuple[float, ...] = Field(
        (100 / 3, 200 / 3), description="Percentile cuts between low/medium/high (tertiles by default)."
    )
    min_group: int = Field(30, ge=3, description="Smallest calibration group; smaller groups use the pooled cuts.")
    dask_scheduler: str | None = Field(None, description="Address of a Dask scheduler to join; None = LocalCluster.")
    workers: int = Field(0, ge=0, description="LocalCluster worker processes; 0 = one per core.")
    chunk_size: int = Field(32, ge=1, description="Clips per Dask task.")

    @model_validator(mode="after")
    def _order(self) -> ProsodyConfig:
        if self.f0_floor >= self.f0_ceiling:
            raise ValueError(f"prosody.f0_floor={self.f0_floor} must be below prosody.f0_ceiling={self.f0_ceiling}")
        if self.flat_range_st >= self.expressive_range_st:
            raise ValueError("prosody.flat_range_st must be below prosody.expressive_range_st")
        if list(self.level_percentiles) != sorted(self.level_percentiles) or not all(
            0 < p < 100 for p in self.level_percentiles
        ):
            raise ValueError("prosody.level_percentiles must increase and lie between 0 and 100, e.g. [33.3, 66.7]")
        return self


class EndpointSettings(_Strict):
    base_url: str = Field("http://localhost:8000/v1", description="OpenAI-compatible API root.")
    model: str = Field("", description="Model name the endpoint serves.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key (may be unset).")
    concurrency: int = Field(8, ge=1, description="Requests in flight.")
    max_retries: int = Field(5, ge=0, description="Retries per clip, with exponential backoff.")


class AnnotateConfig(_Strict):
    """EmotionCoT records, prosody SFT tasks and reward-model data (the ``annotate`` section of params)."""

    writer: Literal["grammar", "llm"] = Field("grammar", description="Offline grammar writer, or an LLM endpoint.")
    seed: int = Field(0, description="Seed of the writer, the task sets and the degradations.")
    llm: EndpointSettings = Field(default_factory=EndpointSettings)
    contrastive_per_clip: int = Field(1, ge=0, description="Contrastive pairs made from each train/val clip.")
    contrastive_semitones: float = Field(3.0, gt=0, description="Pitch shift of a contrastive pair (st).")
    contrastive_tempo: float = Field(1.3, gt=1, description="Tempo factor of a contrastive pair.")
    contrastive_gain_db: float = Field(6.0, gt=0, description="Gain difference of a contrastive pair (dB).")
    contrastive_pause_s: float = Field(0.4, ge=0, description="Pause between the two halves of a pair.")
    rm_degradations_per_clip: int = Field(
        0, ge=0, description="Degraded rationales per clip for the reward model; 0 = one of every kind."
    )
    workers: int = Field(0, ge=0, description="Processes for audio manipulation; 0 = one per core.")

    @model_validator(mode="after")
    def _llm(self) -> AnnotateConfig:
        if self.writer == "llm" and not self.llm.model:
            raise ValueError("annotate.writer is 'llm' but annotate.llm.model is empty; name the endpoint's model")
        return self
