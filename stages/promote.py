"""Promote stage: the best evaluated candidate goes to the BentoML model store and becomes the served model, if it
passes the gates and is no worse than the model in production.

    python -m stages.promote --params params.yaml --eval metrics/eval.json --metrics metrics/promote.json

Candidates are ranked by ``promote.metric`` (default UAR; the judge's reasoning score breaks ties). A candidate must
answer in the <think>/<answer> format at least ``promote.min_format_rate`` of the time. The winner is compared with
the model in production on the same test clips (its recorded metrics when they were measured on this test split,
else it is evaluated again here) and promoted unless it trails by more than ``promote.tolerance``. The model is
saved with labels (candidate, metric) and metadata (git revision, params hash, metrics, label set, the prosody level
thresholds, test split fingerprint, weights hash); the served model changes only once the saved copy is complete and
checked. When the candidate loses, the model in production stays and ``metrics/promote.json`` says why.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from emotionthinker.config import LabelsConfig, load_yaml
from emotionthinker.config.evaluate import EvaluateConfig, PromoteConfig

log = logging.getLogger("stages.promote")


def git_revision(repo_root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def incumbent_score(incumbent: dict, metric: str, evaluation: dict, raw: dict, repo_root: Path) -> tuple[float, str]:
    """The production model's ``metric`` on the current test clips: recorded, or measured again here."""
    meta = incumbent.get("metadata") or {}
    if meta.get("test_fingerprint") == evaluation["data"].get("fingerprint") and metric in (meta.get("metrics") or {}):
        return float(meta["metrics"][metric]), "recorded on this test split"
    from emotionthinker.evaluation.evaluate import evaluate_model, load_clips, summary_row
    from emotionthinker.model import load
    from emotionthinker.records import read_jsonl
    from emotionthinker.rewards import DEFAULT_WEIGHTS, JudgeReward, ReasoningRewardModel

    ecfg = EvaluateConfig.model_validate(raw.get("evaluate") or {})
    labels = LabelsConfig.from_params(raw).names
    clips = load_clips(read_jsonl(repo_root / "data" / "emotioncot" / f"{ecfg.split}.jsonl"), repo_root)
    scorers, weights = {"judge": JudgeReward(labels=labels)}, list(DEFAULT_WEIGHTS)
    if metric == "rm_overall":
        scorers["rm"] = ReasoningRewardModel.from_pretrained(repo_root / "models" / "reward")
    model, processor = load(Path(incumbent["path"]), device="auto")
    m, _ = evaluate_model(model, processor, clips, labels, [], scorers, weights, ecfg.batch_size, ecfg.max_new_tokens,
                          ecfg.temperature, repo_root, name=incumbent["tag"])  # fmt: skip
    return float(summary_row(m)[metric]), "evaluated again on this test split"


def main(params: Path, eval_metrics: Path, metrics: Path, repo_root: Path = Path(".")) -> dict:
    from emotionthinker.evaluation.promotion import decide, ranking
    from emotionthinker.registry import Registry, folder_hash

    raw = load_yaml(params)
    cfg = PromoteConfig.model_validate(raw.get("promote") or {})
    if not eval_metrics.exists():
        raise FileNotFoundError(f"{eval_metrics}: missing; run the evaluate stage first (dvc repro evaluate)")
    evaluation = json.loads(eval_metrics.read_text())
    registry = Registry(cfg.store)
    recovered = registry.recover(cfg.model_name)
    summaries = {n: c["summary"] for n, c in evaluation["candidates"].items()}
    order, rejected = ranking(summaries, cfg.metric, cfg.min_format_rate)
    incumbent = registry.current(cfg.model_name)
    result: dict = {
        "metric": cfg.metric,
        "store": str(registry.home),
        "ranking": [{"candidate": n, cfg.metric: summaries[n][cfg.metric]} for n in order],
        "rejected": rejected,
        "incumbent": incumbent and {"tag": incumbent["tag"], "candidate": incumbent["labels"].get("candidate")},
        "recovered_interrupted_saves": recovered,
    }
    if not order:
        result.update(decision="kept", reason="no candidate passed the gates: " + "; ".join(
            f"{n}: {why}" for n, why in rejected.items()), served=incumbent and incumbent["tag"])  # fmt: skip
        return _write(metrics, result)
    winner = order[0]
    path = repo_root / evaluation["candidates"][winner]["details"]["path"]
    model_hash = folder_hash(path)
    score = float(summaries[winner][cfg.metric])
    result["winner"] = {"candidate": winner, "path": str(path.relative_to(repo_root)), cfg.metric: score}
    if incumbent and (incumbent.get("metadata") or {}).get("model_hash") == model_hash:
        result.update(decision="unchanged", reason=f"{winner} is the model in production already",
                      served=incumbent["tag"])  # fmt: skip
        return _write(metrics, result)
    inc, how = incumbent_score(incumbent, cfg.metric, evaluation, raw, repo_root) if incumbent else (None, "")
    if incumbent:
        result["incumbent"].update({cfg.metric: inc, "measured": how})
    d = decide(score, inc, cfg.tolerance, cfg.metric)
    if not d.promote:
        result.update(decision="kept", reason=d.reason, served=incumbent["tag"])
        return _write(metrics, result)
    label_set = LabelsConfig.from_params(raw).names
    summary = {k: v for k, v in summaries[winner].items() if not isinstance(v, dict)}
    metadata = {
        "candidate": winner,
        "metrics": summary,
        "labels": label_set,
        "max_new_tokens": evaluation["settings"]["max_new_tokens"],
        # the prosody stage's level cuts, so that the service reports levels as the training data had them
        "thresholds": _thresholds(repo_root / "data" / "thresholds.json"),
        "test_fingerprint": evaluation["data"].get("fingerprint"),
        "model_hash": model_hash,
        "git_revision": git_revision(repo_root),
        "params_sha1": hashlib.sha1(params.read_bytes()).hexdigest(),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tag = registry.save(cfg.model_name, path, labels={"candidate": winner, "metric": cfg.metric,
                                                      "value": f"{score:.4f}"}, metadata=metadata)  # fmt: skip
    registry.promote(cfg.model_name, tag, {"candidate": winner, "reason": d.reason})
    result.update(decision="promoted", reason=d.reason, served=tag)
    return _write(metrics, result)


def _thresholds(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _write(path: Path, result: dict) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    log.info("%s: %s", result["decision"], result["reason"])
    return result


def cli(argv: list[str] | None = None) -> int:
    from emotionthinker.registry import RegistryError

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="params with `promote:`")
    ap.add_argument("--eval", type=Path, default=Path("metrics/eval.json"), help="the evaluate stage's metrics")
    ap.add_argument("--metrics", type=Path, default=Path("metrics/promote.json"), help="the decision (JSON)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result = main(args.params, args.eval, args.metrics)
    except (ValidationError, ValueError, FileNotFoundError, RegistryError) as e:
        log.error("promote failed: %s", e)
        return 2
    print(f"{result['decision']}: {result['reason']} (served: {result.get('served') or 'nothing yet'})")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
