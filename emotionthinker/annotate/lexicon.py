"""The cue vocabulary shared by the rationale writer and the judge, and the cue-to-emotion evidence table.

The writer realises a claim about a cue with one of its phrases; the judge finds claims by matching the
same phrases (as whole words, case-insensitive). Keeping both on one table is what lets the judge check
every claim the writer can make, and most that a person or an LLM would write.

``EVIDENCE[emotion][(attribute, value)]`` is how strongly a cue supports an emotion: +2 typical,
+1 compatible, -1 unusual, -2 contradicting; cues not listed are neutral (0). The values follow the
summaries of vocal emotion expression in Banse & Scherer (1996) and Juslin & Laukka (2003): anger
and happiness raise pitch, energy and rate; sadness lowers all three with a narrow falling melody; fear
raises pitch and rate; surprise rises at the end; whisper is unvoiced and soft.
"""

from __future__ import annotations

import re
from functools import cache

ATTRIBUTES = ("pitch", "energy", "speed", "intonation", "gender", "voicing")

PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "pitch": {
        "high": ("high pitch", "high-pitched", "raised pitch", "elevated pitch", "pitch sits high", "high voice"),
        "medium": ("moderate pitch", "mid-range pitch", "medium pitch", "average pitch", "pitch sits mid-range"),
        "low": ("low pitch", "low-pitched", "lowered pitch", "pitch sits low", "deep, low voice"),
    },
    "energy": {
        "high": ("loud", "high energy", "forceful delivery", "strong vocal energy", "raised volume"),
        "medium": ("moderate volume", "medium energy", "ordinary loudness", "moderate vocal energy"),
        "low": ("soft", "quiet", "low energy", "subdued volume", "weak vocal energy"),
    },
    "speed": {
        "high": ("fast", "quickly", "rapid pace", "hurried", "brisk tempo"),
        "medium": ("moderate pace", "normal speed", "steady tempo", "even pace"),
        "low": ("slow", "slowly", "unhurried", "sluggish tempo", "drawn-out pace"),
    },
    "intonation": {
        "rising": ("rising intonation", "pitch rises", "rising contour", "upward contour", "climbs upward"),
        "falling": ("falling intonation", "pitch falls", "falling contour", "downward contour", "drops away"),
        "rising-falling": ("rise-fall contour", "rises and then falls", "rising-falling intonation", "arched melody"),
        "falling-rising": ("fall-rise contour", "falls and then rises", "falling-rising intonation", "dipped melody"),
        "flat": ("flat intonation", "monotone", "level melody", "little pitch movement"),
        "expressive": ("expressive intonation", "wide pitch swings", "lively melody", "animated pitch movement"),
    },
    "gender": {
        "female": ("female speaker", "woman", "female voice"),
        "male": ("male speaker", "man", "male voice"),
    },
    "voicing": {
        "unvoiced": ("whispered", "whispering", "breathy, unvoiced", "without voicing"),
    },
}

# value names of other level schemes map onto the three-level vocabulary
LEVEL_ALIASES = {"very high": "high", "very low": "low"}

