"""SAVEE (Surrey Audio-Visual Expressed Emotion), four male British English speakers.

Layout: ``root/AudioData/<DC|JE|JK|KL>/<code><nn>.wav`` as distributed (e.g. ``AudioData/DC/sa03.wav``),
or flat files named ``DC_sa03.wav`` anywhere below ``root``. The code (a anger, d disgust, f fear,
h happiness, n neutral, sa sadness, su surprise) is yielded as the source label; nn is the sentence
number within that emotion.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from emotionthinker.config import CorpusSpec
from emotionthinker.corpora.adapters._common import audio_files, bad_filename, corpus_root, language
from emotionthinker.corpora.base import SourceClip, SourceProblem, register

SPEAKERS = ("DC", "JE", "JK", "KL")
CODES = r"(sa|su|a|d|f|h|n)(\d{2})"
IN_FOLDER = re.compile(rf"^{CODES}$")
FLAT = re.compile(rf"^({'|'.join(SPEAKERS)})_{CODES}$")
EXPECTED = "names like AudioData/DC/sa03.wav or DC_sa03.wav (speaker DC|JE|JK|KL, code a|d|f|h|n|sa|su, number)"


@register("savee")
def read_savee(spec: CorpusSpec) -> Iterator[SourceClip | SourceProblem]:
    root = corpus_root(spec)
    lang = language(spec, "en")
    for path in audio_files(root, recursive=True):
        m = FLAT.match(path.stem)
        if m:
            speaker, code, number = m.groups()
        elif path.parent.name in SPEAKERS and (m := IN_FOLDER.match(path.stem)):
            speaker, (code, number) = path.parent.name, m.groups()
        else:
            yield bad_filename(path, EXPECTED)
            continue
        yield SourceClip(
            source_path=path,
            source_label=code,
            speaker=speaker,
            gender="male",
            language=lang,
            meta={"sentence_number": int(number)},
        )
