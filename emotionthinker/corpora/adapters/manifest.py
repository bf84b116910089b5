"""Generic manifests: JSONL or CSV, one clip per record.

Columns: ``audio_path`` (or ``path``; relative paths are relative to the manifest's folder), ``emotion``;
optional ``transcription`` (or ``text``), ``speaker``, ``gender``, ``age``, ``language``, ``dataset``
(or ``corpus``), ``start_s``/``end_s`` for a segment of a longer file. Any other column, and a JSONL
``meta`` object, is kept under the record's ``meta``.

Example (CSV)::

    path,emotion,speaker,gender,language,transcription
    03a01Fa.wav,happy,emodb_spk03,male,de,Der Lappen liegt auf dem Eisschrank.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emotionthinker.config import CorpusSpec
from emotionthinker.corpora.base import SourceClip, SourceProblem, normalise_gender, register

_KNOWN = {
    "audio_path", "path", "emotion", "transcription", "text", "speaker", "gender", "age", "language",
    "dataset", "corpus", "start_s", "end_s", "meta",
}  # fmt: skip


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """Yield (line number, record or None, error) for a .jsonl/.json-lines or .csv/.tsv manifest."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found; fix `manifest:` in the corpus entry of params.yaml")
    if path.suffix.lower() in (".csv", ".tsv"):
        with path.open(newline="", encoding="utf-8-sig") as f:
            for i, row in enumerate(csv.DictReader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ","), 2):
                yield i, {k.strip(): v for k, v in row.items() if k is not None}, ""
        return
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                yield i, None, f"not valid JSON ({e.msg})"
                continue
            yield (i, rec, "") if isinstance(rec, dict) else (i, None, "not a JSON object")


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _float(v: Any) -> float | None:
    try:
        return None if _blank(v) else float(v)
    except (TypeError, ValueError):
        return None


@register("manifest")
def manifest(spec: CorpusSpec) -> Iterator[SourceClip | SourceProblem]:
    path = Path(spec.manifest).expanduser().resolve()
    base = path.parent
    for line, rec, error in read_records(path):
        where = f"{path}:{line}"
        if rec is None:
            yield SourceProblem(where, "bad_metadata", f"{where}: {error}; fix or delete the line")
            continue
        audio = rec.get("audio_path") or rec.get("path")
        if _blank(audio):
            yield SourceProblem(where, "bad_metadata", f"{where}: no `audio_path` (or `path`) column value")
            continue
        if _blank(rec.get("emotion")):
            yield SourceProblem(where, "bad_metadata", f"{where}: no `emotion` value for {audio}")
            continue
        source = Path(str(audio)).expanduser()
        source = source if source.is_absolute() else (base / source)
        meta = {k: v for k, v in rec.items() if k not in _KNOWN and not _blank(v)}
        meta.update(rec.get("meta") or {})
        speaker = rec.get("speaker")
        yield SourceClip(
            source_path=source.resolve(),
            source_label=str(rec["emotion"]).strip(),
            speaker="" if _blank(speaker) else str(speaker).strip(),
            gender=normalise_gender(rec.get("gender")),
            age=_float(rec.get("age")),
            language=None if _blank(rec.get("language")) else str(rec["language"]).strip(),
            transcription=None if _blank(t := rec.get("transcription", rec.get("text"))) else str(t).strip(),
            start_s=_float(rec.get("start_s")),
            end_s=_float(rec.get("end_s")),
            meta=meta,
        )
