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
from emotionthinker.config.model import ModelConfig
from emotionthinker.config.prosody import ProsodyConfig
from emotionthinker.config.validate import ValidateConfig

__all__ = [
    "CORPUS_FORMATS", "AnnotateConfig", "AudioLimits", "CorpusSpec", "DataConfig", "EndpointSettings",
    "LabelsConfig", "ModelConfig", "ProsodyConfig", "SplitConfig", "Strict", "SynthConfig", "ValidateConfig",
    "load_yaml",
]  # fmt: skip
