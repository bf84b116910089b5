"""GRPO stage: GRPO-PTR on the SFT model (EmotionThinker-Base), with the reasoning reward from the trained reward
model or the judge, introduced progressively and weighted by trust.

    python -m stages.grpo --params params.yaml --variant grpo_ptr --base models/base --reward-model models/reward \
        --data-dir data --out models/thinker --work-dir checkpoints/grpo_ptr --metrics metrics/grpo_ptr.json \
        --curve plots/grpo_ptr.csv

``grpo`` in params holds the shared settings and ``grpo.variants`` the ablations (each a name and the settings it
changes: plain GRPO is ``alpha_reasoning: 0``, no trust ``trust: false``, no schedule ``progressive: false``, the judge
``reasoning_reward: judge``); dvc.yaml trains one stage per variant. Writes the policy to ``<out>`` (safetensors and
processor; ``emotionthinker.model.load`` reads it), one row per logged step to ``<curve>`` (each reward component,
tau, the share of groups with tau < 1, the schedule's gate and running accuracy, outcome accuracy, KL, completion
length) and to ``<metrics>`` the training summary and a val evaluation of the policy before and after (emotion
accuracy, format rate, the judge's reasoning score). Checkpoints go to ``<work-dir>``: rerun the same command after
a kill and it resumes, the PTR schedule included.

On GPUs (bf16, DeepSpeed ZeRO-2/3 in params as ``grpo.deepspeed``):

    accelerate launch --config_file configs/accelerate/deepspeed_zero2.yaml -m stages.grpo --params params.yaml \
        --variant grpo_ptr
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import math
import shutil
import sys
import time
from pathlib import Path

import torch
from pydantic import ValidationError

from emotionthinker.config import LabelsConfig, load_yaml
from emotionthinker.config.grpo import variant_config
from emotionthinker.model import CheckpointError
from emotionthinker.records import read_jsonl

log = logging.getLogger("stages.grpo")
CURVE_FIELDS = (
    "step", "loss", "reward", "reward_std", "format", "outcome", "reasoning", "tau", "tau_below_one", "gate",
    "switched_on", "running_accuracy", "kl", "completion_length", "learning_rate", "grad_norm",
)  # fmt: skip
_LOG_KEYS = {
    "reward": "reward", "reward_std": "reward_std", "format": "ptr/format", "outcome": "ptr/outcome",
    "reasoning": "ptr/reasoning", "tau": "ptr/tau", "tau_below_one": "ptr/tau_below_one", "gate": "ptr/gate",
    "switched_on": "ptr/switched_on", "running_accuracy": "ptr/running_accuracy", "kl": "kl",
    "completion_length": "completions/mean_length", "learning_rate": "learning_rate", "grad_norm": "grad_norm",
}  # fmt: skip


def curve_rows(log_history: list[dict]) -> list[dict]:
    """One row per logged training step of TRL's log history, with the columns of ``CURVE_FIELDS``."""
    rows = []
    for h in log_history:
        if "loss" not in h or "train_runtime" in h:
            continue
        row = {"step": int(h["step"]), "loss": float(h["loss"])}
        for name, key in _LOG_KEYS.items():
            v = h.get(key)
            row[name] = round(float(v), 6) if isinstance(v, (int, float)) and math.isfinite(v) else ""
        rows.append(row)
    return rows


