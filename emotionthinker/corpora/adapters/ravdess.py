"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song), audio-only files.

Layout: ``root/Actor_XX/*.wav`` (speech and song archives may also sit one folder deeper, e.g.
``root/Audio_Song_Actors_01-24/Actor_01/``). A name such as ``03-01-05-01-02-01-12.wav`` is
modality-vocalchannel-emotion-intensity-statement-repetition-actor: audio-only (03), speech (01; 02 is
song), emotion 05, normal intensity (01; 02 strong), statement 02, repetition 01, actor 12. Odd actors
are male, even ones female. The emotion code is yielded as the source label. Files of other modalities
(01 audio-visual, 02 video-only) are skipped silently; songs are skipped when ``options.include_song``
is false.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from emotionthinker.config import CorpusSpec
from emotionthinker.corpora.adapters._common import audio_files, bad_filename, corpus_root, language
from emotionthinker.corpora.base import SourceClip, SourceProblem, register

NAME = re.compile(r"^(0[1-3])-(0[12])-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d{2})$")
EXPECTED = "names like 03-01-05-01-02-01-12.wav (modality-channel-emotion-intensity-statement-repetition-actor)"

STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
CHANNELS = {"01": "speech", "02": "song"}
INTENSITIES = {"01": "normal", "02": "strong"}


@register("ravdess")
def read_ravdess(spec: CorpusSpec) -> Iterator[SourceClip | SourceProblem]:
    root = corpus_root(spec)
    include_song = bool(spec.options.get("include_song", True))
    lang = language(spec, "en")
    for path in audio_files(root, recursive=True):
        m = NAME.match(path.stem)
        if not m:
            yield bad_filename(path, EXPECTED)
            continue
        modality, channel, emotion, intensity, statement, repetition, actor = m.groups()
        if modality != "03" or (channel == "02" and not include_song):
            continue
        yield SourceClip(
            source_path=path,
            source_label=emotion,
            speaker=actor,
            gender="male" if int(actor) % 2 else "female",
            language=lang,
            transcription=STATEMENTS[statement],
            meta={
                "vocal_channel": CHANNELS[channel],
                "intensity": INTENSITIES[intensity],
                "statement": statement,
                "repetition": int(repetition),
            },
        )
