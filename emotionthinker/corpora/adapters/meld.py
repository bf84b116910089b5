"""MELD (Multimodal EmotionLines Dataset), utterances from the TV series Friends.

Layout: ``root/{train,dev,test}_sent_emo.csv`` (columns Sr No., Utterance, Speaker, Emotion, Sentiment,
Dialogue_ID, Utterance_ID, Season, Episode, StartTime, EndTime) and the cut media in
``root/train_splits/``, ``root/dev_splits_complete/``, ``root/output_repeated_splits_test/`` (or
``root/train``, ``root/dev``, ``root/test``). The row with Dialogue_ID 0 and Utterance_ID 3 belongs to
``dia0_utt3.mp4`` (a ``.wav`` or ``.mp3`` with the same stem is preferred when present). The speaker is
the character name, the Emotion column (``joy``, ``neutral``, ...) is yielded as the source label and
MELD's own split goes to ``meta["source_split"]``.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from emotionthinker.config import CorpusSpec
from emotionthinker.corpora.adapters._common import bad_metadata, corpus_root, first_dir, language, missing_file
from emotionthinker.corpora.base import SourceClip, SourceProblem, register

log = logging.getLogger(__name__)

SPLITS = {"train": "train_splits", "dev": "dev_splits_complete", "test": "output_repeated_splits_test"}
MEDIA_RANK = {".wav": 0, ".mp3": 1, ".mp4": 2}  # preferred first
MEDIA = re.compile(r"dia(\d+)_utt(\d+)$")
COLUMNS = ("Utterance", "Speaker", "Emotion", "Dialogue_ID", "Utterance_ID")


def read_csv(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return list(csv.DictReader(io.StringIO(text)))


def media_index(folder: Path) -> dict[tuple[int, int], Path]:
    """(dialogue, utterance) -> media file; tolerates prefixes such as ``final_videos_test`` in the name."""
    if not folder.is_dir():
        return {}
    files = [p for p in folder.iterdir() if p.suffix.lower() in MEDIA_RANK and not p.name.startswith(".")]
    index: dict[tuple[int, int], Path] = {}
    for path in sorted(files, key=lambda p: (MEDIA_RANK[p.suffix.lower()], p.name)):
        m = MEDIA.search(path.stem)
        if m:
            index.setdefault((int(m.group(1)), int(m.group(2))), path)
    return index


def _field(row: dict[str, str], column: str) -> str | None:
    return (row.get(column) or "").strip() or None


def read_split(root: Path, split: str, lang: str | None) -> Iterator[SourceClip | SourceProblem]:
    csv_path = root / f"{split}_sent_emo.csv"
    rows = read_csv(csv_path)
    if rows and (absent := [c for c in COLUMNS if c not in rows[0]]):
        yield bad_metadata(csv_path, "header", f"missing columns {absent}")
        return
    media_dir = first_dir(root / SPLITS[split], root / split)
    media = media_index(media_dir)
    parsed = []
    for n, row in enumerate(rows, 2):  # line 1 is the header
        try:
            key = (int(row["Dialogue_ID"]), int(row["Utterance_ID"]))
        except (TypeError, ValueError):
            yield bad_metadata(csv_path, f"line {n}", "Dialogue_ID and Utterance_ID must be integers")
            continue
        if not _field(row, "Emotion") or not _field(row, "Speaker"):
            yield bad_metadata(csv_path, f"line {n}", "Emotion and Speaker must not be empty")
            continue
        parsed.append((key, row))
    for key, row in sorted(parsed, key=lambda kr: kr[0]):
        stem = f"dia{key[0]}_utt{key[1]}"
        path = media.get(key)
        if path is None:
            yield missing_file(media_dir / f"{stem}.mp4", f"{split} row {stem} of {csv_path.name}")
            continue
        yield SourceClip(
            source_path=path,
            source_label=_field(row, "Emotion") or "",
            speaker=_field(row, "Speaker") or "",
            language=lang,
            transcription=_field(row, "Utterance"),
            meta={
                "source_split": split,
                "dialogue_id": key[0],
                "utterance_id": key[1],
                "sentiment": _field(row, "Sentiment"),
                "season": _field(row, "Season"),
                "episode": _field(row, "Episode"),
                "start_time": _field(row, "StartTime"),
                "end_time": _field(row, "EndTime"),
            },
        )


@register("meld")
def read_meld(spec: CorpusSpec) -> Iterator[SourceClip | SourceProblem]:
    root = corpus_root(spec)
    lang = language(spec, "en")
    found = [split for split in SPLITS if (root / f"{split}_sent_emo.csv").is_file()]
    if not found:
        log.warning("%s: no {train,dev,test}_sent_emo.csv found; the MELD corpus is empty", root)
    for split in found:
        yield from read_split(root, split, lang)