def val_evaluation(model_dir: Path, records: list[dict], labels: list[str], batch_size: int, max_new_tokens: int,
                   repo_root: Path) -> dict:  # fmt: skip
    """Emotion accuracy, UAR, format rate and the judge's reasoning score of the model in ``model_dir`` on
    ``records``, through the serving inference path."""
    from emotionthinker.evaluation.evaluate import answer_metrics, load_clips, reasoning_metrics
    from emotionthinker.evaluation.inference import analyse_all
    from emotionthinker.model import load
    from emotionthinker.rewards import DEFAULT_WEIGHTS, JudgeReward

    clips = load_clips(records, repo_root)
    model, processor = load(model_dir, device="auto")
    t0 = time.perf_counter()
    answers = analyse_all(model, processor, [c.samples for c in clips], labels, batch_size, max_new_tokens,
                          progress=True, desc=f"val answers of {model_dir}")  # fmt: skip
    m = answer_metrics(clips, answers, labels)
    judged = reasoning_metrics(clips, answers, JudgeReward(labels=labels), DEFAULT_WEIGHTS)
    return {
        "clips": len(clips),
        "accuracy": round(m["accuracy"], 4),
        "uar": round(m["uar"], 4),
        "format_rate": round(m["format_rate"], 4),
        "judge_overall": judged["overall"],
        "judge_reward": judged["reward"],
        "mean_new_tokens": round(m["mean_new_tokens"], 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def fingerprint(cfg, base: Path, reward_model: Path | None, train_path: Path) -> str:
    """What a resume must match: the variant's settings, the starting and reward models, the prompts and the code."""
    import emotionthinker.rewards
    import emotionthinker.training
    from emotionthinker.registry import folder_hash
    from emotionthinker.training.checkpoints import source_hash

    h = hashlib.sha1()
    h.update(cfg.model_dump_json(exclude={"threads", "eval_clips", "eval_batch_size", "logging_steps"}).encode())
    h.update(folder_hash(base).encode())
    if reward_model is not None and (reward_model / "config.json").exists():
        h.update(folder_hash(reward_model).encode())
    h.update(train_path.read_bytes())
    h.update(source_hash(emotionthinker.training, emotionthinker.rewards).encode())
    return h.hexdigest()


def _sample(records: list[dict], n: int, seed: int) -> list[dict]:
    """At most ``n`` records (0 = all), a stable choice by a hash of the id."""
    if not n or len(records) <= n:
        return records
    key = lambda r: hashlib.sha1(f"{seed}:{r['utt_id']}".encode()).hexdigest()  # noqa: E731
    return sorted(records, key=key)[:n]


def main(params: Path, variant: str, base: Path, reward_model: Path | None, data_dir: Path, out: Path, work_dir: Path,
         metrics: Path, curve: Path, repo_root: Path = Path(".")) -> dict:  # fmt: skip
    from emotionthinker.rewards import reasoning_reward
    from emotionthinker.training.checkpoints import prepare_work_dir
    from emotionthinker.training.grpo import grpo_args, grpo_dataset, train_grpo

    raw = load_yaml(params)
    cfg = variant_config(raw.get("grpo") or {}, variant)
    labels = LabelsConfig.from_params(raw).names
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if not (base / "config.json").exists():
        raise FileNotFoundError(f"{base}: no model; run the sft stage first (dvc repro sft)")
    if cfg.reasoning_reward == "model" and cfg.alpha_reasoning > 0:
        if reward_model is None or not (reward_model / "config.json").exists():
            raise FileNotFoundError(f"{reward_model}: no reward model; run the reward_model stage first (dvc repro "
                                    "reward_model), or set reasoning_reward: judge for this variant")  # fmt: skip
    train_path, val_path = (data_dir / "emotioncot" / f"{s}.jsonl" for s in ("train", "val"))
    for p in (train_path, val_path):
        if not p.exists():
            raise FileNotFoundError(f"{p}: missing; run the annotate stage first (dvc repro annotate)")
    train = grpo_dataset(read_jsonl(train_path), labels)
    val = _sample(read_jsonl(val_path), cfg.eval_clips, cfg.seed)

    if cfg.reasoning_reward == "model" and cfg.alpha_reasoning > 0:
        reward = reasoning_reward("model", path=reward_model, labels=labels)
    else:  # the judge, or plain GRPO (alpha_reasoning 0: R_t is computed for the log but weighs nothing)
        reward = reasoning_reward("judge", labels=labels)
    args = grpo_args(cfg, work_dir, repo_root, labels)
    resumed = prepare_work_dir(work_dir, fingerprint(cfg, base, reward_model, train_path))
    if resumed:
        log.info("resuming the run in %s", work_dir)
    started = time.perf_counter()
    before = val_evaluation(base, val, labels, cfg.eval_batch_size, cfg.max_completion_length, repo_root)
    log.info("%s before GRPO on %d val clips: %s", base, len(val), before)
    trainer = train_grpo(base, reward, train, args)
    trained_s = time.perf_counter() - started - before["seconds"]
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))  # weights and processor (AudioGRPOTrainer._save)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    after = val_evaluation(out, val, labels, cfg.eval_batch_size, cfg.max_completion_length, repo_root)
    log.info("%s after GRPO: %s", out, after)

    rows = curve_rows(trainer.state.log_history)
    on = trainer.ptr.schedule.switched_on_step
    result = {
        "variant": variant,
        "settings": {
            k: getattr(cfg, k)
            for k in (
                "reasoning_reward",
                "alpha_format",
                "alpha_outcome",
                "alpha_reasoning",
                "trust",
                "progressive",
                "schedule_threshold",
                "num_generations",
                "beta",
                "learning_rate",
            )
        },  # fmt: skip
        "training": {
            "steps": int(trainer.state.global_step),
            "prompts": len(train),
            # a rerun of a finished run trains nothing: its time per step is the one TRL logged when it trained
            "restored_from": trainer.restored_from,
            "train_seconds": None if trainer.restored_from else round(trained_s, 1),
            "seconds_per_step": _mean([h["step_time"] for h in trainer.state.log_history if "step_time" in h])
            if trainer.restored_from
            else round(trained_s / max(1, trainer.state.global_step), 2),  # fmt: skip
            "reasoning_switched_on_step": on,
            "final_running_accuracy": round(float(trainer.ptr.schedule.accuracy), 4)
            if math.isfinite(trainer.ptr.schedule.accuracy)
            else None,  # fmt: skip
            "share_of_steps_tau_below_one": _mean([r["tau_below_one"] for r in rows]),
        },
        "val": {"before": before, "after": after},
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    for path in (metrics, curve):
        path.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(result, indent=2) + "\n")
    with curve.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CURVE_FIELDS)
        w.writeheader()
        w.writerows(rows)
    return result


