"""Assemble the annotate stage's records: EmotionCoT, reward-model data and their summary."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from emotionthinker.annotate.degrade import DEGRADATIONS
from emotionthinker.annotate.facts import Facts, caption
from emotionthinker.annotate.writer import distinct_ngram_ratio
from emotionthinker.judge import DIMENSIONS, judge
from emotionthinker.prompts import build_messages, format_target


def emotioncot_record(clip: dict, facts: Facts, rationale: str, labels: Sequence[str], writer: str) -> dict:
    completion = format_target(rationale, clip["emotion"])
    j = judge(completion, facts, labels)
    return {
        "utt_id": clip["utt_id"], "corpus": clip["corpus"], "speaker": clip["speaker"], "split": clip["split"],
        "audio_path": clip["audio_path"], "emotion": clip["emotion"], "messages": build_messages(clip["audio_path"],
        labels), "facts": facts.to_dict(), "caption": caption(facts), "rationale": rationale, "target": completion,
        "writer": writer, "judge": {d: getattr(j, d) for d in DIMENSIONS},
    }  # fmt: skip


def rm_records(
    cot: dict, facts: Facts, labels: Sequence[str], rng: random.Random, per_clip: int = 0, extra: Sequence[str] = ()
) -> list[dict]:
    """The gold completion and graded degradations of it, each scored by the judge; then the same for each of the
    ``extra`` gold completions of the clip (other rationales for the same facts), rows of kind gold first."""
    out = []
    for gold in [cot["target"], *extra]:
        kinds = sorted(DEGRADATIONS)
        if per_clip:
            kinds = rng.sample(kinds, min(per_clip, len(kinds)))
        for kind in ["gold", *kinds]:
            completion = gold if kind == "gold" else DEGRADATIONS[kind](gold, facts, rng)
            j = judge(completion, facts, labels)
            out.append({
                "utt_id": cot["utt_id"], "kind": kind, "facts": facts.to_dict(), "caption": cot["caption"],
                "transcript": facts.transcript, "completion": completion,
                "scores": {d: getattr(j, d) for d in DIMENSIONS}, "reward": round(j.reward(), 4),
            })  # fmt: skip
    return out


def summary(cot: list[dict], rm: list[dict], tasks: dict[str, list[dict]]) -> dict:
    rationales = [r["rationale"] for r in cot]
    words = sorted(len(r.split()) for r in rationales)
    by_dim = {d: dict(sorted(Counter(round(r["scores"][d]) for r in rm).items())) for d in DIMENSIONS}
    gold = [r for r in rm if r["kind"] == "gold"]
    mean = {
        kind: {d: round(sum(r["scores"][d] for r in rs) / len(rs), 3) for d in DIMENSIONS}
        for kind in sorted({r["kind"] for r in rm})
        if (rs := [r for r in rm if r["kind"] == kind])
    }
    return {
        "emotioncot": {
            "records": len(cot), "split": dict(Counter(r["split"] for r in cot)),
            "words": {"min": words[0], "median": words[len(words) // 2], "max": words[-1]} if words else None,
            "distinct_4gram_ratio_1000": distinct_ngram_ratio(rationales[:1000]),
            "judge_mean": {d: round(sum(r["judge"][d] for r in cot) / max(1, len(cot)), 3) for d in DIMENSIONS},
        },
        "sft_tasks": {name: len(recs) for name, recs in sorted(tasks.items())},
        "rm": {"records": len(rm), "gold": len(gold), "score_distribution": by_dim, "mean_by_kind": mean},
    }  # fmt: skip
