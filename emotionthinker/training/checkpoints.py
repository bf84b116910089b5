"""Checkpoints of the training stages: keep a work folder only for the run it belongs to, find the last checkpoint,
and load its weights so that a resume really resumes; and the precision flags the three training stages share."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def source_hash(*modules) -> str:
    """SHA-1 over the source of the given modules (every .py file of a package): a resume after the code changed
    would mix two versions of the training in one model, so the work folders' fingerprints include it."""
    h = hashlib.sha1()
    for module in modules:
        root = Path(module.__file__)
        files = sorted(root.parent.rglob("*.py")) if root.name == "__init__.py" else [root]
        for f in files:
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def prepare_work_dir(work_dir: str | Path, fingerprint: str) -> bool:
    """Clear ``work_dir`` when it holds work of another fingerprint (params, data or code changed), then record
    ``fingerprint`` there; returns True when earlier work of this fingerprint is kept (a resume)."""
    work_dir = Path(work_dir)
    fp_file = work_dir / "fingerprint.json"
    kept = fp_file.exists() and json.loads(fp_file.read_text()).get("fingerprint") == fingerprint
    if work_dir.exists() and not kept and any(work_dir.iterdir()):
        logger.info("params, data or code changed since the work in %s: starting from scratch", work_dir)
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    fp_file.write_text(json.dumps({"fingerprint": fingerprint}) + "\n")
    return kept


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The ``checkpoint-N`` folder of ``output_dir`` with the largest N that holds a trainer_state.json, or None."""
    out = Path(output_dir)
    if not out.is_dir():
        return None
    found = []
    for p in out.iterdir():
        m = _CHECKPOINT.match(p.name)
        if m and p.is_dir() and (p / "trainer_state.json").exists():
            found.append((int(m.group(1)), p))
    return str(max(found)[1]) if found else None


def load_checkpoint_weights(target, folder: str | Path) -> bool:
    """Copy the weights saved in ``folder`` into ``target`` through ``from_pretrained``; False when not applicable.

    ``Trainer._load_from_checkpoint`` reads model.safetensors with a non-strict ``load_state_dict``. transformers 5
    saves Qwen2-Audio under its original key names (``language_model.model.*``), which differ from the module names
    (``model.language_model.*``), so nothing matches and a resumed run silently goes on from the initial weights.
    ``from_pretrained`` applies the key conversion; the result is copied in strictly. Returns False (the caller
    falls back to Trainer's loader) for PEFT models and folders without full safetensors weights.
    """
    from peft import PeftModel

    folder = Path(folder)
    full = (folder / "model.safetensors").exists() or (folder / "model.safetensors.index.json").exists()
    if isinstance(target, PeftModel) or not full:
        return False
    dtype = next(target.parameters()).dtype
    loaded = type(target).from_pretrained(folder, dtype=dtype, local_files_only=True)
    target.load_state_dict(loaded.state_dict(), strict=True)
    del loaded
    logger.info("loaded the model weights of %s", folder)
    return True


def precision_flags(precision: str, key: str = "sft.precision") -> dict:
    """bf16/fp16 flags for the trainer; ``auto`` is bf16 on a CUDA device that supports it, else fp32. ``key`` names
    the setting in the error."""
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    if precision != "fp32" and not torch.cuda.is_available():
        raise ValueError(f"{key}={precision} needs a CUDA device; use fp32 (or auto) on a CPU")
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}
