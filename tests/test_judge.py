"""The rule-based judge and the degradations: hand-written gold rationales score high, each degradation
lowers the dimension it targets, claims get the right verdicts, and judging is fast."""

from __future__ import annotations

import random
import time

import pytest

from emotionthinker.annotate.degrade import DEGRADATIONS, TARGETS
from emotionthinker.annotate.facts import Facts
from emotionthinker.annotate.lexicon import find_claims
from emotionthinker.judge import DIMENSIONS, Judgement, judge
from emotionthinker.judge.text import analyse, claim_spans, conclusion
from emotionthinker.prompts import format_target

# (facts, rationale, label): hand-written in the style of the annotation rationales
GOLDS: dict[str, tuple[Facts, str, str]] = {
    "sad": (
        Facts("sad01", "sad", "I really thought she would come back this time.", "en", "female", "adult",
              "low", "low", "low", "falling", "voiced", ("thought",), None),
        'An adult woman says "I really thought she would come back this time." Her pitch sits low throughout, '
        "and she speaks slowly, with long pauses between the words. The voice is soft, almost quiet, and the "
        'pitch falls at the end of the sentence as if she has given up. The stress on "thought" makes the '
        "let-down audible. The words themselves describe a disappointment, so content and prosody agree. "
        "Taken together, the low, slow and subdued delivery points to sadness.",
        "sad",
    ),
    "angry": (
        Facts("ang01", "angry", "I told you to put it back where it belongs!", "en", "male", "young adult",
              "high", "high", "high", "falling", "voiced", ("told",), None),
        'A young man shouts "I told you to put it back where it belongs!" He is loud, with strong vocal energy '
        "behind every word, and he speaks quickly, almost spitting the sentence out. His pitch sits high for a "
        "male speaker, and the pitch falls sharply on the last word, which sounds final and commanding. He puts "
        'heavy emphasis on "told", as if repeating himself. The words are a reproach, which matches the '
        "forceful delivery. All of this suggests the speaker is angry.",
        "angry",
    ),
    "surprise": (
        Facts("sur01", "surprise", "You bought a whole house in one afternoon?", "en", "female", None,
              "high", "high", "medium", "rising", "voiced", ("house",), None),
        'A female speaker asks "You bought a whole house in one afternoon?" Her pitch sits high, and the pitch '
        "rises steeply toward the end, the rising contour of a question asked in disbelief. She is loud, with "
        "high energy on the key word, while she keeps an even pace rather than rushing. The stress on "
        '"house" highlights the unexpected part of the news. The words are a question about something hard to '
        "believe, which fits how she says it. Overall, she sounds genuinely surprised.",
        "surprise",
    ),
    "whisper": (
        Facts("whi01", "whisper", "Keep your voice down, they are asleep.", "en", "male", "adult",
              None, "low", "medium", None, "unvoiced", (), None),
        'An adult male speaker says "Keep your voice down, they are asleep." The speech is whispered: breathy, '
        "unvoiced, with no clear pitch to follow and no audible melody. He is quiet throughout, with weak "
        "vocal energy, and he keeps an even pace without any rush. The words ask for silence, so the content "
        "agrees with the hushed way they are spoken. There is no sign of tension in the voice. Taken together, "
        "the speaker is whispering.",
        "whisper",
    ),
    "neutral_laden": (
        Facts("neu01", "neutral", "I can't believe we actually won the final!", "en", "female", "adult",
              "medium", "medium", "medium", "flat", "voiced", ("final",), "happy"),
        "An adult woman reads out \"I can't believe we actually won the final!\" Her pitch sits mid-range, she "
        "speaks at a moderate volume and at an even pace, and there is little pitch movement: the melody stays "
        'level from start to end. The word "final" is stressed slightly, but without any lift in the voice. '
        "Although the words announce a victory and would suggest joy, the delivery is unmoved, so the prosody "
        "contradicts the content. Everything considered, the speaker sounds neutral.",
        "neutral",
    ),
    "emodb_de": (
        Facts("03a01Fa", "happy", "Der Lappen liegt auf dem Eisschrank.", "de", "male", "young adult",
              "high", "high", "high", "rising-falling", "voiced", ("Eisschrank",), None),
        'A young male speaker says, in German, "Der Lappen liegt auf dem Eisschrank." (the cloth is lying on '
        "the fridge). His pitch sits high, and the pitch rises and then falls across the sentence in an arched "
        'melody. He is loud and speaks quickly, with a bright, bouncy rhythm. The emphasis on "Eisschrank" '
        "sounds lively rather than harsh. The sentence itself is an everyday remark with no emotional content, "
        "so the voice carries the feeling. All of this points to happiness.",
        "happy",
    ),
}  # fmt: skip


def completion(name: str) -> str:
    _, text, label = GOLDS[name]
    return format_target(text, label)


@pytest.mark.parametrize("name", list(GOLDS))
def test_gold_scores_high(name):
    facts, text, label = GOLDS[name]
    assert 50 <= len(text.split()) <= 200
    j = judge(completion(name), facts)
    assert j.factual_alignment >= 4.5, j.notes
    assert j.caption_completeness >= 4.5, j.notes
    assert j.interpretative_quality >= 4.0, j.notes
    assert j.fluency_structure >= 4.0, j.notes
    assert j.conclusion == label and j.answer == label
    assert not any(c.verdict == "contradicts" for c in j.claims), j.claims


@pytest.mark.parametrize("degradation", list(DEGRADATIONS))
@pytest.mark.parametrize("name", list(GOLDS))
def test_degradation_lowers_its_dimension(name, degradation):
    facts = GOLDS[name][0]
    gold = judge(completion(name), facts)
    for seed in range(3):
        bad = DEGRADATIONS[degradation](completion(name), facts, random.Random(seed))
        assert bad != completion(name)
        dim = TARGETS[degradation]
        worse = judge(bad, facts)
        assert getattr(gold, dim) - getattr(worse, dim) >= 1.0, (dim, bad, worse.notes)


