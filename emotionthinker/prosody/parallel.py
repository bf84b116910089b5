"""Fan prosody extraction out over Dask: a LocalCluster by default, or an existing scheduler by address.

Two passes over the corpus: the first measures each clip's median F0 on a wide range, so that the
second pass can centre every clip's pitch search on its speaker's median (pooled over the speaker's
clips). Work is sent in chunks of clips; a clip that fails comes back as an error record, never as an
exception that stops the corpus.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from emotionthinker.audio import load
from emotionthinker.config import ProsodyConfig
from emotionthinker.prosody.features import extract, speaker_f0_median

log = logging.getLogger(__name__)
SAMPLE_RATE = 16000


def _medians_chunk(rows: list[dict], cfg: ProsodyConfig) -> list[float | None]:
    out = []
    for row in rows:
        try:
            out.append(speaker_f0_median(load(row["path"], SAMPLE_RATE), SAMPLE_RATE, cfg))
        except Exception:  # noqa: BLE001 - the second pass records the error for this clip
            out.append(None)
    return out


def _features_chunk(rows: list[dict], cfg: ProsodyConfig) -> list[dict]:
    out = []
    for row in rows:
        try:
            feats = extract(
                load(row["path"], SAMPLE_RATE), SAMPLE_RATE, cfg, row.get("transcription"), row.get("language"),
                row.get("gender"), row.get("age"), row.get("speaker_median"),
            )  # fmt: skip
        except Exception as e:  # noqa: BLE001 - one bad clip is recorded, not fatal
            feats = {"status": "error", "error": f"{type(e).__name__}: {e}"}
        out.append({"utt_id": row["utt_id"], **feats})
    return out


def _run(fn: Callable, chunks: list[list[dict]], cfg: ProsodyConfig, desc: str, client) -> list:
    if client is None:  # in-process, for tiny jobs where starting workers costs more than the work
        results = [fn(c, cfg) for c in tqdm(chunks, desc=desc, unit="chunk")]
    else:
        from distributed import as_completed

        futures = client.map(fn, chunks, cfg=cfg, pure=False)
        order = {f.key: i for i, f in enumerate(futures)}
        results = [None] * len(futures)
        for fut in tqdm(as_completed(futures), total=len(futures), desc=desc, unit="chunk"):
            results[order[fut.key]] = fut.result()
    return [r for chunk in results for r in chunk]


def measure_corpus(rows: Sequence[dict], cfg: ProsodyConfig, repo_root: Path = Path(".")) -> list[dict]:
    """Feature records for manifest ``rows`` (utt_id, audio_path, speaker, gender, age, language, transcription)."""
    rows = [{**r, "path": str(Path(repo_root) / r["audio_path"])} for r in rows]
    chunks = [rows[i : i + cfg.chunk_size] for i in range(0, len(rows), cfg.chunk_size)]
    workers = cfg.workers or os.cpu_count() or 1
    client, cluster = None, None
    if cfg.dask_scheduler:
        from distributed import Client

        client = Client(cfg.dask_scheduler)
        log.info("joined Dask scheduler %s (%d workers)", cfg.dask_scheduler, len(client.scheduler_info()["workers"]))
    elif len(chunks) > 1 and workers > 1:
        from distributed import Client, LocalCluster

        # importing distributed sets its loggers to INFO: the workers' start/stop chatter, and a traceback it logs at
        # INFO when a worker's comm closes at shutdown, would fill the stage's log
        logging.getLogger("distributed").setLevel(logging.WARNING)
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        log.info("started a Dask LocalCluster with %d worker processes", workers)
    try:
        medians = _run(_medians_chunk, chunks, cfg, "prosody pass 1 (speaker F0)", client)
        per_speaker: dict[str, list[float]] = defaultdict(list)
        for row, m in zip(rows, medians, strict=True):
            if m is not None:
                per_speaker[row["speaker"]].append(m)
        for row in rows:
            values = per_speaker.get(row["speaker"])
            row["speaker_median"] = float(np.median(values)) if values else None
        features = _run(_features_chunk, chunks, cfg, "prosody pass 2 (features)", client)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    for row, feats in zip(rows, features, strict=True):
        feats["speaker_f0_median_hz"] = round(row["speaker_median"], 2) if row["speaker_median"] else None
    return features
