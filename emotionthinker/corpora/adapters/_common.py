"""Small helpers shared by the directory-layout adapters: finding files, reading text, wording problems."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from emotionthinker.config import CorpusSpec
from emotionthinker.corpora.base import SourceProblem

log = logging.getLogger(__name__)

AUDIO_EXTS: tuple[str, ...] = (".wav",)


def corpus_root(spec: CorpusSpec) -> Path:
    """The corpus folder as an absolute path; a clear error when it is not there."""
    if spec.root is None:
        raise ValueError(f"corpus '{spec.name}': format '{spec.format}' needs `root: path/to/corpus/folder`")
    root = Path(spec.root).expanduser().absolute()
    if not root.is_dir():
        raise FileNotFoundError(
            f"corpus '{spec.name}': root {root} is not a folder; fix `root` in data.corpora or fetch the corpus there"
        )
    return root


def language(spec: CorpusSpec, default: str | None) -> str | None:
    """The corpus's ``language`` override when given, else the corpus's own language."""
    return spec.language or default


def is_hidden(path: Path) -> bool:
    """Dot-files such as ``.DS_Store`` and macOS ``._name.wav`` resource forks."""
    return path.name.startswith(".")


def audio_files(folder: Path, exts: Iterable[str] = AUDIO_EXTS, recursive: bool = False) -> list[Path]:
    """Audio files in ``folder`` (or below it), sorted, without hidden files; [] when the folder is missing."""
    if not folder.is_dir():
        return []
    wanted = {e.lower() for e in exts}
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p
        for p in found
        if p.suffix.lower() in wanted
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.is_file()
    )


def first_dir(*candidates: Path) -> Path:
    """The first candidate that is a folder (the last one when none is)."""
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[-1]


def read_text(path: Path) -> str:
    """Text of a metadata file in UTF-8 (with or without BOM), UTF-16, or GB18030 (ESD's Chinese files)."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data:
        try:
            return data.decode("utf-16-le")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        log.warning("%s: not UTF-8, UTF-16 or GB18030; reading it as Latin-1", path)
        return data.decode("latin-1")


def bad_filename(path: Path, expected: str) -> SourceProblem:
    return SourceProblem(
        path,
        "bad_filename",
        f"{path}: cannot parse the file name; expected {expected}. Rename it or move it out of the corpus folder.",
    )


def missing_file(path: Path, row: str) -> SourceProblem:
    return SourceProblem(
        path,
        "missing_file",
        f"{path}: audio file not found for {row}; restore the file or remove the row from the metadata.",
    )


def bad_metadata(path: Path | str, where: str, why: str) -> SourceProblem:
    return SourceProblem(path, "bad_metadata", f"{path}: {where}: {why}; fix or remove that entry.")
