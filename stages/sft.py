"""SFT stage: EmotionThinker-Base. Phase 1 trains prosody perception on the SFT tasks, phase 2 is a cold start on
EmotionCoT; the model is evaluated on val before, between and after, beside the majority class.

    python -m stages.sft --params params.yaml --data-dir data --out models/base --work-dir checkpoints/sft \
        --metrics metrics/sft.json --curve plots/sft.csv --plot plots/sft_eval.png

Writes the model and processor to ``<out>`` (safetensors; ``emotionthinker.model.load`` and the Auto classes read
it), results to ``<metrics>``, the training curve (one row per logged step of both phases) to ``<curve>`` and a
chart of the evaluation to ``<plot>``. Checkpoints go to ``<work-dir>``: rerun the same command after a kill and it
resumes from the last one (a change of params or data starts over).

On GPUs, run it under accelerate, with DeepSpeed set in params (``sft.deepspeed: configs/deepspeed/zero2.json``):

    accelerate launch --config_file configs/accelerate/deepspeed_zero2.yaml -m stages.sft --params params.yaml
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from emotionthinker.config import LabelsConfig, ModelConfig, SFTConfig, load_yaml
from emotionthinker.evaluation.metrics import wilson_interval
from emotionthinker.model import CheckpointError
from emotionthinker.training.plots import plot_sft_eval
from emotionthinker.training.run import run_sft

log = logging.getLogger("stages.sft")
CURVE_FIELDS = ("phase", "step", "epoch", "loss", "learning_rate", "grad_norm", "token_accuracy")


def main(
    params: Path,
    data_dir: Path,
    out: Path,
    work_dir: Path,
    metrics: Path,
    curve: Path,
    plot: Path,
    samples: Path | None = None,
) -> dict:
    raw = load_yaml(params)
    cfg = SFTConfig.model_validate(raw.get("sft") or {})
    model_cfg = ModelConfig.model_validate(raw.get("model") or {})
    labels = LabelsConfig.from_params(raw).names
    result, rows, preds = run_sft(cfg, model_cfg, labels, data_dir, out, work_dir, repo_root=Path.cwd())
    add_intervals(result["eval"])
    result["work_seconds"] = work_seconds(result)
    for path in (metrics, curve, plot):
        path.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(result, indent=2) + "\n")
    with curve.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CURVE_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    plot_sft_eval(result["eval"], plot)
    if samples is not None:
        samples.parent.mkdir(parents=True, exist_ok=True)
        samples.write_text("".join(json.dumps(p) + "\n" for p in preds))
    return result


ACCURACIES = ("accuracy", "emotion_accuracy")  # right-or-wrong per clip: these get a binomial interval
TRAINED = ("after_prosody", "after_cold_start")


def add_intervals(table: dict) -> dict:
    """Give each accuracy row of the evaluation table ``ci95``: the Wilson interval of the trained models' figures
    on its ``n`` val clips, so that a reader sees which differences one val set can tell apart."""
    for row in table.values():
        if row["metric"] in ACCURACIES:
            row["ci95"] = {k: [round(v, 4) for v in wilson_interval(row[k], row["n"])] for k in TRAINED if k in row}
    return table


def work_seconds(result: dict) -> float:
    """The time the SFT work took, whichever calls did it: the warm-up, each phase's training and each evaluation,
    as timed when they ran. ``total_seconds`` is this call's alone, 2 s for a rerun that reuses everything."""
    parts = [(result.get("audio_warmup") or {}).get("seconds") or 0.0]
    parts += [p["train_seconds"] for p in result["phases"].values()]
    parts += list(result["eval_seconds"].values())
    return round(sum(parts), 1)


def format_summary(result: dict) -> list[str]:
    """The evaluation table, one line per task, for the console."""
    lines = [f"{'task':<12} {'metric':<17} {'before':>7} {'prosody':>8} {'final':>7} {'majority':>9}  final 95% CI"]
    for task, row in result["eval"].items():
        cells = [row.get(k) for k in ("before", "after_prosody", "after_cold_start", "majority")]
        text = [f"{c:.3f}" if c is not None else "-" for c in cells]
        ci = (row.get("ci95") or {}).get("after_cold_start")
        text.append(f"{ci[0]:.3f}-{ci[1]:.3f} (n {row['n']})" if ci else "")
        lines.append(f"{task:<12} {row['metric']:<17} {text[0]:>7} {text[1]:>8} {text[2]:>7} {text[3]:>9}  {text[4]}")
        if "format_rate" in row:
            lines.append(f"{'':<12} {'format_rate':<17} {'':>7} {'':>8} {row['format_rate']:>7.3f}")
    phases = result["phases"]
    lines.append(
        "trained "
        + ", ".join(f"{k} {v['steps']} steps in {v['train_seconds']:.0f} s" for k, v in phases.items())
        + f"; the work took {result['work_seconds']:.0f} s, this call {result['total_seconds']:.0f} s"
    )
    return lines


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="params with `sft:`, `model:`, `data:`")
    ap.add_argument("--data-dir", type=Path, default=Path("data"), help="folder with sft_tasks/ and emotioncot/")
    ap.add_argument("--out", type=Path, default=Path("models/base"), help="the trained model (save_pretrained)")
    ap.add_argument("--work-dir", type=Path, default=Path("checkpoints/sft"), help="checkpoints, for resuming")
    ap.add_argument("--metrics", type=Path, default=Path("metrics/sft.json"), help="results (JSON)")
    ap.add_argument("--curve", type=Path, default=Path("plots/sft.csv"), help="training curve (CSV)")
    ap.add_argument("--plot", type=Path, default=Path("plots/sft_eval.png"), help="evaluation chart (PNG)")
    ap.add_argument("--samples", type=Path, default=None, help="write sample generations here (JSONL)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result = main(args.params, args.data_dir, args.out, args.work_dir, args.metrics, args.curve, args.plot,
                      args.samples)  # fmt: skip
    except (ValidationError, ValueError, FileNotFoundError, CheckpointError) as e:
        log.error("sft failed: %s", e)
        return 2
    for line in format_summary(result):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
