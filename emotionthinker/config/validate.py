"""Config of the validate stage: thresholds of the data checks and the severity of each check.

Every check has a name ``<suite>.<check>`` and a default severity (``DEFAULT_SEVERITY``). A failed ``critical``
check stops the pipeline; a failed ``warning`` (or ``info``) check is reported only; ``off`` leaves the check
out. ``validate.severity`` in params overrides single entries, e.g. ``{train_balance.imbalance: critical}``.
The label set, the duration bounds and the sample rate are not repeated here: they come from ``data.labels``
and ``data.audio``, the settings the data was made with.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from emotionthinker.config.base import Strict

Severity = Literal["critical", "warning", "info", "off"]

# name -> (default severity, what it checks). The suites in emotionthinker/validation/suites.py implement each.
CHECKS: dict[str, tuple[Severity, str]] = {
    # the manifest, one row per clip
    "manifest.schema": ("critical", "the manifest has every required column"),
    "manifest.types": ("critical", "columns hold the expected types (str ids, numeric duration, dict meta)"),
    "manifest.not_null": ("critical", "ids, paths, emotion, speaker, split and duration are set"),
    "manifest.unique_utt_id": ("critical", "no utt_id appears twice"),
    "manifest.emotion_in_labels": ("critical", "every emotion is in data.labels (set + extra)"),
    "manifest.split_values": ("critical", "split is train, val or test"),
    "manifest.duration_bounds": ("critical", "duration within data.audio.min/max_duration_s"),
    "manifest.label_coverage": ("warning", "every configured label has at least one clip"),
    "manifest.has_features": ("critical", "every clip has a features record (prosody stage)"),
    "manifest.has_labels": ("critical", "every clip has a labels record (prosody stage)"),
    "manifest.has_emotioncot": ("warning", "every clip has an EmotionCoT record (annotate stage)"),
    # the audio files behind the manifest
    "audio.exists": ("critical", "the file at audio_path exists"),
    "audio.sample_rate": ("critical", "the file is at data.audio.sample_rate (16 kHz)"),
    "audio.mono": ("critical", "the file has one channel"),
    "audio.duration_matches": ("warning", "the file's duration matches duration_s in the manifest"),
    # derived tables over the manifest
    "speakers.single_split": ("critical", "no speaker appears in two splits"),
    "audio_hashes.single_split": ("critical", "no identical audio (content hash) in two splits"),
    "audio_hashes.unique_clip": ("warning", "no identical audio under two utt_ids within a split"),
    "train_balance.min_clips": ("critical", "at least min_train_clips of each emotion in train"),
    "train_balance.imbalance": ("warning", "largest over each emotion's train count <= max_imbalance_ratio"),
    "quarantine.share": ("critical", "share of each corpus's clips quarantined <= max_quarantine_share"),
    # prosody features
    "features.schema": ("critical", "features have every required column"),
    "features.types": ("critical", "features hold the expected types"),
    "features.unique_utt_id": ("critical", "one features record per clip"),
    "features.in_manifest": ("critical", "every features record belongs to a manifest clip"),
    "features.status_values": ("critical", "status is a known measurement status"),
    "features.measured": ("warning", "no clip failed measurement (status error)"),
    "features.f0_range": ("critical", "median F0 within f0_hz where the F0 is reliable"),
    "features.active_level": ("critical", "active speech level within active_level_dbfs"),
    # prosody labels
    "labels.schema": ("critical", "labels have every required column"),
    "labels.unique_utt_id": ("critical", "one labels record per clip"),
    "labels.in_manifest": ("critical", "every labels record belongs to a manifest clip"),
    "labels.matches_manifest": ("critical", "emotion, speaker and split agree with the manifest"),
    "labels.level_vocab": ("critical", "pitch/energy/speed levels are low, medium or high"),
    "labels.intonation_vocab": ("critical", "intonation is a known contour label"),
    # EmotionCoT records
    "emotioncot.schema": ("critical", "records have every required column"),
    "emotioncot.types": ("critical", "rationale and target are strings, messages a list"),
    "emotioncot.unique_utt_id": ("critical", "one record per clip"),
    "emotioncot.in_manifest": ("critical", "every record belongs to a manifest clip"),
    "emotioncot.split_matches": ("critical", "the record sits in its clip's split file"),
    "emotioncot.emotion_in_labels": ("critical", "emotion is in the label set"),
    "emotioncot.rationale_length": ("warning", "rationale length within rationale_words"),
    "emotioncot.target_format": ("critical", "target is <think>...</think><answer>...</answer>"),
    "emotioncot.answer_in_labels": ("critical", "the answer inside the target is in the label set"),
    "emotioncot.answer_matches_emotion": ("critical", "the answer equals the record's emotion"),
    # prosody SFT tasks
    "sft_tasks.schema": ("critical", "task records have every required column"),
    "sft_tasks.task_values": ("critical", "task is known and matches its file"),
    "sft_tasks.unique": ("critical", "no (task, utt_id, audio_path) twice"),
    "sft_tasks.in_manifest": ("critical", "every task record belongs to a manifest clip"),
    "sft_tasks.split_matches": ("critical", "a task's split is its clip's split"),
    "sft_tasks.audio_exists": ("critical", "the task's audio file exists"),
    "sft_tasks.answer_vocab": ("critical", "closed-task answers are in the task's vocabulary"),
    "sft_tasks.answer_not_empty": ("critical", "every task has a non-empty answer"),
    # reward-model data
    "rm.schema": ("critical", "RM records have every required column"),
    "rm.kind_values": ("critical", "kind is gold or a known degradation"),
    "rm.in_manifest": ("critical", "every RM record belongs to a manifest clip"),
    "rm.split_matches": ("critical", "RM records come from their file's split (train/val, never test)"),
    "rm.score_range": ("critical", "the four judge scores are within 1-5"),
    "rm.reward_range": ("critical", "reward within 0-1"),
    "rm.gold_format": ("critical", "gold completions match the tag format"),
}

DEFAULT_SEVERITY: dict[str, Severity] = {name: sev for name, (sev, _) in CHECKS.items()}


class ValidateConfig(Strict):
    """Data validation with Great Expectations (the ``validate`` section of params)."""

    min_train_clips: int = Field(
        4,
        ge=0,
        description="Fewest train clips of each emotion found in the data (a floor for a class all but absent).",
    )
    max_imbalance_ratio: float = Field(
        10.0, ge=1, description="Largest train count of an emotion over another's above which the data is imbalanced."
    )
    max_quarantine_share: float = Field(
        0.1, ge=0, le=1, description="Share of a corpus's clips quarantined by ingest above which it fails."
    )
    rationale_words: tuple[int, int] = Field((50, 200), description="Word count bounds of EmotionCoT rationales.")
    f0_hz: tuple[float, float] = Field((50.0, 600.0), description="Bounds of a reliable median F0 (Hz).")
    active_level_dbfs: tuple[float, float] = Field(
        (-60.0, 0.0), description="Plausible active speech level (dBFS) of a clip."
    )
    duration_tolerance_s: float = Field(
        0.05, ge=0, description="Largest difference between a file's duration and the manifest's duration_s."
    )
    hash_audio: bool = Field(True, description="Hash every clip's bytes to find identical audio across splits.")
    sample_rows: int = Field(5, ge=1, le=100, description="Failing rows kept per expectation in metrics and console.")
    severity: dict[str, Severity] = Field(
        default_factory=dict,
        description="Per-check severity overrides, e.g. {train_balance.imbalance: critical, audio.mono: off}.",
    )

    @field_validator("severity")
    @classmethod
    def _known_checks(cls, severity: dict[str, Severity]) -> dict[str, Severity]:
        unknown = sorted(set(severity) - set(CHECKS))
        if unknown:
            raise ValueError(f"validate.severity: unknown check(s) {unknown}; the checks are: {', '.join(CHECKS)}")
        return severity

    @model_validator(mode="after")
    def _bounds(self) -> ValidateConfig:
        for name in ("rationale_words", "f0_hz", "active_level_dbfs"):
            lo, hi = getattr(self, name)
            if lo >= hi:
                raise ValueError(f"validate.{name}=[{lo}, {hi}]: the lower bound must be below the upper one")
        return self

    def severity_of(self, check: str) -> Severity:
        """The severity of ``check``: the override in params, else its default."""
        if check not in CHECKS:
            raise KeyError(f"unknown check {check!r}")
        return self.severity.get(check, DEFAULT_SEVERITY[check])
