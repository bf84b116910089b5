"""GRPO-PTR rewards: format and outcome rewards, the per-group trust weight, the progressive schedule, and the
combiner that turns per-completion components into the reward GRPO normalises per group.

The reward of completion i in a group of G completions sampled for one prompt (docs/DESIGN.md, GRPO-PTR) is

    R_i = alpha_f * R_format_i + alpha_o * R_outcome_i + alpha_t * gate(step) * tau_group * R_t_i

with defaults alpha_f = 0.3, alpha_o = 1.0, alpha_t = 0.5. ``R_t`` is the reasoning reward model's score in
[0, 1]; ``tau`` (trust) scales it down in groups where the judge prefers the wrong answers' reasoning to the
correct answers'; ``gate`` (progressive) keeps it off until the policy answers well enough that rewarding its
reasoning is meaningful.

The format and outcome rewards have TRL's reward signature, ``(completions, **kwargs) -> list[float]``, and call
the project's one parser (:mod:`emotionthinker.prompts`), the same one evaluation uses, so the reward and the
accuracy metric cannot disagree on what an answer is:

>>> format_reward(["<think>low and slow</think><answer>sad</answer>", "<answer>sad</answer>"])
[1.0, 0.0]
>>> outcome_reward([[{"role": "assistant", "content": "<think>x</think><answer>Sad</answer>"}]], emotion=["sad"])
[1.0]

The combiner is stateful (the schedule), so it runs once per generation batch on the whole batch, after the
components of every completion are known:

>>> combiner = PTRCombiner(schedule=ProgressiveSchedule(enabled=False))
>>> out = combiner(r_format=[1, 1], r_outcome=[1, 0], r_reasoning=[0.6, 0.8], group_size=2, step=0)
>>> [round(r, 4) for r in out.rewards]  # tau = exp(0.6 - 0.8): the judge liked the wrong answer better
[1.5456, 0.6275]
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emotionthinker.labels import DEFAULT_LABELS, normalise
from emotionthinker.prompts import is_well_formed, parse_answer

# A completion counts as correct when its outcome reward is above this. ``outcome_reward`` gives exactly 0 or 1;
# the midpoint keeps the trust weight meaningful should a soft (partial-credit) outcome reward be plugged in.
CORRECT_ABOVE = 0.5

STATE_VERSION = 1


# --------------------------------------------------------------------------------------------------------------------
# Completions and the two rule-based rewards
# --------------------------------------------------------------------------------------------------------------------


def completion_text(completion: str | Sequence[Mapping[str, Any]]) -> str:
    """The text of one completion as TRL hands it to reward functions: a string, or conversational messages.

    Conversational completions are lists of ``{"role": "assistant", "content": ...}`` messages; ``content`` is a
    string or a list of ``{"type": "text", "text": ...}`` parts. The assistant messages' text is joined in order;
    other roles (tool results in a multi-turn rollout) are not the model's own words and are left out.

    >>> completion_text("<answer>sad</answer>")
    '<answer>sad</answer>'
    >>> completion_text([{"role": "assistant", "content": [{"type": "text", "text": "<answer>sad</answer>"}]}])
    '<answer>sad</answer>'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping) or not isinstance(completion, Sequence):
        raise TypeError(
            f"a completion must be a string or a list of chat messages, got {type(completion).__name__}: "
            f"{completion!r:.80}"
        )
    parts: list[str] = []
    for message in completion:
        if not isinstance(message, Mapping) or "content" not in message:
            raise TypeError(f"a conversational completion must hold {{role, content}} messages, got {message!r:.80}")
        if message.get("role", "assistant") != "assistant":
            continue
        content = message["content"]
        if content is None:
            continue
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return "".join(parts)


