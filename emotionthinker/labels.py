"""Canonical emotion labels and the mapping from corpus labels onto them.

The default label set is the paper's nine. Every corpus format maps its own labels onto it through
a documented table (``FORMAT_LABEL_MAPS``); a corpus entry in params can override single entries with
``label_map`` (map to ``null`` to drop a label on purpose).

>>> LabelSet().resolve("W", fmt="emodb")
'angry'
>>> LabelSet().resolve("calm", fmt="ravdess")
'neutral'
>>> LabelSet().resolve("boredom", fmt="manifest", overrides={"boredom": None}) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_LABELS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "angry",
    "contempt or disgust",
    "confused",
    "whisper",
    "surprise",
    "fear",
)

# Spellings found across corpora and manifests that mean one canonical label. Applied to every
# format after its own table. Choices that are judgement calls are marked; override them per corpus.
SYNONYMS: dict[str, str] = {
    "neu": "neutral",
    "neutral": "neutral",
    "calm": "neutral",  # judgement call: RAVDESS calm is low-arousal neutral speech
    "boredom": "neutral",  # judgement call: EmoDB boredom is low-arousal, no canonical class
    "bored": "neutral",
    "hap": "happy",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "exc": "happy",  # IEMOCAP excited is merged into happy, as most IEMOCAP work does
    "excited": "happy",
    "pleasant_surprise": "surprise",  # TESS "ps"
    "pleasant surprise": "surprise",
    "sad": "sad",
    "sadness": "sad",
    "ang": "angry",
    "anger": "angry",
    "angry": "angry",
    "dis": "contempt or disgust",
    "disgust": "contempt or disgust",
    "disgusted": "contempt or disgust",
    "contempt": "contempt or disgust",
    "contempt or disgust": "contempt or disgust",
    "fea": "fear",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "sur": "surprise",
    "surprise": "surprise",
    "surprised": "surprise",
    "confused": "confused",
    "confusion": "confused",
    "whisper": "whisper",
    "whispering": "whisper",
}

# Per-format codes that are not plain words. Each adapter yields the corpus's own code as
# ``source_label``; these tables turn codes into words that SYNONYMS then resolves.
FORMAT_LABEL_MAPS: dict[str, dict[str, str]] = {
    "emodb": {"W": "angry", "L": "boredom", "E": "disgust", "A": "fear", "F": "happy", "T": "sad", "N": "neutral"},
    "ravdess": {
        "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
        "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
    },
    "cremad": {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"},
    "savee": {"a": "angry", "d": "disgust", "f": "fear", "h": "happy", "n": "neutral", "sa": "sad", "su": "surprise"},
    "tess": {"ps": "pleasant_surprise"},
    # IEMOCAP "fru" (frustrated), "oth", "xxx" have no canonical class and are dropped unless mapped
    "iemocap": {"neu": "neutral", "hap": "happy", "exc": "excited", "sad": "sad", "ang": "angry",
                "fea": "fear", "sur": "surprise", "dis": "disgust"},
}  # fmt: skip


def normalise(label: str) -> str:
    return " ".join(str(label).strip().lower().replace("-", " ").split())


@dataclass(frozen=True)
class LabelSet:
    """The labels a run trains on: the canonical set plus any ``extra`` labels kept as they are."""

    labels: tuple[str, ...] = DEFAULT_LABELS
    extra: tuple[str, ...] = field(default_factory=tuple)

    @property
    def all(self) -> tuple[str, ...]:
        return tuple(self.labels) + tuple(e for e in self.extra if e not in self.labels)

    def resolve(self, source_label: str, fmt: str, overrides: Mapping[str, str | None] | None = None) -> str | None:
        """Canonical label for ``source_label`` of a corpus in format ``fmt``, or None if it has no mapping.

        Order: the corpus's own overrides, labels kept verbatim (in the set or in ``extra``), the
        format's code table, then the shared synonyms.
        """
        raw = str(source_label).strip()
        overrides = overrides or {}
        for key in (raw, normalise(raw)):
            if key in overrides:
                target = overrides[key]
                return None if target is None else normalise(target)
        wanted = {normalise(x): x for x in self.all}
        if normalise(raw) in wanted:
            return wanted[normalise(raw)]
        word = FORMAT_LABEL_MAPS.get(fmt, {}).get(raw, raw)
        if normalise(word) in wanted:
            return wanted[normalise(word)]
        canonical = SYNONYMS.get(normalise(word)) or SYNONYMS.get(normalise(word).replace(" ", "_"))
        return canonical if canonical in wanted else None
