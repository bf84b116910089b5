"""Evaluate stage: every candidate model on the test split through the serving inference path, beside a classical
baseline, into one leaderboard.

    python -m stages.evaluate --params params.yaml --data-dir data --reward-model models/reward \
        --metrics metrics/eval.json --report reports/leaderboard.md --plots-dir plots --answers-dir reports/answers

Candidates are ``evaluate.candidates`` in params ({name, path}). For each: accuracy, UAR and macro-F1 (overall, per
corpus, per emotion), the confusion matrix (``<plots-dir>/confusion_<name>.png`` and ``.csv``), format compliance,
reasoning quality on the four dimensions from the judge and from the reward model, answer-reasoning consistency,
prosody-perception accuracy on the split's prosody questions, latency per clip and tokens per second. The baseline is
logistic regression on prosodic and MFCC statistics, trained on train. Every answer goes to
``<answers-dir>/<name>.jsonl``. ``dvc metrics diff`` and ``dvc plots diff`` compare runs. Exit status 2 on unusable
params or inputs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from emotionthinker.config import LabelsConfig, load_yaml
from emotionthinker.config.evaluate import EvaluateConfig
from emotionthinker.model import CheckpointError
from emotionthinker.records import read_jsonl

log = logging.getLogger("stages.evaluate")


def _read(path: Path, stage: str) -> list[dict]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run the {stage} stage first (dvc repro {stage})")
    return read_jsonl(path)


def split_fingerprint(clips, labels) -> str:
    """SHA-1 of the clips' ids and gold labels and the label set: metrics are comparable when it matches."""
    key = json.dumps([sorted((c.utt_id, c.emotion) for c in clips), list(labels)])
    return hashlib.sha1(key.encode()).hexdigest()


def main(params: Path, data_dir: Path, reward_model: Path | None, metrics: Path, report: Path, plots_dir: Path,
         answers_dir: Path, repo_root: Path = Path(".")) -> dict:  # fmt: skip
    from emotionthinker.evaluation.baseline import clip_vector
    from emotionthinker.evaluation.evaluate import baseline_metrics, evaluate_model, load_clips, summary_row
    from emotionthinker.evaluation.metrics import confusion
    from emotionthinker.evaluation.report import leaderboard, plot_confusion, write_confusion_csv
    from emotionthinker.model import load
    from emotionthinker.rewards import DEFAULT_WEIGHTS, JudgeReward, ReasoningRewardModel
    from emotionthinker.training.data import cap_per_task, sft_examples

    raw = load_yaml(params)
    cfg = EvaluateConfig.model_validate(raw.get("evaluate") or {})
    labels = LabelsConfig.from_params(raw).names
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    missing = [f"{c.name}: {c.path}" for c in cfg.candidates if not (repo_root / c.path / "config.json").exists()]
    if missing:
        raise FileNotFoundError(f"candidate model folder(s) without config.json: {', '.join(missing)}; train them "
                                "first (dvc repro) or remove them from evaluate.candidates")  # fmt: skip
    records = _read(data_dir / "emotioncot" / f"{cfg.split}.jsonl", "annotate")
    clips = load_clips(records, repo_root)
    tasks = [r for t in cfg.prosody_tasks if (data_dir / "sft_tasks" / f"{t}.jsonl").exists()
             for r in read_jsonl(data_dir / "sft_tasks" / f"{t}.jsonl")]  # fmt: skip
    task_examples = cap_per_task(sft_examples(tasks, [], labels, "prosody", split=cfg.split), cfg.max_per_task)

    scorers = {"judge": JudgeReward(labels=labels)}
    weights = list(DEFAULT_WEIGHTS)
    if reward_model is not None:
        rm = ReasoningRewardModel.from_pretrained(reward_model)
        scorers["rm"], weights = rm, list(rm.weights)

    result: dict = {
        "data": {"split": cfg.split, "clips": len(clips), "corpora": len({c.corpus for c in clips}),
                 "fingerprint": split_fingerprint(clips, labels),
                 "speakers": len({c.speaker for c in clips}), "prosody_questions": len(task_examples)},
        "settings": {"temperature": cfg.temperature, "max_new_tokens": cfg.max_new_tokens,
                     "batch_size": cfg.batch_size, "device": "cuda" if torch.cuda.is_available() else "cpu"},
        "candidates": {},
    }  # fmt: skip
    answers_dir.mkdir(parents=True, exist_ok=True)
    gold = [c.emotion for c in clips]
    for cand in cfg.candidates:
        log.info("evaluating %s (%s)", cand.name, cand.path)
        model, processor = load(repo_root / cand.path, device="auto")
        m, answers = evaluate_model(model, processor, clips, labels, task_examples, scorers, weights, cfg.batch_size,
                                    cfg.max_new_tokens, cfg.temperature, repo_root, cand.name)  # fmt: skip
        m["path"] = str(cand.path)
        result["candidates"][cand.name] = {"summary": summary_row(m), "details": m}
        with (answers_dir / f"{cand.name}.jsonl").open("w") as f:
            for c, a in zip(clips, answers, strict=True):
                f.write(json.dumps({"utt_id": c.utt_id, "gold": c.emotion, **a.to_dict()}) + "\n")
        write_confusion_csv(plots_dir / f"confusion_{cand.name}.csv", gold, [a.emotion for a in answers])
        plot_confusion(plots_dir / f"confusion_{cand.name}.png", m["confusion"],
                       f"{cand.name}: UAR {m['uar']:.3f}, accuracy {m['accuracy']:.3f}")  # fmt: skip
        del model

    # the classical reference, on the same clips
    features = {f["utt_id"]: f for f in _read(data_dir / "features.jsonl", "prosody")}
    train = [r for r in _read(data_dir / "manifest.jsonl", "ingest") if r["split"] == "train"]
    from emotionthinker.audio import load as load_audio

    train_X = np.stack([clip_vector(features.get(r["utt_id"]), load_audio(repo_root / r["audio_path"]), 16000)
                        for r in train])  # fmt: skip
    test_X = np.stack([clip_vector(features.get(c.utt_id), c.samples, 16000) for c in clips])
    base, pred = baseline_metrics(train_X, [r["emotion"] for r in train], clips, test_X, cfg.baseline_c)
    result["baseline"] = {k: base[k] for k in ("accuracy", "uar", "macro_f1", "per_emotion", "per_corpus")}
    write_confusion_csv(plots_dir / "confusion_baseline.csv", gold, pred)
    plot_confusion(plots_dir / "confusion_baseline.png", confusion(gold, pred, labels),
                   f"baseline: UAR {base['uar']:.3f}, accuracy {base['accuracy']:.3f}")  # fmt: skip

    for path in (metrics, report):
        path.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(result, indent=2) + "\n")
    report.write_text(leaderboard(result, plots_dir.name))
    return result


