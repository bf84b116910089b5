"""Text analysis shared by the judge and the degradations: quotes, sentences, cue claims with their
positions, emotion mentions and the conclusion of a rationale.

Everything here works on a *masked* copy of the rationale, in which the inside of every quoted span is
blanked out (same length, so offsets carry over). Quoted text is cited material (the transcript, a
stressed word), not the rationale's own claims: "I'm so happy" in a quote is neither a conclusion nor a
cue, and "She said 'slow down'" claims no speaking rate. All regexes are compiled at import.

>>> a = analyse('A woman says "I am not sad at all." Her pitch sits low and she speaks slowly. She sounds sad.')
>>> [(c.attribute, c.value) for c in a.claims]
[('gender', 'female'), ('pitch', 'low'), ('speed', 'low')]
>>> [q.text for q in a.quotes], len(a.sentences)
(['I am not sad at all.'], 3)
>>> conclusion(a)
('sad', 89, 92)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from emotionthinker.annotate.lexicon import claim_offsets
from emotionthinker.labels import DEFAULT_LABELS, normalise

# ---------------------------------------------------------------------------------------------- quotes
_QUOTE = re.compile(
    r'"[^"\n]{1,600}"'  # straight double quotes
    r"|\u201c[^\u201d\n]{1,600}\u201d"  # curly double quotes
    r"|\u2018(?:[^\u2019\n]|\u2019(?=\w)){1,300}\u2019(?!\w)"  # curly single quotes
    r"|(?<!\w)'(?:[^'\n]|'(?=\w)){1,300}'(?!\w)"  # straight single quotes; an apostrophe before a letter stays inside
)
_TRAILING_PUNCT = re.compile(r"[.!?\u2026]+$")
_WORD = re.compile(r"\w+(?:['\u2019-]\w+)*")


@dataclass(frozen=True)
class Quote:
    start: int  # offset of the opening quote mark
    end: int  # offset after the closing quote mark
    text: str  # the quoted content, without the marks

    @property
    def words(self) -> list[str]:
        return _WORD.findall(self.text.lower())


@dataclass(frozen=True)
class Span:
    """A cue claim found in the text: lexicon attribute, value and phrase, with its offsets."""

    start: int
    end: int
    attribute: str
    value: str
    phrase: str


@dataclass(frozen=True)
class Analysis:
    text: str  # the rationale as given
    masked: str  # same length, quoted content blanked
    quotes: tuple[Quote, ...]
    sentences: tuple[tuple[int, int], ...]  # (start, end) offsets of each sentence
    claims: tuple[Span, ...]

    def sentence_of(self, pos: int) -> int:
        for i, (s, e) in enumerate(self.sentences):
            if s <= pos < e:
                return i
        return len(self.sentences) - 1

    def sentence_text(self, i: int, masked: bool = True) -> str:
        s, e = self.sentences[i]
        return (self.masked if masked else self.text)[s:e]


def mask_quotes(text: str) -> tuple[str, tuple[Quote, ...]]:
    """Blank the inside of quoted spans (keeping a trailing full stop, so sentence ends survive).

    >>> mask_quotes('She says "Oh. Really?" twice.')
    ('She says "          ?" twice.', (Quote(start=9, end=22, text='Oh. Really?'),))
    """
    quotes = []
    parts = []
    last = 0
    for m in _QUOTE.finditer(text):
        inner = m.group(0)[1:-1]
        tail = _TRAILING_PUNCT.search(inner)
        keep = tail.group(0) if tail else ""
        parts.append(text[last : m.start() + 1])
        parts.append(" " * (len(inner) - len(keep)) + keep)
        last = m.end() - 1
        quotes.append(Quote(m.start(), m.end(), inner))
    if not quotes:
        return text, ()
    parts.append(text[last:])
    return "".join(parts), tuple(quotes)


# ------------------------------------------------------------------------------------------- sentences
# a sentence ends at . ! ? (optionally followed by a closing quote or bracket) before whitespace and a capital
_SENT_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z\u00c0-\u00de0-9])")


def sentence_spans(masked: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of each sentence of a masked text; whitespace between sentences belongs to neither.

    >>> t = "She is sad. He is not! Is it? yes."
    >>> [t[s:e] for s, e in sentence_spans(t)]
    ['She is sad.', 'He is not!', 'Is it? yes.']
    """
    spans = []
    start = len(masked) - len(masked.lstrip())
    for m in _SENT_END.finditer(masked):
        end = m.end() - (len(m.group(0)) - len(m.group(0).rstrip()))
        if end > start:
            spans.append((start, end))
        start = m.end()
    end = len(masked.rstrip())
    if end > start:
        spans.append((start, end))
    return tuple(spans)


