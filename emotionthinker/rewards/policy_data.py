"""On-policy reward-model data: the SFT model's own sampled answers to clips, scored by the judge.

The annotate stage's rows teach the reward model gold rationales and nine kinds of degradation of them. GRPO asks it
to rank something else: the policy's own completions, with their phrase loops, partial cue coverage and misquoted
transcripts. Trained on degradations alone, the reward model ranked those against the judge with a Spearman of 0.05
to 0.23 (the RM-judge ρ column of the leaderboard). These rows are that distribution, sampled the way GRPO samples
(temperature, completion length) and labelled by the judge on the same four dimensions as every other row::

    {"utt_id", "kind": "policy", "sample": k, "facts", "caption", "transcript", "completion", "scores"}

Rows of kind ``policy`` train like any other; on val they are scored apart (``rm_metrics.evaluate_scores``) and never
paired with the gold row, as a sample may be as good as it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import torch

from emotionthinker.config.reward_model import PolicySamplesConfig
from emotionthinker.judge.scoring import DIMENSIONS
from emotionthinker.rewards.rm_metrics import POLICY


def sample_answers(model, processor, clips: Sequence, labels: Sequence[str], cfg: PolicySamplesConfig,
                   desc: str = "sampling"):  # fmt: skip
    """``cfg.per_clip`` sampled answers per clip (``evaluation.evaluate.Clip``), seeded by ``cfg.seed``; returns
    ``(clip, k, Answer)`` triples, clip by clip."""
    from emotionthinker.evaluation.inference import analyse_all

    if cfg.per_clip < 1 or not clips:
        return []
    torch.manual_seed(cfg.seed)
    repeated = [c for c in clips for _ in range(cfg.per_clip)]
    answers = analyse_all(model, processor, [c.samples for c in repeated], labels, cfg.batch_size,
                          cfg.max_new_tokens, cfg.temperature, top_p=cfg.top_p, progress=True, desc=desc)  # fmt: skip
    return [(c, i % cfg.per_clip, a) for i, (c, a) in enumerate(zip(repeated, answers, strict=True))]


def policy_rows(samples: Sequence, labels: Sequence[str]) -> list[dict]:
    """Reward-model rows of ``sample_answers``' triples, each scored by the judge against its clip's facts."""
    from emotionthinker.rewards.reward_model import JudgeReward

    if not samples:
        return []
    clips = [c for c, _, _ in samples]
    texts = [a.text for _, _, a in samples]
    scores = JudgeReward(labels=labels).scores(texts, [c.facts for c in clips], [c.caption for c in clips],
                                               [c.transcript for c in clips])  # fmt: skip
    return [
        {"utt_id": c.utt_id, "kind": POLICY, "sample": k, "facts": c.facts, "caption": c.caption,
         "transcript": c.transcript, "completion": a.text, "scores": {d: float(s[d]) for d in DIMENSIONS}}
        for (c, k, a), s in zip(samples, scores, strict=True)
    ]  # fmt: skip


def summary(rows: Sequence[dict], samples: Sequence) -> dict:
    """What the sampled answers look like: their count, format rate, accuracy and the judge's mean per dimension."""
    if not rows:
        return {"rows": 0}
    answers = [a for _, _, a in samples]
    return {
        "rows": len(rows),
        "clips": len({r["utt_id"] for r in rows}),
        "format_rate": round(statistics.fmean(a.well_formed for a in answers), 4),
        "accuracy": round(statistics.fmean(a.emotion == c.emotion for c, _, a in samples), 4),
        "mean_new_tokens": round(statistics.fmean(a.new_tokens for a in answers), 1),
        "judge": {d: round(statistics.fmean(r["scores"][d] for r in rows), 3) for d in DIMENSIONS},
        "judge_overall_sd": round(statistics.pstdev(statistics.fmean(r["scores"].values()) for r in rows), 3),
    }
