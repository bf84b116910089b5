"""Controlled degradations of a gold completion, each aimed at one of the judge's four dimensions.

They give the judge's tests their negatives (every degradation must lower the dimension it targets) and
can serve as contrastive or preference data. Each takes a gold completion
("<think>rationale</think><answer>label</answer>"), the clip's ``Facts`` and a ``random.Random``, and
returns a new completion; the same generator state gives the same output.

=====================  =======================  ===========================================================
name                   mainly lowers            what it does
=====================  =======================  ===========================================================
contradict_cues        factual_alignment        every cue phrase swapped for its opposite (low<->high,
                                                rising<->falling, flat<->expressive, female<->male;
                                                medium -> low or high; "whispered" -> "fully voiced");
                                                a stressed-word quote swapped for an unstressed word
wrong_conclusion       interpretative_quality   the concluding emotion, in text and answer, becomes the
                                                label the claimed cues support least
disconnect_cues        interpretative_quality   the text concludes on the label the cues support least
                                                while the answer stays gold: the cues no longer lead to
                                                the conclusion, and the conclusion no longer to the answer
drop_cues              caption_completeness     sentences carrying cue claims, the speaker or the transcript
                                                quote removed; the conclusion kept (bare if it held cues)
truncate               fluency_structure        cut mid-sentence at 35-75% of the text, closing tags lost
shuffle_sentences      interpretative_quality   sentences that name an emotion moved first, the rest
                                                shuffled: the text ends on evidence, not a conclusion
repeat_text            fluency_structure        a third of the sentences (at least two) said twice
break_tags             fluency_structure        one of: no <think>, no </think>, an unknown tag, answer
                                                inside think, two answers, <thinking> tags
wrong_answer_label     interpretative_quality   the answer tag names another label; text unchanged
=====================  =======================  ===========================================================

>>> import random
>>> from emotionthinker.annotate.facts import Facts
>>> f = Facts("u1", "sad", None, "en", "female", None, "low", "low", "low", "falling", "voiced")
>>> gold = "<think>Her pitch sits low and she speaks slowly. This points to sadness.</think><answer>sad</answer>"
>>> contradict_cues(gold, f, random.Random(0))
'<think>Her pitch sits high and she speaks quickly. This points to sadness.</think><answer>sad</answer>'
>>> wrong_conclusion(gold, f, random.Random(0))
'<think>Her pitch sits low and she speaks slowly. This points to fear.</think><answer>fear</answer>'
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from emotionthinker.annotate.facts import Facts
from emotionthinker.annotate.lexicon import PHRASES, evidence
from emotionthinker.judge.text import (
    COVERAGE,
    NOUN_WORDS,
    SPEAKER,
    EmotionLexicon,
    analyse,
    conclusion,
    emotion_lexicon,
    emotion_phrase,
    negated,
    stress_quotes,
    transcript_quote,
    words_of,
)
from emotionthinker.labels import DEFAULT_LABELS, normalise
from emotionthinker.prompts import format_target, parse_answer, parse_think

Degradation = Callable[..., str]

OPPOSITE_VALUE: dict[str, dict[str, str]] = {
    "pitch": {"low": "high", "high": "low"},
    "energy": {"low": "high", "high": "low"},
    "speed": {"low": "high", "high": "low"},
    "intonation": {"rising": "falling", "falling": "rising", "rising-falling": "falling-rising",
                   "falling-rising": "rising-falling", "flat": "expressive", "expressive": "flat"},
    "gender": {"female": "male", "male": "female"},
}  # fmt: skip
VOICED_PHRASE = "fully voiced"  # the lexicon has no phrase for voiced speech; this one claims nothing


def _split(completion: str, labels: Sequence[str]) -> tuple[str, str | None]:
    rationale = parse_think(completion)
    if rationale is None:
        raise ValueError("a degradation needs a completion with a <think> block")
    return rationale, parse_answer(completion, labels) or parse_answer(completion)


def _match_case(new: str, old: str) -> str:
    return new[0].upper() + new[1:] if old[:1].isupper() else new


def _opposite_phrase(attribute: str, value: str, phrase: str, new_value: str) -> str:
    """The phrase of ``new_value`` closest in form to ``phrase``: most shared words, else the same slot."""
    old = PHRASES[attribute][value]
    candidates = PHRASES[attribute][new_value]
    slot = old.index(phrase.lower()) if phrase.lower() in old else 0
    words = set(phrase.lower().replace("-", " ").split())

    def rank(i: int) -> tuple[int, int]:
        shared = len(words & set(candidates[i].replace("-", " ").split()))
        return (-shared, abs(i - slot))

    return candidates[min(range(len(candidates)), key=rank)]


def _replace(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


# --------------------------------------------------------------------------------------- factual
def contradict_cues(completion: str, facts: Facts, rng: random.Random, labels: Sequence[str] = DEFAULT_LABELS) -> str:
    """Swap every claimed cue for its opposite value (factual_alignment)."""
    rationale, answer = _split(completion, labels)
    a = analyse(rationale)
    edits = []
    for c in a.claims:
        if c.attribute == "voicing":
            edits.append((c.start, c.end, _match_case(VOICED_PHRASE, c.phrase)))
            continue
        flip = OPPOSITE_VALUE.get(c.attribute, {})
        new_value = flip.get(c.value) or (rng.choice(("low", "high")) if c.value == "medium" else None)
        if new_value:
            new = _opposite_phrase(c.attribute, c.value, c.phrase, new_value)
            edits.append((c.start, c.end, _match_case(new, c.phrase)))
    stressed = {w for s in facts.stressed_words for w in words_of(s)}
    others = [w for w in words_of(facts.transcript) if w not in stressed and len(w) > 2]
    for q in stress_quotes(a, facts.transcript):
        if others:
            edits.append((q.start + 1, q.end - 1, rng.choice(others)))
    if not edits:  # nothing claimed: add claims that contradict the facts
        cues = facts.cues()
        added = [
            PHRASES[att][OPPOSITE_VALUE[att][cues[att]]][0]
            for att in ("pitch", "energy", "speed", "intonation")
            if cues.get(att) in OPPOSITE_VALUE[att]
        ]
        if added:
            rationale = f"The voice has {', '.join(added)}. " + rationale
        return format_target(rationale, answer or "")
    return format_target(_replace(rationale, edits), answer or "")


# -------------------------------------------------------------------------------- interpretative
def _least_supported(rationale: str, facts: Facts, exclude: str | None, labels: Sequence[str], rng: random.Random):
    a = analyse(rationale)
    cues = {(c.attribute, c.value) for c in a.claims if not negated(a.masked, c.start)}
    if not cues:
        cues = set(facts.cues().items())
    scored = [(sum(evidence(normalise(lab), att, v) for att, v in cues), lab) for lab in labels if lab != exclude]
    low = min(s for s, _ in scored)
    return rng.choice([lab for s, lab in scored if s == low])


_ARTICLE = re.compile(r"\b(?:a|an)\s+$", re.I)
_SHORT_GAP = re.compile(r"^[\s-]*(?:[\w'-]+[\s-]+){0,3}$")  # at most three words, no punctuation


def _reconclude(rationale: str, old: str | None, new: str, labels: Sequence[str]) -> str:
    """Name ``new`` where the rationale concludes: each run of words naming the old conclusion in the
    concluding sentence ("irritation bordering on anger", "a hushed whisper") becomes one phrase for ``new``."""
    a = analyse(rationale)
    found = conclusion(a, labels)
    if found is None:
        return rationale.rstrip() + f" This points to {emotion_phrase(new, 'sadness')}."
    label, start, _ = found
    lex: EmotionLexicon = emotion_lexicon(tuple(labels))
    s, e = a.sentences[a.sentence_of(start)]
    hits = [(ms, me) for ms, me, lab in lex.mentions(a.masked, s, e) if lab == (old or label) or ms == start]
    runs: list[list[int]] = []
    for ms, me in hits:
        if runs and _SHORT_GAP.match(rationale[runs[-1][1] : ms]):
            runs[-1][1] = me
        else:
            runs.append([ms, me])
    edits = []
    for ms, me in runs:
        head = rationale[ms:me].split()[-1]
        new_word = emotion_phrase(new, head)
        article = _ARTICLE.search(rationale, max(0, ms - 4), ms)
        if article and (new_word.lower().startswith("a ") or head.lower() in NOUN_WORDS):
            ms = article.start()  # "a hushed whisper" -> "anger"; "a whisper" -> "a whisper"
            new_word = _match_case(new_word, article.group(0))
        else:
            new_word = _match_case(new_word, rationale[ms:me])
        edits.append((ms, me, new_word))
    return _replace(rationale, edits)


def wrong_conclusion(completion: str, facts: Facts, rng: random.Random, labels: Sequence[str] = DEFAULT_LABELS) -> str:
    """Conclude, in text and answer, on the label the claimed cues support least (interpretative_quality)."""
    rationale, answer = _split(completion, labels)
    found = conclusion(analyse(rationale), labels)
    gold = answer or (found[0] if found else None)
    new = _least_supported(rationale, facts, gold, labels, rng)
    return format_target(_reconclude(rationale, gold, new, labels), new)


def disconnect_cues(completion: str, facts: Facts, rng: random.Random, labels: Sequence[str] = DEFAULT_LABELS) -> str:
    """Keep the cues and the gold answer, but conclude the text on the label the cues support least
    (interpretative_quality): the cues do not lead to the text's conclusion, nor that to the answer."""
    rationale, answer = _split(completion, labels)
    found = conclusion(analyse(rationale), labels)
    gold = answer or (found[0] if found else None)
    new = _least_supported(rationale, facts, gold, labels, rng)
    return format_target(_reconclude(rationale, gold, new, labels), answer or "")


