"""What the corpora on disk look like now, as one hash: scheduled retraining compares it with the last ingest's.

DVC tracks the ingest stage's code and params, not the user's corpus folders (they live outside the repository), so
new or changed clips would not rerun anything. ``sources_fingerprint`` hashes, per corpus, every file's relative path,
size and modification time under its root (for a manifest corpus: the manifest's bytes and the files beside it); the
ingest stage records it in ``metrics/ingest.json`` and ``flows/retrain.py`` forces a new ingest when it differs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from emotionthinker.config.data import DataConfig


def _walk(root: Path, h) -> int:
    n = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            try:
                st = p.stat()
            except OSError:
                continue
            h.update(f"{p.relative_to(root).as_posix()}\0{st.st_size}\0{int(st.st_mtime)}\n".encode())
            n += 1
    return n


def sources_fingerprint(cfg: DataConfig, repo_root: Path = Path(".")) -> dict:
    """``{"sha1": ..., "files": {corpus: n}}`` over the corpora's files; synthetic corpora count by their options
    (they are rendered from them, so the params are their source)."""
    h = hashlib.sha1()
    files = {}
    for c in cfg.corpora:
        h.update(f"corpus {c.name} {c.format}\n".encode())
        if c.format == "synthetic":
            h.update(repr(sorted(c.options.items())).encode())
            files[c.name] = 0
            continue
        if c.format == "manifest":
            manifest = c.manifest if c.manifest.is_absolute() else repo_root / c.manifest
            h.update(manifest.read_bytes() if manifest.exists() else b"missing")
            root = manifest.parent
        else:
            root = c.root if c.root.is_absolute() else repo_root / c.root
        files[c.name] = _walk(root, h) if root.exists() else 0
    return {"sha1": h.hexdigest(), "files": files}
