"""The one inference path: clips in, reasoned answers out. Evaluation and the BentoML service both call
:func:`analyse_batch`, so a served answer is produced exactly as the leaderboard's answers were (same prompt, same
decoding, same parser).

>>> Answer.from_text("<think>Low and slow.</think><answer>sad</answer>", ["sad", "happy"], 0.1, 12).emotion
'sad'
>>> Answer.from_text("no tags", ["sad"], 0.1, 3).well_formed
False
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from emotionthinker.prompts import build_messages, is_well_formed, parse_answer, parse_think


@dataclass
class Answer:
    """One generated reply and what the parser made of it."""

    text: str  # the raw reply (tags kept)
    emotion: str | None  # the label in the last <answer>, if it is one of the label set
    rationale: str | None  # the <think> text
    well_formed: bool  # exactly one think block, then one answer with a label of the set
    seconds: float  # this clip's share of its batch's generation time
    new_tokens: int

    @classmethod
    def from_text(cls, text: str, labels: Sequence[str], seconds: float, new_tokens: int) -> Answer:
        return cls(text, parse_answer(text, labels), parse_think(text), is_well_formed(text, labels), seconds,
                   new_tokens)  # fmt: skip

    def to_dict(self) -> dict:
        return asdict(self)


def analyse_batch(
    model,
    processor,
    audios: Sequence[np.ndarray],
    labels: Sequence[str],
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
) -> list[Answer]:
    """Answer the emotion question for each 16 kHz clip in one batched generation (greedy at temperature 0)."""
    from emotionthinker.model.chat import generate

    if not audios:
        return []
    messages = [build_messages("clip.wav", labels) for _ in audios]
    tokenizer = processor.tokenizer
    started = time.perf_counter()
    texts = generate(model, processor, messages, list(audios), max_new_tokens, temperature=temperature, top_p=top_p)
    share = (time.perf_counter() - started) / len(audios)
    return [Answer.from_text(t, labels, share, len(tokenizer(t, add_special_tokens=False)["input_ids"]))
            for t in texts]  # fmt: skip


def analyse_all(
    model,
    processor,
    audios: Sequence[np.ndarray],
    labels: Sequence[str],
    batch_size: int = 16,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    progress: bool = False,
    desc: str = "generate",
    top_p: float = 1.0,
) -> list[Answer]:
    """:func:`analyse_batch` over many clips, batched by similar duration (less padding), answers in input order."""
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    order = sorted(range(len(audios)), key=lambda i: len(audios[i]))
    out: list[Answer | None] = [None] * len(audios)
    with tqdm(total=len(audios), desc=desc, unit="clip", disable=not progress) as bar:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            answers = analyse_batch(
                model, processor, [audios[i] for i in idx], labels, max_new_tokens, temperature, top_p
            )
            for i, a in zip(idx, answers, strict=True):
                out[i] = a
            bar.update(len(idx))
    return out  # type: ignore[return-value]
