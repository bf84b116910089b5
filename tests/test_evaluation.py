"""Evaluation: each metric against hand-computed values, the answer parser shared with serving, reasoning scores,
the baseline, the report, and the stage end to end on a tiny model."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from emotionthinker.annotate.facts import Facts
from emotionthinker.evaluation.baseline import ProsodyBaseline, clip_vector, prosodic_vector
from emotionthinker.evaluation.inference import Answer
from emotionthinker.evaluation.metrics import (
    NO_ANSWER,
    accuracy,
    by_group,
    classification_report,
    confusion,
    f1_scores,
    macro_f1,
    recalls,
    uar,
    wilson_interval,
)
from emotionthinker.evaluation.reasoning import consistency, score_matrix, summarise, supports_answer
from emotionthinker.evaluation.report import leaderboard, write_confusion_csv
from emotionthinker.rewards import JudgeReward
from tests.conftest import tone

LABELS = ["neutral", "happy", "sad", "angry"]
GOLD = ["sad", "sad", "sad", "angry", "angry", "happy", "neutral", "neutral"]
PRED = ["sad", "sad", "angry", "angry", None, "sad", "neutral", "happy"]


# ------------------------------------------------------------------------------------------------ metrics
def test_accuracy_uar_and_macro_f1_by_hand():
    # correct: sad, sad, angry, neutral -> 4 of 8
    assert accuracy(GOLD, PRED) == 0.5
    # recall: sad 2/3, angry 1/2, happy 0/1, neutral 1/2 -> mean 5/12
    assert recalls(GOLD, PRED) == pytest.approx({"angry": 0.5, "happy": 0.0, "neutral": 0.5, "sad": 2 / 3})
    assert uar(GOLD, PRED) == pytest.approx((2 / 3 + 0.5 + 0.0 + 0.5) / 4)
    # F1 = 2tp / (2tp + fp + fn): sad 4/(4+1+1), angry 2/(2+1+1), happy 0/(0+1+1), neutral 2/(2+0+1)
    assert f1_scores(GOLD, PRED) == pytest.approx({"sad": 4 / 6, "angry": 0.5, "happy": 0.0, "neutral": 2 / 3})
    assert macro_f1(GOLD, PRED) == pytest.approx((4 / 6 + 0.5 + 0.0 + 2 / 3) / 4)


def test_wilson_interval_covers_the_true_accuracy_95_times_in_100():
    assert wilson_interval(0.5, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert wilson_interval(0.0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)  # never below 0, unlike p +- 2 SE
    rng = np.random.default_rng(0)
    for true, n in ((0.7, 81), (0.95, 234)):
        shares = rng.binomial(n, true, 4000) / n
        covered = np.mean([lo <= true <= hi for lo, hi in (wilson_interval(s, n) for s in shares)])
        assert 0.93 <= covered <= 0.97, (true, n, covered)
    with pytest.raises(ValueError, match="n=0"):
        wilson_interval(0.5, 0)
    with pytest.raises(ValueError, match="proportion"):
        wilson_interval(1.2, 10)


def test_metrics_agree_with_scikit_learn():
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    rng = np.random.default_rng(0)
    gold = list(rng.choice(LABELS, 200))
    pred = [p if rng.random() > 0.1 else None for p in rng.choice(LABELS, 200)]
    filled = [p if p is not None else NO_ANSWER for p in pred]
    assert accuracy(gold, pred) == pytest.approx(accuracy_score(gold, filled))
    assert uar(gold, pred) == pytest.approx(recall_score(gold, filled, labels=sorted(set(gold)), average="macro"))
    assert macro_f1(gold, pred) == pytest.approx(
        f1_score(gold, filled, labels=sorted(set(gold) | {p for p in pred if p}), average="macro")
    )


def test_confusion_rows_columns_and_unparsed_answers():
    m = confusion(GOLD, PRED, LABELS)
    assert m["rows"] == LABELS and m["columns"] == [*LABELS, NO_ANSWER]
    counts = dict(zip(m["rows"], m["counts"], strict=True))
    assert (
        counts["sad"] == [0, 0, 2, 1, 0] and counts["angry"] == [0, 0, 0, 1, 1] and counts["happy"] == [0, 0, 1, 0, 0]
    )
    assert sum(map(sum, m["counts"])) == len(GOLD)
    # an answer outside the label set and a gold label outside it get their own column and row
    m = confusion(["calm", "sad"], ["bored", "sad"], LABELS)
    assert m["rows"][-1] == "calm" and "bored" in m["columns"]


def test_per_group_reports_and_errors():
    groups = ["a", "a", "a", "a", "b", "b", "b", "b"]
    out = by_group(groups, GOLD, PRED)
    assert out["a"]["accuracy"] == 0.75 and out["b"]["accuracy"] == 0.25
    assert classification_report(GOLD, PRED)["per_emotion"]["sad"] == {"n": 3, "recall": 2 / 3, "f1": 4 / 6}
    with pytest.raises(ValueError, match="one prediction per clip"):
        accuracy(GOLD, PRED[:-1])


# ------------------------------------------------------------------------------------------------ answers, reasoning
def test_answers_are_parsed_by_the_shared_parser():
    a = Answer.from_text("<think>Low and slow.</think><answer>Sad</answer>", LABELS, 0.2, 9)
    assert (a.emotion, a.rationale, a.well_formed) == ("sad", "Low and slow.", True)
    b = Answer.from_text("<think>x</think><answer>bored</answer>", LABELS, 0.2, 5)
    assert b.emotion is None and not b.well_formed
    assert Answer.from_text("<answer>angry</answer>", LABELS, 0.1, 3).emotion == "angry"  # answered, not well formed


def test_consistency_counts_only_rationales_with_cues():
    texts = [
        "<think>Her voice is low, soft and slow.</think><answer>sad</answer>",  # supports
        "<think>He is loud and fast.</think><answer>sad</answer>",  # contradicts
        "<think>Nothing to go on.</think><answer>sad</answer>",  # no cue: not counted
        "<think>Loud and fast.</think>",  # no answer: not counted
    ]
    assert [supports_answer(t, LABELS) for t in texts] == [True, False, None, None]
    assert consistency(texts, LABELS) == {"rate": 0.5, "n": 2}


def test_reasoning_summary_uses_the_reward_scorer():
    f = Facts("u1", "sad", None, "en", "female", None, "low", "low", "low", "falling", "voiced").to_dict()
    good = "<think>Her pitch is low and she speaks slowly and softly, so she sounds sad.</think><answer>sad</answer>"
    bad = "<think>Her pitch is high and she speaks fast and loudly.</think><answer>sad</answer>"
    scores = score_matrix(JudgeReward(labels=LABELS).scores([good, bad], [f, f]))
    assert scores.shape == (2, 4) and scores[0, 0] >= 4.0 and scores[1, 0] < 2.0  # factual alignment
    s = summarise(scores, [0.25] * 4)
    assert s["n"] == 2 and s["overall"] == pytest.approx(scores.mean())
    assert s["reward"] == pytest.approx((scores @ np.full(4, 0.25)).mean() / 5, abs=1e-4)


# ------------------------------------------------------------------------------------------------ baseline, report
def test_baseline_learns_pitch_from_prosodic_and_spectral_statistics():
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for i in range(60):
        high = i % 2 == 0
        f0 = (260.0 if high else 120.0) * 2 ** rng.normal(0, 0.1)
        x = tone(0.5, f0=f0, amp=0.2)
        rows.append(clip_vector({"f0_median_hz": f0, "f0_reliable": True}, x, 16000))
        labels.append("happy" if high else "sad")
    X = np.stack(rows)
    model = ProsodyBaseline().fit(X[:40], labels[:40])
    assert accuracy(labels[40:], model.predict(X[40:])) == 1.0
    assert X.shape[1] == len(prosodic_vector(None)) + 80 and np.isnan(prosodic_vector(None)).all()


def test_leaderboard_and_confusion_csv(tmp_path):
    summary = {
        "accuracy": 0.5,
        "uar": 0.4,
        "macro_f1": 0.3,
        "format_rate": 1.0,
        "judge_overall": 3.5,
        "rm_overall": 3.4,
        "rm_judge_spearman": 0.31,
        "consistency": 0.8,
        "prosody_accuracy": 0.6,
        "ms_per_clip": 120.0,
        "tokens_per_s": 900.0,
        "per_emotion": {"sad": {"recall": 0.5}},
        "per_corpus": {"c": {"uar": 0.4}},
    }
    result = {
        "data": {"clips": 8, "corpora": 1, "speakers": 2},
        "settings": {"temperature": 0.0, "max_new_tokens": 64},
        "candidates": {"sft": {"summary": summary}, "grpo_ptr": {"summary": {**summary, "uar": 0.6}}},
        "baseline": {"accuracy": 0.45, "uar": 0.35, "macro_f1": 0.3, "per_emotion": {"sad": {"recall": 0.4}},
                     "per_corpus": {"c": {"uar": 0.35}}},
    }  # fmt: skip
    md = leaderboard(result)
    assert "| grpo_ptr | **0.500** | **0.600** |" in md and "| sft | **0.500** | 0.400 |" in md  # ties are bold
    assert "| baseline | 0.450 | 0.350 | **0.300** | - |" in md and "| **120** |" in md  # fastest: the least ms
    assert "![sft](../plots/confusion_sft.png)" in md and "## Recall per emotion" in md
    assert "| reward model (1-5) | RM-judge ρ |" in md and "| **3.40** | **0.31** |" in md
    path = write_confusion_csv(tmp_path / "c.csv", GOLD, PRED)
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["actual", "predicted"] and len(rows) == len(GOLD) + 1 and rows[5] == ["angry", NO_ANSWER]
    json.dumps(result)
