"""Speaker-independent train/val/test splits, stratified by emotion as far as speakers allow.

Speakers are whole units: every clip of a speaker lands in one split. Within each corpus, speakers are
taken largest first (ties broken by a seeded shuffle) and each goes to the split whose per-emotion
counts it brings closest to the target shares. Speakers named in a corpus's ``test_speakers`` go to
test first. Deterministic for a seed.

>>> clips = [("a", "sad")] * 4 + [("b", "sad")] * 4 + [("c", "sad")] * 4 + [("d", "sad")] * 4
>>> sorted(assign_splits({"x": clips}, val=0.25, test=0.25, seed=0)["x"].values())
['test', 'train', 'train', 'val']
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterable, Mapping

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


def _split_one(
    clips: list[tuple[str, str]], val: float, test: float, seed: int, forced_test: set[str]
) -> dict[str, str]:
    per_speaker: dict[str, Counter] = {}
    for speaker, emotion in clips:
        per_speaker.setdefault(speaker, Counter())[emotion] += 1
    totals = Counter(e for _, e in clips)
    shares = {"train": 1.0 - val - test, "val": val, "test": test}
    target = {s: {e: shares[s] * n for e, n in totals.items()} for s in SPLITS}
    counts = {s: Counter() for s in SPLITS}
    out: dict[str, str] = {}

    def put(speaker: str, split: str) -> None:
        out[speaker] = split
        counts[split].update(per_speaker[speaker])

    for spk in sorted(forced_test & per_speaker.keys()):
        put(spk, "test")
    free = sorted(set(per_speaker) - set(out))
    random.Random(seed).shuffle(free)
    free.sort(key=lambda s: -sum(per_speaker[s].values()))  # stable: seeded order among equal sizes

    def cost(split: str, spk: str) -> float:
        # squared relative deficit over all splits and emotions after a tentative assignment
        total = 0.0
        for s in SPLITS:
            for e, want in target[s].items():
                have = counts[s][e] + (per_speaker[spk][e] if s == split else 0)
                total += (have - want) ** 2 / (totals[e] ** 2)
        return total

    allowed = [s for s in SPLITS if shares[s] > 0]
    for spk in free:
        put(spk, min(allowed, key=lambda s: cost(s, spk)))

    # With three or more speakers, every split with a positive share gets at least one speaker: the smallest
    # speaker of a split that holds several moves there, from train if it can (e.g. sizes 4, 1, 1 put both small
    # speakers in val).
    for s in allowed:
        if s not in out.values() and len(per_speaker) >= len(allowed):
            held = Counter(out.values())
            donors = [k for k, v in out.items() if held[v] > 1 and k not in forced_test]
            if donors:
                moved = min(donors, key=lambda k: (out[k] != "train", sum(per_speaker[k].values()), k))
                counts[out[moved]].subtract(per_speaker[moved])
                put(moved, s)
    return out


def assign_splits(
    clips_by_corpus: Mapping[str, Iterable[tuple[str, str]]],
    val: float,
    test: float,
    seed: int,
    test_speakers: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, dict[str, str]]:
    """Map corpus -> speaker -> split, from (speaker, emotion) pairs per corpus."""
    test_speakers = test_speakers or {}
    result = {}
    for corpus, clips in clips_by_corpus.items():
        clips = list(clips)
        result[corpus] = _split_one(clips, val, test, seed, set(test_speakers.get(corpus, ())))
        n_spk = len(result[corpus])
        if n_spk < 3:
            log.warning(
                "corpus %s has %d speaker(s); speaker-independent val and test splits need at least 3", corpus, n_spk
            )
    return result
