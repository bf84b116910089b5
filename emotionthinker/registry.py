"""The BentoML model store as the registry of served models: save a model folder atomically, and keep a pointer to
the one in production.

BentoML writes a new model by copying it into ``<home>/models/<name>/<version>/``; a kill during that copy leaves a
partial folder, and its ``latest`` tag moves to any newer version. So the model to serve is named by a pointer of our
own, ``<home>/promoted/<name>.json``, replaced atomically (write, then rename) only after the saved copy was checked
file by file against the SHA-1 manifest written with it. A journal, ``<home>/promoted/<name>.pending.json``, names the
version being saved; the next save or :func:`recover` deletes what an interrupted save left.

    from emotionthinker.registry import Registry
    reg = Registry()                             # $BENTOML_HOME or ~/bentoml
    tag = reg.save("emotionthinker", Path("models/grpo_ptr"), labels={...}, metadata={...})
    reg.promote("emotionthinker", tag, {"reason": "..."})
    reg.current("emotionthinker")                # {"tag": ..., "path": ..., "metadata": ...} or None
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

logger = logging.getLogger(__name__)

MANIFEST = "emotionthinker-manifest.json"  # sha1 per file, written inside the saved model


class RegistryError(RuntimeError):
    """The store or the promoted model is unusable (missing, or failing its manifest)."""


def default_home() -> Path:
    return Path(os.environ.get("BENTOML_HOME") or Path.home() / "bentoml")


def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-1 of every file below ``folder`` (relative POSIX paths), the manifest itself excluded."""
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            h = hashlib.sha1()
            with p.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            out[p.relative_to(folder).as_posix()] = h.hexdigest()
    return out


def folder_hash(folder: Path) -> str:
    """One SHA-1 over a model folder's files: the same weights and processor give the same hash."""
    return hashlib.sha1(json.dumps(file_hashes(folder), sort_keys=True).encode()).hexdigest()


def plain(value):
    """``value`` without None entries (BentoML metadata takes only basic types), floats rounded to 6 digits.

    >>> plain({"a": None, "b": [1.23456789, None], "c": {"d": None}})
    {'b': [1.234568], 'c': {}}
    """
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value if v is not None]
    return round(value, 6) if isinstance(value, float) else value


def _write_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


class Registry:
    """A BentoML model store and the production pointers beside it."""

    def __init__(self, home: str | Path | None = None):
        from bentoml._internal.models.model import ModelStore

        self.home = Path(home) if home else default_home()
        (self.home / "models").mkdir(parents=True, exist_ok=True)
        self.store = ModelStore(self.home / "models")

    # -- paths --------------------------------------------------------------------------------------------------------
    def _pointer(self, name: str) -> Path:
        return self.home / "promoted" / f"{name}.json"

    def _journal(self, name: str) -> Path:
        return self.home / "promoted" / f"{name}.pending.json"

    def _model_dir(self, tag: str) -> Path:
        name, version = tag.split(":", 1)
        return self.home / "models" / name / version

    # -- saving -------------------------------------------------------------------------------------------------------
    def recover(self, name: str) -> list[str]:
        """Delete what an interrupted save of ``name`` left (its partial version folder); returns the tags removed."""
        journal = self._journal(name)
        if not journal.exists():
            return []
        tag = json.loads(journal.read_text())["tag"]
        removed = []
        folder = self._model_dir(tag)
        if folder.exists() and not self.verify(tag):
            shutil.rmtree(folder)
            removed.append(tag)
            logger.warning("removed %s, left half-written by an interrupted save", tag)
            latest = folder.parent / "latest"
            if latest.exists() and latest.read_text().strip() == tag.split(":", 1)[1]:
                latest.unlink()  # BentoML's own pointer to it
        journal.unlink()
        return removed

    def save(self, name: str, folder: Path, labels: dict | None = None, metadata: dict | None = None) -> str:
        """Copy the model folder into the store as a new version of ``name``; returns its tag ``name:version``.

        The copy is complete and checked against its manifest when this returns; if it is interrupted, the version
        is not promoted and the next save (or :meth:`recover`) deletes it."""
        import bentoml
        from bentoml._internal.tag import Tag

        folder = Path(folder)
        if not (folder / "config.json").exists():
            raise RegistryError(f"{folder}: not a model folder (no config.json)")
        self.recover(name)
        tag = str(Tag(name).make_new_version())
        _write_atomic(self._journal(name), {"tag": tag, "started": time.time()})
        hashes = file_hashes(folder)
        labels, metadata = plain(labels or {}), plain(metadata or {})
        with bentoml.models.create(tag, labels=labels, metadata=metadata, _model_store=self.store) as m:
            shutil.copytree(folder, m.path, dirs_exist_ok=True)
            (Path(m.path) / MANIFEST).write_text(json.dumps(hashes, indent=1) + "\n")
        if not self.verify(tag):
            raise RegistryError(f"{tag}: the saved copy does not match {folder}; it was not promoted")
        self._journal(name).unlink()
        logger.info("saved %s (%d files) to %s", tag, len(hashes), self.home / "models")
        return tag

    def verify(self, tag: str) -> bool:
        """True when the version folder holds every file of its manifest with the recorded SHA-1."""
        folder = self._model_dir(tag)
        manifest = folder / MANIFEST
        if not manifest.exists():
            return False
        expected = json.loads(manifest.read_text())
        actual = {k: v for k, v in file_hashes(folder).items() if k in expected}
        return actual == expected

    # -- production pointer -------------------------------------------------------------------------------------------
    def promote(self, name: str, tag: str, record: dict | None = None) -> None:
        """Make ``tag`` the model served as ``name`` (an atomic replace of the pointer)."""
        if not self.verify(tag):
            raise RegistryError(f"{tag}: missing or incomplete in {self.home / 'models'}; save it before promoting")
        _write_atomic(self._pointer(name), {"tag": tag, "promoted_at": time.time(), **(record or {})})
        logger.info("promoted %s as %s", tag, name)

    def current(self, name: str) -> dict | None:
        """The promoted model of ``name``: pointer record, ``path`` (its files) and ``metadata``; None when none is."""
        import bentoml

        pointer = self._pointer(name)
        if not pointer.exists():
            return None
        record = json.loads(pointer.read_text())
        tag = record["tag"]
        if not self.verify(tag):
            raise RegistryError(f"{tag}, promoted as {name}, is missing or incomplete in {self.home / 'models'}")
        model = bentoml.models.get(tag, _model_store=self.store)
        return {**record, "path": str(model.path), "metadata": dict(model.info.metadata),
                "labels": dict(model.info.labels)}  # fmt: skip
