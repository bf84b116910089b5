"""Config of the prosody stage."""

from __future__ import annotations

from pydantic import Field, model_validator

from emotionthinker.config.base import Strict


class ProsodyConfig(Strict):
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