def format_summary(result: dict) -> list[str]:
    """One line per candidate and the baseline, for the console."""
    lines = [f"{'model':<12} {'acc':>6} {'UAR':>6} {'F1':>6} {'format':>7} {'judge':>6} {'ms/clip':>8}"]
    rows = {**{n: c["summary"] for n, c in result["candidates"].items()}, "baseline": result["baseline"]}
    for name, s in rows.items():
        fmt, judge, ms = s.get("format_rate"), s.get("judge_overall"), s.get("ms_per_clip")
        lines.append(f"{name:<12} {s['accuracy']:>6.3f} {s['uar']:>6.3f} {s['macro_f1']:>6.3f} "
                     f"{'-' if fmt is None else f'{fmt:.3f}':>7} {'-' if judge is None else f'{judge:.2f}':>6} "
                     f"{'-' if ms is None else f'{ms:.0f}':>8}")  # fmt: skip
    return lines


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="params with `evaluate:` and `data:`")
    ap.add_argument("--data-dir", type=Path, default=Path("data"), help="folder with emotioncot/, sft_tasks/, ...")
    ap.add_argument("--reward-model", type=Path, default=None, help="reward model folder (else judge only)")
    ap.add_argument("--metrics", type=Path, default=Path("metrics/eval.json"), help="all metrics (JSON)")
    ap.add_argument("--report", type=Path, default=Path("reports/leaderboard.md"), help="the leaderboard (Markdown)")
    ap.add_argument("--plots-dir", type=Path, default=Path("plots"), help="confusion matrices (PNG and CSV)")
    ap.add_argument("--answers-dir", type=Path, default=Path("reports/answers"), help="every answer, per candidate")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result = main(args.params, args.data_dir, args.reward_model, args.metrics, args.report, args.plots_dir,
                      args.answers_dir)  # fmt: skip
    except (ValidationError, ValueError, FileNotFoundError, CheckpointError) as e:
        log.error("evaluate failed: %s", e)
        return 2
    for line in format_summary(result):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