# -------------------------------------------------------------------------------------------- claims


def claim_spans(text: str) -> tuple[Span, ...]:
    """Cue claims in ``text`` with offsets, in order of appearance (same claims as ``lexicon.find_claims``).

    >>> [(s.attribute, s.value, s.start) for s in claim_spans("She speaks slowly; the pitch rises and then falls.")]
    [('speed', 'low', 11), ('intonation', 'rising-falling', 29)]
    """
    return tuple(Span(s, e, a, v, p) for s, e, a, v, p in claim_offsets(text))


def analyse(text: str) -> Analysis:
    masked, quotes = mask_quotes(text)
    return Analysis(text, masked, quotes, sentence_spans(masked), claim_spans(masked))


# ----------------------------------------------------------------------------------------- negation
# a negator at most two words before the mention, within the same clause
_NEGATED = re.compile(
    r"(?:\b(?:not|no|never|nor|neither|hardly|barely|without|lacks?|lacking|isn't|aren't|wasn't|weren't|doesn't|"
    r"don't|didn't|rather than|instead of|more than|other than|rules? out|ruled out|absence of|free of|"
    r"far from)\b)(?:[\s-]+[\w'-]+){0,2}[\s-]*$",
    re.I,
)
_CLAUSE_BREAK = re.compile(r"[,;:.!?()\u2014]|\s-\s|\bbut\b|\byet\b", re.I)


def clause_before(masked: str, pos: int, window: int = 60) -> str:
    """The text of the clause that leads up to ``pos`` (at most ``window`` characters)."""
    chunk = masked[max(0, pos - window) : pos]
    cut = 0
    for m in _CLAUSE_BREAK.finditer(chunk):
        cut = m.end()
    return chunk[cut:]


def negated(masked: str, pos: int) -> bool:
    """Whether a negator governs the word at ``pos``.

    >>> t = "She is not very loud but clearly sad, not angry."
    >>> negated(t, t.index("loud")), negated(t, t.index("sad")), negated(t, t.index("angry"))
    (True, False, True)
    """
    return bool(_NEGATED.search(clause_before(masked, pos)))


# ------------------------------------------------------------------------------------ emotion mentions
# How each canonical label may be named in prose. Labels outside this table are matched by their own words.
EMOTION_WORDS: dict[str, tuple[str, ...]] = {
    "neutral": ("neutral", "neutrality", "neutrally", "calm", "calmly", "calmness", "composure",
                "unemotional", "emotionless", "matter-of-fact", "dispassionate"),
    "happy": ("happy", "happily", "happiness", "joy", "joyful", "joyous", "cheerful", "cheerfulness", "delight",
              "delighted", "elated", "elation", "glad", "gladness", "excited", "excitement", "pleased"),
    "sad": ("sad", "sadly", "sadness", "sorrow", "sorrowful", "melancholy", "melancholic", "grief", "grieving",
            "dejected", "dejection", "downcast", "gloomy", "despondent", "unhappy", "unhappiness", "mournful"),
    "angry": ("angry", "angrily", "anger", "furious", "fury", "rage", "enraged", "irritated", "irritation",
              "annoyed", "annoyance", "hostile", "hostility", "irate", "outraged", "outrage", "indignant"),
    "contempt or disgust": ("contempt", "contemptuous", "disgust", "disgusted", "disdain", "disdainful", "scorn",
                            "scornful", "revulsion", "repulsed", "revolted", "sneering", "derision", "derisive"),
    "confused": ("confused", "confusion", "puzzled", "puzzlement", "bewildered", "bewilderment", "perplexed",
                 "perplexity", "baffled", "bafflement"),
    "whisper": ("whisper", "whispers", "whispered", "whispering", "hushed"),
    "surprise": ("surprise", "surprised", "astonished", "astonishment", "amazed", "amazement", "startled",
                 "shocked", "shock", "stunned", "astounded"),
    "fear": ("fear", "fearful", "afraid", "anxious", "anxiety", "scared", "frightened", "terrified", "terror",
             "nervous", "nervousness", "panic", "panicked", "dread", "alarmed", "worried", "worry"),
}  # fmt: skip

