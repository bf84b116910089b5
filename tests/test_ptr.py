"""GRPO-PTR rewards: format and outcome rewards, trust weight, progressive schedule, combiner arithmetic."""

from __future__ import annotations

import json
import math

import pytest

from emotionthinker.labels import DEFAULT_LABELS
from emotionthinker.rewards.ptr import (
    ProgressiveSchedule,
    PTRCombiner,
    PTRConfig,
    completion_text,
    format_reward,
    outcome_reward,
    trust_weights,
)


def conv(text: str) -> list[dict]:
    """A completion in TRL's conversational form."""
    return [{"role": "assistant", "content": text}]


# --------------------------------------------------------------------------------------------------------------------
# format and outcome rewards
# --------------------------------------------------------------------------------------------------------------------

# (completion, gold, format reward, outcome reward)
TABLE = [
    ("<think>low and slow</think><answer>sad</answer>", "sad", 1.0, 1.0),
    ("  <think>\nlow\n</think>\n<answer> Sad </answer>\n", "sad", 1.0, 1.0),  # whitespace and case are fine
    ("<think>x</think><answer>contempt or disgust</answer>", "Contempt-or-Disgust", 1.0, 1.0),
    ("<think>high and loud</think><answer>angry</answer>", "sad", 1.0, 0.0),  # well formed but wrong
    ("<answer>sad</answer>", "sad", 0.0, 1.0),  # no think block: the answer still counts
    ("<think>x</think>sad", "sad", 0.0, 0.0),  # no answer tag
    ("<think>x</think><answer>sad</answer><answer>angry</answer>", "angry", 0.0, 1.0),  # two answers: last counts
    ("<think>x</think><answer>bored</answer>", "neutral", 0.0, 0.0),  # not in the label set
    ("<think>x</think><answer>sad</answer> I hope this helps", "sad", 0.0, 1.0),  # text after </answer>
    ("Sure! <think>x</think><answer>sad</answer>", "sad", 0.0, 1.0),  # text before <think>
    ("<think>a</think><think>b</think><answer>sad</answer>", "sad", 0.0, 1.0),  # two think blocks
    ("<think>x<answer>sad</answer></think><answer>sad</answer>", "sad", 0.0, 1.0),  # answer nested in think
    ("<answer>sad</answer><think>x</think>", "sad", 0.0, 1.0),  # wrong order
    ("", "sad", 0.0, 0.0),
]


@pytest.mark.parametrize(("completion", "gold", "fmt", "outcome"), TABLE)
def test_format_and_outcome_rewards_on_string_completions(completion, gold, fmt, outcome):
    assert format_reward([completion]) == [fmt]
    assert outcome_reward([completion], emotion=[gold]) == [outcome]


@pytest.mark.parametrize(("completion", "gold", "fmt", "outcome"), TABLE)
def test_conversational_completions_score_like_their_text(completion, gold, fmt, outcome):
    assert format_reward([conv(completion)]) == [fmt]
    assert outcome_reward([conv(completion)], emotion=[gold]) == [outcome]


def test_rewards_take_trl_keyword_arguments_and_score_a_batch():
    completions = [conv("<think>x</think><answer>happy</answer>"), conv("<think>x</think><answer>sad</answer>")]
    kwargs = {"prompts": [[], []], "completion_ids": [[1], [2]], "utt_id": ["a", "b"], "trainer_state": None}
    assert format_reward(completions, **kwargs) == [1.0, 1.0]
    assert outcome_reward(completions, emotion=["happy", "happy"], **kwargs) == [1.0, 0.0]


def test_label_set_is_configurable():
    completion = "<think>x</think><answer>bored</answer>"
    labels = (*DEFAULT_LABELS, "bored")
    assert format_reward([completion], labels=labels) == [1.0]
    assert outcome_reward([completion], emotion=["bored"], labels=labels) == [1.0]
    assert format_reward(["<think>x</think><answer>sad</answer>"], labels=["happy"]) == [0.0]


def test_completion_text_joins_assistant_parts_and_skips_other_roles():
    completion = [
        {"role": "assistant", "content": [{"type": "text", "text": "<think>x</think>"}]},
        {"role": "tool", "content": "ignored"},
        {"role": "assistant", "content": "<answer>sad</answer>"},
    ]
    assert completion_text(completion) == "<think>x</think><answer>sad</answer>"
    assert format_reward([completion]) == [1.0]


