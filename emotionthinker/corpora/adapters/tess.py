"""TESS (Toronto Emotional Speech Set).

Layout: ``root/<folder>/*.wav`` (folders such as ``OAF_angry``, ``YAF_pleasant_surprised``; files
directly in ``root`` are read too). A name such as ``OAF_back_angry.wav`` is speaker OAF (older female,
aged 64; YAF is the younger, aged 26), target word "back" (spoken in the carrier phrase "Say the word
back") and emotion "angry"; the emotion is the last underscore field (``ps`` = pleasant surprise) and
is yielded as the source label. A few distributed files spell the older speaker ``OA``; they are read
as OAF.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from emotionthinker.config import CorpusSpec
from emotionthinker.corpora.adapters._common import audio_files, bad_filename, corpus_root, language
from emotionthinker.corpora.base import SourceClip, SourceProblem, register

NAME = re.compile(r"^(OAF|OA|YAF)_([A-Za-z']+)_([A-Za-z]+)$", re.IGNORECASE)
EXPECTED = "names like OAF_back_angry.wav or YAF_word_ps.wav (speaker_word_emotion, speaker OAF or YAF)"
AGES = {"OAF": 64.0, "YAF": 26.0}


@register("tess")
def read_tess(spec: CorpusSpec) -> Iterator[SourceClip | SourceProblem]:
    root = corpus_root(spec)
    lang = language(spec, "en")
    for path in audio_files(root, recursive=True):
        m = NAME.match(path.stem)
        if not m:
            yield bad_filename(path, EXPECTED)
            continue
        speaker = m.group(1).upper()
        speaker = "OAF" if speaker == "OA" else speaker
        word, emotion = m.group(2).lower(), m.group(3).lower()
        yield SourceClip(
            source_path=path,
            source_label=emotion,
            speaker=speaker,
            gender="female",
            age=AGES[speaker],
            language=lang,
            transcription=f"Say the word {word}",
            meta={"word": word},
        )
