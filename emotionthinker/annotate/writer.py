"""The offline rationale writer: a grammar grounded in a clip's measured facts and its label.

Every cue claim is realised with a phrase of the shared lexicon, so the judge can check it, and only cues
the facts hold are claimed. Supporting cues lead, a cue that argues against the label is granted with a
concession, the words are weighed as a secondary cue (agreeing, neutral or conflicting), and the label is
named only in the closing sentence, so that the conclusion emerges from the cues. Variety comes from the
grammar: cue order, many clause realisations per cue, hedges, connectives, sentence joins and closings,
chosen by a generator seeded on the clip id (the same clip always gets the same rationale).

>>> from emotionthinker.annotate.facts import Facts
>>> f = Facts("u1", "sad", "I will go home now.", "en", "female", None, "low", "low", "low", "falling", "voiced")
>>> text = write_rationale(f)
>>> 50 <= len(text.split()) <= 200 and '"I will go home now."' in text and not text.lower().startswith("sad")
True
"""

from __future__ import annotations

import hashlib
import random
import re

from emotionthinker.annotate.facts import Facts
from emotionthinker.annotate.lexicon import evidence

# How each emotion is named in a conclusion: (noun phrase, adjective phrase for "the speaker sounds ...").
EMOTION_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "neutral": (("a neutral state", "neutral composure"), ("neutral", "emotionally neutral")),
    "happy": (("happiness", "joy"), ("happy", "joyful")),
    "sad": (("sadness", "sorrow"), ("sad", "sorrowful")),
    "angry": (("anger", "irritation bordering on anger"), ("angry", "furious")),
    "contempt or disgust": (("contempt or disgust", "disgust"), ("disgusted", "contemptuous")),
    "confused": (("confusion", "puzzlement"), ("confused", "puzzled")),
    "whisper": (("a whisper", "a hushed whisper"), ("speaking in a whisper", "keeping to a whisper")),
    "surprise": (("surprise", "astonishment"), ("surprised", "astonished")),
    "fear": (("fear", "anxiety"), ("afraid", "fearful")),
}

# Clause realisations of each cue. {pr}/{Pr}: pronoun, {pos}/{Pos}: possessive. Each holds exactly one
# lexicon phrase of its own value and no other (checked by the tests over every realisation).
CLAUSES: dict[tuple[str, str], tuple[str, ...]] = {
    ("pitch", "high"): ("{pos} pitch sits high", "{pr} speaks with a raised pitch", "the voice is high-pitched",
                        "an elevated pitch runs through the utterance", "{pos} high pitch is hard to miss",
                        "{pr} uses a high voice"),
    ("pitch", "medium"): ("{pos} pitch sits mid-range", "{pr} keeps a moderate pitch",
                          "the voice stays at an average pitch", "a medium pitch carries the utterance",
                          "{pr} speaks at a mid-range pitch"),
    ("pitch", "low"): ("{pos} pitch sits low", "{pr} speaks with a lowered pitch", "the voice is low-pitched",
                       "a low pitch colours the utterance", "{pr} uses a deep, low voice"),
    ("energy", "high"): ("{pr} is loud", "the delivery is loud", "there is strong vocal energy behind the words",
                         "{pr} speaks with raised volume", "{pos} forceful delivery fills the clip",
                         "the clip carries high energy"),
    ("energy", "medium"): ("{pr} speaks at a moderate volume", "the vocal energy is of ordinary loudness",
                           "{pr} keeps a medium energy", "there is moderate vocal energy in the delivery"),
    ("energy", "low"): ("{pr} is quiet", "the delivery is soft", "{pr} speaks with low energy",
                        "the voice has a subdued volume",
                        "there is only weak vocal energy", "{pos} voice stays soft"),
    ("speed", "high"): ("{pr} speaks quickly", "the words come at a rapid pace", "the delivery is hurried",
                        "{pr} talks at a brisk tempo", "the utterance is fast"),
    ("speed", "medium"): ("{pr} speaks at a moderate pace", "{pr} keeps a steady tempo",
                          "{pr} keeps an even pace", "the words come at normal speed"),
    ("speed", "low"): ("{pr} speaks slowly", "the words come at an unhurried rate", "the delivery is slow",
                       "{pr} talks at a sluggish tempo", "the utterance moves at a drawn-out pace"),
    ("intonation", "rising"): ("{pos} pitch rises toward the end", "{pr} ends on a rising intonation",
                               "the melody follows a rising contour",
                               "the voice climbs upward at the close", "the utterance has an upward contour"),
    ("intonation", "falling"): ("{pos} pitch falls toward the end", "the melody follows a falling contour",
                                "the utterance has a downward contour", "the voice drops away at the close",
                                "the phrase ends in a falling intonation"),
    ("intonation", "rising-falling"): ("the pitch rises and then falls", "the melody traces a rise-fall contour",
                                       "the utterance has an arched melody", "we hear rising-falling intonation"),
    ("intonation", "falling-rising"): ("the pitch falls and then rises", "the melody traces a fall-rise contour",
                                       "the utterance has a dipped melody", "we hear falling-rising intonation"),
    ("intonation", "flat"): ("{pr} speaks with flat intonation", "{pr} speaks almost in a monotone",
                             "the utterance keeps a level melody", "there is little pitch movement"),
    ("intonation", "expressive"): ("the melody shows wide pitch swings", "{pr} uses expressive intonation",
                                   "the utterance has a lively melody", "there is animated pitch movement"),
    ("voicing", "unvoiced"): ("the speech is whispered", "{pr} is whispering", "the voice comes out breathy, unvoiced",
                              "{pr} speaks without voicing"),
}  # fmt: skip