def test_completion_of_unknown_type_is_a_clear_error():
    with pytest.raises(TypeError, match="string or a list of chat messages"):
        format_reward([42])
    with pytest.raises(TypeError, match="role, content"):
        format_reward([["just a string in a list"]])


def test_outcome_reward_rejects_mismatched_or_unknown_gold_labels():
    with pytest.raises(ValueError, match="2 completions but 1 gold labels"):
        outcome_reward(["a", "b"], emotion=["sad"])
    with pytest.raises(ValueError, match="'frustrated' of completion 0 is not in the label set"):
        outcome_reward(["<answer>sad</answer>"], emotion=["frustrated"])


# --------------------------------------------------------------------------------------------------------------------
# trust weight
# --------------------------------------------------------------------------------------------------------------------


def test_tau_is_one_when_correct_answers_reason_at_least_as_well():
    # correct mean 0.8, wrong mean 0.5; and a tie (0.6 vs 0.6) is trusted too
    tau = trust_weights([0.9, 0.7, 0.5, 0.5, 0.6, 0.6], [True, True, False, False, True, False], group_size=3)
    assert tau.tolist() == [1.0, 1.0]


def test_tau_is_exp_of_the_gap_when_wrong_answers_reason_better():
    tau = trust_weights([0.4, 0.6, 0.9, 0.7], [True, True, False, False], group_size=4)
    assert tau.tolist() == [pytest.approx(math.exp(0.5 - 0.8))]
    assert tau[0] == pytest.approx(0.7408182206817179)


def test_tau_per_group_is_independent():
    r_t = [0.2, 1.0, 1.0, 0.2, 0.5, 0.5]
    ok = [True, False, True, False, False, False]
    assert trust_weights(r_t, ok, group_size=2).tolist() == [pytest.approx(math.exp(-0.8)), 1.0, 1.0]


def test_tau_is_one_for_all_correct_all_wrong_and_single_completion_groups():
    assert trust_weights([0.1, 0.9], [True, True], group_size=2).tolist() == [1.0]
    assert trust_weights([0.9, 0.1], [False, False], group_size=2).tolist() == [1.0]
    assert trust_weights([0.1, 0.9, 0.3], [True, False, False], group_size=1).tolist() == [1.0, 1.0, 1.0]


def test_tau_rejects_nan_and_ragged_groups():
    with pytest.raises(ValueError, match="non-finite value.*completion 1"):
        trust_weights([0.5, float("nan")], [True, False], group_size=2)
    with pytest.raises(ValueError, match="5 completions do not split into groups of group_size=2"):
        trust_weights([0.5] * 5, [True] * 5, group_size=2)
    with pytest.raises(ValueError, match="group_size must be a positive integer"):
        trust_weights([0.5] * 2, [True] * 2, group_size=0)


# --------------------------------------------------------------------------------------------------------------------
# combined reward
# --------------------------------------------------------------------------------------------------------------------

# One group of four: two correct (R_t 0.4, 0.6), two wrong (R_t 0.9, 0.7): tau = exp(0.5 - 0.8).
R_F = [1.0, 1.0, 1.0, 0.0]
R_O = [1.0, 1.0, 0.0, 0.0]
R_T = [0.4, 0.6, 0.9, 0.7]
TAU = math.exp(-0.3)


def expected(gate: float, tau: float, alpha_t: float = 0.5) -> list[float]:
    return [0.3 * f + 1.0 * o + alpha_t * gate * tau * t for f, o, t in zip(R_F, R_O, R_T, strict=True)]


def test_combined_reward_with_trust_when_schedule_is_off_by_ablation():
    out = PTRCombiner(schedule=ProgressiveSchedule(enabled=False))(R_F, R_O, R_T, group_size=4, step=0)
    assert out.rewards == pytest.approx(expected(gate=1.0, tau=TAU))
    assert out.rewards[0] == pytest.approx(0.3 + 1.0 + 0.5 * TAU * 0.4)
    assert out.tau == pytest.approx([TAU] * 4)


def test_combined_reward_drops_reasoning_term_while_gate_is_closed():
    combiner = PTRCombiner(schedule=ProgressiveSchedule(threshold=0.9, window=1, min_steps=0))
    out = combiner(R_F, R_O, R_T, group_size=4, step=0)  # accuracy 0.5 < 0.9
    assert out.metrics["ptr/gate"] == 0.0
    assert out.rewards == pytest.approx([1.3, 1.3, 0.3, 0.0])


