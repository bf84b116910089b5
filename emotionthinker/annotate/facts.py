"""What is known about one clip: the measured, calibrated cues and the metadata the rationale may cite.

``Facts`` is built from a clip's manifest record and its prosody label record; the caption, the writer,
the task sets and the judge all read it, never the raw files.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from emotionthinker.annotate.lexicon import LEVEL_ALIASES

# Words whose presence suggests an emotion in the transcript (a secondary cue; prosody leads).
CONTENT_WORDS: dict[str, tuple[str, ...]] = {
    "happy": ("wonderful", "great", "love", "happy", "delighted", "fantastic", "glad", "amazing", "yay",
              "celebrate", "won", "fröhlich", "toll", "schön", "freue"),
    "sad": ("sad", "miss", "lost", "alone", "cry", "sorry", "died", "lonely", "never again", "traurig",
            "vermisse", "allein"),
    "angry": ("hate", "stupid", "how dare", "furious", "shut up", "ridiculous", "idiot",
              "wütend", "verdammt", "schon wieder"),
    "fear": ("afraid", "scared", "please don't", "danger", "terrified", "angst", "hilfe"),
    "surprise": ("no way", "can't believe", "suddenly", "wow", "unexpected"),
    "contempt or disgust": ("disgusting", "gross", "pathetic", "revolting", "ugh", "filthy", "ekelhaft"),
    "confused": ("what do you mean", "i don't understand", "confused", "not sure", "huh"),
}  # fmt: skip


def content_emotion(transcript: str | None) -> str | None:
    """The emotion the words suggest, or None when they are neutral (or there are none).

    >>> content_emotion("I can't believe we actually won the final!")
    'happy'
    >>> content_emotion("The meeting has been moved to Thursday.") is None
    True
    """
    if not transcript:
        return None
    text = f" {transcript.lower()} "
    scores = {e: sum(1 for w in words if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text))
              for e, words in CONTENT_WORDS.items()}  # fmt: skip
    best = max(scores, key=lambda e: scores[e])
    return best if scores[best] > 0 else None


def _level(value: str | None) -> str | None:
    return LEVEL_ALIASES.get(value, value) if value else None


@dataclass(frozen=True)
class Facts:
    utt_id: str
    emotion: str | None  # the gold label
    transcript: str | None
    language: str | None
    gender: str | None
    age_level: str | None
    pitch: str | None  # low | medium | high
    energy: str | None
    speed: str | None
    intonation: str | None  # the collapsed contour label
    voicing: str  # voiced | unvoiced
    stressed_words: tuple[str, ...] = field(default_factory=tuple)
    content_emotion: str | None = None

    @classmethod
    def from_records(cls, clip: dict, labels: dict) -> Facts:
        """From a manifest record and its prosody label record. A corpus that knows the content emotion by
        construction (the synthetic one) overrides the word-list guess."""
        meta = clip.get("meta") or {}
        unvoiced = labels.get("status") == "insufficient_voiced" and labels.get("intonation") in ("too_short", None)
        known = meta.get("content_emotion") if meta.get("sentence_kind") == "laden" else None
        if meta.get("sentence_kind") == "neutral":
            content = None
        else:
            content = known or content_emotion(clip.get("transcription"))
        content = None if content == "neutral" else content  # neutral words carry no emotional content
        intonation = labels.get("intonation")
        return cls(
            utt_id=clip["utt_id"],
            emotion=clip.get("emotion"),
            transcript=clip.get("transcription"),
            language=clip.get("language"),
            gender=labels.get("gender") or clip.get("gender"),
            age_level=labels.get("age_level"),
            pitch=_level(labels.get("pitch_level")),
            energy=_level(labels.get("energy_level")),
            speed=_level(labels.get("speed_level")),
            intonation=None if intonation in ("uncertain", "too_short") else intonation,
            voicing="unvoiced" if unvoiced else "voiced",
            stressed_words=tuple(labels.get("stressed_words") or ()),
            content_emotion=content,
        )

    def cues(self) -> dict[str, str]:
        """The checkable cues as attribute -> value (the judge's ground truth)."""
        out = {a: getattr(self, a) for a in ("pitch", "energy", "speed", "intonation", "gender")}
        out["voicing"] = self.voicing
        return {k: v for k, v in out.items() if v}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stressed_words"] = list(self.stressed_words)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Facts:
        return cls(**{**d, "stressed_words": tuple(d.get("stressed_words") or ())})


_LEVEL_WORD = {"low": "low", "medium": "moderate", "high": "high"}
_RATE_WORD = {"low": "slow", "medium": "moderate", "high": "fast"}


def caption(f: Facts) -> str:
    """A fine-grained, deterministic description of the clip from its facts.

    >>> caption(Facts("u1", "sad", "I lost it.", "en", "female", "adult", "low", "low", "low", "falling",
    ...               "voiced", ("lost",)))
    'An adult female speaker says "I lost it." with low pitch, low energy and a slow speaking rate; \
the intonation is falling, and the word "lost" is stressed.'
    """
    who = " ".join(x for x in (f.age_level, f.gender) if x) or "A"
    subject = f"{'An' if who[0].lower() in 'aeiou' else 'A'} {who} speaker" if who != "A" else "A speaker"
    parts = []
    if f.voicing == "unvoiced":
        parts.append("a whispered, unvoiced delivery")
    if f.pitch:
        parts.append(f"{_LEVEL_WORD[f.pitch]} pitch")
    if f.energy:
        parts.append(f"{_LEVEL_WORD[f.energy]} energy")
    if f.speed:
        parts.append(f"a {_RATE_WORD[f.speed]} speaking rate")
    said = f' says "{f.transcript}"' if f.transcript else " speaks"
    text = subject + said
    if parts:
        text += " with " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0])
    tail = []
    if f.intonation:
        tail.append(f"the intonation is {f.intonation}")
    if f.stressed_words:
        words = ", ".join(f'"{w}"' for w in f.stressed_words)
        many = len(f.stressed_words) > 1
        tail.append(f"the word{'s' if many else ''} {words} {'are' if many else 'is'} stressed")
    if tail:
        text += "; " + ", and ".join(tail)
    return text + "."