# Words for naming a label in a rewritten conclusion: (noun phrase, adjective).
EMOTION_FORMS: dict[str, tuple[str, str]] = {
    "neutral": ("neutrality", "neutral"),
    "happy": ("happiness", "happy"),
    "sad": ("sadness", "sad"),
    "angry": ("anger", "angry"),
    "contempt or disgust": ("contempt or disgust", "disgusted"),
    "confused": ("confusion", "confused"),
    "whisper": ("a whisper", "whispering"),
    "surprise": ("surprise", "surprised"),
    "fear": ("fear", "afraid"),
}
NOUN_WORDS = frozenset(
    {"neutrality", "calmness", "composure", "happiness", "joy", "delight", "elation", "gladness", "excitement",
     "cheerfulness", "sadness", "sorrow", "melancholy", "grief", "dejection", "unhappiness", "anger", "fury",
     "rage", "irritation", "annoyance", "hostility", "outrage", "contempt", "disgust", "disdain", "scorn",
     "revulsion", "derision", "confusion", "puzzlement", "bewilderment", "perplexity", "bafflement", "whisper",
     "surprise", "astonishment", "amazement", "shock", "fear", "anxiety", "terror", "nervousness", "panic",
     "dread", "worry"}
)  # fmt: skip


class EmotionLexicon:
    """The compiled emotion-word matcher for one label set."""

    def __init__(self, labels: Sequence[str]):
        self.labels = tuple(labels)
        words: dict[str, str] = {}
        for label in self.labels:
            canon = normalise(label)
            for w in EMOTION_WORDS.get(canon, (canon,)):
                words.setdefault(w.lower(), label)
        self.word_label = words
        alternation = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        self.pattern = re.compile(rf"(?<![\w-])(?:{alternation})(?![\w-])", re.I)

    def mentions(self, masked: str, start: int = 0, end: int | None = None) -> list[tuple[int, int, str]]:
        """(start, end, label) of every emotion word in ``masked[start:end]``."""
        end = len(masked) if end is None else end
        found = self.pattern.finditer(masked, start, end)
        return [(m.start(), m.end(), self.word_label[m.group(0).lower()]) for m in found]


@lru_cache(maxsize=16)
def emotion_lexicon(labels: tuple[str, ...] = DEFAULT_LABELS) -> EmotionLexicon:
    return EmotionLexicon(labels)


# ------------------------------------------------------------------------------------------ conclusion
# words that introduce the verdict of a sentence ("points to X", "the speaker sounds X", "the label is X")
_VERDICT = re.compile(
    r"\b(?:points?(?:ing)? (?:to|toward|towards)|suggest(?:s|ing|ed)?|indicat(?:e|es|ing|ed)|conclu(?:de|des|sion)|"
    r"labels?|sounds?|comes? across as|reading|picture|converge[sd]? on|conveys?|described as|likely|signals?|"
    r"consistent with|expresses|emotion is|speaker is|feels?|reflects?|reveals?|best fits?|fits|is|as)\b"
    r"(?:[\s-]+[\w'-]+){0,3}[\s-]*$",
    re.I,
)


def conclusion(analysis: Analysis, labels: Sequence[str] = DEFAULT_LABELS, last: int = 2):
    """The emotion the rationale concludes on: the last sentence among the final ``last`` ones that names an
    emotion (not negated); within it the last mention introduced by a verdict phrase, else the last mention.
    Returns (label, start, end) or None.

    >>> conclusion(analyse("The words sound happy, but her pitch sits low. This points to sadness, not joy."))
    ('sad', 62, 69)
    """
    lex = emotion_lexicon(tuple(labels))
    n = len(analysis.sentences)
    for i in range(n - 1, max(-1, n - 1 - last), -1):
        s, e = analysis.sentences[i]
        found = [m for m in lex.mentions(analysis.masked, s, e) if not negated(analysis.masked, m[0])]
        if not found:
            continue
        marked = [m for m in found if _VERDICT.search(clause_before(analysis.masked, m[0]))]
        start, end, label = (marked or found)[-1]
        return label, start, end
    return None


