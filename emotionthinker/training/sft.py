"""Supervised fine-tuning of the SpeechLLM with TRL's ``SFTTrainer``, and a generation-based task evaluation.

TRL tokenises text datasets itself; ours are audio conversations, so the trainer gets our ``AudioCollator`` (audio
-> log-mel features, prompt + target -> ids, labels masked to the assistant turn), the processor as
``processing_class``, ``dataset_kwargs={"skip_prepare_dataset": True}`` (no TRL tokenisation) and
``remove_unused_columns=False`` (the collator needs ``messages``, ``audio_path`` and ``target``, which are not
forward() arguments). ``EmotionSFTConfig`` makes those the defaults and adds our own fields.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trl import SFTConfig, SFTTrainer

from emotionthinker.labels import normalise as normalise_label
from emotionthinker.prompts import is_well_formed, parse_answer
from emotionthinker.training.data import COT_TASK, PHASES, AudioCollator, clean_messages

logger = logging.getLogger(__name__)

# tasks whose answer is one of a few options, scored by exact match
CLASSIFICATION_TASKS = ("pitch", "energy", "speed", "intonation", "contrastive")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


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
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Keep messages/audio_path/target: the collator needs them."}
    )
    dataset_kwargs: dict | str | None = field(
        default_factory=lambda: {"skip_prepare_dataset": True},
        metadata={"help": "skip_prepare_dataset: the collator tokenises; TRL must not."},
    )

    def __post_init__(self):
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


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The ``checkpoint-N`` folder of ``output_dir`` with the largest N that holds a trainer_state.json, or None."""
    out = Path(output_dir)
    if not out.is_dir():
        return None
    found = []
    for p in out.iterdir():
        m = _CHECKPOINT.match(p.name)
        if m and p.is_dir() and (p / "trainer_state.json").exists():
            found.append((int(m.group(1)), p))
    return str(max(found)[1]) if found else None


def _as_dataset(examples):
    if examples is None:
        return None
    from datasets import Dataset

    return examples if isinstance(examples, Dataset) else Dataset.from_list(list(examples))


class AudioSFTTrainer(SFTTrainer):
    """``SFTTrainer`` whose resume loads the checkpoint's weights with ``from_pretrained``.

    ``Trainer._load_from_checkpoint`` reads model.safetensors with a plain, non-strict ``load_state_dict``. In
    transformers 5, ``save_pretrained`` writes Qwen2-Audio under its original key names
    (``language_model.model.*``, ``audio_tower.*``), which differ from the module names (``model.language_model.*``),
    so no key matches and resuming silently goes on from the initial weights. ``from_pretrained`` applies the key
    conversion; the weights are then copied in strictly.
    """

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        from peft import PeftModel

        target = self.model if model is None else model
        folder = Path(resume_from_checkpoint)
        full = (folder / "model.safetensors").exists() or (folder / "model.safetensors.index.json").exists()
        if isinstance(target, PeftModel) or self.is_fsdp_enabled or self.is_deepspeed_enabled or not full:
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        dtype = next(target.parameters()).dtype
        loaded = type(target).from_pretrained(folder, dtype=dtype, local_files_only=True)
        target.load_state_dict(loaded.state_dict(), strict=True)
        del loaded
        logger.info("loaded the model weights of %s", folder)


def train_sft(model, processor, model_type: str, train_examples, eval_examples, cfg: EmotionSFTConfig, callbacks=None):
    """Train with TRL's ``SFTTrainer`` and our audio collator; resumes from the last checkpoint in
    ``cfg.output_dir`` (when ``cfg.resume``). Returns the trainer (``trainer.state`` holds the step and log)."""
    collator = AudioCollator(processor, model_type, cfg.audio_root, cfg.sample_rate)
    trainer = AudioSFTTrainer(
        model=model,
        args=cfg,
        data_collator=collator,
        train_dataset=_as_dataset(train_examples),
        eval_dataset=_as_dataset(eval_examples),
        processing_class=processor,
        callbacks=callbacks,
    )
    resume = last_checkpoint(cfg.output_dir) if cfg.resume else None
    if resume:
        logger.info("resuming SFT from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    return trainer


def _match(prediction: str, gold: str) -> bool:
    return normalise_label(prediction) == normalise_label(gold)


def evaluate_tasks(
    model,
    processor,
    model_type: str,
    examples,
    batch_size: int,
    audio_root: str | Path = ".",
    max_new_tokens: int = 256,
    task_max_new_tokens: int = 16,
    labels: Sequence[str] | None = None,
) -> dict:
    """Generate (greedy) for the classification-style task examples and the CoT examples; other tasks are skipped.

    Returns ``{task}_accuracy`` (answer == gold after normalising case and whitespace) and ``{task}_n`` for each
    classification task present, and for CoT examples ``cot_format_rate`` (``is_well_formed``),
    ``cot_emotion_accuracy`` (``parse_answer`` == gold) and ``cot_n``. ``labels`` overrides each CoT example's
    options as the label set.
    """
    from emotionthinker.model.chat import generate

    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    collator = AudioCollator(processor, model_type, audio_root)
    groups: dict[str, list[dict]] = defaultdict(list)
    for e in examples:
        if e["task"] in CLASSIFICATION_TASKS or e["task"] == COT_TASK:
            groups[e["task"]].append(e)
    metrics: dict[str, float | int] = {}
    for task in sorted(groups):
        rows = groups[task]
        is_cot = task == COT_TASK
        n_new = max_new_tokens if is_cot else task_max_new_tokens
        correct = well_formed = 0
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
                    correct += pred is not None and _match(pred, e["answer"])
                else:
                    correct += _match(text, e["answer"])
        n = len(rows)
        if is_cot:
            metrics.update(cot_format_rate=well_formed / n, cot_emotion_accuracy=correct / n, cot_n=n)
        else:
            metrics[f"{task}_accuracy"] = correct / n
            metrics[f"{task}_n"] = n
        logger.info("evaluated %d %s examples", n, task)
    return metrics
