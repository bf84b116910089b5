"""The one prompt builder and answer parser, shared by annotation, training, evaluation and serving.

>>> parse_answer("<think>low, slow and soft</think><answer>sad</answer>")
'sad'
>>> parse_answer("<think>x</think><answer> Contempt or Disgust </answer>", labels=DEFAULT_LABELS)
'contempt or disgust'
>>> parse_answer("no tags at all") is None
True
>>> format_target("The voice drops.", "sad")
'<think>The voice drops.</think><answer>sad</answer>'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from emotionthinker.labels import DEFAULT_LABELS, normalise

SYSTEM_PROMPT = (
    "You are an expert in speech emotion. Listen to the audio clip, reason step by step about the speaker, "
    "the prosody (pitch, energy, speaking rate, intonation, stressed words) and the words, inside "
    "<think> </think>, then give the final emotion label inside <answer> </answer>."
)

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_THINK = re.compile(r"<think>(.*?)</think>", re.S | re.I)
# Exactly one <think> block, then exactly one <answer> block, nothing around them. A plain pattern (no groups)
# so that the validation suites can hand it to Great Expectations as it is.
TAG_FORMAT = (
    r"(?is)^\s*<think>(?:(?!</?think>|</?answer>).)*</think>\s*<answer>(?:(?!</?think>|</?answer>).)*</answer>\s*$"
)
_STRICT = re.compile(TAG_FORMAT)


def question(labels: Sequence[str] = DEFAULT_LABELS) -> str:
    """The user turn's text, listing the configured labels.

    >>> question(["happy", "sad"])
    'What is the emotion expressed in this audio clip? Please choose one from the following options: happy, sad.'
    """
    return (
        "What is the emotion expressed in this audio clip? Please choose one from the following options: "
        + ", ".join(labels)
        + "."
    )


def build_messages(audio_path: str | None, labels: Sequence[str] = DEFAULT_LABELS) -> list[dict]:
    """Chat messages in the Hugging Face multimodal format: a system turn and a user turn with the audio."""
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
        {
            "role": "user",
            "content": [{"type": "audio", "path": audio_path}, {"type": "text", "text": question(labels)}],
        },
    ]


def format_target(rationale: str, label: str) -> str:
    return f"<think>{rationale}</think><answer>{label}</answer>"


def parse_answer(text: str, labels: Sequence[str] | None = None) -> str | None:
    """The label inside the last ``<answer>`` tag, normalised; with ``labels``, only a label of the set.

    The last tag counts, so a model that drafts an answer inside its reasoning is judged on its final one.
    """
    found = _ANSWER.findall(text or "")
    if not found:
        return None
    answer = normalise(found[-1])
    if labels is None:
        return answer or None
    wanted = {normalise(x): x for x in labels}
    return wanted.get(answer)


def parse_think(text: str) -> str | None:
    """The reasoning inside the first ``<think>`` tag, stripped."""
    m = _THINK.search(text or "")
    return m.group(1).strip() if m else None


def is_well_formed(text: str, labels: Sequence[str]) -> bool:
    """Exactly one ``<think>`` block followed by exactly one ``<answer>`` whose content is a label of the set.

    >>> is_well_formed("<think>a</think><answer>sad</answer>", ["sad"])
    True
    >>> is_well_formed("<think>a</think><answer>sad</answer><answer>sad</answer>", ["sad"])
    False
    >>> is_well_formed("<think>a</think><answer>bored</answer>", ["sad"])
    False
    """
    return bool(_STRICT.match(text or "")) and parse_answer(text, labels) is not None
