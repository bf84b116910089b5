"""Validate stage: Great Expectations suites over the manifest, audio, features, labels, EmotionCoT records, SFT
tasks and reward-model data.

    python -m stages.validate --params params.yaml --data-dir data --gx-dir gx \
        --report-dir reports/validation --metrics metrics/validation.json

Writes Data Docs (HTML) into ``<report-dir>`` and, as metrics, per suite the expectations evaluated, passed and
failed with a few failing rows each. Exit status: 0 when no critical expectation failed (warnings are reported
only), 1 when one did, 2 when the params or inputs are unusable. Audio paths resolve against ``--root``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from great_expectations.exceptions import GreatExpectationsError
from pydantic import ValidationError

from emotionthinker.config import AudioLimits, LabelsConfig, ValidateConfig, load_yaml
from emotionthinker.validation import build_suites, format_summary, load_inputs, run_suites, summarise

log = logging.getLogger("stages.validate")


def main(
    params: Path,
    data_dir: Path,
    gx_dir: Path,
    report_dir: Path,
    metrics: Path,
    root: Path | None = None,
) -> dict:
    start = time.perf_counter()
    metrics = Path(metrics)
    raw = load_yaml(params)
    cfg = ValidateConfig.model_validate(raw.get("validate") or {})
    data = raw.get("data") or {}
    labels_cfg = LabelsConfig.model_validate(data.get("labels") or {})
    audio = AudioLimits.model_validate(data.get("audio") or {})
    labels = labels_cfg.names
    inputs = load_inputs(data_dir)
    suites = build_suites(inputs, cfg, labels, audio, Path(root) if root else Path.cwd())
    results = run_suites(suites, gx_dir, report_dir, cfg.sample_rows)
    summary = summarise(results, suites, cfg.sample_rows)
    summary["data_docs"] = str(Path(report_dir) / "index.html")
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(summary, indent=2) + "\n")
    log.info("validated %d suites in %.1f s", len(suites), time.perf_counter() - start)
    return summary


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="params with `validate:` and `data:`")
    ap.add_argument("--data-dir", type=Path, default=Path("data"), help="folder of the pipeline's data files")
    ap.add_argument("--gx-dir", type=Path, default=Path("gx"), help="Great Expectations file context")
    ap.add_argument("--report-dir", type=Path, default=Path("reports/validation"), help="Data Docs site (HTML)")
    ap.add_argument("--metrics", type=Path, default=Path("metrics/validation.json"), help="summary (JSON)")
    ap.add_argument("--root", type=Path, default=None, help="folder audio paths are relative to (default: cwd)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # config-saving chatter
    try:
        summary = main(args.params, args.data_dir, args.gx_dir, args.report_dir, args.metrics, args.root)
    except (ValidationError, ValueError, FileNotFoundError, GreatExpectationsError) as e:
        log.error("validate failed: %s", e)
        return 2
    for line in format_summary(summary, summary.get("data_docs")):
        print(line)
    return 0 if summary["success"] else 1


if __name__ == "__main__":
    sys.exit(cli())
