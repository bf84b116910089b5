"""SFT examples and the collator that turns them into audio model batches.

An example is a plain dict: ``messages`` (system + user turn with the audio part, in the Hugging Face multimodal
format), ``target`` (the assistant completion the loss covers), ``audio_path`` (relative to the repository root),
``task`` (``pitch``, ``energy``, ..., or ``emotion_cot``), ``answer`` (the gold answer: the task answer or the
emotion label) and ``options`` (the allowed answers; the label set for CoT examples).

Phases follow the paper: ``prosody`` trains on the prosody / speaker tasks (data/sft_tasks), ``cold_start`` on
the first ``cold_start_count`` EmotionCoT records (think + answer targets), ``joint`` on both.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from emotionthinker.labels import normalise as normalise_label
from emotionthinker.prompts import build_messages, format_target, parse_answer, parse_think

logger = logging.getLogger(__name__)

COT_TASK = "emotion_cot"
PHASES = ("prosody", "cold_start", "joint")
TASK_SYSTEM_PROMPT = (
    "You are an expert in speech and prosody. Listen to the audio clip and answer the question about the speaker "
    "and how they speak (pitch, energy, speaking rate, intonation, stressed words) briefly and exactly."
)


def task_messages(audio_path: str, question: str) -> list[dict]:
    """A prosody-task conversation: the task system prompt and a user turn with the audio and the question."""
    return [
        {"role": "system", "content": [{"type": "text", "text": TASK_SYSTEM_PROMPT}]},
        {"role": "user", "content": [{"type": "audio", "path": audio_path}, {"type": "text", "text": question}]},
    ]


def task_example(record: dict) -> dict:
    """An example of a data/sft_tasks record (task, audio_path, question, answer, options)."""
    for key in ("task", "audio_path", "question", "answer"):
        if not record.get(key) and record.get(key) != 0:
            raise ValueError(f"SFT task record {record.get('utt_id', '?')}: '{key}' is missing or empty")
    answer = str(record["answer"])
    return {
        "messages": task_messages(record["audio_path"], record["question"]),
        "target": answer,
        "audio_path": record["audio_path"],
        "task": record["task"],
        "answer": answer,
        "options": [str(o) for o in record.get("options") or []],
    }


def cot_example(record: dict, labels: Sequence[str]) -> dict:
    """An example of an EmotionCoT record (audio_path, target, emotion); the prompt is rebuilt for ``labels``."""
    if not record.get("audio_path") or not record.get("target"):
        raise ValueError(f"EmotionCoT record {record.get('utt_id', '?')}: 'audio_path' and 'target' are required")
    gold = record.get("emotion") or parse_answer(record["target"])
    if gold is None:
        raise ValueError(f"EmotionCoT record {record.get('utt_id', '?')}: no emotion and no <answer> in the target")
    return {
        "messages": build_messages(record["audio_path"], labels),
        "target": record["target"],
        "audio_path": record["audio_path"],
        "task": COT_TASK,
        "answer": normalise_label(gold),
        "options": list(labels),
    }


def sft_examples(
    task_records: Iterable[dict],
    cot_records: Iterable[dict],
    labels: Sequence[str],
    phase: str,
    cold_start_count: int | None = None,
    split: str | None = None,
):
    """A ``datasets.Dataset`` of SFT examples for a phase (see the module docstring), in record order.

    ``split`` keeps only records of that split; ``cold_start_count`` caps the EmotionCoT records (None: all).
    """
    from datasets import Dataset

    if phase not in PHASES:
        raise ValueError(f"phase '{phase}': use one of {', '.join(PHASES)}")
    if cold_start_count is not None and cold_start_count < 0:
        raise ValueError(f"cold_start_count={cold_start_count} must be >= 0 (or None for all)")

    def keep(r: dict) -> bool:
        return split is None or r.get("split") == split

    rows: list[dict] = []
    if phase in ("prosody", "joint"):
        rows += [task_example(r) for r in task_records if keep(r)]
    if phase in ("cold_start", "joint"):
        cot = [r for r in cot_records if keep(r)]
        if cold_start_count is not None:
            cot = cot[:cold_start_count]
        rows += [cot_example(r, labels) for r in cot]
    if not rows:
        raise ValueError(f"sft_examples: no examples for phase '{phase}'" + (f" and split '{split}'" if split else ""))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["task"]] = counts.get(r["task"], 0) + 1
    logger.info("SFT phase %s: %d examples (%s)", phase, len(rows), ", ".join(f"{k} {v}" for k, v in counts.items()))
    return Dataset.from_list(rows)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def fit_target(target: str, tokenizer, max_tokens: int) -> tuple[str, bool]:
    """``target`` cut to at most ``max_tokens`` tokens; returns ``(text, truncated)``.

    An EmotionCoT target (``<think>rationale</think><answer>label</answer>``) loses whole rationale sentences from
    its end, so that what the model learns still closes its reasoning and gives an answer; when not even the
    first sentence fits, the rationale is cut at a token boundary. Any other target keeps its first tokens.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens={max_tokens} must be >= 1")

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    if count(target) <= max_tokens:
        return target, False
    rationale, label = parse_think(target), parse_answer(target)
    if rationale is None or label is None:
        ids = tokenizer(target, add_special_tokens=False)["input_ids"][:max_tokens]
        return tokenizer.decode(ids, skip_special_tokens=False), True
    sentences = _SENTENCE_END.split(rationale)
    while len(sentences) > 1:
        sentences.pop()
        text = format_target(" ".join(sentences), label)
        if count(text) <= max_tokens:
            return text, True
    budget = max_tokens - count(format_target("", label))
    if budget < 1:
        raise ValueError(f"max_tokens={max_tokens} cannot hold even the tags and the answer '{label}'")
    ids = tokenizer(rationale, add_special_tokens=False)["input_ids"][:budget]
    return format_target(tokenizer.decode(ids, skip_special_tokens=False).strip(), label), True


