"""What the reasoning reward model reads: one text per rationale, built the same way in training and as a reward.

Layout (one line per segment; the completion, then the answer it gives, last)::

    facts: emotion:sad; content_emotion:none; language:en; gender:female; ...
    caption: A female speaker says "..." with low pitch, ...
    transcript: I lost my keys again today.
    rationale:
    <think>...</think><answer>sad</answer>
    answer:sad

The facts are every field of ``Facts`` in its declaration order, whatever the order of the dict they come from, with
missing values written ``none`` so that each field keeps its place; ``utt_id`` (an id, no signal) is left out, and
so is the transcript, which has its own line. Values follow the colon without a space, as a label follows
``<answer>``: a byte-level BPE then gives the facts' emotion and the answer the same tokens (" sad" and "sad" are
different ids).

The last line repeats the completion's answer (``prompts.parse_answer``: its last ``<answer>`` tag, normalised, at most
``ANSWER_WORDS`` words; ``none`` without one), and its last token is the one the sequence-classification head reads:
there is no EOS after it. Whether the answer agrees with the conclusion and the facts is what interpretative quality
turns on, and a small model learns that comparison where the answer itself is read; with the head on an EOS after
``</answer>``, the same 2-layer model (1,689 steps) could not tell a gold rationale from its copy with another answer
tag (pairwise accuracy 0.49 on those pairs; 0.88 with this line, and 0.74 -> 0.88 over all degradations).

Tokens: the tokenizer's BOS (if it has one), the context (the first four lines) and the completion, each tokenised on
its own, then the answer line. Truncation to ``max_length`` tokens: the answer line is always kept; an over-long
completion loses tokens from its start (``truncation_side="left"``, the default: its end holds the conclusion, the
answer tag and whether the text was cut off) or from its end (``"right"``). The context is cut (from its end) only
when it alone would take more than half of the budget.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from emotionthinker.annotate.facts import Facts
from emotionthinker.annotate.facts import caption as caption_of
from emotionthinker.prompts import parse_answer

_ALL_FIELDS = tuple(f.name for f in dataclasses.fields(Facts))
FACT_FIELDS = tuple(f for f in _ALL_FIELDS if f not in ("utt_id", "transcript"))
RATIONALE_PREFIX = "rationale:\n"
ANSWER_WORDS = 4  # the longest label ("contempt or disgust") has three; longer answers are cut to this many words


def _value(v: Any) -> str:
    if v is None or v == "" or (isinstance(v, (list, tuple)) and not v):
        return "none"
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    return " ".join(str(v).split())


def facts_dict(facts: Facts | Mapping[str, Any] | None) -> dict[str, Any]:
    """A clip's facts as a plain dict (from a ``Facts``, a ``Facts.to_dict()`` dict or None)."""
    if facts is None:
        return {}
    if isinstance(facts, Facts):
        return facts.to_dict()
    if isinstance(facts, Mapping):
        return dict(facts)
    raise TypeError(f"facts must be a Facts or a dict (Facts.to_dict()), got {type(facts).__name__}")


def serialise_facts(facts: Facts | Mapping[str, Any] | None, fields: Sequence[str] = FACT_FIELDS) -> str:
    """``field:value`` pairs joined by ``; `` in the order of ``fields`` (the order of the dict does not matter);
    None, empty values and absent keys are written ``none``, lists joined by ``, ``; other keys are ignored.

    >>> serialise_facts({"pitch": "low", "emotion": "sad", "stressed_words": ["lost", "keys"]},
    ...                 fields=("emotion", "pitch", "energy", "stressed_words"))
    'emotion:sad; pitch:low; energy:none; stressed_words:lost, keys'
    """
    d = facts_dict(facts)
    return "; ".join(f"{k}:{_value(d.get(k))}" for k in fields)


def context_text(
    facts: Facts | Mapping[str, Any] | None, caption: str | None = None, transcript: str | None = None
) -> str:
    """The text before the completion: facts, caption and transcript lines, ending with the rationale prefix.

    A missing caption is rebuilt from complete facts (``annotate.facts.caption``); a missing transcript is taken from
    the facts. Segments that are still unknown read ``none``.
    """
    d = facts_dict(facts)
    if transcript is None:
        transcript = d.get("transcript")
    if caption is None and d:
        try:
            caption = caption_of(Facts.from_dict({k: d[k] for k in _ALL_FIELDS if k in d}))
        except (TypeError, KeyError):  # incomplete facts or a value the caption does not know
            caption = None
    return (
        f"facts: {serialise_facts(d)}\ncaption: {_value(caption)}\ntranscript: {_value(transcript)}\n"
        + RATIONALE_PREFIX
    )


