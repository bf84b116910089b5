"""Judge throughput on generated rationales, one process (one core), against the 500 rationales/s target.

    python benchmarks/judge.py --n 2000

Facts are drawn at random around each label's typical prosody (with a share of off-profile cues,
laden transcripts and stressed words); rationales come from the offline writer
(``annotate.writer.write_rationale``), and a share of them is passed through a random degradation, so
the judge sees gold and broken completions alike. Prints rationales per second (wall and CPU time) side
by side with the target, and the mean score per dimension for the gold rationales and for each
degradation (the dimension a degradation targets is marked with *).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import defaultdict

from emotionthinker.annotate.degrade import DEGRADATIONS, TARGETS
from emotionthinker.annotate.facts import Facts, content_emotion
from emotionthinker.annotate.writer import write_rationale
from emotionthinker.judge import DIMENSIONS, judge
from emotionthinker.labels import DEFAULT_LABELS
from emotionthinker.prompts import format_target

TARGET_PER_S = 500

# (pitch, energy, speed, intonation) typical of each label
PROFILES = {
    "neutral": ("medium", "medium", "medium", "flat"),
    "happy": ("high", "high", "high", "rising-falling"),
    "sad": ("low", "low", "low", "falling"),
    "angry": ("high", "high", "high", "falling"),
    "contempt or disgust": ("low", "medium", "low", "falling"),
    "confused": ("medium", "medium", "low", "rising"),
    "whisper": (None, "low", "medium", None),
    "surprise": ("high", "high", "medium", "rising"),
    "fear": ("high", "medium", "high", "flat"),
}
TRANSCRIPTS = (
    "The meeting has been moved to Thursday afternoon.",
    "I will go home now and never come back again.",
    "I can't believe we actually won the final!",
    "Please don't leave me alone in the dark.",
    "That is disgusting, take it away from me.",
    "Wait, which train did you say we should take?",
    "Der Lappen liegt auf dem Eisschrank.",
    "Das will sie am Mittwoch abgeben.",
    "Kids are talking by the door.",
    "Dogs are sitting by the door.",
    "I told you to put it back where it belongs, how dare you!",
    "It's eleven o'clock.",
)
LEVELS = ("low", "medium", "high")
CONTOURS = ("rising", "falling", "rising-falling", "falling-rising", "flat", "expressive")


def random_facts(i: int, rng: random.Random) -> Facts:
    label = rng.choice(DEFAULT_LABELS)
    pitch, energy, speed, contour = PROFILES[label]
    if label != "whisper":
        pitch = rng.choice(LEVELS) if rng.random() < 0.25 else pitch
        energy = rng.choice(LEVELS) if rng.random() < 0.25 else energy
        speed = rng.choice(LEVELS) if rng.random() < 0.25 else speed
        contour = rng.choice(CONTOURS) if rng.random() < 0.25 else contour
    transcript = rng.choice(TRANSCRIPTS) if rng.random() < 0.95 else None
    stressed = (rng.choice(transcript.split()).strip(".,!?"),) if transcript and rng.random() < 0.5 else ()
    return Facts(
        utt_id=f"bench{i:05d}",
        emotion=label,
        transcript=transcript,
        language="de" if transcript and transcript.startswith(("Der", "Das")) else "en",
        gender=rng.choice(("female", "male", None)),
        age_level=rng.choice((None, "young adult", "adult", "senior")),
        pitch=pitch,
        energy=energy,
        speed=speed,
        intonation=contour,
        voicing="unvoiced" if label == "whisper" else "voiced",
        stressed_words=stressed,
        content_emotion=content_emotion(transcript),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="rationales to judge")
    ap.add_argument("--degraded", type=float, default=0.5, help="share passed through a random degradation")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    items = []  # (kind, completion, facts)
    for i in range(args.n):
        facts = random_facts(i, rng)
        gold = format_target(write_rationale(facts, seed=args.seed), facts.emotion)
        if rng.random() < args.degraded:
            name = rng.choice(list(DEGRADATIONS))
            items.append((name, DEGRADATIONS[name](gold, facts, random.Random(i)), facts))
        else:
            items.append(("gold", gold, facts))

    for _, text, facts in items[:50]:  # warm up (caches, first regex use)
        judge(text, facts)
    wall, cpu = time.perf_counter(), time.process_time()
    results = [judge(text, facts) for _, text, facts in items]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    rate_wall, rate_cpu = len(items) / wall, len(items) / cpu
    print(f"judged {len(items)} rationales ({sum(k == 'gold' for k, _, _ in items)} gold) in {wall:.2f} s")
    print(f"{'':24s}{'measured':>12s}{'target':>10s}")
    for what, rate in (("rationales/s (wall)", rate_wall), ("rationales/s (CPU)", rate_cpu)):
        print(f"{what:24s}{rate:12.0f}{TARGET_PER_S:10d}  {'ok' if rate >= TARGET_PER_S else 'BELOW TARGET'}")
    print(f"{'ms per rationale':24s}{1000 * wall / len(items):12.2f}{1000 / TARGET_PER_S:10.2f}")

    by_kind = defaultdict(list)
    for (kind, _, _), j in zip(items, results, strict=True):
        by_kind[kind].append(j)
    short = {"factual_alignment": "fact", "interpretative_quality": "interp", "caption_completeness": "compl",
             "fluency_structure": "fluency"}  # fmt: skip
    print()
    print(f"{'mean score':22s}{'n':>5s}" + "".join(f"{short[d]:>9s}" for d in DIMENSIONS))
    for kind in ["gold"] + sorted(k for k in by_kind if k != "gold"):
        js = by_kind[kind]
        cells = []
        for d in DIMENSIONS:
            mark = "*" if TARGETS.get(kind) == d else " "
            cells.append(f"{statistics.mean(getattr(j, d) for j in js):8.2f}{mark}")
        print(f"{kind:22s}{len(js):5d}" + "".join(cells))


if __name__ == "__main__":
    main()
