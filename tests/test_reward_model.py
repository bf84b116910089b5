"""The reasoning reward model: its input text, config checks, metrics, a short training run that saves, reloads and
resumes, the TRL reward functions (model and judge), and the stage's errors. Rows are made here, by the grammar
writer, the degradations and the judge, on a handful of hand-written clips; models are a few thousand parameters."""

from __future__ import annotations

import copy
import json
import random
import shutil

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import load_file
from transformers import TrainerCallback

from emotionthinker.annotate.degrade import DEGRADATIONS
from emotionthinker.annotate.facts import Facts, caption
from emotionthinker.annotate.writer import write_rationale
from emotionthinker.config import RewardModelConfig
from emotionthinker.judge import DIMENSIONS, judge
from emotionthinker.model.builder import CheckpointError
from emotionthinker.model.tokenizer import train_tokenizer
from emotionthinker.prompts import format_target
from emotionthinker.rewards import (
    FACT_FIELDS,
    JudgeReward,
    ReasoningRewardModel,
    answer_line,
    context_text,
    encode,
    evaluate_scores,
    mae,
    pairwise_accuracy,
    reasoning_reward,
    reward_of,
    serialise_facts,
    spearman,
)
from emotionthinker.rewards.rm_training import check_rows, load_causal_lm, regression_loss, train_reward_model
from stages import reward_model as stage

CLIPS = [
    Facts("u_sad", "sad", "I lost my keys again today.", "en", "female", "adult", "low", "low", "low", "falling",
          "voiced", ("lost",)),
    Facts("u_ang", "angry", "Put it back where it belongs!", "en", "male", None, "high", "high", "high", "falling",
          "voiced", ("back",)),
    Facts("u_hap", "happy", "We finally won the final!", "en", "female", None, "high", "high", "high", "rising",
          "voiced", ("won",), "happy"),
    Facts("u_neu", "neutral", "The meeting is on Thursday.", "en", "male", "adult", "medium", "medium", "medium",
          "flat", "voiced", ()),
    Facts("u_fea", "fear", "Please don't go in there.", "en", "female", None, "high", "low", "high", "rising",
          "voiced", ("don't",), "fear"),
    Facts("u_whi", "whisper", "Keep your voice down.", "en", "male", None, None, "low", "medium", None, "unvoiced"),
]  # fmt: skip
KINDS = ("contradict_cues", "truncate", "wrong_answer_label", "repeat_text")
TINY = {
    "vocab_size": 400, "hidden_size": 32, "layers": 1, "heads": 2, "kv_heads": 1, "intermediate_size": 64,
    "max_length": 256, "epochs": 4, "learning_rate": 3e-3, "batch_size": 5, "eval_batch_size": 8,
    "warmup_ratio": 0.0, "save_steps": 2, "logging_steps": 1,
}  # fmt: skip


def make_rows(clips) -> list[dict]:
    """Gold completion and four degradations per clip, scored by the judge (as the annotate stage does)."""
    rows = []
    for f in clips:
        gold = format_target(write_rationale(f), f.emotion)
        texts = [("gold", gold)] + [(k, DEGRADATIONS[k](gold, f, random.Random(0))) for k in KINDS]
        for kind, text in texts:
            j = judge(text, f)
            rows.append({"utt_id": f.utt_id, "kind": kind, "facts": f.to_dict(), "caption": caption(f),
                         "transcript": f.transcript, "completion": text, "scores": j.scores(),
                         "reward": round(j.reward(), 4)})  # fmt: skip
    return rows


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: one thread is faster, and much faster on a CPU shared with other jobs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def rows():
    return make_rows(CLIPS[:4]), make_rows(CLIPS[4:])


@pytest.fixture(scope="module")
def tokenizer(rows):
    train, _ = rows
    texts = [t for r in train for t in (context_text(r["facts"], r["caption"], r["transcript"]), r["completion"])]
    return train_tokenizer(texts, 400)


class Capture(TrainerCallback):
    """Keeps a copy of the model at the end of training, and the steps run."""

    def __init__(self):
        self.model = None
        self.steps = []
        self.start_weights = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.start_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.model = copy.deepcopy(model)