def format_reward(completions: Sequence, labels: Sequence[str] = DEFAULT_LABELS, **kwargs) -> list[float]:
    """1.0 for a completion that is exactly one ``<think>`` block then one ``<answer>`` holding a label of the set.

    Anything else scores 0.0: a missing or repeated tag, text before or after the blocks, an answer outside
    ``labels``. The check is :func:`emotionthinker.prompts.is_well_formed` (``TAG_FORMAT``), the one the validation
    suites and evaluation's format-compliance metric use. Extra keyword arguments (``prompts``, dataset columns,
    ``trainer_state``, ...) are what TRL passes to every reward function; they are ignored. Note that a dataset
    column named ``labels`` would reach this function as ``labels``: do not give the dataset one.

    >>> format_reward(["<think>a</think><answer>sad</answer>", "<think>a</think><answer>bored</answer>"])
    [1.0, 0.0]
    """
    return [1.0 if is_well_formed(completion_text(c), labels) else 0.0 for c in completions]


def outcome_reward(
    completions: Sequence, emotion: Sequence[str], labels: Sequence[str] = DEFAULT_LABELS, **kwargs
) -> list[float]:
    """1.0 when the answer (the last ``<answer>`` tag, :func:`~emotionthinker.prompts.parse_answer`) is the gold label.

    ``emotion`` is the dataset column of gold labels, one per completion, which TRL passes by name (already
    repeated for the G completions of a prompt). Both sides are compared after
    :func:`emotionthinker.labels.normalise`, so case, hyphens and spacing do not matter. Only the last answer tag
    counts and no format is required here, exactly as evaluation's accuracy is computed; the format is rewarded by
    :func:`format_reward`.

    Raises ValueError when the lengths differ or a gold label is outside ``labels`` (it could never be matched, so
    the outcome reward would be silently 0: a label mapping or label-set mismatch upstream).

    >>> outcome_reward(["<think>a</think><answer>angry</answer>", "<answer>sad</answer>"], emotion=["Angry", "happy"])
    [1.0, 0.0]
    """
    if len(emotion) != len(completions):
        raise ValueError(
            f"outcome_reward got {len(completions)} completions but {len(emotion)} gold labels in 'emotion'; "
            "the dataset needs an 'emotion' column with one label per prompt"
        )
    known = {normalise(x) for x in labels}
    rewards = []
    for i, (completion, gold) in enumerate(zip(completions, emotion, strict=True)):
        gold_norm = normalise(gold) if gold is not None else ""
        if gold_norm not in known:
            raise ValueError(
                f"outcome_reward: gold label {gold!r} of completion {i} is not in the label set {list(labels)}; "
                "map it onto the set at ingest (label_map) or add it to the labels"
            )
        answer = parse_answer(completion_text(completion), labels)
        rewards.append(1.0 if answer is not None and normalise(answer) == gold_norm else 0.0)
    return rewards


# --------------------------------------------------------------------------------------------------------------------
# Trust weight
# --------------------------------------------------------------------------------------------------------------------


def _as_vector(values, name: str) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, possibly on the GPU (TRL's gathered rewards_per_func columns)
        values = values.detach().float().cpu().numpy()
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a flat list with one value per completion, got shape {x.shape}")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValueError(
            f"{name} holds {bad.size} non-finite value(s) (first at completion {int(bad[0])}: {x[bad[0]]}); "
            "a reward function returned None or NaN (TRL turns None into NaN). Every completion needs a score"
        )
    return x


def _check_groups(n: int, group_size: int) -> int:
    if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)) or group_size < 1:
        raise ValueError(f"group_size must be a positive integer (num_generations), got {group_size!r}")
    if n == 0:
        raise ValueError("got an empty batch of completions; there is nothing to reward")
    if n % group_size:
        raise ValueError(
            f"{n} completions do not split into groups of group_size={group_size}: the batch must hold whole "
            "groups of num_generations completions per prompt (check generation_batch_size and num_generations)"
        )
    return n // group_size


