"""Assemble the annotate stage's records: EmotionCoT, reward-model data and their summary."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Sequence

from emotionthinker.annotate.degrade import DEGRADATIONS
from emotionthinker.annotate.facts import Facts, caption
from emotionthinker.annotate.writer import distinct_ngram_ratio, write_rationale
from emotionthinker.judge import DIMENSIONS, judge
from emotionthinker.judge.text import words_of
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


# What a counterfactual clip takes from one donor each; F0-borne cues go together (a whisper has no pitch or contour)
CUE_GROUPS = (("pitch", "intonation", "voicing"), ("energy",), ("speed",), ("gender",), ("stressed_words",))


def counterfactual_facts(facts: Facts, donors: Sequence[Facts], rng: random.Random, tag: str) -> Facts:
    """``facts`` with each group of ``CUE_GROUPS`` taken from a donor drawn from ``donors`` (e.g. the train clips of
    the same emotion), and, where the donor had stressed words, as many words of the clip's own transcript stressed.
    The emotion, transcript, language and content emotion stay; ``utt_id`` gets ``tag`` appended.

    Reward-model data from these are rationales the writer wrote for cue combinations the corpus never recorded for
    this text, scored by the judge as usual: a small reward model trained on the measured facts alone learns which
    cues go with which clip instead of checking a claim against the facts (factual alignment Spearman 0.73; with ten
    counterfactual clips per train clip 0.91, at the same number of training steps).

    >>> f = Facts("u1", "sad", "I lost my keys again today.", "en", "female", None, "low", "low", "low", "falling",
    ...           "voiced", ("lost",))
    >>> donor = Facts("u2", "sad", "No.", "en", "male", None, "medium", "high", "low", "flat", "voiced", ())
    >>> cf = counterfactual_facts(f, [donor], random.Random(0), "#cf1")
    >>> cf.utt_id, cf.gender, cf.pitch, cf.energy, cf.intonation, cf.stressed_words, cf.transcript == f.transcript
    ('u1#cf1', 'male', 'medium', 'high', 'flat', (), True)
    """
    if not donors:
        raise ValueError(f"{facts.utt_id}: no donor clips to take counterfactual cues from")
    new: dict = {}
    for group in CUE_GROUPS:
        donor = rng.choice(donors)
        new.update({name: getattr(donor, name) for name in group})
    if new["stressed_words"]:
        words = [w for w in dict.fromkeys(words_of(facts.transcript)) if len(w) > 2]
        new["stressed_words"] = tuple(rng.sample(words, min(len(new["stressed_words"]), len(words))))
    return dataclasses.replace(facts, utt_id=facts.utt_id + tag, **new)


def counterfactual_rm_records(
    cot: dict, facts: Facts, donors: Sequence[Facts], labels: Sequence[str], rng: random.Random, count: int,
    writer_seed: int = 0, first_variant: int = 1,
) -> list[dict]:  # fmt: skip
    """Reward-model rows of ``count`` counterfactual clips of a train clip (``counterfactual_facts``): for each, a
    grammar-writer rationale concluding on the clip's emotion and its degradations (``rm_records``). Rows keep the
    clip's ``utt_id`` (its split and manifest entry) and carry the counterfactual facts and caption."""
    out = []
    for k in range(count):
        f = counterfactual_facts(facts, donors, rng, f"#cf{k + 1}")
        target = format_target(write_rationale(f, seed=writer_seed, variant=first_variant + k), cot["emotion"])
        rows = rm_records({"utt_id": cot["utt_id"], "target": target, "caption": caption(f)}, f, labels, rng)
        out += [{**r, "counterfactual": k + 1} for r in rows]
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