class StopAt(TrainerCallback):
    """Stops training after ``step`` (a kill after that checkpoint was written)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True


# ------------------------------------------------------------------------------------------------ input text
def test_serialise_facts_is_deterministic_and_covers_every_field():
    f = CLIPS[0]
    d = f.to_dict()
    shuffled = dict(reversed(list(d.items())))
    text = serialise_facts(d)
    assert text == serialise_facts(shuffled) == serialise_facts(f)
    assert [part.split(":")[0] for part in text.split("; ")] == list(FACT_FIELDS)
    assert set(FACT_FIELDS) == set(d) - {"utt_id", "transcript"}  # every other field of Facts
    assert "pitch:low" in text and "stressed_words:lost" in text and "content_emotion:none" in text
    assert "u_sad" not in text
    whisper = serialise_facts(CLIPS[5])
    assert "pitch:none" in whisper and "stressed_words:none" in whisper and "voicing:unvoiced" in whisper


def test_context_puts_facts_caption_transcript_then_the_completion(tokenizer):
    f = CLIPS[0]
    ctx = context_text(f.to_dict(), caption(f), f.transcript)
    lines = ctx.split("\n")
    assert [line.split(":")[0] for line in lines] == ["facts", "caption", "transcript", "rationale", ""]
    assert lines[2] == "transcript: I lost my keys again today." and lines[3] == "rationale:" and lines[4] == ""
    # a missing caption and transcript are rebuilt from complete facts
    assert context_text(f.to_dict()) == ctx
    ids, cut = encode(tokenizer, f.to_dict(), caption(f), f.transcript, "<think>x</think><answer>sad</answer>", 256)
    assert not cut and tokenizer.eos_token_id not in ids
    # the head reads the last token: the answer, repeated on a line of its own after the completion
    assert tokenizer.decode(ids) == ctx + "<think>x</think><answer>sad</answer>\nanswer:sad"
    assert "sad".endswith(tokenizer.decode(ids[-1:]))  # the last token (the head reads it) ends the answer
    no_answer, _ = encode(tokenizer, f.to_dict(), caption(f), f.transcript, "<think>x</think>", 256)
    assert tokenizer.decode(no_answer).endswith("</think>\nanswer:none")


def test_truncation_keeps_the_completion_end_by_default_and_its_start_on_the_right(tokenizer, rows):
    r = rows[0][0]
    args = (tokenizer, r["facts"], r["caption"], r["transcript"], r["completion"])
    full, cut = encode(*args, 1024)
    assert not cut
    ctx_len = len(tokenizer(context_text(r["facts"], r["caption"], r["transcript"]))["input_ids"])
    tail = len(tokenizer(answer_line(r["completion"]))["input_ids"])  # "\nanswer:sad", never cut
    budget = 2 * ctx_len + 11  # the context takes less than half: it stays whole
    keep = budget - tail - ctx_len  # completion tokens that fit beside it and the answer line
    assert len(full) > budget
    left, cut_left = encode(*args, budget)
    right, cut_right = encode(*args, budget, side="right")
    assert cut_left and cut_right and len(left) == len(right) == budget
    assert left[:ctx_len] == right[:ctx_len] == full[:ctx_len]
    assert left[ctx_len:] == full[-(keep + tail) :]  # left: the completion's last tokens (</answer> included)
    assert tokenizer.decode(left[-(tail + 10) :]).endswith("<answer>sad</answer>\nanswer:sad")
    assert right[ctx_len:-tail] == full[ctx_len : ctx_len + keep]  # right: its first tokens (from <think>)
    assert tokenizer.decode(right[ctx_len : ctx_len + 1]) == "<think>" and right[-tail:] == full[-tail:]
    # a context longer than half the budget is cut from its end; the completion keeps half of what the answer line
    # leaves: (60 - tail) - (60 - tail) // 2
    short, _ = encode(*args, 60)
    room = 60 - tail
    kept = room - room // 2
    assert len(short) == 60 and short[: room - kept] == full[: room - kept]
    assert short[room - kept :] == full[-(kept + tail) :]


# --------------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"weights": [0.5, 0.5, 0.5]}, "reward_model.weights has 3 entries"),
        ({"weights": [0.5, 0.5, 0.25, -0.25]}, "reward_model.weights .* >= 0"),
        ({"weights": [0.3, 0.3, 0.3, 0.3]}, "reward_model.weights .* sum to 1.2; they must sum to 1"),
        ({"path": "/models/qwen"}, "reward_model.path is set but reward_model.backbone is 'tiny'"),
        ({"backbone": "causal-lm"}, "set reward_model.path to its folder"),
        ({"lora": {"enabled": True}}, "reward_model.lora.enabled is for causal-lm"),
        ({"hidden_size": 100, "heads": 3}, "reward_model.hidden_size=100 must be a multiple of reward_model.heads"),
        ({"heads": 4, "kv_heads": 3}, "reward_model.heads=4 must be a multiple of reward_model.kv_heads=3"),
        ({"epoch": 3}, "epoch"),
    ],
)
def test_config_rejects_bad_values_naming_the_key(section, message):
    with pytest.raises(ValidationError, match=message):
        RewardModelConfig.model_validate(section)


def test_config_accepts_weights_within_tolerance_and_a_gpu_profile(tmp_path):
    cfg = RewardModelConfig.model_validate({"weights": [0.4, 0.2, 0.2, 0.2 + 1e-7]})
    assert cfg.weights[0] == 0.4 and cfg.backbone == "tiny" and cfg.truncation_side == "left"
    gpu = RewardModelConfig.model_validate({"backbone": "causal-lm", "path": str(tmp_path), "lora": {"enabled": True}})
    assert gpu.path == tmp_path


# -------------------------------------------------------------------------------------------------- metrics
def test_metric_functions_on_hand_computed_examples():
    assert spearman([1, 2, 3, 4], [2, 4, 6, 100]) == pytest.approx(1.0)
    # ties get mean ranks: x ranks 1, 2.5, 2.5, 4 against 1, 2, 3, 4 -> 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / np.sqrt(22.5))
    assert np.isnan(spearman([3, 3, 3], [1, 2, 3]))
    assert mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    assert reward_of([[5, 5, 5, 5], [1, 1, 1, 1], [5, 1, 5, 1]], [0.25] * 4).tolist() == pytest.approx([1, 0.2, 0.6])
    assert reward_of([[5, 1, 1, 1]], [1, 0, 0, 0]).tolist() == pytest.approx([1.0])
    rows = [{"utt_id": u, "kind": k} for u, k in
            [("a", "gold"), ("a", "truncate"), ("a", "repeat_text"), ("b", "truncate"), ("b", "gold"),
             ("b", "repeat_text"), ("c", "truncate")]]  # fmt: skip
    # a: gold beats truncate, ties repeat_text (a tie is a miss); b: gold beats both; c has no gold: not paired
    pw = pairwise_accuracy(rows, [0.9, 0.5, 0.9, 0.4, 0.8, 0.7, 0.0])
    assert pw == {"overall": 0.75, "pairs": 4, "by_kind": {"repeat_text": 0.5, "truncate": 1.0}}
    targets = np.array([[5, 5, 5, 5], [1, 5, 5, 2], [5, 1, 5, 5], [2, 5, 1, 3]], dtype=float)
    m = evaluate_scores(targets, targets, [{"utt_id": "a", "kind": k} for k in ("gold", "x", "y", "z")], [0.25] * 4)
    assert m["pairwise_accuracy"]["overall"] == 1.0 and m["labels_pairwise_accuracy"] == 1.0
    assert all(v["mae"] == 0 and v["spearman"] == 1.0 for v in m["dimensions"].values())
    assert "policy" not in m


def test_policy_rows_are_scored_apart_and_never_paired_with_gold():
    # rows 0-2: gold and two degradations of a; rows 3-5: three policy samples of a, ranked backwards by the model
    kinds = ("gold", "truncate", "repeat_text", "policy", "policy", "policy")
    rows = [{"utt_id": "a", "kind": k} for k in kinds]
    targets = np.array([[5, 5, 5, 5], [4, 4, 4, 4], [3, 3, 3, 3], [5, 5, 5, 5], [3, 3, 3, 3], [1, 1, 1, 1]], float)
    predicted = targets.copy()
    predicted[3:] = predicted[3:][::-1]
    m = evaluate_scores(predicted, targets, rows, [0.25] * 4)
    assert m["rows"] == 3 and m["pairwise_accuracy"]["pairs"] == 2 and m["pairwise_accuracy"]["overall"] == 1.0
    assert m["reward"]["spearman"] == pytest.approx(1.0) and m["reward"]["mae"] == 0
    assert m["policy"]["rows"] == 3 and m["policy"]["reward"]["spearman"] == pytest.approx(-1.0)
    assert m["policy"]["dimensions"]["factual_alignment"]["mae"] == pytest.approx(8 / 3, abs=1e-4)  # 4 places
    only = evaluate_scores(predicted[3:], targets[3:], rows[3:], [0.25] * 4)  # policy rows alone
    assert only["rows"] == 0 and only["reward"]["spearman"] is None and only["policy"]["rows"] == 3
    # a policy sample the model scores above the gold row is not a pairwise miss
    assert pairwise_accuracy(rows, [0.5, 0.4, 0.3, 1.0, 0.9, 0.8])["pairs"] == 2


def test_censored_loss_ignores_predictions_beyond_a_bound_label():
    y = torch.tensor([[1.0, 0.0, 0.5]])
    assert regression_loss(torch.tensor([[1.4, -0.3, 0.5]]), y).item() == 0.0
    assert regression_loss(torch.tensor([[0.8, 0.2, 0.7]]), y).item() == pytest.approx(0.04)
    assert regression_loss(torch.tensor([[1.4, -0.3, 0.5]]), y, "mse").item() == pytest.approx(0.25 / 3)


def test_check_rows_names_the_row_and_the_problem(rows):
    bad = copy.deepcopy(rows[0][:2])
    bad[1]["scores"]["fluency_structure"] = 7
    with pytest.raises(ValueError, match=r"train row 2 \(u_sad\): scores need fluency_structure"):
        check_rows(bad, "train")
    with pytest.raises(ValueError, match="missing completion"):
        check_rows([{k: v for k, v in rows[0][0].items() if k != "completion"}], "train")


# ------------------------------------------------------------------------------------------- train + reward
@pytest.fixture(scope="module")
def trained(rows, tmp_path_factory):
    """One short training run: (config, metrics, curve, captured callback, out folder)."""
    tmp = tmp_path_factory.mktemp("rm")
    cfg = RewardModelConfig.model_validate(TINY)
    capture = Capture()
    metrics, curve = train_reward_model(cfg, *rows, tmp / "out", tmp / "work", callbacks=[capture])
    return cfg, metrics, curve, capture, tmp / "out"


def test_training_lowers_the_loss_and_writes_a_complete_folder(trained, rows):
    cfg, metrics, curve, _, out = trained
    losses = [r["loss"] for r in curve if "loss" in r]
    assert metrics["training"]["steps"] == 16 == len(losses)  # 20 rows / 5 per step x 4 epochs
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4])
    evals = [r for r in curve if "eval_loss" in r]
    assert len(evals) == 4 and all("eval_pairwise_accuracy" in r for r in evals)
    for name in ("model.safetensors", "config.json", "tokenizer.json", "reward_config.json"):
        assert (out / name).exists(), name
    saved = json.loads((out / "reward_config.json").read_text())
    assert saved["weights"] == [0.25] * 4 and saved["max_length"] == 256 and saved["dimensions"] == list(DIMENSIONS)
    assert saved["truncation_side"] == "left" and saved["normalisation"]["score"] == "1 + 4 * clamp(output, 0, 1)"
    m = metrics["val"]
    assert m["rows"] == 10 and m["pairwise_accuracy"]["pairs"] == 8
    assert set(m["dimensions"]) == set(DIMENSIONS) and all(v["mae"] >= 0 for v in m["dimensions"].values())
    assert metrics["model"]["parameters"] > 10_000 and metrics["training"]["samples_per_second"] > 0


def test_reloaded_reward_model_gives_the_outputs_of_the_trained_one(trained, rows):
    cfg, _, _, capture, out = trained
    val = rows[1]
    args = ([r["completion"] for r in val], [r["facts"] for r in val], [r["caption"] for r in val],
            [r["transcript"] for r in val])  # fmt: skip
    tokenizer = ReasoningRewardModel.from_pretrained(out).tokenizer
    before = ReasoningRewardModel(capture.model, tokenizer, max_length=cfg.max_length, batch_size=3).outputs(*args)
    after = ReasoningRewardModel.from_pretrained(out, device="cpu", batch_size=7).outputs(*args)
    np.testing.assert_allclose(after, before, atol=1e-5)
    assert np.ptp(after) > 0  # not a constant model


def test_a_reward_model_of_an_older_input_layout_is_refused(trained, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(trained[-1], old)
    cfg = json.loads((old / "reward_config.json").read_text())
    (old / "reward_config.json").write_text(json.dumps({**cfg, "version": 1}))
    with pytest.raises(CheckpointError, match="version 1, this code reads version 2 .* retrain the reward model"):
        ReasoningRewardModel.from_pretrained(old)


def test_reward_function_takes_string_and_conversational_completions(trained, rows):
    _, _, _, _, out = trained
    reward = reasoning_reward("model", path=out, device="cpu")
    assert reward.__name__ == "reasoning_reward" and not isinstance(reward, torch.nn.Module)
    gold, broken = rows[1][0], rows[1][2]
    text = gold["completion"]
    completions = [
        text,
        [{"role": "assistant", "content": text}],
        [{"role": "assistant", "content": [{"type": "text", "text": text}]}],
        broken["completion"],
    ]
    facts = [gold["facts"]] * 4
    r = reward(prompts=[[{"role": "user", "content": "q"}]] * 4, completions=completions, facts=facts,
               caption=[gold["caption"]] * 4, transcript=[gold["transcript"]] * 4, completion_ids=None,
               trainer_state=None)  # fmt: skip
    assert len(r) == 4 and all(isinstance(x, float) and 0.0 <= x <= 1.0 for x in r)
    assert r[0] == pytest.approx(r[1], abs=1e-6) and r[0] == pytest.approx(r[2], abs=1e-6)
    # one facts dict for all completions, caption and transcript rebuilt from it: the same input
    assert reward(None, completions[:2], facts=gold["facts"]) == pytest.approx(r[:2], abs=1e-6)
    scores = reward.scores([text, broken["completion"]], facts[:2])
    assert list(scores[0]) == list(DIMENSIONS) and all(1.0 <= v <= 5.0 for s in scores for v in s.values())
    weighted = sum(w * scores[0][d] for w, d in zip(reward.weights, DIMENSIONS, strict=True))
    assert weighted / 5 == pytest.approx(r[0], abs=1e-6)


def test_resume_continues_from_the_checkpoint_and_a_changed_config_starts_over(rows, tmp_path):
    cfg = RewardModelConfig.model_validate(TINY)
    work = tmp_path / "work"
    first, _ = train_reward_model(cfg, *rows, tmp_path / "out", work, callbacks=[StopAt(4)])
    assert first["training"]["steps"] == 4 and (work / "checkpoints" / "checkpoint-4").is_dir()
    at_stop = load_file(work / "checkpoints" / "checkpoint-4" / "model.safetensors")
    resumed = Capture()
    second, curve = train_reward_model(cfg, *rows, tmp_path / "out", work, callbacks=[resumed])
    assert second["training"]["resumed_from"] == "checkpoint-4"
    assert resumed.steps == list(range(5, 17))  # global_step goes on from 4
    assert all(torch.equal(at_stop[k], resumed.start_weights[k]) for k in at_stop)  # the checkpoint's weights
    assert [r["step"] for r in curve if "loss" in r] == list(range(1, 17))  # the curve holds the first part too

    changed = RewardModelConfig.model_validate({**TINY, "learning_rate": 1e-3})
    fresh = Capture()
    third, _ = train_reward_model(changed, *rows, tmp_path / "out", work, callbacks=[fresh])
    assert third["training"]["resumed_from"] is None and fresh.steps[0] == 1
    assert fresh.steps == list(range(1, 17))


def test_judge_reward_ranks_gold_above_its_contradicted_cues(rows):
    reward = reasoning_reward("judge")
    assert isinstance(reward, JudgeReward) and reward.__name__ == "judge_reward"
    for f in CLIPS[:5]:
        gold = format_target(write_rationale(f), f.emotion)
        bad = DEGRADATIONS["contradict_cues"](gold, f, random.Random(0))
        r_gold, r_bad = reward(None, [gold, [{"role": "assistant", "content": bad}]], facts=[f.to_dict()] * 2)
        assert r_gold > r_bad, f.utt_id
        assert r_gold == pytest.approx(judge(gold, f).reward())
    # the same numbers as the labels of the rows
    train = rows[0]
    got = reward(None, [r["completion"] for r in train], facts=[r["facts"] for r in train])
    assert got == pytest.approx([r["reward"] for r in train], abs=1e-3)
    weighted = JudgeReward(weights=[1, 0, 0, 0])(None, [train[1]["completion"]], facts=[train[1]["facts"]])
    assert weighted == pytest.approx([train[1]["scores"]["factual_alignment"] / 5])


def test_reward_factory_and_bad_folders_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="use 'model'"):
        reasoning_reward("llm")
    with pytest.raises(ValueError, match="needs path="):
        reasoning_reward("model")
    with pytest.raises(ValueError, match="sum"):
        JudgeReward(weights=[0.5, 0.5, 0.5, 0.5])
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'none'}: no such folder"):
        reasoning_reward("model", path=tmp_path / "none")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="missing reward_config.json, model.safetensors, tokenizer.json"):
        reasoning_reward("model", path=tmp_path / "half")
    cfg = RewardModelConfig.model_validate({"backbone": "causal-lm", "path": str(tmp_path / "half")})
    msg = r"reward_model.path .*half: not a causal-LM checkpoint, missing \*.safetensors or pytorch_model\*.bin; "
    with pytest.raises(CheckpointError, match=msg + r"tokenizer.json or "):
        load_causal_lm(cfg)


def test_causal_lm_backbone_trains_with_lora_and_reloads(rows, tokenizer, tmp_path):
    """The GPU profile's code path on a tiny local causal LM: loaded with a new head, LoRA merged on save."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    lm = tmp_path / "lm"
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    Qwen2ForCausalLM(config).save_pretrained(lm)
    tokenizer.save_pretrained(lm)
    cfg = RewardModelConfig.model_validate(
        {
            **TINY,
            "backbone": "causal-lm",
            "path": str(lm),
            "epochs": 1,
            "lora": {"enabled": True, "r": 4, "target_modules": ["q_proj", "v_proj"]},
        }  # fmt: skip
    )
    metrics, _ = train_reward_model(cfg, *rows, tmp_path / "out", tmp_path / "work")
    # the adapters of q_proj (32 -> 32) and v_proj (32 -> 16) at r=4, and the new 4-output head (counted before the
    # adapters are merged into the saved model)
    assert metrics["model"]["trainable_parameters"] == 4 * (32 + 32) + 4 * (32 + 16) + 32 * 4
    assert metrics["model"]["trainable_parameters"] < metrics["model"]["parameters"]
    reward = ReasoningRewardModel.from_pretrained(tmp_path / "out", device="cpu")
    assert not any("lora" in k for k in reward.model.state_dict())
    assert all(0.0 <= x <= 1.0 for x in reward(None, [rows[1][0]["completion"]], facts=[rows[1][0]["facts"]]))


