"""Rewards for GRPO-PTR: the trained reasoning reward model and the rule-based reward functions TRL calls.

    from emotionthinker.rewards import reasoning_reward
    r_t = reasoning_reward("model", path="models/reward")  # or reasoning_reward("judge")
    r_t(prompts, completions, facts=facts, caption=captions, transcript=transcripts)  # -> R_t per completion

Training the reward model (``train_reward_model`` and its Trainer) lives in ``emotionthinker.rewards.rm_training``
and is not imported here: it pulls in transformers' Trainer and the training package, which the reward functions
do not need.
"""

from emotionthinker.rewards.reward_model import (
    DEFAULT_WEIGHTS,
    REWARD_CONFIG,
    JudgeReward,
    ReasoningRewardModel,
    check_weights,
    read_reward_config,
    reasoning_reward,
    to_score,
    to_target,
    write_reward_config,
)
from emotionthinker.rewards.rm_inputs import (
    FACT_FIELDS,
    answer_line,
    completion_text,
    context_text,
    encode,
    model_text,
    serialise_facts,
    truncate_ids,
)
from emotionthinker.rewards.rm_metrics import evaluate_scores, mae, pairwise_accuracy, reward_of, spearman

__all__ = [
    "DEFAULT_WEIGHTS", "FACT_FIELDS", "REWARD_CONFIG", "JudgeReward", "ReasoningRewardModel", "answer_line",
    "check_weights", "completion_text", "context_text", "encode", "evaluate_scores", "mae", "model_text",
    "pairwise_accuracy",
    "read_reward_config", "reasoning_reward", "reward_of", "serialise_facts", "spearman", "to_score", "to_target",
    "truncate_ids", "write_reward_config",
]  # fmt: skip
