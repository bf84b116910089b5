"""Ingest stage: corpora in params ``data`` -> normalised audio, manifest, quarantine, metrics.

Run through DVC (``dvc repro ingest``) or directly::

    python -m stages.ingest --params params.yaml --out-dir data --metrics metrics/ingest.json

Writes ``<out-dir>/manifest.jsonl``, ``<out-dir>/quarantine.jsonl``, ``<out-dir>/audio/<corpus>/*.wav`` and,
for the synthetic corpus, its renderings under ``<out-dir>/synth/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from emotionthinker.config import DataConfig, load_yaml
from emotionthinker.corpora.ingest import IngestError, ingest
from emotionthinker.corpora.sources import sources_fingerprint
from emotionthinker.records import write_jsonl

log = logging.getLogger("stages.ingest")


def load_config(params: Path, out_dir: Path) -> DataConfig:
    raw = load_yaml(params).get("data")
    if raw is None:
        raise ValueError(f"{params}: no `data:` section; see README 'Pointing the pipeline at your corpora'")
    cfg = DataConfig.model_validate(raw)
    # the synthetic corpus renders into the stage's own output folder, whatever the params say
    corpora = [
        c.model_copy(update={"options": {**c.options, "out_dir": str(out_dir / "synth")}})
        if c.format == "synthetic"
        else c
        for c in cfg.corpora
    ]
    return cfg.model_copy(update={"corpora": corpora})


def main(
    params: Path = Path("params.yaml"), out_dir: Path = Path("data"), metrics: Path = Path("metrics/ingest.json")
) -> dict:
    cfg = load_config(params, out_dir)
    result = ingest(cfg, audio_dir=out_dir / "audio", repo_root=Path.cwd())
    write_jsonl(out_dir / "manifest.jsonl", result.manifest)
    write_jsonl(out_dir / "quarantine.jsonl", result.quarantine)
    (out_dir / "synth").mkdir(parents=True, exist_ok=True)  # a declared output, empty without a synthetic corpus
    # what the corpora on disk looked like, so that scheduled retraining can tell when they change (flows/retrain.py)
    result.metrics["sources"] = sources_fingerprint(cfg, Path.cwd())
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(result.metrics, indent=2) + "\n")
    m = result.metrics
    log.info(
        "%d clips (%.2f h) in %s; %d quarantined %s",
        m["clips"], m["hours"], m["split"], m["quarantined"], m["quarantined_by_reason"] or "",
    )  # fmt: skip
    return m


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file with a `data:` section")
    ap.add_argument("--out-dir", type=Path, default=Path("data"), help="folder for the manifest and audio")
    ap.add_argument("--metrics", type=Path, default=Path("metrics/ingest.json"), help="metrics JSON to write")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        main(args.params, args.out_dir, args.metrics)
    except (ValidationError, ValueError, FileNotFoundError, IngestError) as e:
        log.error("ingest failed: %s", e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli())