# What a cue tells about arousal and valence, without naming an emotion (the label comes last).
# Templates use {a|b|c} alternations, expanded recursively by ``expand``.
GLOSSES: dict[tuple[str, str], tuple[str, ...]] = {
    ("pitch", "high"): (
        "{a sign|a marker|an indication} of {heightened|raised|elevated} arousal",
        "which {tends to|often|typically} {come|go} with {excitement|tension|agitation}",
    ),
    ("pitch", "low"): (
        "which {usually|typically|often} goes with {low|reduced} arousal",
        "{a mark|a sign|a hallmark} of a {subdued|heavy|low-key} state",
    ),
    ("pitch", "medium"): ("which {suggests|implies|indicates} no particular {agitation|excitement}",),
    ("energy", "high"): (
        "which {signals|reflects|betrays} {strong|intense|considerable} activation",
        "{a sign|an indication} of {intensity|arousal|inner pressure}",
    ),
    ("energy", "low"): (
        "which {points to|hints at|suggests} {withdrawal|restraint|resignation}",
        "{a sign|an indication} of {low|reduced|little} activation",
    ),
    ("energy", "medium"): ("which {sounds|comes across as} {controlled|measured|contained}",),
    ("speed", "high"): (
        "as if {driven|pushed} by {urgency|pressure|agitation}",
        "which {conveys|suggests|betrays} {agitation|urgency|tension}",
    ),
    ("speed", "low"): (
        "as if {weighed down|held back|burdened}",
        "which {conveys|suggests|reflects} {heaviness|hesitation|reluctance}",
    ),
    ("speed", "medium"): ("which {sounds|comes across as} {composed|unremarkable|ordinary}",),
    ("intonation", "rising"): (
        "{the shape|the typical shape} of a {question|query} or of {astonishment|disbelief}",
        "as if {asking something|leaving something open|seeking an answer}",
    ),
    ("intonation", "falling"): ("{a final|a closed-off|a conclusive} ending", "as if {closing|settling} the matter"),
    ("intonation", "flat"): ("which {drains|strips} the utterance of {liveliness|colour|animation}",),
    ("intonation", "expressive"): ("which {shows|reveals|signals} {strong|marked|lively} engagement",),
    ("intonation", "rising-falling"): ("{an animated|an engaged|a lively} shape",),
    ("intonation", "falling-rising"): ("a shape that {leaves|keeps} the utterance {open|unresolved}",),
    ("voicing", "unvoiced"): ("as if {the speaker wants|trying} not to be {overheard|heard by others}",),
}

