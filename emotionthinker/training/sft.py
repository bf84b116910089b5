"""Supervised fine-tuning of the SpeechLLM with TRL's ``SFTTrainer``, and a generation-based task evaluation.

TRL tokenises text datasets itself; ours are audio conversations, so the trainer gets our ``AudioCollator`` (audio
-> log-mel features, prompt + target -> ids, labels masked to the assistant turn), the processor as
``processing_class``, ``dataset_kwargs={"skip_prepare_dataset": True}`` (no TRL tokenisation) and
``remove_unused_columns=False`` (the collator needs ``messages``, ``audio_path`` and ``target``, which are not
forward() arguments). ``EmotionSFTConfig`` makes those the defaults and adds our own fields.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trl import SFTConfig, SFTTrainer

from emotionthinker.labels import normalise as normalise_label
from emotionthinker.prompts import is_well_formed, parse_answer
from emotionthinker.training.checkpoints import last_checkpoint, load_checkpoint_weights
from emotionthinker.training.data import COT_TASK, PHASES, AudioCollator, clean_messages

logger = logging.getLogger(__name__)


@dataclass
class EmotionSFTConfig(SFTConfig):
    """TRL's ``SFTConfig`` with the settings audio batches need as defaults, and the fields of our SFT stage."""

    phase: str = field(
        default="prosody",
        metadata={"help": "prosody: the prosody/speaker tasks; cold_start: EmotionCoT think+answer; joint: both."},
    )
    cold_start_count: int | None = field(
        default=None, metadata={"help": "EmotionCoT records used by the cold_start / joint phases (None: all)."}
    )
    audio_root: str = field(
        default=".", metadata={"help": "Folder the examples' audio_path is relative to (the repository root)."}
    )
    sample_rate: int = field(default=16000, metadata={"help": "Rate the collator resamples audio to."})
    eval_max_new_tokens: int = field(
        default=256, metadata={"help": "New tokens generated per CoT example by evaluate_tasks."}
    )
    resume: bool = field(
        default=True, metadata={"help": "Resume from the last checkpoint-N in output_dir when there is one."}
    )
    # TRL / transformers fields whose defaults differ for audio batches
    bf16: bool | None = field(
        default=None,
        metadata={"help": "None: bf16 on a CUDA device that supports it, else fp32 (CPU bf16 is many times slower)."},
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Keep messages/audio_path/target: the collator needs them."}
    )
    dataset_kwargs: dict | str | None = field(
        default_factory=lambda: {"skip_prepare_dataset": True},
        metadata={"help": "skip_prepare_dataset: the collator tokenises; TRL must not."},
    )

    def __post_init__(self):
        if self.bf16 is None:
            import torch

            self.bf16 = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()) and not self.fp16
        super().__post_init__()
        if self.phase not in PHASES:
            raise ValueError(f"phase '{self.phase}': use one of {', '.join(PHASES)}")
        if self.cold_start_count is not None and self.cold_start_count < 0:
            raise ValueError(f"cold_start_count={self.cold_start_count} must be >= 0 (or None for all)")
        if self.remove_unused_columns:
            raise ValueError("remove_unused_columns=True would drop the columns the audio collator reads")
        if not (self.dataset_kwargs or {}).get("skip_prepare_dataset"):
            raise ValueError("dataset_kwargs must hold skip_prepare_dataset=True: the audio collator tokenises")
        if self.packing or self.padding_free:
            raise ValueError("packing / padding_free are not supported for audio batches")


def _as_dataset(examples):
    if examples is None:
        return None
    from datasets import Dataset

    return examples if isinstance(examples, Dataset) else Dataset.from_list(list(examples))