def wrong_answer_label(
    completion: str, facts: Facts, rng: random.Random, labels: Sequence[str] = DEFAULT_LABELS
) -> str:
    """Another label in the answer tag, text unchanged (interpretative_quality)."""
    rationale, answer = _split(completion, labels)
    return format_target(rationale, rng.choice([lab for lab in labels if lab != answer]))


def shuffle_sentences(
    completion: str, facts: Facts, rng: random.Random, labels: Sequence[str] = DEFAULT_LABELS
) -> str:
    """Sentences naming an emotion first, the others shuffled after them (interpretative_quality): the text
    states its verdict before any evidence and ends on a cue, not on a conclusion."""
    rationale, answer = _split(completion, labels)
    a = analyse(rationale)
    lex = emotion_lexicon(tuple(labels))
    sentences = [rationale[s:e] for s, e in a.sentences]
    naming = [i for i, (s, e) in enumerate(a.sentences) if lex.mentions(a.masked, s, e)]
    rest = [i for i in range(len(sentences)) if i not in naming]
    rng.shuffle(naming)
    rng.shuffle(rest)
    order = naming + rest
    if order == list(range(len(sentences))):
        order = order[::-1]
    return format_target(" ".join(sentences[i] for i in order), answer or "")


# ---------------------------------------------------------------------------------- completeness
def drop_cues(completion: str, facts: Facts, rng: random.Random, labels: Sequence[str] = DEFAULT_LABELS) -> str:
    """Remove the sentences that carry cue claims, the speaker or the transcript quote
    (caption_completeness); the concluding sentence stays, reduced to a bare verdict if it held cues."""
    rationale, answer = _split(completion, labels)
    a = analyse(rationale)
    found = conclusion(a, labels)
    last = a.sentence_of(found[1]) if found else len(a.sentences) - 1
    quote = transcript_quote(a, facts.transcript)
    bearing = {a.sentence_of(c.start) for c in a.claims}
    bearing |= {a.sentence_of(q.start) for q in stress_quotes(a, facts.transcript)}
    if quote is not None:
        bearing.add(a.sentence_of(quote.start))
    for i in range(len(a.sentences)):
        text = a.sentence_text(i)
        if SPEAKER.search(text) or any(p.search(text) for p in COVERAGE.values()):
            bearing.add(i)
    kept = [rationale[s:e] for i, (s, e) in enumerate(a.sentences) if i not in bearing and i != last]
    label = found[0] if found else answer
    if last in bearing or not a.sentences:
        kept.append(f"Overall, the speaker sounds {emotion_phrase(label, 'sad')}." if label else "")
    else:
        kept.append(rationale[a.sentences[last][0] : a.sentences[last][1]])
    return format_target(" ".join(k for k in kept if k), answer or "")