def trust_weights(r_reasoning: Sequence[float], correct: Sequence[bool], group_size: int) -> np.ndarray:
    """Trust weight tau of each group of ``group_size`` consecutive completions (one prompt's G samples).

    tau = 1 when the mean reasoning reward of the group's correct completions is at least that of its wrong ones,
    else exp(mean_correct - mean_wrong), which is below 1 and the smaller the more the reasoning reward prefers
    wrong answers' reasoning: the judge is then not trusted to shape this group's advantages, and its term is
    scaled down.

    Edge cases, decided here:

    * All correct or all wrong: tau = 1. The design defines tau by a contrast between correct and wrong answers;
      with one side empty there is no contrast and so no evidence that the judge is misleading. These are also the
      groups where R_t matters most (the outcome reward is constant across the group, so R_t and the format reward
      are the only sources of advantage); discounting them would switch the reasoning reward off exactly where
      it is the only learning signal.
    * G = 1: every group is all-correct or all-wrong, so tau = 1. Allowed because evaluation may sample one
      completion per prompt (``num_generations_eval=1``); TRL refuses G < 2 for training, where the
      group-relative advantage would be zero anyway.
    * Non-finite rewards raise ValueError: a NaN would make tau NaN and poison every reward in the group.

    Returns an array of one tau per group, in order.

    >>> trust_weights([0.4, 0.6, 0.9, 0.5], [True, True, False, False], group_size=4).round(4).tolist()
    [0.8187]
    >>> trust_weights([0.9, 0.5], [True, True], group_size=2).tolist()
    [1.0]
    """
    r_t = _as_vector(r_reasoning, "r_reasoning")
    ok = np.asarray(correct, dtype=bool)
    if ok.shape != r_t.shape:
        raise ValueError(f"got {r_t.size} reasoning rewards but {ok.size} correctness flags; give one per completion")
    n_groups = _check_groups(r_t.size, group_size)
    tau = np.ones(n_groups)
    for g, (rt, c) in enumerate(zip(r_t.reshape(n_groups, group_size), ok.reshape(n_groups, group_size), strict=True)):
        if c.any() and (~c).any():
            diff = rt[c].mean() - rt[~c].mean()
            if diff < 0:
                tau[g] = math.exp(diff)
    return tau


