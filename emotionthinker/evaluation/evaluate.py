"""Evaluate candidates on a split: every metric of the leaderboard for one model, and for the baseline.

clips = load_clips(read_jsonl("data/emotioncot/test.jsonl"), repo_root=".")
result = evaluate_model(model, processor, clips, labels, task_examples, judge, reward_model, batch_size=16)
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotionthinker.evaluation.inference import Answer, analyse_all
from emotionthinker.evaluation.metrics import by_group, classification_report, confusion
from emotionthinker.evaluation.reasoning import consistency, score_matrix, summarise

logger = logging.getLogger(__name__)


@dataclass
class Clip:
    """One evaluation clip: its audio and what is known about it."""

    utt_id: str
    audio_path: str
    emotion: str
    corpus: str
    speaker: str
    facts: dict
    caption: str | None
    transcript: str | None
    samples: np.ndarray


def load_clips(records: Sequence[dict], repo_root: str | Path = ".", sr: int = 16000) -> list[Clip]:
    """Clips of EmotionCoT records (``data/emotioncot/<split>.jsonl``), audio decoded once for every candidate."""
    from emotionthinker.audio import AudioProblem, load

    clips = []
    for r in records:
        path = Path(repo_root) / r["audio_path"]
        try:
            samples = load(path, sr)
        except (AudioProblem, FileNotFoundError) as e:
            raise FileNotFoundError(f"{path}: the clip of {r['utt_id']} cannot be read ({e}); rerun dvc repro") from e
        facts = r.get("facts") or {}
        clips.append(Clip(r["utt_id"], r["audio_path"], r["emotion"], r.get("corpus", "?"), r.get("speaker", "?"),
                          facts, r.get("caption"), facts.get("transcript"), samples))  # fmt: skip
    if not clips:
        raise ValueError("no clips to evaluate: the split is empty")
    return clips


def answer_metrics(clips: Sequence[Clip], answers: Sequence[Answer], labels: Sequence[str]) -> dict:
    """Classification metrics overall, per corpus and per emotion, the confusion matrix, format compliance,
    consistency and speed of a candidate's answers."""
    gold = [c.emotion for c in clips]
    pred = [a.emotion for a in answers]
    report = classification_report(gold, pred)
    seconds = sum(a.seconds for a in answers)
    tokens = sum(a.new_tokens for a in answers)
    return {
        **report,
        "per_corpus": {
            k: {m: v[m] for m in ("n", "accuracy", "uar", "macro_f1")}
            for k, v in by_group([c.corpus for c in clips], gold, pred).items()
        },  # fmt: skip
        "format_rate": sum(a.well_formed for a in answers) / len(answers),
        "answered_rate": sum(a.emotion is not None for a in answers) / len(answers),
        "consistency": consistency([a.text for a in answers], labels)["rate"],
        "ms_per_clip": 1000 * seconds / len(answers),
        "ms_per_clip_p95": 1000 * float(np.percentile([a.seconds for a in answers], 95)),
        "tokens_per_s": tokens / seconds if seconds else None,
        "mean_new_tokens": statistics.fmean(a.new_tokens for a in answers),
        "confusion": confusion(gold, pred, labels),
    }


def reasoning_scores(clips: Sequence[Clip], answers: Sequence[Answer], scorer) -> np.ndarray:
    """``(n, 4)`` scores of the answers by ``scorer`` (``JudgeReward`` or ``ReasoningRewardModel``: anything with
    ``scores(completions, facts, caption, transcript)``)."""
    scores = scorer.scores([a.text for a in answers], [c.facts for c in clips], [c.caption for c in clips],
                           [c.transcript for c in clips])  # fmt: skip
    return score_matrix(scores)


def reasoning_metrics(clips: Sequence[Clip], answers: Sequence[Answer], scorer, weights) -> dict:
    """The four dimensions, overall (1-5) and R_t of the answers, scored by ``scorer``."""
    return summarise(reasoning_scores(clips, answers, scorer), weights)


