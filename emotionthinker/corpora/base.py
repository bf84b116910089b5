"""What every corpus adapter yields, and the registry that finds an adapter by format name.

An adapter is a function ``(spec: CorpusSpec) -> Iterable[SourceClip | SourceProblem]``. It reads the
corpus's own file names and metadata and never decodes audio: decoding, checks and resampling happen
once, in :mod:`emotionthinker.corpora.ingest`, for every format alike. A record the adapter cannot
use (a metadata row pointing at nothing, an unparseable file name) is yielded as a ``SourceProblem``
so that it lands in quarantine with its reason instead of vanishing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emotionthinker.config import CorpusSpec


@dataclass
class SourceClip:
    source_path: Path  # absolute path of the audio file (or media file, for MELD)
    source_label: str  # the corpus's own label or code, before mapping
    speaker: str  # unique within the corpus; the ingest prefixes the corpus name
    gender: str | None = None  # "female" | "male" | None
    age: float | None = None
    language: str | None = None
    transcription: str | None = None
    start_s: float | None = None  # segment inside a longer file (IEMOCAP dialogue wavs are split already)
    end_s: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # anything else the corpus knows (synthetic settings, ...)
    # the clip's identity inside a corpus that has no root folder (a rendered one): its path relative to where it was
    # rendered, so that its utt_id does not depend on where the repository is checked out
    key: str | None = None


@dataclass
class SourceProblem:
    source_path: Path | str
    reason: str  # a reason code, e.g. "missing_file", "bad_filename", "bad_metadata"
    message: str  # names the input and the fix


Adapter = Callable[[CorpusSpec], Iterable["SourceClip | SourceProblem"]]
ADAPTERS: dict[str, Adapter] = {}


def register(fmt: str) -> Callable[[Adapter], Adapter]:
    def deco(fn: Adapter) -> Adapter:
        ADAPTERS[fmt] = fn
        return fn

    return deco


def get_adapter(fmt: str) -> Adapter:
    # importing the package registers every adapter
    import emotionthinker.corpora.adapters  # noqa: F401

    try:
        return ADAPTERS[fmt]
    except KeyError:
        raise ValueError(f"unknown corpus format '{fmt}'; known formats: {', '.join(sorted(ADAPTERS))}") from None


def normalise_gender(value: object) -> str | None:
    """Map the many spellings of gender in corpus metadata onto 'female' / 'male' / None.

    >>> normalise_gender("F"), normalise_gender("Male"), normalise_gender(""), normalise_gender(None)
    ('female', 'male', None, None)
    """
    if value is None:
        return None
    v = str(value).strip().lower()
    if v in ("f", "female", "woman", "w", "fem"):
        return "female"
    if v in ("m", "male", "man"):
        return "male"
    return None