# --------------------------------------------------------------------------------------------------------------------
# Progressive schedule
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class ProgressiveSchedule:
    """When the reasoning reward is on: off until the policy's running outcome accuracy reaches ``threshold``.

    Call :meth:`update` once per training step with that step's outcome counts, then read :meth:`gate`.

    * **Running accuracy** is pooled over the last ``window`` *steps* that produced completions: total correct over
      total completions in those steps. Steps, not completions, because the schedule's other settings
      (``min_steps``, ``ramp_steps``) count steps and because the window then means the same thing whatever the
      batch size; pooling (rather than averaging step means) weighs every completion equally when steps differ in
      size. Several updates for the same step (several generation batches or processes in one optimizer step) add
      to that step's counts.
    * **Switch-on** happens at the first step ``s`` with ``s >= min_steps`` (``min_steps`` steps completed; steps
      count from 0 like ``TrainerState.global_step``) at which the running accuracy, including step ``s``'s own
      completions, is ``>= threshold``. The switch applies to step ``s``'s rewards already. ``switched_on_step``
      records ``s``.
    * **Ramp**: with ``ramp_steps = k > 0`` the gate is (step - s + 1) / (k + 1) for the k steps from ``s`` on,
      then 1; ``ramp_steps = 0`` switches fully on at ``s``. E.g. k = 3: 0.25, 0.5, 0.75, then 1.
    * **Once on, it stays on** even if accuracy falls: the design switches R_t on once; turning it off again would
      make the reward non-stationary (advantage scales jump) and could oscillate, since adding R_t can itself lower
      accuracy for a while as the policy trades answer for reasoning quality.
    * ``enabled=False`` is the "without progressive schedule" ablation: the gate is 1 from step 0 (no ramp) and
      ``switched_on_step`` is 0.

    :meth:`state_dict` / :meth:`load_state_dict` carry settings and state as plain JSON types so a resumed run
    continues exactly (e.g. inside a stateful ``TrainerCallback``).
    """

    threshold: float = 0.5
    window: int = 10
    min_steps: int = 10
    ramp_steps: int = 0
    enabled: bool = True
    switched_on_step: int | None = field(default=None, init=False)
    _history: deque = field(default_factory=deque, init=False, repr=False)  # [step, correct, total] per step

    def __post_init__(self) -> None:
        if not (isinstance(self.threshold, (int, float)) and 0.0 <= self.threshold <= 1.0):
            raise ValueError(f"threshold={self.threshold!r} must be an accuracy in [0, 1] (paper: 0.5)")
        for name, low in (("window", 1), ("min_steps", 0), ("ramp_steps", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}={value!r} must be an integer >= {low}")
        self._history = deque(maxlen=self.window)
        if not self.enabled:
            self.switched_on_step = 0

    # -- reading ----------------------------------------------------------------------------------------------------

    @property
    def accuracy(self) -> float:
        """Pooled outcome accuracy over the window; NaN before the first update."""
        total = sum(t for _, _, t in self._history)
        return sum(c for _, c, _ in self._history) / total if total else float("nan")

    @property
    def last_step(self) -> int | None:
        return self._history[-1][0] if self._history else None

    def is_on(self, step: int) -> bool:
        return self.switched_on_step is not None and step >= self.switched_on_step

    def gate(self, step: int) -> float:
        """Factor on the reasoning term at ``step``: 0 before switch-on, the ramp value, then 1."""
        if not self.enabled:
            return 1.0
        if not self.is_on(step):
            return 0.0
        return min(1.0, (step - self.switched_on_step + 1) / (self.ramp_steps + 1))

    # -- writing ----------------------------------------------------------------------------------------------------

    def update(self, step: int, correct: int, total: int) -> None:
        """Record ``correct`` of ``total`` completions answered right at ``step``, then decide the switch."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"step must be a non-negative integer (the trainer's global_step), got {step!r}")
        if not (0 <= correct <= total) or total < 1:
            raise ValueError(f"need 0 <= correct <= total and total >= 1, got correct={correct}, total={total}")
        step, correct, total = int(step), int(correct), int(total)
        last = self.last_step
        if last is not None and step < last:
            raise ValueError(
                f"step {step} comes after step {last}: steps must not go back. A resumed run must load the "
                "schedule's state_dict before its first update, and evaluation must not update the schedule"
            )
        if last == step:
            _, c, t = self._history[-1]
            self._history[-1] = [step, c + correct, t + total]
        else:
            self._history.append([step, correct, total])
        if self.switched_on_step is None and step >= self.min_steps and self.accuracy >= self.threshold:
            self.switched_on_step = step

    # -- checkpointing ----------------------------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "window": self.window,
            "min_steps": self.min_steps,
            "ramp_steps": self.ramp_steps,
            "enabled": self.enabled,
        }

    def state_dict(self) -> dict[str, Any]:
        """Settings and state as JSON-serialisable types."""
        return {
            "version": STATE_VERSION,
            "settings": self._settings(),
            "switched_on_step": self.switched_on_step,
            "history": [list(h) for h in self._history],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`. Settings must match this schedule's: a resumed run is the same run."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"schedule state version {state.get('version')!r} is not {STATE_VERSION}")
        saved, mine = dict(state["settings"]), self._settings()
        diff = {k: (saved.get(k), v) for k, v in mine.items() if saved.get(k) != v}
        if diff:
            detail = ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in diff.items())
            raise ValueError(
                f"the checkpoint's progressive schedule has other settings ({detail}); resume with the same "
                "settings or start the run afresh"
            )
        history = [[int(s), int(c), int(t)] for s, c, t in state["history"]]
        self._history = deque(history, maxlen=self.window)
        on = state["switched_on_step"]
        self.switched_on_step = None if on is None else int(on)


# --------------------------------------------------------------------------------------------------------------------
# Combiner
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PTRConfig:
    """Weights of the reward components and the trust switch.

    The paper's ablations are settings of this object and of the schedule:

    * GRPO-PTR: the defaults.
    * plain GRPO (no reasoning reward): ``alpha_reasoning=0``.
    * without trust: ``trust=False`` (tau fixed at 1).
    * without progressive schedule: ``ProgressiveSchedule(enabled=False)``.
    """

    alpha_format: float = 0.3
    alpha_outcome: float = 1.0
    alpha_reasoning: float = 0.5
    trust: bool = True

    def __post_init__(self) -> None:
        for name in ("alpha_format", "alpha_outcome", "alpha_reasoning"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"{name}={value!r} must be a finite weight >= 0 (defaults 0.3, 1.0, 0.5); "
                    "set it to 0 to drop the component"
                )


@dataclass(frozen=True)
class PTRResult:
    """Combined rewards (one per completion, batch order), tau per completion as applied, and diagnostics."""

    rewards: list[float]
    tau: list[float]
    metrics: dict[str, float]


class PTRCombiner:
    """Combines per-completion R_format, R_outcome and R_t into GRPO-PTR rewards, and keeps the schedule.

    Call it once per generation batch with the components of *every* completion of the batch (lists, arrays or
    tensors; with several processes, the gathered batch, so that groups are whole and every rank takes the same
    schedule decision), groups of ``group_size`` consecutive completions per prompt (TRL's order), and the
    trainer's ``global_step``. With
    ``update=True`` (training) the batch's outcome accuracy is recorded in the schedule before the gate is read;
    evaluation passes ``update=False`` so it never moves the schedule.

    Diagnostics (``PTRResult.metrics``, for the training log and plots/grpo.csv):

    * ``ptr/format``, ``ptr/outcome``, ``ptr/reasoning``, ``ptr/reward``: means of the components and of the
      combined reward; ``ptr/outcome`` is also the batch's outcome accuracy.
    * ``ptr/tau``, ``ptr/tau_below_one``: mean tau over groups and the share of groups with tau < 1, *as measured*
      even when ``trust=False`` (then the applied tau is 1), so the "without trust" ablation shows what it ignores.
    * ``ptr/gate``, ``ptr/switched_on`` (0/1), ``ptr/switched_on_step`` (-1 while off),
      ``ptr/running_accuracy`` (the schedule's window accuracy, NaN before any update).
    """

    def __init__(self, config: PTRConfig | None = None, schedule: ProgressiveSchedule | None = None) -> None:
        self.config = config or PTRConfig()
        self.schedule = schedule if schedule is not None else ProgressiveSchedule()

    def __call__(
        self,
        r_format: Sequence[float],
        r_outcome: Sequence[float],
        r_reasoning: Sequence[float],
        group_size: int,
        step: int,
        update: bool = True,
    ) -> PTRResult:
        r_f = _as_vector(r_format, "r_format")
        r_o = _as_vector(r_outcome, "r_outcome")
        r_t = _as_vector(r_reasoning, "r_reasoning")
        if not (r_f.size == r_o.size == r_t.size):
            raise ValueError(
                f"component lengths differ: {r_f.size} format, {r_o.size} outcome, {r_t.size} reasoning rewards; "
                "give one of each per completion"
            )
        _check_groups(r_f.size, group_size)
        correct = r_o > CORRECT_ABOVE
        measured = trust_weights(r_t, correct, group_size)
        applied = measured if self.config.trust else np.ones_like(measured)
        if update:
            self.schedule.update(step, int(correct.sum()), int(correct.size))
        gate = self.schedule.gate(step)
        tau = np.repeat(applied, group_size)
        cfg = self.config
        rewards = cfg.alpha_format * r_f + cfg.alpha_outcome * r_o + cfg.alpha_reasoning * gate * tau * r_t
        on = self.schedule.switched_on_step
        metrics = {
            "ptr/format": float(r_f.mean()),
            "ptr/outcome": float(r_o.mean()),
            "ptr/reasoning": float(r_t.mean()),
            "ptr/reward": float(rewards.mean()),
            "ptr/tau": float(measured.mean()),
            "ptr/tau_below_one": float((measured < 1.0).mean()),
            "ptr/gate": float(gate),
            "ptr/switched_on": float(self.schedule.is_on(step)),
            "ptr/switched_on_step": float(-1 if on is None else on),
            "ptr/running_accuracy": float(self.schedule.accuracy),
        }
        return PTRResult(rewards=rewards.tolist(), tau=tau.tolist(), metrics=metrics)

    def state_dict(self) -> dict[str, Any]:
        """The schedule's state (the combiner's only state); JSON-serialisable."""
        return {"schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.schedule.load_state_dict(state["schedule"])
