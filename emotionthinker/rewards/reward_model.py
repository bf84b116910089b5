"""The reasoning reward R_t for GRPO-PTR: a trained reward model, or the rule-based judge, behind one signature.

Both are small classes whose ``__call__`` has TRL's reward signature ``(prompts, completions, **kwargs) ->
list[float]`` and reads the clip's ``facts`` (and ``caption``, ``transcript``) from the dataset columns TRL passes as
keyword arguments; both return R_t = sum_j w_j * g_j / 5 per completion, in [0.2, 1] (all-1 to all-5 scores with
weights summing to one). ``__name__`` is set, so TRL logs them as ``reasoning_reward`` / ``judge_reward``.

    reward = reasoning_reward("model", path="models/reward")      # or reasoning_reward("judge")
    reward(prompts, completions, facts=facts, caption=captions, transcript=transcripts)

A reward-model folder (written by the reward_model stage) holds the weights and tokenizer (``save_pretrained``,
safetensors) and ``reward_config.json``: the dimensions, the weights of R_t, the input length and truncation side,
and how outputs map to scores (``score = 1 + 4 * clamp(output, 0, 1)``). The folder alone rebuilds the reward.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emotionthinker.annotate.facts import Facts
from emotionthinker.judge.scoring import DIMENSIONS, judge
from emotionthinker.labels import DEFAULT_LABELS
from emotionthinker.model.builder import WEIGHT_GLOBS, CheckpointError
from emotionthinker.rewards.rm_inputs import completion_text, encode
from emotionthinker.rewards.rm_metrics import reward_of

logger = logging.getLogger(__name__)

REWARD_CONFIG = "reward_config.json"
CONFIG_VERSION = 2  # 2: the input ends with the answer line (rm_inputs), read by the head; 1 ended with an EOS
DEFAULT_WEIGHTS = (0.25, 0.25, 0.25, 0.25)
LOW, HIGH = 1.0, 5.0  # the judge's score range
NORMALISATION = {
    "target": "(score - 1) / 4",
    "score": "1 + 4 * clamp(output, 0, 1)",
    "low": LOW,
    "high": HIGH,
}


def check_weights(weights: Sequence[float]) -> tuple[float, ...]:
    """The weights of R_t as a tuple, or a ValueError: four finite non-negative numbers summing to 1 (within 1e-6).

    >>> check_weights([0.4, 0.2, 0.2, 0.2])
    (0.4, 0.2, 0.2, 0.2)
    """
    w = tuple(float(x) for x in weights)
    if len(w) != len(DIMENSIONS):
        raise ValueError(f"weights: need {len(DIMENSIONS)} (one per dimension: {', '.join(DIMENSIONS)}), got {len(w)}")
    if any(not math.isfinite(x) or x < 0 for x in w) or abs(sum(w) - 1.0) > 1e-6:
        raise ValueError(f"weights {list(w)}: need non-negative numbers summing to 1")
    return w


def to_target(scores: np.ndarray) -> np.ndarray:
    """1-5 scores -> the regression targets in [0, 1]."""
    return (np.asarray(scores, dtype=np.float32) - LOW) / (HIGH - LOW)


def to_score(outputs: np.ndarray) -> np.ndarray:
    """Model outputs -> 1-5 scores, clamped like the judge's.

    >>> to_score(np.array([-0.2, 0.0, 0.5, 1.3])).tolist()
    [1.0, 1.0, 3.0, 5.0]
    """
    return LOW + (HIGH - LOW) * np.clip(np.asarray(outputs, dtype=np.float64), 0.0, 1.0)


def _per_item(value: Any, n: int, name: str) -> list:
    """One value per completion: a list as it is (checked for length), a single value (or None) repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name}: {len(value)} values for {n} completions")
        return list(value)
    return [value] * n


def _as_facts(f: Facts | Mapping | None) -> Facts:
    if isinstance(f, Facts):
        return f
    if f is None:
        raise ValueError("the judge reward needs the clip's facts: pass facts= (a Facts.to_dict() per completion)")
    try:
        return Facts.from_dict(dict(f))
    except TypeError as e:
        raise ValueError(f"facts {dict(f)}: not a Facts.to_dict() dict ({e})") from None