OPENERS = (
    "{In this clip|In the recording|In this recording|In the audio}, {subject} {says|utters|speaks the words} {quote}",
    "The {recording|clip|audio} {features|presents|contains} {subject} {saying|uttering|speaking} {quote}",
    "We {hear|listen to} {subject} {who says|saying|uttering} {quote}",
    "{Here|In this case} {subject} {utters|says|produces} the {words|sentence|line} {quote}",
    "{Subject} {delivers|speaks|produces} the {line|sentence|words} {quote}",
    "The {line|sentence|utterance} {quote} is {spoken|delivered|said} by {subject}",
    "{What we have|What we hear} is {subject} {producing|saying|delivering} the {sentence|line} {quote}",
    "{Listening to|Attending to} the {clip|recording}, {subject} can be heard {saying|uttering} {quote}",
)
OPENERS_NO_TEXT = ("{In this clip|In the recording}, {subject} speaks.", "The {recording|clip} features {subject}.",
                   "We {hear|listen to} {subject}.")  # fmt: skip
HEDGES = ("", "", "", "", "{Notably|Clearly|Tellingly|Crucially|Above all|First of all|Quite distinctly}, ",
          "{It is audible|One can hear|It stands out|It is easy to hear|It is striking} that ",
          "{Right away|From the first syllables|Throughout the clip|Listening closely|Early on}, ")  # fmt: skip
JOINS = ("{a}, and {b}", "{a}; {b}", "{a}, while {b}",
         "{a}. {In addition|Moreover|Besides|Alongside this|Added to that|Just as telling|At the same time}, {b}",
         "{a}, and {what is more|beyond that|equally}, {b}", "{a}, {just as|even as} {b}")  # fmt: skip
CONCESSIONS = (
    "{Although|Even though|While} {c}, this {does not outweigh|cannot outweigh|is outweighed by} the other cues",
    "{Admittedly|Granted|To be fair}, {c}, which {on its own|by itself|taken alone} would {argue otherwise|point "
    "elsewhere|suggest something else}",
    "{C}, which {fits less well|is less typical|sits less comfortably with this reading}, {yet|but} it is only one "
    "cue among {several|many|others}",
    "{Only one cue|One cue alone|A single cue} {pulls|points} the other way: {c}",
)
NEUTRAL_CUE = (
    "{C}, which is {compatible with|consistent with|open to} {several|many|various} readings",
    "{C}, a cue that does not {decide|settle|determine} much {by itself|on its own|here}",
    "{C}, {though|but} that says little {either way|about the emotion|on its own}",
    "{In passing|Incidentally|For completeness}, {c}, which is not {decisive|conclusive|telling}",
    "{C}; this cue is {fairly|rather|largely} {uninformative|neutral|unspecific} here",
)
CONTENT_NEUTRAL = (
    "{The words themselves {carry|convey}|The wording itself {carries|conveys}} {no clear|no obvious|little} "
    "{emotion|emotional colour|feeling}, so the {judgement|decision|interpretation} "
    "{rests on|depends on|has to come from} {the voice|the prosody|how it is said}.",
    "{Lexically|In terms of content|As for the words}, the sentence is {plain|neutral|unremarkable}, which leaves "
    "{the voice|the prosody|the delivery} as the {main|primary|central} evidence.",
    "{Nothing in the words {gives the emotion away|reveals much|settles the question}|The words alone {do not "
    "give the emotion away|reveal little|do not settle the question}}, so {the prosody|the voice|the delivery} has to "
    "do the work.",
)
CONTENT_AGREES = (
    "The {words|content|wording} {point|points|lean|leans} the same way, so {content and prosody|words and voice} "
    "{agree|line up|reinforce each other}.",
    "{The content|What is said} {fits|matches|supports} this reading {as well|too}, which {strengthens|confirms|"
    "reinforces} it.",
    "What is said {matches|agrees with|echoes} how it is said, so the two {cues|sources of evidence} "
    "{agree|converge}.",
)
CONTENT_CONFLICTS = (
    "{Taken alone|On their own|Read in isolation}, the words would suggest {other}, but the voice {tells a different "
    "story|says otherwise|points elsewhere}, and prosody {weighs more|is the stronger cue|carries more weight}.",
    "The {content|wording} {hints at|leans toward|suggests} {other}, yet the delivery {contradicts|undercuts|"
    "overrides} it, and the delivery is the {stronger|more reliable} cue.",
    "{Although|Even though|While} the {wording|content} {leans toward|suggests|hints at} {other}, the prosody does "
    "not {support|bear out|confirm} that reading.",
)
STRESS = (
    '{Pr} {puts|places} {emphasis|weight} on "{w}"',
    '"{w}" is stressed',
    'the {stress|accent|prominence} {falls|lands} on "{w}"',
    '{pr} {leans on|highlights} the word "{w}"',
)
STRESS_TAILS = (".", ", which {marks|singles} it out as the {focus|point} of the utterance.",
                ", {making|marking} it the {focal|most prominent} word.")  # fmt: skip
