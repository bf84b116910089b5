"""Supervised fine-tuning: examples from the SFT task records and EmotionCoT, an audio collator, TRL's SFTTrainer.

from emotionthinker.training import EmotionSFTConfig, sft_examples, train_sft, evaluate_tasks
train = sft_examples(task_records, cot_records, labels, phase="prosody")
trainer = train_sft(model, processor, model.config.model_type, train, None, EmotionSFTConfig(output_dir=...))
metrics, predictions = evaluate_tasks(model, processor, model.config.model_type, held_out, batch_size=8)
"""

from emotionthinker.training.checkpoints import last_checkpoint, load_checkpoint_weights
from emotionthinker.training.data import (
    COT_TASK,
    PHASES,
    TASK_SYSTEM_PROMPT,
    AudioCollator,
    cot_example,
    fit_target,
    fit_targets,
    sft_examples,
    task_example,
    task_messages,
)
from emotionthinker.training.grpo import (
    PTR_STATE,
    AudioGRPOTrainer,
    GRPOPTRConfig,
    LabelledReward,
    grpo_args,
    grpo_dataset,
    train_grpo,
)
from emotionthinker.training.sft import (
    SCORERS,
    AudioSFTTrainer,
    EmotionSFTConfig,
    evaluate_tasks,
    majority_baseline,
    metric_name,
    set_f1,
    token_f1,
    train_sft,
)

__all__ = [
    "COT_TASK", "PHASES", "PTR_STATE", "SCORERS", "TASK_SYSTEM_PROMPT", "AudioCollator", "AudioGRPOTrainer",
    "AudioSFTTrainer", "EmotionSFTConfig", "GRPOPTRConfig", "LabelledReward", "cot_example", "evaluate_tasks",
    "fit_target", "fit_targets", "grpo_args", "grpo_dataset", "last_checkpoint", "load_checkpoint_weights",
    "majority_baseline", "metric_name", "set_f1", "sft_examples", "task_example", "task_messages", "token_f1",
    "train_grpo", "train_sft",
]  # fmt: skip
