"""EmoDB (Berlin Database of Emotional Speech).

Layout: ``root/wav/*.wav`` as distributed, or the files directly in ``root`` (processed copies). A name
such as ``03a01Fa.wav`` is speaker 03, sentence a01, emotion letter F (W anger, L boredom, E disgust,
A fear, F happiness, T sadness, N neutral) and version a. The letter is yielded as the source label.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from emotionthinker.config import CorpusSpec
from emotionthinker.corpora.adapters._common import audio_files, bad_filename, corpus_root, first_dir, language
from emotionthinker.corpora.base import SourceClip, SourceProblem, register

NAME = re.compile(r"^(\d{2})([ab]\d{2})([WLEAFTN])([a-z])$")
EXPECTED = "names like 03a01Fa.wav (speaker, sentence a01..b10, emotion letter WLEAFTN, version)"

# speaker -> (gender, age), from the EmoDB documentation
SPEAKERS: dict[str, tuple[str, int]] = {
    "03": ("male", 31), "08": ("female", 34), "09": ("female", 21), "10": ("male", 32), "11": ("male", 26),
    "12": ("male", 30), "13": ("female", 32), "14": ("female", 35), "15": ("male", 25), "16": ("female", 31),
}  # fmt: skip

SENTENCES: dict[str, str] = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}


@register("emodb")
def read_emodb(spec: CorpusSpec) -> Iterator[SourceClip | SourceProblem]:
    root = corpus_root(spec)
    lang = language(spec, "de")
    for path in audio_files(first_dir(root / "wav", root)):
        m = NAME.match(path.stem)
        if not m:
            yield bad_filename(path, EXPECTED)
            continue
        speaker, sentence, letter, version = m.groups()
        gender, age = SPEAKERS.get(speaker, (None, None))
        yield SourceClip(
            source_path=path,
            source_label=letter,
            speaker=speaker,
            gender=gender,
            age=None if age is None else float(age),
            language=lang,
            transcription=SENTENCES.get(sentence),
            meta={"sentence": sentence, "version": version},
        )