# --------------------------------------------------------------------------------------- fluency
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)]*$")


def truncate(completion: str, facts: Facts, rng: random.Random, labels: Sequence[str] = DEFAULT_LABELS) -> str:
    """Cut the rationale mid-sentence (between 35% and 75% of its length) and lose the closing tags
    (fluency_structure)."""
    rationale, _ = _split(completion, labels)
    lo, hi = int(len(rationale) * 0.35), int(len(rationale) * 0.75)
    cuts = [m.start() for m in re.finditer(r"\s", rationale) if lo <= m.start() <= hi]
    cuts = [c for c in cuts if not _SENTENCE_END.search(rationale[:c])] or cuts or [len(rationale) // 2]
    head = rationale[: rng.choice(cuts)].rstrip(" ,;:")
    return "<think>" + head


def repeat_text(completion: str, facts: Facts, rng: random.Random, labels: Sequence[str] = DEFAULT_LABELS) -> str:
    """Say a third of the sentences (at least two) twice in a row (fluency_structure)."""
    rationale, answer = _split(completion, labels)
    a = analyse(rationale)
    sentences = [rationale[s:e] for s, e in a.sentences]
    k = min(len(sentences), max(2, len(sentences) // 3))
    twice = set(rng.sample(range(len(sentences)), k))
    out = []
    for i, s in enumerate(sentences):
        out.append(s)
        if i in twice:
            out.append(s)
    return format_target(" ".join(out), answer or "")


def break_tags(completion: str, facts: Facts, rng: random.Random, labels: Sequence[str] = DEFAULT_LABELS) -> str:
    """Malformed or missing tags (fluency_structure), one of six kinds chosen at random."""
    rationale, answer = _split(completion, labels)
    answer = answer or ""
    kinds = (
        lambda: f"{rationale}</think><answer>{answer}</answer>",
        lambda: f"<think>{rationale}<answer>{answer}</answer>",
        lambda: f"<think>{rationale}</think><ans>{answer}</ans>",
        lambda: f"<think>{rationale} <answer>{answer}</answer></think>",
        lambda: f"<think>{rationale}</think><answer>{answer}</answer><answer>{answer}</answer>",
        lambda: f"<thinking>{rationale}</thinking>Answer: {answer}",
    )
    return rng.choice(kinds)()


DEGRADATIONS: dict[str, Degradation] = {
    "contradict_cues": contradict_cues,
    "wrong_conclusion": wrong_conclusion,
    "disconnect_cues": disconnect_cues,
    "drop_cues": drop_cues,
    "truncate": truncate,
    "shuffle_sentences": shuffle_sentences,
    "repeat_text": repeat_text,
    "break_tags": break_tags,
    "wrong_answer_label": wrong_answer_label,
}

TARGETS: dict[str, str] = {
    "contradict_cues": "factual_alignment",
    "wrong_conclusion": "interpretative_quality",
    "disconnect_cues": "interpretative_quality",
    "drop_cues": "caption_completeness",
    "truncate": "fluency_structure",
    "shuffle_sentences": "interpretative_quality",
    "repeat_text": "fluency_structure",
    "break_tags": "fluency_structure",
    "wrong_answer_label": "interpretative_quality",
}
