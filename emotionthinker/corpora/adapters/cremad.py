"""CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset), audio files.

Layout: ``root/AudioWAV/*.wav`` as distributed, or the files directly in ``root``; speaker age and sex
from ``root/VideoDemographics.csv`` (columns ActorID, Age, Sex, Race, Ethnicity) when it is there. A
name such as ``1001_DFA_ANG_XX.wav`` is actor 1001, sentence DFA, emotion ANG and intensity XX (LO, MD,
HI, or XX unspecified). The emotion code is yielded as the source label.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emotionthinker.config import CorpusSpec
from emotionthinker.corpora.adapters._common import (
    audio_files,
    bad_filename,
    corpus_root,
    first_dir,
    language,
    read_text,
)
from emotionthinker.corpora.base import SourceClip, SourceProblem, normalise_gender, register

log = logging.getLogger(__name__)

SENTENCES: dict[str, str] = {
    "IEO": "It's eleven o'clock.",
    "TIE": "That is exactly what happened.",
    "IOM": "I'm on my way to the meeting.",
    "IWW": "I wonder what this is about.",
    "TAI": "The airplane is almost full.",
    "MTI": "Maybe tomorrow it will be cold.",
    "IWL": "I would like a new alarm clock.",
    "ITH": "I think I have a doctor's appointment.",
    "DFA": "Don't forget a jacket.",
    "ITS": "I think I've seen this before.",
    "TSI": "The surface is slick.",
    "WSI": "We'll stop in a couple of minutes.",
}
EMOTIONS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")
INTENSITIES = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
NAME = re.compile(rf"^(\d{{4}})_({'|'.join(SENTENCES)})_({'|'.join(EMOTIONS)})_({'|'.join(INTENSITIES)})$")
EXPECTED = "names like 1001_DFA_ANG_XX.wav (actor_sentence_emotion_intensity)"


def read_demographics(path: Path) -> dict[str, dict[str, Any]]:
    """ActorID -> {gender, age, race, ethnicity}; {} when the file is absent."""
    if not path.is_file():
        log.info("%s not found; CREMA-D speakers get no gender or age", path)
        return {}
    people: dict[str, dict[str, Any]] = {}
    for row in csv.DictReader(io.StringIO(read_text(path))):
        actor = (row.get("ActorID") or "").strip()
        if not actor:
            continue
        try:
            age: float | None = float(row.get("Age") or "")
        except ValueError:
            age = None
        people[actor] = {
            "gender": normalise_gender(row.get("Sex")),
            "age": age,
            "race": (row.get("Race") or "").strip() or None,
            "ethnicity": (row.get("Ethnicity") or "").strip() or None,
        }
    return people


@register("cremad")
def read_cremad(spec: CorpusSpec) -> Iterator[SourceClip | SourceProblem]:
    root = corpus_root(spec)
    people = read_demographics(root / "VideoDemographics.csv")
    lang = language(spec, "en")
    for path in audio_files(first_dir(root / "AudioWAV", root)):
        m = NAME.match(path.stem)
        if not m:
            yield bad_filename(path, EXPECTED)
            continue
        actor, sentence, emotion, level = m.groups()
        person = people.get(actor, {})
        yield SourceClip(
            source_path=path,
            source_label=emotion,
            speaker=actor,
            gender=person.get("gender"),
            age=person.get("age"),
            language=lang,
            transcription=SENTENCES[sentence],
            meta={
                "sentence": sentence,
                "intensity": INTENSITIES[level],
                "race": person.get("race"),
                "ethnicity": person.get("ethnicity"),
            },
        )