def test_combined_reward_scales_reasoning_term_by_ramp_gate():
    combiner = PTRCombiner(schedule=ProgressiveSchedule(threshold=0.5, window=1, min_steps=0, ramp_steps=1))
    out = combiner(R_F, R_O, R_T, group_size=4, step=0)  # switches on at step 0, gate 1/2
    assert out.metrics["ptr/gate"] == 0.5
    assert out.rewards == pytest.approx(expected(gate=0.5, tau=TAU))


def test_no_trust_mode_fixes_tau_at_one_but_still_reports_it():
    combiner = PTRCombiner(PTRConfig(trust=False), ProgressiveSchedule(enabled=False))
    out = combiner(R_F, R_O, R_T, group_size=4, step=0)
    assert out.rewards == pytest.approx(expected(gate=1.0, tau=1.0))
    assert out.tau == [1.0] * 4
    assert out.metrics["ptr/tau"] == pytest.approx(TAU)
    assert out.metrics["ptr/tau_below_one"] == 1.0


def test_plain_grpo_mode_ignores_reasoning_reward():
    combiner = PTRCombiner(PTRConfig(alpha_reasoning=0.0), ProgressiveSchedule(enabled=False))
    out = combiner(R_F, R_O, R_T, group_size=4, step=0)
    assert out.rewards == pytest.approx([1.3, 1.3, 0.3, 0.0])


def test_custom_alphas():
    combiner = PTRCombiner(PTRConfig(alpha_format=0.0, alpha_outcome=2.0, alpha_reasoning=1.0))
    combiner.schedule = ProgressiveSchedule(enabled=False)
    out = combiner(R_F, R_O, R_T, group_size=2, step=0)  # groups of 2: both all-correct / all-wrong, tau 1
    assert out.rewards == pytest.approx([2.4, 2.6, 0.9, 0.7])


def test_diagnostics_describe_the_batch_and_the_schedule():
    combiner = PTRCombiner(schedule=ProgressiveSchedule(threshold=0.5, window=2, min_steps=1))
    # two groups of 2: the first trusted (correct reasons better), the second all wrong
    r_f, r_o, r_t = [1.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.8, 0.2, 0.5, 0.5]
    first = combiner(r_f, r_o, r_t, group_size=2, step=0)
    assert first.metrics == pytest.approx(
        {
            "ptr/format": 0.75,
            "ptr/outcome": 0.25,
            "ptr/reasoning": 0.5,
            "ptr/reward": (1.3 + 0.0 + 0.3 + 0.3) / 4,
            "ptr/tau": 1.0,
            "ptr/tau_below_one": 0.0,
            "ptr/gate": 0.0,
            "ptr/switched_on": 0.0,
            "ptr/switched_on_step": -1.0,
            "ptr/running_accuracy": 0.25,
        }
    )
    # step 1: a distrusted group and an all-correct group; window accuracy (1 + 3) / 8 = 0.5 -> on
    second = combiner([1.0] * 4, [1.0, 0.0, 1.0, 1.0], [0.2, 0.6, 0.5, 0.5], group_size=2, step=1)
    assert second.metrics["ptr/tau"] == pytest.approx((math.exp(-0.4) + 1.0) / 2)
    assert second.metrics["ptr/tau_below_one"] == 0.5
    assert second.metrics["ptr/running_accuracy"] == 0.5
    assert second.metrics["ptr/switched_on"] == 1.0
    assert second.metrics["ptr/switched_on_step"] == 1.0
    assert second.rewards == pytest.approx(
        [1.3 + 0.5 * math.exp(-0.4) * 0.2, 0.3 + 0.5 * math.exp(-0.4) * 0.6, 1.3 + 0.25, 1.3 + 0.25]
    )


def test_combiner_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    combiner = PTRCombiner(schedule=ProgressiveSchedule(enabled=False))
    columns = torch.tensor([R_F, R_O, R_T], dtype=torch.float32).T  # like TRL's rewards_per_func
    out = combiner(columns[:, 0], columns[:, 1], columns[:, 2], group_size=4, step=0)
    assert out.rewards == pytest.approx(expected(gate=1.0, tau=TAU), rel=1e-6)


