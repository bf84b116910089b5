"""Config of the ingest stage: corpora, labels, audio limits, splits, and the synthetic corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from emotionthinker.config.base import Strict
from emotionthinker.labels import DEFAULT_LABELS

CORPUS_FORMATS = (
    "synthetic", "manifest", "emodb", "ravdess", "cremad", "tess", "esd", "savee", "iemocap", "meld",
)  # fmt: skip


class CorpusSpec(Strict):
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


class LabelsConfig(Strict):
    set: tuple[str, ...] = Field(DEFAULT_LABELS, description="Canonical labels, in prompt order.")
    extra: tuple[str, ...] = Field((), description="Labels outside the set that are kept verbatim instead of dropped.")

    @property
    def names(self) -> list[str]:
        """Every label a model may answer: the set, then the extra labels not already in it."""
        return list(self.set) + [x for x in self.extra if x not in self.set]

    @classmethod
    def from_params(cls, raw: dict) -> LabelsConfig:
        """The ``data.labels`` section of a params dict (defaults when absent)."""
        return cls.model_validate((raw.get("data") or {}).get("labels") or {})


class AudioLimits(Strict):
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


class SplitConfig(Strict):
    val: float = Field(0.15, ge=0, lt=1, description="Target share of clips in val.")
    test: float = Field(0.15, ge=0, lt=1, description="Target share of clips in test.")
    seed: int = Field(13, description="Seed of the speaker assignment; the same seed gives the same splits.")

    @model_validator(mode="after")
    def _sum(self) -> SplitConfig:
        if self.val + self.test >= 1:
            raise ValueError(f"data.split.val + data.split.test = {self.val + self.test}; leave some for train (< 1)")
        return self


class DataConfig(Strict):
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


class SynthConfig(Strict):
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
