"""Config of the evaluate and promote stages (the ``evaluate`` and ``promote`` sections of params)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from emotionthinker.config.base import Strict

METRICS = ("uar", "accuracy", "macro_f1", "judge_overall", "rm_overall")
EVAL_TASKS = ("pitch", "energy", "speed", "intonation", "contrastive")


class Candidate(Strict):
    """A model to evaluate: a name for the leaderboard and its folder."""

    name: str = Field(description="Leaderboard name, e.g. sft, grpo, grpo_ptr (letters, digits, _ and -).")
    path: Path = Field(description="Model folder (save_pretrained output), relative to the repository root.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c in "_-" for c in v) or v == "baseline":
            raise ValueError(f"candidate name {v!r}: use letters, digits, _ and - (and not 'baseline')")
        return v


class EvaluateConfig(Strict):
    """Every candidate on the test split through the serving inference path, beside a classical baseline."""

    candidates: list[Candidate] = Field(
        default_factory=lambda: [Candidate(name="sft", path=Path("models/base"))],
        description="Models to compare; each must exist (dvc.yaml lists the same folders as dependencies).",
    )
    split: Literal["test", "val"] = Field("test", description="EmotionCoT split the candidates answer.")
    batch_size: int = Field(16, ge=1, description="Clips per generation batch.")
    max_new_tokens: int = Field(320, ge=8, description="New tokens per answer (think + answer).")
    temperature: float = Field(0.0, ge=0, description="0 = greedy decoding (the default, as serving).")
    prosody_tasks: list[str] = Field(
        default_factory=lambda: list(EVAL_TASKS),
        description=f"Prosody-perception questions asked on the split's clips, from {', '.join(EVAL_TASKS)}.",
    )
    max_per_task: int = Field(0, ge=0, description="Prosody questions per task (0 = all of the split's).")
    baseline_c: float = Field(1.0, gt=0, description="Inverse regularisation of the logistic-regression baseline.")
    threads: int = Field(0, ge=0, description="CPU threads for torch; 0 = torch's default.")

    @model_validator(mode="after")
    def _check(self) -> EvaluateConfig:
        names = [c.name for c in self.candidates]
        if not names:
            raise ValueError("evaluate.candidates is empty: list at least one {name, path}")
        if len(set(names)) != len(names):
            raise ValueError(f"evaluate.candidates: names repeat ({names}); give each model its own name")
        unknown = [t for t in self.prosody_tasks if t not in EVAL_TASKS]
        if unknown:
            raise ValueError(f"evaluate.prosody_tasks: unknown {unknown}; choose from {', '.join(EVAL_TASKS)}")
        return self


class PromoteConfig(Strict):
    """Which candidate goes to the BentoML model store, and the gates it must pass."""

    metric: Literal["uar", "accuracy", "macro_f1", "judge_overall", "rm_overall"] = Field(
        "uar", description="Ranks the candidates; ties are broken by the judge's reasoning score."
    )
    min_format_rate: float = Field(
        0.9, ge=0, le=1, description="Gate: share of well-formed <think>/<answer> replies a winner needs."
    )
    tolerance: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Gate: the winner may trail the model in production by at most this much on `metric` (same "
        "test clips); 0 = it must be at least as good.",
    )
    model_name: str = Field("emotionthinker", description="Name of the model in the BentoML store.")
    store: Path | None = Field(
        None, description="BentoML home (models/ and bentos/ beneath it); None = $BENTOML_HOME or ~/bentoml."
    )

    @field_validator("model_name")
    @classmethod
    def _model_name(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c in "_-." for c in v) or not v[0].isalnum():
            raise ValueError(f"promote.model_name {v!r}: BentoML names take letters, digits, '_', '-' and '.'")
        return v.lower()
