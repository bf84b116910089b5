"""Supervised fine-tuning: examples from the SFT task records and EmotionCoT, an audio collator, TRL's SFTTrainer.

from emotionthinker.training import EmotionSFTConfig, sft_examples, train_sft, evaluate_tasks
train = sft_examples(task_records, cot_records, labels, phase="prosody")
trainer = train_sft(model, processor, model.config.model_type, train, None, EmotionSFTConfig(output_dir=...))
metrics = evaluate_tasks(model, processor, model.config.model_type, held_out, batch_size=8)
"""

from emotionthinker.training.data import (
    COT_TASK,
    PHASES,
    TASK_SYSTEM_PROMPT,
    AudioCollator,
    cot_example,
    sft_examples,
    task_example,
    task_messages,
)
from emotionthinker.training.sft import (
    CLASSIFICATION_TASKS,
    AudioSFTTrainer,
    EmotionSFTConfig,
    evaluate_tasks,
    last_checkpoint,
    train_sft,
)

__all__ = [
    "CLASSIFICATION_TASKS", "COT_TASK", "PHASES", "TASK_SYSTEM_PROMPT", "AudioCollator", "AudioSFTTrainer",
    "EmotionSFTConfig", "cot_example", "evaluate_tasks", "last_checkpoint", "sft_examples", "task_example",
    "task_messages", "train_sft",
]  # fmt: skip