def test_evaluation_calls_do_not_move_the_schedule():
    combiner = PTRCombiner(schedule=ProgressiveSchedule(threshold=0.5, window=1, min_steps=0))
    out = combiner([1.0, 1.0], [1.0, 1.0], [0.5, 0.5], group_size=2, step=0, update=False)
    assert out.metrics["ptr/gate"] == 0.0
    assert combiner.schedule.state_dict()["history"] == []


def test_combiner_rejects_bad_batches():
    combiner = PTRCombiner()
    with pytest.raises(ValueError, match="6 completions do not split into groups of group_size=4"):
        combiner([1.0] * 6, [1.0] * 6, [0.5] * 6, group_size=4, step=0)
    with pytest.raises(ValueError, match="component lengths differ: 4 format, 4 outcome, 3 reasoning"):
        combiner([1.0] * 4, [1.0] * 4, [0.5] * 3, group_size=2, step=0)
    with pytest.raises(ValueError, match="r_reasoning holds 1 non-finite.*returned None or NaN"):
        combiner([1.0] * 2, [1.0] * 2, [0.5, float("nan")], group_size=2, step=0)
    with pytest.raises(ValueError, match="empty batch"):
        combiner([], [], [], group_size=2, step=0)


@pytest.mark.parametrize("name", ["alpha_format", "alpha_outcome", "alpha_reasoning"])
def test_negative_or_infinite_alphas_are_rejected(name):
    with pytest.raises(ValueError, match=f"{name}=-0.1 must be a finite weight >= 0"):
        PTRConfig(**{name: -0.1})
    with pytest.raises(ValueError, match=f"{name}=inf"):
        PTRConfig(**{name: float("inf")})


# --------------------------------------------------------------------------------------------------------------------
# progressive schedule
# --------------------------------------------------------------------------------------------------------------------


def run(schedule: ProgressiveSchedule, accuracies: list[float], start: int = 0, n: int = 10) -> list[float]:
    """Feed one step per accuracy (n completions each) and return the gate after each."""
    gates = []
    for step, acc in enumerate(accuracies, start=start):
        schedule.update(step, round(acc * n), n)
        gates.append(schedule.gate(step))
    return gates


def test_schedule_stays_off_below_threshold():
    schedule = ProgressiveSchedule(threshold=0.5, window=3, min_steps=0)
    assert run(schedule, [0.4, 0.3, 0.4, 0.2, 0.4]) == [0.0] * 5
    assert schedule.switched_on_step is None
    assert schedule.accuracy == pytest.approx((0.4 + 0.2 + 0.4) / 3)


def test_schedule_waits_for_min_steps_even_when_accuracy_is_high():
    schedule = ProgressiveSchedule(threshold=0.5, window=2, min_steps=3)
    assert run(schedule, [1.0, 1.0, 1.0, 1.0, 1.0]) == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert schedule.switched_on_step == 3


def test_schedule_switches_on_at_the_step_the_window_reaches_threshold():
    # window of 2: running accuracies 0.0, 0.1, 0.3, 0.5 (= (0.4 + 0.6) / 2) -> on at step 3
    schedule = ProgressiveSchedule(threshold=0.5, window=2, min_steps=0)
    assert run(schedule, [0.0, 0.2, 0.4, 0.6, 0.8]) == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert schedule.switched_on_step == 3


def test_window_pools_completions_so_bigger_steps_weigh_more():
    schedule = ProgressiveSchedule(threshold=0.5, window=2, min_steps=0)
    schedule.update(0, correct=0, total=10)
    schedule.update(1, correct=4, total=4)  # step means average 0.5, pooled 4 / 14
    assert schedule.accuracy == pytest.approx(4 / 14)
    assert schedule.gate(1) == 0.0


def test_updates_of_the_same_step_add_up():
    schedule = ProgressiveSchedule(threshold=0.5, window=1, min_steps=0)
    schedule.update(0, correct=1, total=4)
    assert schedule.gate(0) == 0.0
    schedule.update(0, correct=4, total=4)  # step 0 is now 5 / 8
    assert schedule.accuracy == pytest.approx(5 / 8)
    assert schedule.switched_on_step == 0