CLOSINGS = (
    "{Taken together|Put together|Combined|All in all}, these {cues|observations|signals} {point to|indicate|"
    "suggest} {noun}.",
    "{All of this|Everything here|The evidence as a whole} {suggests|indicates} that the speaker is {adj}.",
    "The overall {picture|impression} is one of {noun}.",
    "{Putting|Weighing} the {cues|evidence} together, the most {likely|plausible} emotion is {noun}.",
    "{Weighing the evidence|On balance|In the end}, the speaker {sounds|comes across as} {adj}.",
    "{These observations|The cues|The signals} {converge on|add up to} {noun}.",
    "The most {consistent|coherent|convincing} reading of these cues is {noun}.",
    "So the emotion {behind|underlying} this {utterance|clip} is best described as {noun}.",
)
FILLERS = (
    "No single cue {settles|decides} the question, but their combination is {consistent|coherent}.",
    "The cues are best {read|weighed} together rather than one at a time.",
    "The delivery, more than the wording, {carries|conveys} the feeling here.",
)
_ALT = re.compile(r"\{([^{}]*\|[^{}]*)\}")


def expand(template: str, rng: random.Random) -> str:
    """Replace every ``{a|b|c}`` alternation with one of its options (innermost first).

    >>> expand("{a|b} and {c|{d|e}}", random.Random(0)) in {"a and c", "a and d", "a and e", "b and c", "b and d",
    ...                                                   "b and e"}
    True
    """
    while True:
        new = _ALT.sub(lambda m: rng.choice(m.group(1).split("|")), template)
        if new == template:
            return new
        template = new


def _rng(facts: Facts, seed: int, variant: int = 0) -> random.Random:
    key = f"{seed}|{facts.utt_id}" + (f"|{variant}" if variant else "")
    return random.Random(int(hashlib.sha1(key.encode()).hexdigest()[:12], 16))


def _pronouns(gender: str | None) -> dict[str, str]:
    pr, pos = {"female": ("she", "her"), "male": ("he", "his")}.get(gender or "", ("the speaker", "the speaker's"))
    return {"pr": pr, "Pr": pr[0].upper() + pr[1:], "pos": pos, "Pos": pos[0].upper() + pos[1:]}


def _cap(s: str) -> str:
    return s[0].upper() + s[1:] if s else s


def _subject(facts: Facts, rng: random.Random) -> str:
    age = {"child": "young", "teenager": "teenage", "young adult": "young adult", "adult": "adult",
           "senior": "elderly"}.get(facts.age_level or "", "")  # fmt: skip
    if facts.gender in ("female", "male"):
        noun = rng.choice({"female": ("female speaker", "woman", "female voice"),
                           "male": ("male speaker", "man", "male voice")}[facts.gender])  # fmt: skip
        noun = noun if noun != f"{facts.gender} voice" else f"speaker with a {facts.gender} voice"
    else:
        noun = "speaker"
    words = f"{age} {noun}".strip()
    return ("an " if words[0] in "aeiou" else "a ") + words


def _quote(transcript: str) -> str:
    words = transcript.split()
    return f'"{transcript}"' if len(words) <= 25 else '"' + " ".join(words[:12]).rstrip(",;:") + '..."'


def _clause(attribute: str, value: str, rng: random.Random, pro: dict[str, str]) -> str:
    return rng.choice(CLAUSES[(attribute, value)]).format(**pro)


