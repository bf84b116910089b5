"""The rule-based rationale judge: four 1-5 scores grounded in a clip's measured facts.

The paper scores rationales with an LLM judge on factual alignment, interpretative quality, caption
completeness and fluency/structure; this judge scores the same four dimensions deterministically from
the clip's ``Facts`` and the shared cue lexicon, fast enough to be a reward inside RL (thousands of
rationales per second on one core).

Scoring rules (each score is clamped to 1-5 and rounded to one decimal):

factual_alignment
    Claims are the lexicon phrases in the rationale (quoted text excluded) on pitch, energy, speed,
    intonation, gender and voicing, plus quoted words said to be stressed. A claim *agrees* when its value
    is the measured one; it *contradicts* when it names another value (low vs high, another contour, the
    other gender, "whispered" for voiced speech, a stressed word the facts do not list); it is
    *unverifiable* when the attribute was not measured, when it is negated ("not loud"), or when it is a
    level adjacent to the measured one (medium vs low/high: level boundaries are soft, so this is not
    counted as a contradiction). Score = 1 + 4 * agree / (agree + 2 * contradicts + 0.5 * unverifiable)
    (negated claims weigh 0); a rationale with no checkable claim scores 2, one with a single agreeing
    claim at most 4.
interpretative_quality
    s(e) = sum of EVIDENCE over the distinct claimed cues (negated ones excluded; a cue that argues against
    the conclusion inside a concession - "although", "admittedly" - is not held against it). With c the
    concluded emotion: s(c) < 0 -> 1, s(c) = 0 -> 2, else 2.5 + 2.5 * s(c) / max_e s(e). Then: no
    conclusion in the final two sentences -> at most 2; conclusion differs from the answer tag -> at most
    1.5; the words suggest an emotion other than the gold one (``facts.content_emotion``) and no sentence
    sets the words against the voice (a content word, a contrast marker and an emotion or valence word)
    -> -1.5; there is a transcript and the words are never weighed -> -0.5.
caption_completeness
    Items: speaker (gender or age), pitch, energy, rate, intonation, a transcript quote (three or more
    consecutive words of it, or all of it). An item counts when it is mentioned (a lexicon claim or a
    plainer mention such as "loudness" or "tempo"); items the facts lack (no transcript, pitch of a
    whisper) are not required unless mentioned. Score = 1 + 4 * covered / required.
fluency_structure
    From 5: tags not well formed (``prompts.is_well_formed``: one think block, one answer that is a label of
    the set, nothing else) -2; length outside 50-200 words -1 (-2 under 35 or over 250); each repeated
    sentence -1 (at most -2); distinct 3-gram ratio r under 0.9: -10 * (0.9 - r) (at most -2); mean sentence
    length outside 5-45 words -1; a sentence over 70 words -0.5; no final punctuation (cut mid-sentence)
    -1; the first sentence opens with a connective that refers back ("Therefore", "Overall") -0.5.

An empty rationale scores 1 on every dimension.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from emotionthinker.annotate.facts import Facts
from emotionthinker.annotate.lexicon import EVIDENCE, evidence
from emotionthinker.judge.text import (
    CONTENT,
    CONTRAST,
    COVERAGE,
    SPEAKER,
    Analysis,
    analyse,
    conclusion,
    emotion_lexicon,
    negated,
    stress_quotes,
    transcript_quote,
    words_of,
)
from emotionthinker.labels import DEFAULT_LABELS, normalise
from emotionthinker.prompts import is_well_formed, parse_answer, parse_think

DIMENSIONS = ("factual_alignment", "interpretative_quality", "caption_completeness", "fluency_structure")
CHECKABLE = ("pitch", "energy", "speed", "intonation", "gender", "voicing")
LEVELLED = ("pitch", "energy", "speed")
EVIDENTIAL = ("pitch", "energy", "speed", "intonation", "voicing")
ITEMS = ("speaker", "pitch", "energy", "speed", "intonation", "transcript")

_ANSWER_BLOCK = re.compile(r"<answer>.*?(?:</answer>|$)", re.S | re.I)
_TAG = re.compile(r"</?\s*[a-z][\w-]*\s*>", re.I)  # any tag-like token left in the reasoning
_THINK_OPEN = re.compile(r"<think>", re.I)
_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.S | re.I)
_CONCESSION = re.compile(
    r"\b(?:although|though|admittedly|despite|even if|granted|pulls? the other way|argues? otherwise|"
    r"fits? less well|only one cue|on its own|by itself|in itself)\b",
    re.I,
)
_VALENCE = re.compile(
    r"\b(?:positive|negative|upbeat|cheerful|gloomy|bleak|hopeful|emotional|charged|laden|loaded|dramatic|"
    r"alarming|hostile|friendly|pleasant|unpleasant|tragic|excited|distressing|threatening|rude|insulting)\b",
    re.I,
)
_CONNECTIVE = re.compile(
    r"^\W*(?:so|therefore|thus|hence|overall|together|taken together|all (?:of )?this|still|but|and|also|"
    r"moreover|in addition|furthermore|however|yet|at the same time|alongside this|added to that|just as telling|"
    r"on balance|putting (?:the|these|it all) \w+ together|everything considered|weighing the evidence|in short|"
    r"in sum|to sum up|as a result|consequently|these observations)\b",
    re.I,
)
_FINAL_PUNCT = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*$")


@dataclass(frozen=True)
class Claim:
    """One checked claim: a lexicon cue (attribute, value, phrase) or a stressed word (attribute "stress")."""

    attribute: str
    value: str
    phrase: str
    verdict: str  # agrees | contradicts | unverifiable
    note: str = ""


@dataclass
class Judgement:
    factual_alignment: float
    interpretative_quality: float
    caption_completeness: float
    fluency_structure: float
    claims: list[Claim] = field(default_factory=list)
    conclusion: str | None = None  # the emotion the text concludes on
    answer: str | None = None  # the <answer> label, if it is one of the label set
    notes: list[str] = field(default_factory=list)
    overall: float = field(init=False)

    def __post_init__(self) -> None:
        self.overall = round(sum(self.scores().values()) / len(DIMENSIONS), 3)

    def scores(self) -> dict[str, float]:
        return {d: getattr(self, d) for d in DIMENSIONS}

    def reward(self, weights: Sequence[float] = (0.25, 0.25, 0.25, 0.25)) -> float:
        """sum_j w_j * g_j / 5 over the four dimensions (in ``DIMENSIONS`` order); 1.0 for all-5 scores with
        weights summing to one."""
        if len(weights) != len(DIMENSIONS):
            raise ValueError(f"need {len(DIMENSIONS)} weights, got {len(weights)}")
        return sum(w * g for w, g in zip(weights, self.scores().values(), strict=True)) / 5.0

    def to_dict(self) -> dict:
        return asdict(self)


def _clamp(x: float) -> float:
    return round(min(5.0, max(1.0, x)), 1)


def rationale_of(completion: str) -> str:
    """The reasoning text: the first think block, or for a malformed completion whatever text is left once
    tags and answer blocks are taken out."""
    text = parse_think(completion)
    if text is None:
        text = completion or ""
        m = _THINK_OPEN.search(text)
        if m:
            text = text[m.end() :]
    if "<" in text:
        text = _TAG.sub(" ", _ANSWER_BLOCK.sub(" ", text))
    return " ".join(text.split())


# ------------------------------------------------------------------------------------------- factual
def _factual(a: Analysis, facts: Facts, notes: list[str]) -> tuple[list[Claim], float, list[tuple[str, str, int]]]:
    """The checked claims, the score, and the (attribute, value, start) of the non-negated cue claims."""
    cues = facts.cues()
    claims: list[Claim] = []
    asserted: list[tuple[str, str, int]] = []
    weights = {"agrees": 0.0, "contradicts": 0.0, "unverifiable": 0.0}
    for c in a.claims:
        if c.attribute not in CHECKABLE:
            continue
        truth = cues.get(c.attribute)
        if negated(a.masked, c.start):
            claims.append(Claim(c.attribute, c.value, c.phrase, "unverifiable", "negated"))
            continue
        asserted.append((c.attribute, c.value, c.start))
        if truth is None:
            verdict, note = "unverifiable", "not measured"
        elif c.value == truth:
            verdict, note = "agrees", ""
        elif c.attribute in LEVELLED and "medium" in (c.value, truth):
            verdict, note = "unverifiable", f"adjacent level (measured {truth})"
        else:
            verdict, note = "contradicts", f"measured {truth}"
        claims.append(Claim(c.attribute, c.value, c.phrase, verdict, note))
        weights[verdict] += 1.0
    stressed = {w for s in facts.stressed_words for w in words_of(s)}
    for q in stress_quotes(a, facts.transcript):
        if not stressed:
            verdict, note = "unverifiable", "no stressed words measured"
        elif all(w in stressed for w in q.words):
            verdict, note = "agrees", ""
        else:
            verdict, note = "contradicts", "stressed: " + ", ".join(facts.stressed_words)
        claims.append(Claim("stress", " ".join(q.words), q.text, verdict, note))
        weights[verdict] += 1.0
    agree, contra, unver = weights["agrees"], weights["contradicts"], weights["unverifiable"]
    for c in claims:
        if c.verdict == "contradicts":
            notes.append(f"factual: '{c.phrase}' contradicts the facts ({c.attribute} {c.note})")
    if agree + contra == 0:
        notes.append("factual: no checkable cue claim")
        return claims, 2.0, asserted
    score = 1.0 + 4.0 * agree / (agree + 2.0 * contra + 0.5 * unver)
    if agree + contra == 1 and contra == 0:
        score = min(score, 4.0)
        notes.append("factual: a single grounded claim")
    return claims, _clamp(score), asserted


# ------------------------------------------------------------------------------------ interpretative
def _support(label: str, cues: set[tuple[str, str]]) -> int:
    key = normalise(label)
    return sum(evidence(key, a, v) for a, v in cues)


def _prosody_emotion(facts: Facts, labels: Sequence[str]) -> str | None:
    cues = {(a, v) for a, v in facts.cues().items() if a in EVIDENTIAL}
    scored = [(_support(lab, cues), lab) for lab in labels if normalise(lab) in EVIDENCE]
    return max(scored)[1] if scored and max(scored)[0] > 0 else None


def _interpretative(
    a: Analysis,
    facts: Facts,
    asserted: list[tuple[str, str, int]],
    concluded: tuple[str, int, int] | None,
    answer: str | None,
    labels: Sequence[str],
    notes: list[str],
) -> float:
    target = concluded[0] if concluded else answer
    cues = {(att, v) for att, v, _ in asserted if att in EVIDENTIAL}
    if not cues or not any(evidence(normalise(lab), att, v) for lab in labels for att, v in cues):
        score = 2.0
        notes.append("interpretative: no claimed cue bears on any emotion")
    elif target is None:
        score = 1.0
    else:
        # a counter-cue granted in a concession is not held against the conclusion
        key = normalise(target)
        counted = {
            (att, v)
            for att, v, pos in asserted
            if att in EVIDENTIAL
            and not (evidence(key, att, v) < 0 and _CONCESSION.search(a.sentence_text(a.sentence_of(pos))))
        }
        own = _support(target, counted)
        best = max([own] + [_support(lab, cues) for lab in labels])
        if own < 0:
            score = 1.0
            notes.append(f"interpretative: the claimed cues argue against '{target}'")
        elif own == 0:
            score = 2.0
            notes.append(f"interpretative: no claimed cue supports '{target}'")
        else:
            score = 2.5 + 2.5 * own / best
            if own < best:
                notes.append(f"interpretative: the cues fit other emotions better than '{target}'")
    if concluded is None:
        score = min(score, 2.0)
        notes.append("interpretative: no emotion concluded in the final sentences")
    elif answer is not None and concluded[0] != answer:
        score = min(score, 1.5)
        notes.append(f"interpretative: the text concludes '{concluded[0]}' but the answer is '{answer}'")
    if facts.transcript:
        sentences = [a.sentence_text(i) for i in range(len(a.sentences))]
        talks = [s for s in sentences if CONTENT.search(s)]
        reference = facts.emotion or _prosody_emotion(facts, labels)
        if facts.content_emotion and reference and normalise(facts.content_emotion) != normalise(reference):
            lex = emotion_lexicon(tuple(labels))
            if not any(CONTRAST.search(s) and (lex.pattern.search(s) or _VALENCE.search(s)) for s in talks):
                score -= 1.5
                notes.append(f"interpretative: the words suggest '{facts.content_emotion}' and the conflict "
                             "with the voice is not addressed")  # fmt: skip
        elif not talks:
            score -= 0.5
            notes.append("interpretative: the words are never weighed against the voice")
    return _clamp(score)


# -------------------------------------------------------------------------------------- completeness
def _completeness(a: Analysis, facts: Facts, notes: list[str]) -> float:
    claimed = {c.attribute for c in a.claims}
    mentioned = {
        "speaker": "gender" in claimed or bool(SPEAKER.search(a.masked)),
        "transcript": transcript_quote(a, facts.transcript) is not None,
    }
    for item, pattern in COVERAGE.items():
        mentioned[item] = item in claimed or bool(pattern.search(a.masked))
    available = {
        "speaker": bool(facts.gender or facts.age_level),
        "pitch": bool(facts.pitch),
        "energy": bool(facts.energy),
        "speed": bool(facts.speed),
        "intonation": bool(facts.intonation),
        "transcript": bool(facts.transcript),
    }
    required = [i for i in ITEMS if available[i] or mentioned[i]]
    if not required:
        return 1.0
    missing = [i for i in required if not mentioned[i]]
    if missing:
        notes.append("completeness: missing " + ", ".join(missing))
    return _clamp(1.0 + 4.0 * (len(required) - len(missing)) / len(required))


# ------------------------------------------------------------------------------------------- fluency
def _tag_problem(completion: str, labels: Sequence[str]) -> str:
    raw = parse_answer(completion)
    if len(_THINK_BLOCK.findall(completion or "")) != 1:
        return "no single closed <think> block"
    if raw is None:
        return "no <answer> tag"
    if parse_answer(completion, labels) is None:
        return f"answer '{raw}' is not a label of the set"
    return "extra text or repeated tags around the blocks"


def _fluency(completion: str, rationale: str, a: Analysis, labels: Sequence[str], notes: list[str]) -> float:
    score = 5.0
    if not is_well_formed(completion, labels):
        score -= 2.0
        notes.append("fluency: malformed tags (" + _tag_problem(completion, labels) + ")")
    tokens = words_of(rationale)
    n = len(tokens)
    if n < 50 or n > 200:
        score -= 2.0 if n < 35 or n > 250 else 1.0
        notes.append(f"fluency: {n} words (50-200 expected)")
    seen: set[str] = set()
    repeats = 0
    lengths = []
    for s, e in a.sentences:
        words = words_of(a.text[s:e])
        lengths.append(len(words))
        key = " ".join(words)
        if len(words) >= 3 and key in seen:
            repeats += 1
        seen.add(key)
    if repeats:
        score -= min(2.0, float(repeats))
        notes.append(f"fluency: {repeats} repeated sentence(s)")
    if n >= 12:
        grams = list(zip(tokens, tokens[1:], tokens[2:], strict=False))
        ratio = len(set(grams)) / len(grams)
        if ratio < 0.9:
            score -= min(2.0, 10.0 * (0.9 - ratio))
            notes.append(f"fluency: repetitive wording (distinct 3-grams {ratio:.2f})")
    if lengths:
        mean = sum(lengths) / len(lengths)
        if mean < 5 or mean > 45:
            score -= 1.0
            notes.append(f"fluency: mean sentence length {mean:.0f} words")
        if max(lengths) > 70:
            score -= 0.5
            notes.append("fluency: run-on sentence")
    if not _FINAL_PUNCT.search(rationale):
        score -= 1.0
        notes.append("fluency: ends mid-sentence")
    if a.sentences and _CONNECTIVE.search(a.sentence_text(0)):
        score -= 0.5
        notes.append("fluency: opens with a connective that refers back")
    return _clamp(score)


# ---------------------------------------------------------------------------------------------- judge
def judge(completion: str, facts: Facts, labels: Sequence[str] = DEFAULT_LABELS) -> Judgement:
    """Score one completion ("<think>rationale</think><answer>label</answer>") against a clip's facts.

    >>> f = Facts("u1", "sad", "I lost my keys again today.", "en", "female", "adult", "low", "low", "low",
    ...           "falling", "voiced", ("lost",))
    >>> text = ('A woman says "I lost my keys again today." Her pitch sits low and she speaks slowly, in a soft '
    ...         'voice, and the pitch falls at the end of the phrase. The word "lost" is stressed. The words are '
    ...         'plain, so the voice carries the feeling, and nothing in it sounds lively or bright at all. '
    ...         'Taken together, the low, slow and quiet delivery points to sadness.')
    >>> j = judge(f"<think>{text}</think><answer>sad</answer>", f)
    >>> j.scores()
    {'factual_alignment': 5.0, 'interpretative_quality': 5.0, 'caption_completeness': 5.0, 'fluency_structure': 5.0}
    >>> j.conclusion, j.answer, [c.verdict for c in j.claims][:3], j.reward()
    ('sad', 'sad', ['agrees', 'agrees', 'agrees'], 1.0)
    >>> judge(f"<think>{text}</think><answer>angry</answer>", f).interpretative_quality
    1.5
    """
    labels = tuple(labels)
    rationale = rationale_of(completion)
    answer = parse_answer(completion, labels)
    if not words_of(rationale):  # nothing to judge: the floor on every dimension
        return Judgement(1.0, 1.0, 1.0, 1.0, answer=answer, notes=["empty rationale"])
    a = analyse(rationale)
    notes: list[str] = []
    claims, factual, asserted = _factual(a, facts, notes)
    concluded = conclusion(a, labels)
    interp = _interpretative(a, facts, asserted, concluded, answer, labels, notes)
    complete = _completeness(a, facts, notes)
    fluent = _fluency(completion, rationale, a, labels, notes)
    return Judgement(
        factual_alignment=factual,
        interpretative_quality=interp,
        caption_completeness=complete,
        fluency_structure=fluent,
        claims=claims,
        conclusion=concluded[0] if concluded else None,
        answer=answer,
        notes=notes,
    )