def emotion_phrase(label: str, like: str) -> str:
    """A word for ``label`` of the same kind (noun or adjective) as the word ``like`` it replaces."""
    noun, adj = EMOTION_FORMS.get(label, (label, label))
    word = noun if like.lower() in NOUN_WORDS else adj
    return word[0].upper() + word[1:] if like[:1].isupper() else word


# ------------------------------------------------------------------------------ stress, coverage, content
_STRESS_KW = re.compile(
    r"\b(?:stress(?:es|ed|ing)?|emphasi[sz](?:e|es|ed|ing)|emphasis|emphatic\w*|accent(?:s|ed|uat\w+)?|"
    r"lean(?:s|ing)? on|prominen\w+|weight on|focal word|focus)\b",
    re.I,
)


def stress_quotes(analysis: Analysis, transcript: str | None = None) -> list[Quote]:
    """Quoted words (one or two) in sentences that talk about stress or emphasis: the stressed-word claims.
    A quote of the whole transcript is not a stress claim."""
    whole = _WORD.findall(transcript.lower()) if transcript else None
    out = []
    for q in analysis.quotes:
        words = q.words
        if not 1 <= len(words) <= 2 or words == whole:
            continue
        i = analysis.sentence_of(q.start)
        if _STRESS_KW.search(analysis.sentence_text(i)):
            out.append(q)
    return out


def words_of(text: str | None) -> list[str]:
    return _WORD.findall(text.lower()) if text else []


def transcript_quote(analysis: Analysis, transcript: str | None) -> Quote | None:
    """The first quote that cites the transcript: three or more consecutive words of it, or all of it."""
    words = words_of(transcript)
    if not words:
        return None
    haystack = f" {' '.join(words)} "
    for q in analysis.quotes:
        qw = q.words
        if qw and (len(qw) >= 3 or qw == words) and f" {' '.join(qw)} " in haystack:
            return q
    return None


# Mentions that cover a caption item without a lexicon claim (coverage is about what is discussed;
# whether it is right is the factual dimension's business, which only trusts lexicon phrases).
SPEAKER = re.compile(
    r"\b(?:female|male|wom[ae]n|m[ae]n|girl|boy|lady|gentleman|child|kid|teen(?:ager|age)?|adolescent|young|"
    r"elderly|senior|adult|middle-aged|older|aged)\b",
    re.I,
)
COVERAGE: dict[str, re.Pattern] = {
    "pitch": re.compile(
        r"\b(?:low|high|higher|lower|mid|medium|moderate|average|raised|elevated|lowered|deep|normal|mid-range)"
        r"(?:[\s-]+\w+)?[\s-]+pitch(?:ed)?\b|\b(?:pitch|f0)(?: level)? (?:is|was|sits|stays|remains|seems|sounds|"
        r"runs|lies|appears|level)\b|\bpitch (?:register|level|range)\b",
        re.I,
    ),
    "energy": re.compile(
        r"\b(?:loud(?:ly|ness|er)?|quiet(?:ly|er)?|soft(?:ly|er)?|volume|intensity|energy|energetic|forceful\w*)\b",
        re.I,
    ),
    "speed": re.compile(
        r"\b(?:speaking rate|speech rate|rate of speech|tempo|pace|fast(?:er)?|slow(?:ly|er)?|quick(?:ly|er)?|"
        r"rapid(?:ly)?|hurried(?:ly)?|leisurely|unhurried)\b",
        re.I,
    ),
    "intonation": re.compile(
        r"\b(?:intonation|contour|melody|melodic|inflection|monoton\w*|pitch (?:rises|falls|climbs|drops|goes up|"
        r"goes down|movement|swings)|(?:rises|falls|climbs|drops) (?:at|toward|towards) the end)\b",
        re.I,
    ),
}
# talk about the words themselves (as opposed to the voice), and markers of a contrast
CONTENT = re.compile(
    r"\b(?:words?|wording|content|lexical\w*|what (?:is|was|she|he|they) (?:says?|said)|sentence|phrasing|"
    r"meaning|semantic\w*|literal\w*|text|message|transcript)\b",
    re.I,
)
CONTRAST = re.compile(
    r"\b(?:but|although|though|despite|however|while|whereas|yet|even though|in spite of|contradicts?|"
    r"contrast\w*|at odds|mismatch\w*|conflict\w*|clash\w*|disagree\w*|does not match|do not match|doesn't match|"
    r"don't match|not match|belie\w*|different story|not support|rather than|instead)\b",
    re.I,
)