def completion_text(completion: Any) -> str:
    """The text of a completion: a string as it is, or the assistant text of a TRL conversational completion
    (a list of ``{"role", "content"}`` messages whose content is a string or a list of ``{"type": "text"}`` parts).

    >>> completion_text([{"role": "assistant", "content": "<think>x</think><answer>sad</answer>"}])
    '<think>x</think><answer>sad</answer>'
    >>> completion_text([{"role": "assistant", "content": [{"type": "text", "text": "<think>y</think>"}]}])
    '<think>y</think>'
    """
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        completion = [completion]
    parts: list[str] = []
    for message in completion:
        if isinstance(message, str):
            parts.append(message)
            continue
        if message.get("role", "assistant") != "assistant":
            continue
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, Sequence):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return "".join(parts)


def answer_line(completion: Any) -> str:
    """The last line of the input: the completion's answer, or ``none``.

    >>> answer_line("<think>x</think><answer>Contempt or Disgust</answer>")
    '\\nanswer:contempt or disgust'
    >>> answer_line("<think>x</think>")
    '\\nanswer:none'
    """
    answer = parse_answer(completion_text(completion)) or "none"
    return "\nanswer:" + " ".join(answer.split()[:ANSWER_WORDS])


def model_text(
    facts: Facts | Mapping[str, Any] | None, caption: str | None, transcript: str | None, completion: Any
) -> str:
    """The whole input as one string (for reading and for tokenizer training; the model gets ``encode``'s ids)."""
    return context_text(facts, caption, transcript) + completion_text(completion) + answer_line(completion)


def truncate_ids(
    context: list[int], completion: list[int], budget: int, side: str = "left"
) -> tuple[list[int], list[int], bool]:
    """Fit ``context + completion`` into ``budget`` tokens; returns ``(context, completion, truncated)``.

    The completion loses tokens from its start (``side="left"``) or its end (``"right"``); the context keeps its start
    and is cut only when it would leave the completion less than half the budget.

    >>> truncate_ids([1, 2], [10, 11, 12, 13, 14, 15], 6, "left")
    ([1, 2], [12, 13, 14, 15], True)
    >>> truncate_ids([1, 2], [10, 11, 12, 13, 14, 15], 6, "right")
    ([1, 2], [10, 11, 12, 13], True)
    >>> truncate_ids([1, 2, 3, 4, 5, 6], [10, 11, 12, 13], 6, "left")
    ([1, 2, 3], [11, 12, 13], True)
    """
    if side not in ("left", "right"):
        raise ValueError(f"truncation side '{side}': use left (keep the completion's end) or right (its start)")
    if budget < 2:
        raise ValueError(f"a budget of {budget} tokens cannot hold a context and a completion")
    if len(context) + len(completion) <= budget:
        return list(context), list(completion), False
    keep = max(budget - len(context), budget - budget // 2)
    keep = min(keep, len(completion))
    completion = completion[len(completion) - keep :] if side == "left" else completion[:keep]
    context = context[: budget - len(completion)]
    return list(context), list(completion), True


def encode(
    tokenizer,
    facts: Facts | Mapping[str, Any] | None,
    caption: str | None,
    transcript: str | None,
    completion: Any,
    max_length: int,
    side: str = "left",
) -> tuple[list[int], bool]:
    """Token ids of one input (see the module docstring), at most ``max_length`` long; returns ``(ids, truncated)``."""
    ctx = tokenizer(context_text(facts, caption, transcript), add_special_tokens=False)["input_ids"]
    comp = tokenizer(completion_text(completion), add_special_tokens=False)["input_ids"]
    tail = tokenizer(answer_line(completion), add_special_tokens=False)["input_ids"]
    head = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    ctx, comp, cut = truncate_ids(ctx, comp, max_length - len(head) - len(tail), side)
    return head + ctx + comp + tail, cut