# ---------------------------------------------------------------------------------------------------- stage
def test_stage_writes_metrics_and_curve_and_exits_2_on_bad_input(rows, tmp_path, capsys):
    data = tmp_path / "data"
    (data / "rm").mkdir(parents=True)
    for name, split in zip(("train", "val"), rows, strict=True):
        (data / "rm" / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in split))
    (data / "rm_policy").mkdir()
    (data / "rm_policy" / "train.jsonl").write_text("")
    policy = [{**r, "kind": "policy"} for r in rows[1][:6]]  # scored apart from the annotate rows
    (data / "rm_policy" / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in policy))
    params = tmp_path / "params.yaml"
    params.write_text("reward_model:\n" + "".join(f"  {k}: {v}\n" for k, v in {**TINY, "epochs": 1}.items()))
    args = ["--params", str(params), "--data-dir", str(data), "--out", str(tmp_path / "model"),
            "--metrics", str(tmp_path / "m.json"), "--plot", str(tmp_path / "c.csv"), "--work-dir",
            str(tmp_path / "work")]  # fmt: skip
    assert stage.cli(args) == 0
    result = json.loads((tmp_path / "m.json").read_text())
    assert result["training"]["steps"] == 4 and set(result["val"]["dimensions"]) == set(DIMENSIONS)
    header = (tmp_path / "c.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["step", "epoch", "loss", "learning_rate"] and "eval_spearman_fluency_structure" in header
    assert result["val"]["rows"] == len(rows[1]) and result["val"]["policy"]["rows"] == 6
    out = capsys.readouterr().out
    assert "pairwise accuracy" in out and "policy samples (6): R_t Spearman" in out
    by_kind = result["val"]["mae_by_kind"]  # the annotate rows only, per kind and dimension
    assert set(by_kind) == {"gold", *KINDS} and all(set(v) == set(DIMENSIONS) for v in by_kind.values())

    params.write_text("reward_model:\n  weights: [0.5, 0.5]\n")
    assert stage.cli(args) == 2
    params.write_text("reward_model: {}\n")
    assert stage.cli([*args[:2], "--data-dir", str(tmp_path / "nothing"), *args[4:]]) == 2
    (data / "rm" / "val.jsonl").write_text('{"utt_id": "x"\n')
    assert stage.cli(args) == 2


# ------------------------------------------------------------------------------------------- policy samples
def test_policy_rows_carry_the_judges_scores_of_each_sampled_answer():
    from emotionthinker.evaluation.evaluate import Clip
    from emotionthinker.evaluation.inference import Answer
    from emotionthinker.rewards.policy_data import policy_rows, summary

    f = CLIPS[0]
    clip = Clip(f.utt_id, "a.wav", f.emotion, "c", "s", f.to_dict(), caption(f), f.transcript, np.zeros(16))
    labels = ["neutral", "happy", "sad", "angry"]
    good = format_target(write_rationale(f, seed=0), "sad")
    texts = [good, format_target(write_rationale(f, seed=0), "happy"), "sad sad sad"]
    samples = [(clip, k, Answer.from_text(t, labels, 0.1, 10 * (k + 1))) for k, t in enumerate(texts)]
    rows = policy_rows(samples, labels)
    assert [(r["kind"], r["sample"], r["utt_id"]) for r in rows] == [("policy", k, f.utt_id) for k in range(3)]
    for r, t in zip(rows, texts, strict=True):
        assert r["completion"] == t and r["scores"] == judge(t, f, labels).scores()
    assert rows[0]["scores"]["interpretative_quality"] > rows[1]["scores"]["interpretative_quality"]
    check_rows(rows, "policy")  # they train like annotate's rows
    s = summary(rows, samples)
    assert s["rows"] == 3 and s["clips"] == 1 and s["format_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["accuracy"] == pytest.approx(1 / 3, abs=1e-4) and s["mean_new_tokens"] == 20.0
    assert policy_rows([], labels) == [] and summary([], []) == {"rows": 0}


def test_policy_samples_stage_off_writes_empty_files_and_names_missing_inputs(tmp_path):
    from stages import policy_samples

    params = tmp_path / "params.yaml"
    (tmp_path / "data" / "emotioncot").mkdir(parents=True)
    params.write_text("reward_model: {policy_samples: {per_clip: 0}}\n")
    out, metrics = tmp_path / "out", tmp_path / "m.json"
    args = (params, tmp_path / "data", tmp_path / "no_model", out, metrics)
    assert policy_samples.cli([f"--params={params}", f"--data-dir={tmp_path / 'data'}"]) == 2  # no emotioncot
    for split in ("train", "val"):
        (tmp_path / "data" / "emotioncot" / f"{split}.jsonl").write_text("")
    result = policy_samples.main(*args)
    assert result["splits"] == {"train": {"rows": 0, "seconds": result["splits"]["train"]["seconds"]},
                                "val": {"rows": 0, "seconds": result["splits"]["val"]["seconds"]}}  # fmt: skip
    assert (out / "train.jsonl").read_text() == "" and json.loads(metrics.read_text())["per_clip"] == 0
    params.write_text("reward_model: {policy_samples: {per_clip: 2}}\n")
    with pytest.raises(FileNotFoundError, match="run the sft stage first"):
        policy_samples.main(*args)
