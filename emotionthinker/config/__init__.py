"""Typed configuration, one module per stage. Stages parse their section of params.yaml into these; the library
never reads files itself. Every field carries a help text, and validation errors say how to fix the value.

Each stage's DVC entry depends on ``base.py`` and its own module only, so editing one stage's config does not
rerun the others.
"""

from emotionthinker.config.annotate import AnnotateConfig, EndpointSettings
from emotionthinker.config.base import Strict, load_yaml
from emotionthinker.config.data import (
    CORPUS_FORMATS,
    AudioLimits,
    CorpusSpec,
    DataConfig,
    LabelsConfig,
    SplitConfig,
    SynthConfig,
)
from emotionthinker.config.grpo import GRPOStageConfig
from emotionthinker.config.model import ModelConfig
from emotionthinker.config.prosody import ProsodyConfig
from emotionthinker.config.reward_model import PolicySamplesConfig, RewardModelConfig
from emotionthinker.config.sft import PROSODY_TASKS, EvalConfig, LoraConfig, PhaseConfig, SFTConfig
from emotionthinker.config.validate import ValidateConfig

__all__ = [
    "CORPUS_FORMATS", "PROSODY_TASKS", "AnnotateConfig", "AudioLimits", "CorpusSpec", "DataConfig",
    "EndpointSettings", "EvalConfig", "GRPOStageConfig", "LabelsConfig", "LoraConfig", "ModelConfig", "PhaseConfig",
    "PolicySamplesConfig", "ProsodyConfig", "RewardModelConfig", "SFTConfig", "SplitConfig", "Strict", "SynthConfig",
    "ValidateConfig", "load_yaml",
]  # fmt: skip
