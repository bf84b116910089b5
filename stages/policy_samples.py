"""Policy-samples stage: the SFT model's own answers to the train and val clips, scored by the judge, as reward-model
data (``emotionthinker.rewards.policy_data``).

    python -m stages.policy_samples --params params.yaml --data-dir data --base models/base \
        --out-dir data/rm_policy --metrics metrics/policy_samples.json

Samples ``reward_model.policy_samples.per_clip`` answers per clip of ``<data-dir>/emotioncot/{train,val}.jsonl`` from
the model at ``<base>``, at GRPO's temperature and completion length, and writes them with the judge's four scores to
``<out-dir>/{train,val}.jsonl`` (rows of kind ``policy``; the reward_model stage trains on the train rows and scores
the val rows apart). ``<metrics>`` holds their count, format rate, accuracy, the judge's means and the time taken.
``per_clip: 0`` writes empty files. Exit status 2 on unusable params or inputs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch
from pydantic import ValidationError

from emotionthinker.config import LabelsConfig, RewardModelConfig, load_yaml
from emotionthinker.model.builder import CheckpointError
from emotionthinker.records import read_jsonl, write_jsonl

log = logging.getLogger("stages.policy_samples")
SPLITS = ("train", "val")


def main(params: Path, data_dir: Path, base: Path, out_dir: Path, metrics: Path, repo_root: Path = Path(".")) -> dict:
    from emotionthinker.evaluation.evaluate import load_clips
    from emotionthinker.model import load
    from emotionthinker.rewards.policy_data import policy_rows, sample_answers, summary

    raw = load_yaml(params)
    cfg = RewardModelConfig.model_validate(raw.get("reward_model") or {}).policy_samples
    labels = LabelsConfig.from_params(raw).names
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    sources = {s: Path(data_dir) / "emotioncot" / f"{s}.jsonl" for s in SPLITS}
    missing = [str(p) for p in sources.values() if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)}: missing; run the annotate stage first (dvc repro annotate)")
    started = time.perf_counter()
    model = processor = None
    if cfg.per_clip:
        if not (Path(base) / "config.json").exists():
            raise FileNotFoundError(f"{base}: no model (config.json missing); run the sft stage first (dvc repro sft)")
        model, processor = load(base, device="auto")
    result: dict = {"per_clip": cfg.per_clip, "temperature": cfg.temperature, "max_new_tokens": cfg.max_new_tokens,
                    "splits": {}}  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, path in sources.items():
        t0 = time.perf_counter()
        samples = []
        if cfg.per_clip:
            clips = load_clips(read_jsonl(path), repo_root)
            samples = sample_answers(model, processor, clips, labels, cfg, desc=f"sampling {split}")
        rows = policy_rows(samples, labels)
        write_jsonl(out_dir / f"{split}.jsonl", rows)
        result["splits"][split] = {**summary(rows, samples), "seconds": round(time.perf_counter() - t0, 1)}
        log.info("%s: %d policy rows", split, len(rows))
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(result, indent=2) + "\n")
    return result


def format_summary(result: dict) -> list[str]:
    """A few lines for the terminal."""
    if not result["per_clip"]:
        return ["policy samples off (reward_model.policy_samples.per_clip: 0)"]
    lines = []
    for split, m in result["splits"].items():
        if not m["rows"]:
            lines.append(f"{split}: no clips")
            continue
        judge = ", ".join(f"{d.split('_')[0]} {v:.2f}" for d, v in m["judge"].items())
        lines.append(f"{split}: {m['rows']} answers of {m['clips']} clips, format {m['format_rate']:.3f}, accuracy "
                     f"{m['accuracy']:.3f}; judge {judge}; {m['seconds']:.0f} s")  # fmt: skip
    return lines


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="params with `reward_model:`")
    ap.add_argument("--data-dir", type=Path, default=Path("data"), help="folder with emotioncot/{train,val}.jsonl")
    ap.add_argument("--base", type=Path, default=Path("models/base"), help="the model to sample (the sft stage's)")
    ap.add_argument("--out-dir", type=Path, default=Path("data/rm_policy"), help="where {train,val}.jsonl go")
    ap.add_argument("--metrics", type=Path, default=Path("metrics/policy_samples.json"), help="summary (JSON)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result = main(args.params, args.data_dir, args.base, args.out_dir, args.metrics)
    except (ValidationError, ValueError, FileNotFoundError, CheckpointError) as e:
        log.error("policy_samples failed: %s", e)
        return 2
    for line in format_summary(result):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
