"""Reward-model stage: train the reasoning reward model that scores a rationale on the judge's four dimensions
(factual alignment, interpretative quality, caption completeness, fluency and structure; 1-5 each).

    python -m stages.reward_model --params params.yaml --data-dir data --out models/reward \
        --metrics metrics/reward_model.json --plot plots/reward_model.csv

Reads ``<data-dir>/rm/{train,val}.jsonl`` (the annotate stage's gold rationales and their graded degradations),
``<data-dir>/rm_policy/{train,val}.jsonl`` (the SFT model's own judged answers, from the policy_samples stage; not
read when ``reward_model.policy_samples.per_clip`` is 0) and the ``reward_model`` section of params. Writes the
model, its tokenizer and ``reward_config.json`` to ``<out>`` (``ReasoningRewardModel.from_pretrained(<out>)`` is the
GRPO reward), val metrics to ``<metrics>`` (Spearman and MAE per dimension, pairwise accuracy of gold over its
degradations, Spearman and MAE on the val policy samples under ``val.policy``, time, samples/s, parameters) and the
training curve to ``<plot>``. Checkpoints go to ``<work-dir>``: rerun the same command after a kill and it resumes
from the last one (a change of params or data starts over). Exit status 2 on unusable params or inputs.

GPU profile (params): ``reward_model: {backbone: causal-lm, path: /models/Qwen2.5-0.5B, precision: bf16}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from pathlib import Path

import torch
from pydantic import ValidationError

from emotionthinker.config import RewardModelConfig, load_yaml
from emotionthinker.judge.scoring import DIMENSIONS
from emotionthinker.model.builder import CheckpointError
from emotionthinker.records import read_jsonl
from emotionthinker.rewards.rm_training import CURVE_FIELDS, train_reward_model

log = logging.getLogger("stages.reward_model")


def read_rows(path: Path, stage: str = "annotate") -> list[dict]:
    """The rows of a data/rm or data/rm_policy file; errors name the file and the stage that writes it."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run the {stage} stage first (dvc repro {stage})")
    try:
        return read_jsonl(path)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: line {e.lineno} is not valid JSON ({e.msg})") from None


def main(params: Path, data_dir: Path, out: Path, metrics: Path, plot: Path, work_dir: Path) -> dict:
    raw = load_yaml(params)
    cfg = RewardModelConfig.model_validate(raw.get("reward_model") or {})
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    train = read_rows(Path(data_dir) / "rm" / "train.jsonl")
    val = read_rows(Path(data_dir) / "rm" / "val.jsonl")
    if cfg.policy_samples.per_clip:
        train += read_rows(Path(data_dir) / "rm_policy" / "train.jsonl", "policy_samples")
        val += read_rows(Path(data_dir) / "rm_policy" / "val.jsonl", "policy_samples")
    result, rows = train_reward_model(cfg, train, val, out, work_dir)
    for path in (metrics, plot):
        path.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(result, indent=2) + "\n")
    with plot.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CURVE_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return result


def _num(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def format_summary(result: dict) -> list[str]:
    """Val metrics per dimension, pairwise accuracy per kind, and the training figures, for the console."""
    val, tr = result["val"], result["training"]
    lines = [f"{'dimension':<24} {'spearman':>8} {'raw':>6} {'mae':>6}"]
    for d in DIMENSIONS:
        m = val["dimensions"][d]
        cells = [m.get(k) for k in ("spearman", "spearman_raw", "mae")]
        text = [f"{c:.3f}" if c is not None else "-" for c in cells]
        lines.append(f"{d:<24} {text[0]:>8} {text[1]:>6} {text[2]:>6}")
    pw = val["pairwise_accuracy"]
    lines.append(f"pairwise accuracy {pw['overall']:.3f} over {pw['pairs']} pairs (labels: "
                 f"{val['labels_pairwise_accuracy']:.3f})")  # fmt: skip
    lines += [f"  {k:<20} {v:.3f}" for k, v in pw["by_kind"].items()]
    if "policy" in val:
        p = val["policy"]
        dims = ", ".join(f"{d.split('_')[0]} {_num(m['spearman'])}" for d, m in p["dimensions"].items())
        lines.append(f"policy samples ({p['rows']}): R_t Spearman {_num(p['reward']['spearman'])}; {dims}")
    lines.append(
        f"{tr['steps']} steps in {tr['train_seconds']:.0f} s ({tr['samples_per_second']} samples/s), "
        f"{result['model']['parameters'] / 1e6:.2f}M parameters; total {result['total_seconds']:.0f} s"
    )
    return lines


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="params with `reward_model:`")
    ap.add_argument("--data-dir", type=Path, default=Path("data"), help="folder with rm/train.jsonl and rm/val.jsonl")
    ap.add_argument("--out", type=Path, default=Path("models/reward"), help="the trained reward model folder")
    ap.add_argument("--metrics", type=Path, default=Path("metrics/reward_model.json"), help="val metrics (JSON)")
    ap.add_argument("--plot", type=Path, default=Path("plots/reward_model.csv"), help="training curve (CSV)")
    ap.add_argument("--work-dir", type=Path, default=Path("checkpoints/reward_model"), help="checkpoints, to resume")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result = main(args.params, args.data_dir, args.out, args.metrics, args.plot, args.work_dir)
    except (ValidationError, ValueError, FileNotFoundError, CheckpointError) as e:
        log.error("reward_model failed: %s", e)
        return 2
    if result["val"]:
        for line in format_summary(result):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