EVIDENCE: dict[str, dict[tuple[str, str], int]] = {
    "neutral": {("pitch", "medium"): 1, ("energy", "medium"): 2, ("speed", "medium"): 1, ("intonation", "falling"): 1,
                ("intonation", "flat"): 1, ("intonation", "expressive"): -2, ("energy", "high"): -1,
                ("pitch", "high"): -1, ("voicing", "unvoiced"): -2},
    "happy": {("pitch", "high"): 2, ("energy", "high"): 1, ("speed", "high"): 1, ("intonation", "expressive"): 2,
              ("intonation", "rising-falling"): 2, ("pitch", "low"): -2, ("speed", "low"): -1,
              ("intonation", "flat"): -2, ("energy", "low"): -1, ("voicing", "unvoiced"): -2},
    "sad": {("pitch", "low"): 2, ("energy", "low"): 2, ("speed", "low"): 2, ("intonation", "falling"): 1,
            ("intonation", "flat"): 2, ("pitch", "high"): -2, ("energy", "high"): -2, ("speed", "high"): -2,
            ("intonation", "expressive"): -2, ("voicing", "unvoiced"): -1},
    "angry": {("energy", "high"): 2, ("pitch", "high"): 1, ("speed", "high"): 2, ("intonation", "falling"): 1,
              ("intonation", "expressive"): 1, ("energy", "low"): -2, ("speed", "low"): -2,
              ("intonation", "flat"): -1, ("voicing", "unvoiced"): -2},
    "contempt or disgust": {("pitch", "low"): 2, ("speed", "low"): 2, ("intonation", "falling"): 2,
                            ("energy", "medium"): 1, ("pitch", "high"): -2, ("speed", "high"): -2,
                            ("intonation", "rising"): -1, ("voicing", "unvoiced"): -2},
    "confused": {("intonation", "rising"): 2, ("intonation", "falling-rising"): 2, ("speed", "low"): 1,
                 ("pitch", "medium"): 1, ("energy", "medium"): 1, ("intonation", "falling"): -2,
                 ("energy", "high"): -1, ("voicing", "unvoiced"): -2},
    "whisper": {("voicing", "unvoiced"): 2, ("energy", "low"): 2, ("energy", "high"): -2,
                ("intonation", "expressive"): -1},
    "surprise": {("intonation", "rising"): 2, ("pitch", "high"): 2, ("intonation", "expressive"): 1,
                 ("energy", "high"): 1, ("intonation", "falling"): -2, ("pitch", "low"): -2,
                 ("voicing", "unvoiced"): -2},
    "fear": {("pitch", "high"): 2, ("speed", "high"): 2, ("energy", "medium"): 1, ("pitch", "low"): -2,
             ("speed", "low"): -2, ("intonation", "flat"): 1, ("voicing", "unvoiced"): -1},
}  # fmt: skip


def evidence(emotion: str, attribute: str, value: str) -> int:
    """Support of one cue for one emotion, from -2 to +2.

    >>> evidence("sad", "pitch", "low"), evidence("sad", "energy", "high"), evidence("sad", "gender", "male")
    (2, -2, 0)
    """
    return EVIDENCE.get(emotion, {}).get((attribute, LEVEL_ALIASES.get(value, value)), 0)


@cache
def _patterns() -> tuple[tuple[str, re.Pattern, str, str], ...]:
    # longest phrases first, so that "rises and then falls" is not also read as "falls"
    items = sorted(((p, a, v) for a, levels in PHRASES.items() for v, phrases in levels.items() for p in phrases),
                   key=lambda t: -len(t[0]))  # fmt: skip
    return tuple((p.casefold(), re.compile(rf"(?<![\w-]){re.escape(p)}(?![\w-])", re.I), a, v) for p, a, v in items)


def claim_offsets(text: str) -> list[tuple[int, int, str, str, str]]:
    """Cue claims as (start, end, attribute, value, matched phrase), in order of appearance; a span of text is
    claimed at most once. Phrases that do not occur as substrings are skipped before any regex runs, which
    makes this about ten times faster than trying every pattern (the judge calls it per rationale)."""
    folded = text.casefold()
    taken: list[tuple[int, int]] = []
    found = []
    for key, pat, attribute, value in _patterns():
        if key not in folded:
            continue
        for m in pat.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            taken.append(m.span())
            found.append((m.start(), m.end(), attribute, value, m.group(0)))
    return sorted(found)


def find_claims(text: str) -> list[tuple[str, str, str]]:
    """Cue claims in ``text`` as (attribute, value, matched phrase), in order of appearance.

    >>> [c[:2] for c in find_claims("A woman speaks slowly; the pitch rises and then falls.")]
    [('gender', 'female'), ('speed', 'low'), ('intonation', 'rising-falling')]
    """
    return [(a, v, p) for _, _, a, v, p in claim_offsets(text)]
