"""Prosody stage: measure every clip of the manifest, calibrate levels, and label each clip.

    python -m stages.prosody --params params.yaml --manifest data/manifest.jsonl --out-dir data \
        --metrics metrics/prosody.json --plot plots/calibration.png

Writes ``<out-dir>/features.jsonl`` (physical units), ``<out-dir>/thresholds.json`` (the level cuts per
group) and ``<out-dir>/labels.jsonl`` (levels, contour, stress, speaker traits), a calibration report
as metrics, and a plot of it. Extraction fans out with Dask (``prosody.dask_scheduler`` to join a
cluster).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from emotionthinker.config import ProsodyConfig, load_yaml
from emotionthinker.prosody import labels as make_labels
from emotionthinker.prosody.calibrate import fit_thresholds, report
from emotionthinker.prosody.parallel import measure_corpus
from emotionthinker.prosody.plots import plot_calibration
from emotionthinker.prosody.stress import stress_agreement
from emotionthinker.records import read_jsonl, write_jsonl

log = logging.getLogger("stages.prosody")


def main(params: Path, manifest: Path, out_dir: Path, metrics: Path, plot: Path) -> dict:
    cfg = ProsodyConfig.model_validate(load_yaml(params).get("prosody") or {})
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest}: no manifest; run the ingest stage first (dvc repro ingest)")
    rows = read_jsonl(manifest)
    features = measure_corpus(rows, cfg, repo_root=Path.cwd())
    by_id = {r["utt_id"]: r for r in rows}
    for f in features:
        f["corpus"] = by_id[f["utt_id"]]["corpus"]
    thresholds = fit_thresholds(
        [f for f in features if f.get("status") != "error"], cfg.level_percentiles, cfg.min_group
    )
    labelled = [make_labels(f, by_id[f["utt_id"]], thresholds) for f in features]
    rep = report(labelled, features, thresholds)
    # where the corpus knows its emphasised words (the synthetic one does), score the detector on them
    known = [(f.get("stressed_words") or [], by_id[f["utt_id"]]["meta"]["emphasis"]) for f in features
             if (by_id[f["utt_id"]].get("meta") or {}).get("emphasis") and f.get("status") == "ok"]  # fmt: skip
    rep["stress_vs_known"] = stress_agreement(known)
    rep["errors"] = [{"utt_id": f["utt_id"], "error": f["error"]} for f in features if f.get("status") == "error"]
    write_jsonl(out_dir / "features.jsonl", features)
    write_jsonl(out_dir / "labels.jsonl", labelled)
    (out_dir / "thresholds.json").write_text(json.dumps(thresholds, indent=2) + "\n")
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(rep, indent=2) + "\n")
    plot_calibration(features, labelled, plot)
    log.info(
        "measured %d clips (%d errors); status %s", len(features), len(rep["errors"]), rep["label_counts"]["status"]
    )
    return rep


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file with a `prosody:` section")
    ap.add_argument("--manifest", type=Path, default=Path("data/manifest.jsonl"), help="the ingest stage's manifest")
    ap.add_argument("--out-dir", type=Path, default=Path("data"), help="folder for features, thresholds and labels")
    ap.add_argument("--metrics", type=Path, default=Path("metrics/prosody.json"), help="calibration report (JSON)")
    ap.add_argument("--plot", type=Path, default=Path("plots/calibration.png"), help="calibration plot (PNG)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        main(args.params, args.manifest, args.out_dir, args.metrics, args.plot)
    except (ValidationError, ValueError, FileNotFoundError) as e:
        log.error("prosody failed: %s", e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli())