@contextlib.contextmanager
def label_positions_only() -> Iterator[bool]:
    """While open, TRL's fused loss scores only the positions that carry a label on every device; yields whether it
    could arrange that.

    The fused LM head (``trl.trainer.utils``) scores only the labelled positions on a Triton device and every
    position elsewhere, which keeps tile shapes fixed for compilers that would recompile per shape. On a CPU, where
    nothing compiles, that puts the head through the prompt and audio positions whose loss is masked out anyway: a
    prosody example has one or two labelled tokens out of about 150. The loss and its gradient are the same either
    way (the masked positions contribute zero); on the default corpus a prosody step took 0.29 s instead of 0.37 s.
    A TRL without that switch is left as it is (a log line says so).
    """
    import trl.trainer.utils as trl_utils

    on_triton = getattr(trl_utils, "_use_triton", None)
    if on_triton is None:
        logger.info("TRL has no trl.trainer.utils._use_triton; the fused loss scores every position")
        yield False
        return
    trl_utils._use_triton = lambda device: device.type == "cpu" or on_triton(device)
    try:
        yield True
    finally:
        trl_utils._use_triton = on_triton


class AudioSFTTrainer(SFTTrainer):
    """``SFTTrainer`` whose resume really restores the weights (see ``checkpoints.load_checkpoint_weights``) and
    whose loss on a CPU scores only the labelled positions (:func:`label_positions_only`)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        with label_positions_only():
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        target = self.model if model is None else model
        if (
            self.is_fsdp_enabled
            or self.is_deepspeed_enabled
            or not load_checkpoint_weights(target, resume_from_checkpoint)
        ):
            super()._load_from_checkpoint(resume_from_checkpoint, model)


def train_sft(
    model,
    processor,
    model_type: str,
    train_examples,
    eval_examples,
    cfg: EmotionSFTConfig,
    callbacks=None,
    peft_config=None,
):
    """Train with TRL's ``SFTTrainer`` and our audio collator; resumes from the last checkpoint in
    ``cfg.output_dir`` (when ``cfg.resume``). ``peft_config`` (a PEFT ``LoraConfig``) trains adapters instead of
    the weights. Returns the trainer (``trainer.state`` holds the step and log)."""
    collator = AudioCollator(processor, model_type, cfg.audio_root, cfg.sample_rate)
    trainer = AudioSFTTrainer(
        model=model,
        args=cfg,
        data_collator=collator,
        train_dataset=_as_dataset(train_examples),
        eval_dataset=_as_dataset(eval_examples),
        processing_class=processor,
        callbacks=callbacks,
        peft_config=peft_config,
    )
    resume = last_checkpoint(cfg.output_dir) if cfg.resume else None
    if resume:
        logger.info("resuming SFT from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    return trainer


def _match(prediction: str, gold: str) -> bool:
    return normalise_label(prediction) == normalise_label(gold)


_WORD = re.compile(r"[\w']+")


def _words(text: str) -> list[str]:
    return _WORD.findall((text or "").lower())


def token_f1(prediction: str, gold: str) -> float:
    """F1 of the bags of lower-cased words (SQuAD style): how much of a free-text answer overlaps the gold one.

    >>> token_f1("a low calm voice", "a low voice")
    0.8571428571428571
    >>> token_f1("", "a low voice")
    0.0
    """
    pred, ref = Counter(_words(prediction)), Counter(_words(gold))
    overlap = sum((pred & ref).values())
    if not overlap:
        return 1.0 if not pred and not ref else 0.0
    precision, recall = overlap / sum(pred.values()), overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def set_f1(prediction: str, gold: str) -> float:
    """F1 of the sets of words: the stress task's score (which words were stressed, in any order).

    >>> set_f1("town, river", "river")
    0.6666666666666666
    """
    pred, ref = set(_words(prediction)), set(_words(gold))
    if not pred or not ref:
        return float(pred == ref)
    tp = len(pred & ref)
    return 2 * tp / (len(pred) + len(ref))


# how each task is scored: exact match of an option, or word overlap with the gold free text
SCORERS = {"stress": ("f1", set_f1), "caption": ("token_f1", token_f1)}


def majority_baseline(train_examples, eval_examples) -> dict[str, float]:
    """Accuracy (or F1 for free-text tasks) of always giving each task's most frequent train answer.

    For EmotionCoT examples the answer is the emotion label, so ``emotion_cot`` is the majority-class emotion rate.
    """
    counts: dict[str, Counter] = defaultdict(Counter)
    for e in train_examples:
        counts[e["task"]][normalise_label(e["answer"])] += 1
    scores: dict[str, list[float]] = defaultdict(list)
    for e in eval_examples:
        task = e["task"]
        guess = counts[task].most_common(1)[0][0] if counts[task] else ""
        _, score = SCORERS.get(task, ("accuracy", lambda p, g: float(_match(p, g))))
        scores[task].append(score(guess, e["answer"]))
    return {task: sum(v) / len(v) for task, v in sorted(scores.items())}


def metric_name(task: str) -> str:
    """The metric a task is reported by: accuracy, f1 (stress) or token_f1 (caption); emotion_accuracy for CoT."""
    if task == COT_TASK:
        return "emotion_accuracy"
    return SCORERS.get(task, ("accuracy", None))[0]


def evaluate_tasks(
    model,
    processor,
    model_type: str,
    examples,
    batch_size: int,
    audio_root: str | Path = ".",
    max_new_tokens: int = 256,
    task_max_new_tokens: int = 16,
    free_text_max_new_tokens: int = 96,
    labels: Sequence[str] | None = None,
    progress: bool = False,
) -> tuple[dict, list[dict]]:
    """Generate (greedy) an answer for every example and score it; returns ``(metrics, predictions)``.

    ``metrics[task]`` holds ``n`` and the task's score (see :func:`metric_name`): exact match after normalising
    case and whitespace for option tasks, :func:`set_f1` for stress, :func:`token_f1` for captions. EmotionCoT
    examples get ``format_rate`` (``is_well_formed``) and ``emotion_accuracy`` (``parse_answer`` == gold);
    ``labels`` overrides their options as the label set. ``predictions`` holds task, audio_path, answer and output
    of each example.
    """
    from tqdm.auto import tqdm

    from emotionthinker.model.chat import generate

    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    collator = AudioCollator(processor, model_type, audio_root)
    groups: dict[str, list[dict]] = defaultdict(list)
    for e in examples:
        groups[e["task"]].append(e)
    metrics: dict[str, dict] = {}
    predictions: list[dict] = []
    bar = tqdm(total=sum(len(v) for v in groups.values()), desc="evaluate", unit="clip", disable=not progress)
    for task in sorted(groups):
        rows = groups[task]
        is_cot = task == COT_TASK
        name, scorer = SCORERS.get(task, ("accuracy", lambda p, g: float(_match(p, g))))
        n_new = max_new_tokens if is_cot else free_text_max_new_tokens if task in SCORERS else task_max_new_tokens
        total = well_formed = 0.0
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            texts = generate(
                model,
                processor,
                [clean_messages(e["messages"]) for e in chunk],
                [collator.load_audio(e["audio_path"]) for e in chunk],
                max_new_tokens=n_new,
            )
            for e, text in zip(chunk, texts, strict=True):
                if is_cot:
                    label_set = list(labels) if labels is not None else list(e["options"])
                    well_formed += is_well_formed(text, label_set)
                    pred = parse_answer(text, label_set)
                    total += pred is not None and _match(pred, e["answer"])
                else:
                    total += scorer(text, e["answer"])
                predictions.append(
                    {"task": task, "audio_path": e["audio_path"], "answer": e["answer"], "output": text}
                )
            bar.update(len(chunk))
        n = len(rows)
        if is_cot:
            metrics[task] = {"n": n, "format_rate": well_formed / n, "emotion_accuracy": total / n}
        else:
            metrics[task] = {"n": n, name: total / n}
        logger.info("evaluated %d %s examples: %s", n, task, metrics[task])
    bar.close()
    return metrics, predictions