def write_reward_config(
    folder: Path, weights: Sequence[float], max_length: int, truncation_side: str, **extra
) -> Path:
    """``reward_config.json`` of a reward-model folder (everything the reward function needs besides the weights)."""
    cfg = {
        "version": CONFIG_VERSION,
        "dimensions": list(DIMENSIONS),
        "weights": list(check_weights(weights)),
        "max_length": int(max_length),
        "truncation_side": truncation_side,
        "normalisation": NORMALISATION,
        **extra,
    }
    path = Path(folder) / REWARD_CONFIG
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    return path


def read_reward_config(folder: Path) -> dict:
    """The ``reward_config.json`` of a reward-model folder, checked; errors name the folder and the missing files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such folder; expected a reward model written by the reward_model stage")
    missing = [REWARD_CONFIG, "config.json"]
    missing = [m for m in missing if not (folder / m).exists()]
    if not any(any(folder.glob(g)) for g in WEIGHT_GLOBS):
        missing.append("model.safetensors")
    if not ((folder / "tokenizer.json").exists() or (folder / "tokenizer_config.json").exists()):
        missing.append("tokenizer.json")
    if missing:
        raise CheckpointError(
            f"{folder}: not a reward-model folder, missing {', '.join(missing)} (expected reward_config.json, "
            "config.json, model.safetensors and the tokenizer files; run the reward_model stage)"
        )
    cfg = json.loads((folder / REWARD_CONFIG).read_text())
    if cfg.get("version") != CONFIG_VERSION:
        raise CheckpointError(
            f"{folder / REWARD_CONFIG}: version {cfg.get('version')}, this code reads version {CONFIG_VERSION} (the "
            "input layout changed); retrain the reward model (dvc repro reward_model)"
        )
    if cfg.get("dimensions") != list(DIMENSIONS):
        raise CheckpointError(f"{folder / REWARD_CONFIG}: dimensions {cfg.get('dimensions')}, expected {DIMENSIONS}")
    return cfg


class ReasoningRewardModel:
    """R_t from a trained reward model: a sequence-regression model with four outputs (one per dimension).

    Not an ``nn.Module`` on purpose: TRL would treat a module as a single-logit reward model fed the prompt and
    completion text; this class builds its own input (facts, caption, transcript, completion) and weighs four scores.
    """

    def __init__(
        self,
        model,
        tokenizer,
        weights: Sequence[float] = DEFAULT_WEIGHTS,
        max_length: int = 384,
        truncation_side: str = "left",
        batch_size: int = 32,
        name: str = "reasoning_reward",
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.weights = check_weights(weights)
        self.max_length = int(max_length)
        self.truncation_side = truncation_side
        self.batch_size = batch_size
        self.__name__ = name  # TRL names a non-module reward function by its __name__

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        device: str | torch.device | None = None,
        weights: Sequence[float] | None = None,
        batch_size: int = 32,
        dtype: torch.dtype | None = None,
        name: str = "reasoning_reward",
    ) -> ReasoningRewardModel:
        """Load a folder written by the reward_model stage (local files only); ``weights`` overrides the saved ones,
        ``device`` defaults to CUDA when there is one."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = Path(path)
        cfg = read_reward_config(path)
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(
            path, local_files_only=True, dtype=dtype or torch.float32
        ).to(device)
        if model.config.num_labels != len(DIMENSIONS):
            n = model.config.num_labels
            raise CheckpointError(f"{path}: the model has {n} outputs, expected {len(DIMENSIONS)} (one per dimension)")
        return cls(
            model,
            tokenizer,
            weights=cfg["weights"] if weights is None else weights,
            max_length=cfg["max_length"],
            truncation_side=cfg.get("truncation_side", "left"),
            batch_size=batch_size,
            name=name,
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode_all(self, completions, facts=None, caption=None, transcript=None) -> list[list[int]]:
        """Token ids of each completion with its clip's context (single values are shared by all completions)."""
        n = len(completions)
        facts, caption, transcript = (
            _per_item(facts, n, "facts"),
            _per_item(caption, n, "caption"),
            _per_item(transcript, n, "transcript"),
        )
        return [
            encode(self.tokenizer, f, c, t, comp, self.max_length, self.truncation_side)[0]
            for comp, f, c, t in zip(completions, facts, caption, transcript, strict=True)
        ]

    @torch.inference_mode()
    def outputs(self, completions, facts=None, caption=None, transcript=None) -> np.ndarray:
        """The model's raw outputs, ``(n, 4)``, on the [0, 1] target scale (unclamped)."""
        ids = self.encode_all(completions, facts, caption, transcript)
        out = np.zeros((len(ids), len(DIMENSIONS)), dtype=np.float64)
        if not ids:
            return out
        self.model.eval()
        pad = self.tokenizer.pad_token_id
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths together: less padding
        device = self.device
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            width = max(len(ids[i]) for i in chunk)
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            logits = self.model(input_ids=input_ids.to(device), attention_mask=mask.to(device), use_cache=False).logits
            out[chunk] = logits.float().cpu().numpy()
        return out

    def predict(self, completions, facts=None, caption=None, transcript=None) -> np.ndarray:
        """Predicted 1-5 scores, ``(n, 4)`` in ``DIMENSIONS`` order."""
        return to_score(self.outputs(completions, facts, caption, transcript))

    def scores(self, completions, facts=None, caption=None, transcript=None) -> list[dict[str, float]]:
        """The four predicted dimension scores (1-5) of each completion."""
        pred = self.predict(completions, facts, caption, transcript)
        return [dict(zip(DIMENSIONS, map(float, row), strict=True)) for row in pred]

    def __call__(self, prompts=None, completions=None, facts=None, caption=None, transcript=None, **kwargs):
        """R_t per completion (strings or TRL conversational message lists); ``prompts`` and other TRL keyword
        arguments are not read."""
        completions = [completion_text(c) for c in (completions or [])]
        return [float(x) for x in reward_of(self.predict(completions, facts, caption, transcript), self.weights)]


class JudgeReward:
    """R_t from the rule-based judge (``emotionthinker.judge``): the labels the reward model learns, computed exactly.

    >>> f = Facts("u1", "sad", None, "en", "female", None, "low", "low", "low", "falling", "voiced").to_dict()
    >>> r = JudgeReward()
    >>> good = "<think>Her pitch is low and she speaks slowly and softly. She sounds sad.</think><answer>sad</answer>"
    >>> bad = "<think>Her pitch is high and she speaks fast and loudly. She sounds sad.</think><answer>sad</answer>"
    >>> a, b = r(None, [good, bad], facts=[f, f])
    >>> a > b
    True
    """

    def __init__(
        self,
        weights: Sequence[float] = DEFAULT_WEIGHTS,
        labels: Sequence[str] = DEFAULT_LABELS,
        name: str = "judge_reward",
    ):
        self.weights = check_weights(weights)
        self.labels = tuple(labels)
        self.__name__ = name

    def scores(self, completions, facts=None, caption=None, transcript=None) -> list[dict[str, float]]:
        """The judge's four scores of each completion (``caption`` and ``transcript`` are not read: the facts hold
        what the judge checks)."""
        n = len(completions)
        return [
            judge(completion_text(c), _as_facts(f), self.labels).scores()
            for c, f in zip(completions, _per_item(facts, n, "facts"), strict=True)
        ]

    def __call__(self, prompts=None, completions=None, facts=None, caption=None, transcript=None, **kwargs):
        """R_t per completion, from the judge's scores and this reward's weights."""
        completions = list(completions or [])
        scores = [[s[d] for d in DIMENSIONS] for s in self.scores(completions, facts)]
        return [float(x) for x in reward_of(np.asarray(scores).reshape(-1, len(DIMENSIONS)), self.weights)]


def reasoning_reward(
    source: str = "model",
    path: str | Path | None = None,
    weights: Sequence[float] | None = None,
    device: str | torch.device | None = None,
    labels: Sequence[str] = DEFAULT_LABELS,
    batch_size: int = 32,
):
    """The R_t reward function for GRPO: ``"model"`` loads the reward model at ``path``; ``"judge"`` uses the
    rule-based judge (``labels``: the label set answers are parsed against). ``weights`` default to the saved ones
    (model) or equal weights (judge)."""
    if source == "model":
        if path is None:
            raise ValueError("reasoning_reward('model') needs path=, the folder the reward_model stage wrote")
        return ReasoningRewardModel.from_pretrained(path, device=device, weights=weights, batch_size=batch_size)
    if source == "judge":
        return JudgeReward(DEFAULT_WEIGHTS if weights is None else weights, labels)
    raise ValueError(f"reasoning reward source '{source}': use 'model' (the trained reward model) or 'judge'")