def write_rationale(facts: Facts, label: str | None = None, seed: int = 0, variant: int = 0) -> str:
    """A rationale for ``facts`` that concludes on ``label`` (the gold emotion by default). ``variant`` > 0 gives
    another rationale for the same clip and seed (the reward model's extra gold rationales)."""
    label = label or facts.emotion
    rng = _rng(facts, seed, variant)
    pro = _pronouns(facts.gender)
    sentences: list[str] = []

    subject = _subject(facts, rng)
    if facts.transcript:
        opener = expand(rng.choice(OPENERS), rng).format(
            subject=subject, Subject=_cap(subject), quote=_quote(facts.transcript)
        )
    else:
        opener = expand(rng.choice(OPENERS_NO_TEXT), rng).format(subject=subject).rstrip(".")
    sentences.append(opener if opener[-1] in '.!?"' and opener.rstrip('"')[-1] in ".!?" else opener + ".")

    cues = [(a, v) for a, v in facts.cues().items() if a != "gender" and (a, v) in CLAUSES]
    rng.shuffle(cues)
    supporting = sorted((c for c in cues if evidence(label, *c) > 0), key=lambda c: -evidence(label, *c))
    neutral = [c for c in cues if evidence(label, *c) == 0]
    against = [c for c in cues if evidence(label, *c) < 0]

    # supporting cues: one or two per sentence, each may carry a gloss
    i = 0
    while i < len(supporting):
        take = 2 if i + 1 < len(supporting) and rng.random() < 0.5 else 1
        parts = []
        for attribute, value in supporting[i : i + take]:
            clause = _clause(attribute, value, rng, pro)
            if rng.random() < 0.45 and (attribute, value) in GLOSSES:
                clause += ", " + expand(rng.choice(GLOSSES[(attribute, value)]), rng)
            parts.append(clause)
        text = parts[0] if len(parts) == 1 else expand(rng.choice(JOINS), rng).format(a=parts[0], b=parts[1])
        hedge = expand(rng.choice(HEDGES), rng)
        sentences.append(_cap(hedge + text) + ".")
        i += take
    for attribute, value in neutral:
        c = _clause(attribute, value, rng, pro)
        sentences.append(expand(rng.choice(NEUTRAL_CUE), rng).format(c=c, C=_cap(c)) + ".")
    for attribute, value in against:
        c = _clause(attribute, value, rng, pro)
        sentences.append(_cap(expand(rng.choice(CONCESSIONS), rng).format(c=c, C=_cap(c))) + ".")

    if facts.stressed_words and facts.transcript:
        w = facts.stressed_words[0]
        s = expand(rng.choice(STRESS), rng).format(w=w, **pro)
        sentences.append(_cap(s) + expand(rng.choice(STRESS_TAILS), rng))

    if facts.transcript:
        if facts.content_emotion is None:
            sentences.append(expand(rng.choice(CONTENT_NEUTRAL), rng))
        elif facts.content_emotion == label:
            sentences.append(expand(rng.choice(CONTENT_AGREES), rng))
        else:
            other = rng.choice(EMOTION_WORDS.get(facts.content_emotion, ((facts.content_emotion,), ()))[0])
            sentences.append(expand(rng.choice(CONTENT_CONFLICTS), rng).format(other=other))

    nouns, adjs = EMOTION_WORDS.get(label, ((label,), (label,)))
    closing = expand(rng.choice(CLOSINGS), rng).format(noun=rng.choice(nouns), adj=rng.choice(adjs))
    body = sentences[:1] + sentences[1:]
    fillers = [expand(f, rng) for f in FILLERS]
    rng.shuffle(fillers)
    while len(" ".join(body + [closing]).split()) < 50 and fillers:
        body.append(fillers.pop())
    text = " ".join(body + [closing])
    words = text.split()
    if len(words) > 200:  # very long transcripts: the quote is already cut; drop fillers and glosses first
        text = " ".join(words[:185]).rsplit(".", 1)[0] + ". " + closing
    return re.sub(r"\s+", " ", text).strip()


def distinct_ngram_ratio(texts: list[str], n: int = 4) -> float:
    """Distinct n-grams over all n-grams, across ``texts``: a measure of the writer's variety.

    >>> distinct_ngram_ratio(["a b c d e", "a b c d e"], n=4)
    0.5
    """
    grams = [tuple(t.lower().split()[i : i + n]) for t in texts for i in range(len(t.split()) - n + 1)]
    return round(len(set(grams)) / len(grams), 4) if grams else 0.0
