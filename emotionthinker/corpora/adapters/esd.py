"""ESD (Emotional Speech Dataset), Chinese speakers 0001-0010 and English speakers 0011-0020.

Layout: ``root/0001/{Angry,Happy,Neutral,Sad,Surprise}/*.wav`` (files may sit one folder deeper, in
``train/``, ``evaluation/``, ``test/``) plus ``root/0001/0001.txt``, one line per utterance:
``0001_000001<TAB>text<TAB>emotion`` (UTF-8, UTF-16 or GB18030). A file such as
``root/0001/Angry/0001_000351.wav`` is speaker 0001, emotion Angry (the folder name, yielded as the
source label); its transcription comes from the speaker's txt file. ESD does not ship speaker genders:
give them as ``options.genders: {"0001": female, ...}``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

from emotionthinker.config import CorpusSpec
from emotionthinker.corpora.adapters._common import (
    audio_files,
    bad_filename,
    bad_metadata,
    corpus_root,
    language,
    missing_file,
    read_text,
)
from emotionthinker.corpora.base import SourceClip, SourceProblem, normalise_gender, register

log = logging.getLogger(__name__)

EMOTIONS = ("Angry", "Happy", "Neutral", "Sad", "Surprise")
ZH_EMOTIONS = {"生气": "Angry", "快乐": "Happy", "中立": "Neutral", "伤心": "Sad", "惊喜": "Surprise"}  # txt column
UTT = re.compile(r"^(\d{4})_(\d{6})$")
LINE = re.compile(r"^(\d{4}_\d{6})\s+(.*?)\s+(\S+)$")
EXPECTED = "names like 0001_000351.wav (speaker_utterance) inside root/<speaker>/<Emotion>/"


def read_transcripts(path: Path) -> tuple[dict[str, tuple[str, str]], list[SourceProblem]]:
    """utterance id -> (text, emotion) from a speaker's txt file, and a problem for each unreadable line."""
    rows: dict[str, tuple[str, str]] = {}
    problems: list[SourceProblem] = []
    if not path.is_file():
        log.warning("%s not found; ESD speaker %s gets no transcriptions", path, path.stem)
        return rows, problems
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) != 3 or not UTT.match(fields[0]):
            m = LINE.match(line.strip())
            if not m:
                problems.append(
                    bad_metadata(path, f"line {n}", f"expected 'utterance<TAB>text<TAB>emotion', got {line!r}")
                )
                continue
            fields = list(m.groups())
        rows[fields[0]] = (fields[1], fields[2])
    return rows, problems


def speaker_language(speaker: str) -> str:
    return "zh" if int(speaker) <= 10 else "en"


@register("esd")
def read_esd(spec: CorpusSpec) -> Iterator[SourceClip | SourceProblem]:
    root = corpus_root(spec)
    genders = {str(k).zfill(4): normalise_gender(v) for k, v in (spec.options.get("genders") or {}).items()}
    for spk_dir in sorted(p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"\d{4}", p.name)):
        speaker = spk_dir.name
        texts, problems = read_transcripts(spk_dir / f"{speaker}.txt")
        yield from problems
        seen: set[str] = set()
        for emotion in EMOTIONS:
            for path in audio_files(spk_dir / emotion, recursive=True):
                m = UTT.match(path.stem)
                if not m or m.group(1) != speaker:
                    yield bad_filename(path, EXPECTED)
                    continue
                seen.add(path.stem)
                text, txt_emotion = texts.get(path.stem, (None, None))
                yield SourceClip(
                    source_path=path,
                    source_label=emotion,
                    speaker=speaker,
                    gender=genders.get(speaker),
                    language=language(spec, speaker_language(speaker)),
                    transcription=text,
                    meta={"utterance": path.stem, "txt_emotion": txt_emotion, "part": _part(path, spk_dir / emotion)},
                )
        for utt in sorted(set(texts) - seen):
            folder = ZH_EMOTIONS.get(texts[utt][1], texts[utt][1])
            yield missing_file(spk_dir / folder / f"{utt}.wav", f"line '{utt}' of {spk_dir / speaker}.txt")


def _part(path: Path, emotion_dir: Path) -> str | None:
    """ESD's own train/evaluation/test subfolder, when the files sit in one."""
    rel = path.relative_to(emotion_dir).parts
    return rel[0] if len(rel) > 1 else None
