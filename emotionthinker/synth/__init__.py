"""The embedded synthetic emotional speech corpus: espeak-ng voices whose prosody carries the emotion.

>>> from emotionthinker.config import SynthConfig
>>> plans = plan_corpus(SynthConfig(speakers=3, neutral_sentences=1, laden_sentences=1))
>>> len(plans), plans[0].utt_id, plans[0].gender
(54, 'syn01_neu_n01', 'female')
"""

from emotionthinker.synth.corpus import (
    RENDER_VERSION,
    Speaker,
    UtterancePlan,
    config_hash,
    make_speakers,
    plan_corpus,
    render_corpus,
)
from emotionthinker.synth.profiles import PROFILES, EmotionProfile

__all__ = [
    "PROFILES",
    "RENDER_VERSION",
    "EmotionProfile",
    "Speaker",
    "UtterancePlan",
    "config_hash",
    "make_speakers",
    "plan_corpus",
    "render_corpus",
]