def agreement(rm: np.ndarray, judge: np.ndarray) -> float | None:
    """Spearman correlation of the reward model's and the judge's overall scores of the same rationales: how far
    the reward GRPO-PTR trains with ranks this model's own rationales as the judge does (None when undefined).

    >>> agreement(np.array([[1.0] * 4, [2.0] * 4, [3.0] * 4]), np.array([[1.0] * 4, [3.0] * 4, [5.0] * 4]))
    1.0
    """
    from emotionthinker.rewards.rm_metrics import spearman

    rho = spearman(rm.mean(axis=1), judge.mean(axis=1))
    return None if np.isnan(rho) else round(rho, 4)


def prosody_metrics(model, processor, examples, batch_size: int, repo_root: Path) -> dict:
    """Accuracy on each prosody question (``emotionthinker.training.evaluate_tasks``, the sft stage's scorer) and
    their mean."""
    from emotionthinker.training.sft import evaluate_tasks

    if not len(examples):
        return {"tasks": {}, "mean": None}
    metrics, _ = evaluate_tasks(model, processor, model.config.model_type, examples, batch_size, repo_root,
                                task_max_new_tokens=8)  # fmt: skip
    tasks = {t: round(m["accuracy"], 4) for t, m in metrics.items()}
    return {"tasks": tasks, "mean": round(statistics.fmean(tasks.values()), 4)}


def evaluate_model(
    model,
    processor,
    clips: Sequence[Clip],
    labels: Sequence[str],
    task_examples,
    scorers: dict,
    weights: Sequence[float],
    batch_size: int = 16,
    max_new_tokens: int = 320,
    temperature: float = 0.0,
    repo_root: Path = Path("."),
    name: str = "model",
) -> tuple[dict, list[Answer]]:
    """All metrics of one candidate; returns ``(metrics, answers)``. ``scorers`` maps a name (judge, rm) to a
    reasoning scorer."""
    answers = analyse_all(model, processor, [c.samples for c in clips], labels, batch_size, max_new_tokens,
                          temperature, progress=True, desc=f"{name}: answering")  # fmt: skip
    out = answer_metrics(clips, answers, labels)
    scored = {k: reasoning_scores(clips, answers, s) for k, s in scorers.items()}
    out["reasoning"] = {k: summarise(m, weights) for k, m in scored.items()}
    if "rm" in scored and "judge" in scored:
        out["reasoning"]["rm"]["judge_spearman"] = agreement(scored["rm"], scored["judge"])
    out["prosody"] = prosody_metrics(model, processor, task_examples, batch_size, repo_root)
    return out, answers


def summary_row(m: dict) -> dict:
    """The leaderboard's columns of a candidate's metrics."""
    reasoning = m.get("reasoning", {})
    return {
        "accuracy": m["accuracy"],
        "uar": m["uar"],
        "macro_f1": m["macro_f1"],
        "format_rate": m.get("format_rate"),
        "judge_overall": reasoning.get("judge", {}).get("overall"),
        "rm_overall": reasoning.get("rm", {}).get("overall"),
        "rm_judge_spearman": reasoning.get("rm", {}).get("judge_spearman"),
        "consistency": m.get("consistency"),
        "prosody_accuracy": m.get("prosody", {}).get("mean"),
        "ms_per_clip": m.get("ms_per_clip"),
        "tokens_per_s": m.get("tokens_per_s"),
        "per_emotion": m["per_emotion"],
        "per_corpus": m.get("per_corpus", {}),
    }


def baseline_metrics(train_X: np.ndarray, train_y: Sequence[str], clips: Sequence[Clip], test_X: np.ndarray,
                     c: float = 1.0, seed: int = 0) -> tuple[dict, list[str]]:  # fmt: skip
    """The logistic-regression baseline trained on train, scored on ``clips``; returns ``(metrics, predictions)``."""
    from emotionthinker.evaluation.baseline import ProsodyBaseline

    pred = ProsodyBaseline(c, seed).fit(train_X, train_y).predict(test_X)
    gold = [cl.emotion for cl in clips]
    report = classification_report(gold, pred)
    report["per_corpus"] = {k: {m: v[m] for m in ("n", "accuracy", "uar", "macro_f1")}
                            for k, v in by_group([cl.corpus for cl in clips], gold, pred).items()}  # fmt: skip
    return report, pred