def test_degradations_are_registered_and_deterministic():
    assert set(DEGRADATIONS) == set(TARGETS) and set(TARGETS.values()) <= set(DIMENSIONS)
    assert set(TARGETS.values()) == set(DIMENSIONS)  # every dimension has a degradation
    facts = GOLDS["sad"][0]
    for fn in DEGRADATIONS.values():
        assert fn(completion("sad"), facts, random.Random(7)) == fn(completion("sad"), facts, random.Random(7))


def test_claim_verdicts():
    facts = Facts("v1", "sad", "The cat sat on the mat.", "en", "female", None, "low", "medium", None, "falling",
                  "voiced", ("cat",))  # fmt: skip
    text = ("A woman speaks. Her pitch sits high, she is loud and she speaks quickly; the pitch falls, and she is "
            'not soft. The speech is whispered. The stress falls on "mat", and "cat" is stressed too.')  # fmt: skip
    j = judge(format_target(text, "sad"), facts)
    got = [(c.attribute, c.value, c.verdict) for c in j.claims]
    assert got == [
        ("gender", "female", "agrees"),
        ("pitch", "high", "contradicts"),  # low vs high
        ("energy", "high", "unverifiable"),  # medium vs high: adjacent level
        ("speed", "high", "unverifiable"),  # not measured
        ("intonation", "falling", "agrees"),
        ("energy", "low", "unverifiable"),  # negated: "not soft"
        ("voicing", "unvoiced", "contradicts"),  # voiced speech called whispered
        ("stress", "mat", "contradicts"),
        ("stress", "cat", "agrees"),
    ]
    # 3 agree, 3 contradict (x2), 2 unverifiable (x0.5), negated not counted
    assert j.factual_alignment == round(1 + 4 * 3 / (3 + 6 + 1), 1)


def test_quoted_text_claims_nothing():
    facts = Facts("q1", "neutral", "Slow down, I am so happy and loud today.", "en", None, None, "medium",
                  "medium", "medium", "flat", "voiced")  # fmt: skip
    text = ('Someone says "Slow down, I am so happy and loud today." The pitch sits mid-range and there is '
            "little pitch movement. The speaker sounds neutral.")  # fmt: skip
    j = judge(format_target(text, "neutral"), facts)
    assert [c.phrase for c in j.claims] == ["pitch sits mid-range", "little pitch movement"]
    assert j.conclusion == "neutral"


def test_claims_prefer_the_longest_phrase_and_claim_a_span_once():
    t = "The man is loud, LOUD and high-pitched, with a deep, low voice and a fall-rise contour; it falls and then rises"  # noqa: E501
    got = [(c.attribute, c.value, t[c.start : c.end]) for c in claim_spans(t)]
    assert got == [
        ("gender", "male", "man"), ("energy", "high", "loud"), ("energy", "high", "LOUD"),
        ("pitch", "high", "high-pitched"), ("pitch", "low", "deep, low voice"),
        ("intonation", "falling-rising", "fall-rise contour"),
        ("intonation", "falling-rising", "falls and then rises"),
    ]  # fmt: skip
    assert [c[:2] for c in find_claims(t)] == [g[:2] for g in got]


def test_no_checkable_claims_and_no_conclusion():
    facts = GOLDS["sad"][0]
    j = judge(
        format_target("Something happens in this clip. It is hard to say much more about it here.", "sad"), facts
    )
    assert j.factual_alignment == 2.0 and j.conclusion is None and j.interpretative_quality <= 2.0
    assert j.fluency_structure <= 3.0  # far too short


def test_conclusion_prefers_the_verdict():
    a = analyse("Although the words sound happy, her pitch sits low. The voice points to sadness rather than anger.")
    assert conclusion(a)[0] == "sad"


def test_answer_outside_label_set_fails_fluency():
    facts, text, _ = GOLDS["sad"]
    j = judge(f"<think>{text}</think><answer>melancholy</answer>", facts)
    assert j.answer is None and j.fluency_structure <= 3.0
    assert any("not a label of the set" in n for n in j.notes)
    # the same answer is fine when the label set has it
    assert judge(f"<think>{text}</think><answer>sad</answer>", facts, labels=("sad", "happy")).fluency_structure == 5


def test_unaddressed_content_conflict_costs():
    facts, text, label = GOLDS["neutral_laden"]
    plain = text.replace(
        "Although the words announce a victory and would suggest joy, the delivery is unmoved, so the prosody "
        "contradicts the content. ",
        "The delivery is unmoved and even from the first word to the last, with nothing standing out. ",
    )
    assert plain != text
    full = judge(format_target(text, label), facts).interpretative_quality
    assert full - judge(format_target(plain, label), facts).interpretative_quality >= 1.5


def test_reward_arithmetic():
    j = Judgement(5, 5, 5, 5)
    assert j.reward() == 1.0 and j.overall == 5.0
    j = Judgement(1, 2, 3, 4)
    assert j.overall == 2.5
    assert j.reward() == pytest.approx(0.5)
    assert j.reward((0.4, 0.3, 0.2, 0.1)) == pytest.approx((0.4 * 1 + 0.3 * 2 + 0.2 * 3 + 0.1 * 4) / 5)
    with pytest.raises(ValueError):
        j.reward((1.0,))


def test_speed():
    items = [(completion(n), GOLDS[n][0]) for n in GOLDS]
    for c, f in items:  # warm up
        judge(c, f)
    start = time.perf_counter()
    for i in range(200):
        c, f = items[i % len(items)]
        judge(c, f)
    assert time.perf_counter() - start < 1.0