def fit_targets(dataset, tokenizer, max_tokens: int):
    """``(dataset, n_truncated)``: every example's ``target`` passed through :func:`fit_target`."""
    fitted = [fit_target(t, tokenizer, max_tokens) for t in dataset["target"]]
    n = sum(cut for _, cut in fitted)
    if n:
        logger.info("%d of %d targets were longer than %d tokens and were shortened", n, len(fitted), max_tokens)
    return dataset.remove_columns("target").add_column("target", [t for t, _ in fitted]), n


def clean_messages(messages: list[dict]) -> list[dict]:
    """Messages without the None fields Arrow adds when it unifies the text and audio parts into one struct."""
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            content = [{k: v for k, v in part.items() if v is not None} for part in content]
        out.append({"role": m["role"], "content": content})
    return out


class AudioCollator:
    """Examples -> a training batch: audio read from ``repo_root / audio_path`` (mono, ``sample_rate`` Hz), then
    ``encode_batch`` with the targets, right-padded; ``labels`` are -100 outside the assistant turn.

    A small picklable class (processor, strings and an int), so DataLoader workers can use it.
    """

    def __init__(self, processor, model_type: str, repo_root: str | Path = ".", sample_rate: int = 16000):
        self.processor = processor
        self.model_type = model_type
        self.repo_root = str(repo_root)
        self.sample_rate = int(sample_rate)

    def load_audio(self, audio_path: str) -> np.ndarray:
        from emotionthinker.audio import load

        path = Path(audio_path)
        return load(path if path.is_absolute() else Path(self.repo_root) / path, self.sample_rate)

    def __call__(self, examples: list[dict]) -> dict:
        from emotionthinker.model.chat import encode_batch

        messages = [clean_messages(e["messages"]) for e in examples]
        audios = [self.load_audio(e["audio_path"]) for e in examples]
        targets = [e["target"] for e in examples]
        return encode_batch(self.processor, self.model_type, messages, audios, targets=targets, padding_side="right")


def cap_per_task(examples, per_task: int, seed: int = 0):
    """At most ``per_task`` examples of each task (0: all), a seeded sample that keeps the record order."""
    if not per_task:
        return examples
    by_task: dict[str, list[int]] = {}
    for i, t in enumerate(examples["task"]):
        by_task.setdefault(t, []).append(i)
    rng = random.Random(seed)
    keep = sorted(i for idx in by_task.values() for i in (idx if len(idx) <= per_task else rng.sample(idx, per_task)))
    return examples.select(keep)