def _mean(values: list) -> float | None:
    v = [x for x in values if isinstance(x, float)]
    return round(sum(v) / len(v), 4) if v else None


def format_summary(result: dict) -> list[str]:
    b, a, t = result["val"]["before"], result["val"]["after"], result["training"]
    lines = [f"{'val':<10} {'accuracy':>9} {'UAR':>6} {'format':>7} {'judge':>6}"]
    for name, m in (("before", b), ("after", a)):
        lines.append(f"{name:<10} {m['accuracy']:>9.3f} {m['uar']:>6.3f} {m['format_rate']:>7.3f} "
                     f"{m['judge_overall']:>6.2f}")  # fmt: skip
    on = t["reasoning_switched_on_step"]
    done = (f"{t['steps']} steps restored from {t['restored_from']} (trained before, {t['seconds_per_step']} s per "
            "step)" if t.get("restored_from") else f"{t['steps']} steps in {t['train_seconds']:.0f} s")  # fmt: skip
    lines.append(f"{result['variant']}: {done}; R_t "
                 + ("never switched on" if on is None else f"switched on at step {on}"))  # fmt: skip
    return lines


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="params with `grpo:` and `data:`")
    ap.add_argument("--variant", default="grpo_ptr", help="a name in grpo.variants (its settings override grpo's)")
    ap.add_argument("--base", type=Path, default=Path("models/base"), help="the SFT model to start from")
    ap.add_argument("--reward-model", type=Path, default=Path("models/reward"), help="the trained reward model")
    ap.add_argument("--data-dir", type=Path, default=Path("data"), help="folder with emotioncot/")
    ap.add_argument("--out", type=Path, default=Path("models/thinker"), help="the trained policy")
    ap.add_argument("--work-dir", type=Path, default=Path("checkpoints/grpo_ptr"), help="checkpoints, for resuming")
    ap.add_argument("--metrics", type=Path, default=Path("metrics/grpo_ptr.json"), help="results (JSON)")
    ap.add_argument("--curve", type=Path, default=Path("plots/grpo_ptr.csv"), help="per-step log (CSV)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result = main(args.params, args.variant, args.base, args.reward_model, args.data_dir, args.out, args.work_dir,
                      args.metrics, args.curve)  # fmt: skip
    except (ValidationError, ValueError, FileNotFoundError, CheckpointError) as e:
        log.error("grpo failed: %s", e)
        return 2
    for line in format_summary(result):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