def test_ramp_rises_linearly_to_one():
    schedule = ProgressiveSchedule(threshold=0.5, window=1, min_steps=2, ramp_steps=3)
    gates = run(schedule, [0.9] * 8)
    assert gates == pytest.approx([0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    assert schedule.switched_on_step == 2


def test_schedule_stays_on_after_accuracy_drops():
    schedule = ProgressiveSchedule(threshold=0.5, window=1, min_steps=0)
    assert run(schedule, [0.6, 0.0, 0.1, 0.0]) == [1.0, 1.0, 1.0, 1.0]
    assert schedule.accuracy == 0.0
    assert schedule.switched_on_step == 0


def test_disabled_schedule_is_on_from_step_zero_without_ramp():
    schedule = ProgressiveSchedule(enabled=False, ramp_steps=5)
    assert schedule.switched_on_step == 0
    assert run(schedule, [0.0, 0.0]) == [1.0, 1.0]


def test_state_dict_round_trip_mid_run_continues_identically():
    settings = {"threshold": 0.5, "window": 3, "min_steps": 2, "ramp_steps": 2}
    accuracies = [0.1, 0.3, 0.4, 0.5, 0.7, 0.2, 0.9, 0.0]
    original = ProgressiveSchedule(**settings)
    run(original, accuracies[:4])
    saved = json.loads(json.dumps(original.state_dict()))  # through JSON, as a checkpoint stores it

    resumed = ProgressiveSchedule(**settings)
    resumed.load_state_dict(saved)
    assert resumed.accuracy == original.accuracy
    after_original = run(original, accuracies[4:], start=4)
    after_resumed = run(resumed, accuracies[4:], start=4)
    assert after_resumed == after_original
    assert resumed.state_dict() == original.state_dict()
    # the run switches on inside the resumed part: window (0.4 + 0.5 + 0.7) / 3 at step 4, then ramps
    assert after_original == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0])
    assert original.switched_on_step == 4


def test_combiner_state_round_trip():
    make = lambda: PTRCombiner(schedule=ProgressiveSchedule(threshold=0.5, window=2, min_steps=1))  # noqa: E731
    a = make()
    a([1.0] * 2, [1.0, 1.0], [0.5, 0.5], group_size=2, step=0)
    b = make()
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    step1 = ([1.0] * 2, [1.0, 0.0], [0.1, 0.9], 2, 1)
    assert b(*step1).rewards == a(*step1).rewards
    assert b.schedule.switched_on_step == a.schedule.switched_on_step == 1


def test_loading_state_with_other_settings_is_refused():
    saved = ProgressiveSchedule(threshold=0.5).state_dict()
    with pytest.raises(ValueError, match="threshold: saved 0.5, now 0.6"):
        ProgressiveSchedule(threshold=0.6).load_state_dict(saved)


def test_steps_must_not_go_back():
    schedule = ProgressiveSchedule()
    schedule.update(5, 1, 2)
    with pytest.raises(ValueError, match="step 4 comes after step 5"):
        schedule.update(4, 1, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1.5}, r"threshold=1.5 must be an accuracy in \[0, 1\]"),
        ({"threshold": -0.1}, r"threshold=-0.1 must be an accuracy in \[0, 1\]"),
        ({"window": 0}, "window=0 must be an integer >= 1"),
        ({"min_steps": -1}, "min_steps=-1 must be an integer >= 0"),
        ({"ramp_steps": 1.5}, "ramp_steps=1.5 must be an integer >= 0"),
    ],
)
def test_bad_schedule_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ProgressiveSchedule(**kwargs)


def test_bad_updates_are_rejected():
    schedule = ProgressiveSchedule()
    with pytest.raises(ValueError, match="correct <= total"):
        schedule.update(0, correct=3, total=2)
    with pytest.raises(ValueError, match="non-negative integer"):
        schedule.update(-1, correct=0, total=2)


def test_stage_config_defaults_equal_the_library_defaults():
    from emotionthinker.config import GRPOStageConfig
    from emotionthinker.rewards.ptr import ProgressiveSchedule, PTRConfig

    stage, ptr, schedule = GRPOStageConfig(), PTRConfig(), ProgressiveSchedule()
    assert (stage.alpha_format, stage.alpha_outcome, stage.alpha_reasoning, stage.trust) == (
        ptr.alpha_format, ptr.alpha_outcome, ptr.alpha_reasoning, ptr.trust,
    )  # fmt: skip
    assert (stage.progressive, stage.schedule_threshold, stage.schedule_window) == (
        schedule.enabled, schedule.threshold, schedule.window,
    )  # fmt: skip
    assert (stage.schedule_min_steps, stage.schedule_ramp_steps) == (schedule.min_steps, schedule.ramp_steps)
