"""The SpeechLLM interface: tiny Qwen2-Audio built from a corpus, reload, encode, forward, generate; Omni; errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from emotionthinker.config.model import ModelConfig
from emotionthinker.labels import DEFAULT_LABELS
from emotionthinker.model import (
    IGNORE_INDEX,
    CheckpointError,
    audio_token_count,
    build_or_load,
    build_tiny,
    build_tiny_omni,
    data_max_audio_s,
    encode_batch,
    generate,
    load,
    parameter_count,
)
from emotionthinker.prompts import SYSTEM_PROMPT, build_messages, format_target, parse_answer, question
from tests.conftest import tone, write

MAX_AUDIO_S = 3.0
SR = 16000
SENTENCES = [
    "The library closes at six on weekdays.",
    "My brother lives in a small town by the river.",
    "The party is at eight, keep it a secret.",
    "We took the early train to the coast.",
    "She left the keys on the kitchen table.",
    "The meeting was moved to Thursday morning.",
    "I cannot believe you did that again.",
    "Please close the window before you leave.",
]
RATIONALES = [
    "Her pitch is high and she speaks quickly, with energy.",
    "His voice is low and slow, and the energy drops at the end.",
    "The intonation rises sharply on the last word.",
    "She speaks at a moderate volume with a flat melody.",
    "The stressed word carries most of the energy.",
    "The words alone reveal little, so the voice has to do the work.",
]


def small_corpus() -> list[str]:
    texts = [SYSTEM_PROMPT, question(DEFAULT_LABELS), *DEFAULT_LABELS, *SENTENCES, *RATIONALES]
    for i, r in enumerate(RATIONALES):
        texts.append(format_target(r, DEFAULT_LABELS[i % len(DEFAULT_LABELS)]))
    texts += ["Is the pitch low, medium or high? Options: low, medium, high.", "low", "medium", "high"]
    return texts * 2


def clip(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 180 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = build_tiny(ModelConfig(seed=1), small_corpus(), MAX_AUDIO_S, tmp_path_factory.mktemp("tiny"))
    model, processor = load(out)
    return out, model, processor


@pytest.fixture(scope="module")
def batch_inputs():
    messages = [build_messages("data/a.wav"), build_messages("data/b.wav")]
    audios = [clip(1.3, 1), clip(2.7, 2)]
    targets = [format_target(RATIONALES[0], "happy"), format_target("Low and slow.", "sad")]
    return messages, audios, targets


def test_reload_with_auto_classes(tiny):
    from transformers import (
        AutoModel,
        AutoModelForMultimodalLM,
        AutoProcessor,
        AutoTokenizer,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioModel,
        Qwen2AudioProcessor,
    )

    out, model, _ = tiny
    assert (out / "model.safetensors").exists()
    processor = AutoProcessor.from_pretrained(out, local_files_only=True)
    assert isinstance(processor, Qwen2AudioProcessor)
    assert processor.chat_template and "<|audio_bos|><|AUDIO|><|audio_eos|>" in processor.chat_template
    assert isinstance(AutoModelForMultimodalLM.from_pretrained(out), Qwen2AudioForConditionalGeneration)
    assert isinstance(AutoModel.from_pretrained(out), Qwen2AudioModel)
    reloaded = Qwen2AudioForConditionalGeneration.from_pretrained(out)
    for (name, a), b in zip(model.state_dict().items(), reloaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name

    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    text = "<|im_start|>assistant\n<think>The voice drops.</think><answer>sad</answer><|im_end|>"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    for special in ("<|im_start|>", "<|im_end|>", "<think>", "</think>", "<answer>", "</answer>"):
        assert tok.convert_tokens_to_ids(special) in ids  # each control token / tag is one id
    decoded = tok.decode(ids, skip_special_tokens=True)
    assert decoded == "assistant\n<think>The voice drops.</think><answer>sad</answer>"  # tags survive, specials not
    assert parse_answer(decoded) == "sad"
    assert tok.decode(tok("an unseen wörd, 42!")["input_ids"]) == "an unseen wörd, 42!"  # byte-level round trip
    assert model.config.audio_token_id == tok.convert_tokens_to_ids("<|AUDIO|>")
    assert model.config.text_config.vocab_size == len(tok)


def test_parameter_count_and_sizes(tiny):
    _, model, processor = tiny
    cfg = ModelConfig()
    n = parameter_count(model)
    assert 1_000_000 < n < 10_000_000, n
    audio, text = model.config.audio_config, model.config.text_config
    assert (audio.d_model, audio.encoder_layers, audio.encoder_attention_heads) == (
        cfg.audio_d_model,
        cfg.audio_layers,
        cfg.audio_heads,
    )
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads) == (
        cfg.hidden_size,
        cfg.text_layers,
        cfg.heads,
    )
    assert audio.num_mel_bins == processor.feature_extractor.feature_size == 128


def test_chunk_length_matches_max_audio(tiny, batch_inputs):
    _, model, processor = tiny
    fe = processor.feature_extractor
    assert fe.chunk_length == math.ceil(MAX_AUDIO_S) + 1  # the longest clip plus a 1 s margin, not Whisper's 30 s
    assert fe.sampling_rate == SR
    positions = model.config.audio_config.max_source_positions
    assert positions == fe.chunk_length * 50  # 100 mel frames / s, conv2 stride 2
    messages, audios, _ = batch_inputs
    batch = encode_batch(processor, "qwen2_audio", messages, audios)
    frames = batch["input_features"].shape[-1]
    assert frames == fe.nb_max_frames == 2 * positions  # what the encoder accepts, and no more
    assert frames <= 100 * (MAX_AUDIO_S + 1)
    # one <|AUDIO|> per encoder output frame of each clip
    n_audio = (batch["input_ids"] == model.config.audio_token_id).sum(-1).tolist()
    assert n_audio == [audio_token_count(len(a)) for a in audios]
    assert batch["feature_attention_mask"].sum(-1).tolist() == [math.ceil(len(a) / 160) for a in audios]


def test_training_batch_labels_only_on_assistant_turn(tiny, batch_inputs):
    _, model, processor = tiny
    tok = processor.tokenizer
    messages, audios, targets = batch_inputs
    batch = encode_batch(processor, "qwen2_audio", messages, audios, targets=targets)
    assert set(batch) == {"input_ids", "attention_mask", "input_features", "feature_attention_mask", "labels"}
    assert batch["labels"].shape == batch["input_ids"].shape == batch["attention_mask"].shape
    end = tok.convert_tokens_to_ids("<|im_end|>")
    for row, target in enumerate(targets):
        labels, ids, mask = batch["labels"][row], batch["input_ids"][row], batch["attention_mask"][row]
        completion = tok(target, add_special_tokens=False)["input_ids"] + [end]
        kept = labels != IGNORE_INDEX
        assert int(kept.sum()) == len(completion)  # exactly the assistant turn
        assert labels[kept].tolist() == completion == ids[kept].tolist()
        n = int(mask.sum())
        assert mask[:n].all() and not mask[n:].any()  # right padding for training
        assert kept.nonzero()[-1].item() == n - 1  # the turn ends the row; the prompt before it is masked
        assert tok.decode(ids[:n][kept[:n]], skip_special_tokens=True) == target

    out = model(**batch)
    assert out.logits.shape == (*batch["input_ids"].shape, model.config.text_config.vocab_size)
    assert torch.isfinite(out.loss)
    assert abs(out.loss.item() - math.log(len(tok))) < 1.5  # untrained: about uniform
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is None or torch.isfinite(g).all() for g in grads)
    assert model.model.audio_tower.conv1.weight.grad is not None  # the loss reaches the audio encoder
    model.zero_grad(set_to_none=True)


def test_left_padded_training_batch_gives_the_same_loss(tiny, batch_inputs):
    _, model, processor = tiny
    messages, audios, targets = batch_inputs
    right = encode_batch(processor, "qwen2_audio", messages, audios, targets=targets)
    left = encode_batch(processor, "qwen2_audio", messages, audios, targets=targets, padding_side="left")
    assert not left["attention_mask"][:, -1].eq(0).any() and left["attention_mask"][:, 0].eq(0).any()
    assert left["position_ids"][:, -1].tolist() == (left["attention_mask"].sum(-1) - 1).tolist()
    with torch.no_grad():
        assert torch.allclose(model(**left).loss, model(**right).loss, atol=1e-4)


def test_generation_batch_is_left_padded(tiny, batch_inputs):
    _, _, processor = tiny
    messages, audios, _ = batch_inputs
    batch = encode_batch(processor, "qwen2_audio", messages, audios)
    assert "labels" not in batch
    mask = batch["attention_mask"]
    assert mask[:, -1].all() and not mask[0, 0]  # the shorter clip's prompt is padded on the left
    right = encode_batch(processor, "qwen2_audio", messages, audios, padding_side="right")
    assert right["attention_mask"][:, 0].all() and not right["attention_mask"][0, -1]


def test_batched_generation(tiny, batch_inputs):
    _, model, processor = tiny
    messages, audios, _ = batch_inputs
    texts = generate(model, processor, messages, audios, max_new_tokens=12)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    assert "<|im_start|>" not in "".join(texts) and "<|AUDIO|>" not in "".join(texts)
    # left padding does not change a greedy reply: the batch gives what each conversation gives alone
    alone = [generate(model, processor, [m], [a], max_new_tokens=12)[0] for m, a in zip(messages, audios, strict=True)]
    assert texts == alone
    model.train()
    try:
        sampled = generate(model, processor, messages, audios, max_new_tokens=8, temperature=1.0)
        assert model.training  # generate restores the mode it found
    finally:
        model.eval()
    assert len(sampled) == 2


def test_greedy_decoding_penalises_repeats_of_its_own_tokens_and_sampling_does_not(tiny, batch_inputs):
    from transformers import RepetitionPenaltyLogitsProcessor

    out, model, processor = tiny
    messages, audios, _ = batch_inputs
    assert json.loads((out / "generation_config.json").read_text())["repetition_penalty"] == 1.3
    ids = processor.tokenizer
    plain = generate(model, processor, messages, audios, max_new_tokens=24, repetition_penalty=1.0)
    penalised = generate(model, processor, messages, audios, max_new_tokens=24)
    distinct = [len(set(ids(t, add_special_tokens=False)["input_ids"])) for t in (*plain, *penalised)]
    assert penalised != plain and sum(distinct[2:]) > sum(distinct[:2])  # the random model repeats itself less
    seen = []
    original = model.generate

    def spy(**kwargs):
        seen.append(kwargs)
        return original(**kwargs)

    model.generate = spy
    try:
        generate(model, processor, messages, audios, max_new_tokens=4, temperature=0.7)
        generate(model, processor, messages, audios, max_new_tokens=4)
    finally:
        del model.generate
    assert [k["repetition_penalty"] for k in seen] == [1.0, 1.0]  # transformers' own (prompt included) is off
    assert "logits_processor" not in seen[0]  # sampling: the policy's own distribution
    (greedy,) = seen[1]["logits_processor"]
    assert isinstance(greedy, RepetitionPenaltyLogitsProcessor) and greedy.penalty == 1.3
    assert greedy.prompt_ignore_length == seen[1]["input_ids"].shape[1]  # the prompt's tokens are not repeats


def test_templates_that_look_for_an_audio_key(tiny, batch_inputs):
    """Released Qwen2-Audio templates test ``'audio' in part``; build_messages gives ``type`` + ``path``."""
    from transformers import Qwen2AudioProcessor

    _, _, processor = tiny
    key_only = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
        "{% if 'audio' in c %}<|audio_bos|><|AUDIO|><|audio_eos|>\n{% elif 'text' in c %}{{ c['text'] }}{% endif %}"
        "{% endfor %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    other = Qwen2AudioProcessor(processor.feature_extractor, processor.tokenizer, chat_template=key_only)
    messages, audios, _ = batch_inputs
    batch = encode_batch(other, "qwen2_audio", messages, audios)
    audio_id = processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    assert (batch["input_ids"] == audio_id).sum(-1).tolist() == [audio_token_count(len(a)) for a in audios]
    text_only = Qwen2AudioProcessor(
        processor.feature_extractor, processor.tokenizer, chat_template=key_only.replace("'audio' in c", "false")
    )
    with pytest.raises(ValueError, match=r"rendered 0 <\|AUDIO\|> for 1 audio part"):
        encode_batch(text_only, "qwen2_audio", messages, audios)


def test_encode_batch_checks_audio_count(tiny):
    _, _, processor = tiny
    with pytest.raises(ValueError, match="audio part"):
        encode_batch(processor, "qwen2_audio", [build_messages("a.wav")], [None])
    with pytest.raises(ValueError, match="2 conversations but 1"):
        encode_batch(processor, "qwen2_audio", [build_messages("a.wav")] * 2, [clip(1.0)])


def test_build_is_deterministic(tmp_path):
    cfg = ModelConfig(seed=5, text_layers=1, audio_layers=1, hidden_size=64, heads=2, kv_heads=1, vocab_size=400)
    a = build_tiny(cfg, small_corpus(), 2.0, tmp_path / "a")
    b = build_tiny(cfg, small_corpus(), 2.0, tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    c = build_tiny(cfg.model_copy(update={"seed": 6}), small_corpus(), 2.0, tmp_path / "c")
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()


def test_build_or_load(tmp_path):
    cfg = ModelConfig(seed=5, text_layers=1, audio_layers=1, hidden_size=64, heads=2, kv_heads=1, max_audio_s=1.5)
    model, processor = build_or_load(cfg, tmp_path / "tiny", small_corpus())
    assert processor.feature_extractor.chunk_length == 3 and model.config.audio_config.max_source_positions == 150
    with pytest.raises(CheckpointError, match="no such folder"):
        build_or_load(ModelConfig(backbone="qwen2-audio", path=tmp_path / "missing"))


def test_data_max_audio_s_covers_task_clips(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = [
        {"audio_path": "data/audio/a.wav", "duration_s": 2.5},
        {"audio_path": "data/audio/b.wav", "duration_s": 3.2},
    ]
    (data / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write(tmp_path / "data/sft_tasks/audio/pair.wav", tone(6.4))  # a contrastive pair: not in the manifest
    tasks = [{"audio_path": "data/audio/a.wav"}, {"audio_path": "data/sft_tasks/audio/pair.wav"}]
    (data / "sft_tasks").mkdir(exist_ok=True)
    (data / "sft_tasks" / "contrastive.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tasks))
    assert data_max_audio_s(data) == pytest.approx(6.4)
    (data / "sft_tasks" / "contrastive.jsonl").unlink()
    assert data_max_audio_s(data) == pytest.approx(3.2)


def test_tiny_omni_thinker_loads_and_runs(tmp_path, batch_inputs):
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    cfg = ModelConfig(seed=2, text_layers=2, hidden_size=128, heads=2, kv_heads=1, intermediate_size=256)
    out = build_tiny_omni(cfg, small_corpus(), MAX_AUDIO_S, tmp_path / "omni")
    assert json.loads((out / "config.json").read_text())["model_type"] == "qwen2_5_omni_thinker"
    model, processor = load(out)
    assert isinstance(model, Qwen2_5OmniThinkerForConditionalGeneration)
    messages, audios, targets = batch_inputs
    batch = encode_batch(processor, model.config.model_type, messages, audios, targets=targets)
    tok = processor.tokenizer
    n_kept = (batch["labels"] != IGNORE_INDEX).sum(-1).tolist()
    assert n_kept == [len(tok(t, add_special_tokens=False)["input_ids"]) + 1 for t in targets]
    out_ = model(**batch)
    assert out_.logits.shape[:2] == batch["input_ids"].shape
    assert torch.isfinite(out_.loss)
    left = encode_batch(processor, model.config.model_type, messages, audios, targets=targets, padding_side="left")
    with torch.no_grad():
        assert torch.allclose(model(**left).loss, out_.loss, atol=1e-4)  # 3-D positions come from the mask
    texts = generate(model, processor, messages, audios, max_new_tokens=6)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    alone = generate(model, processor, messages[1:], audios[1:], max_new_tokens=6)
    assert texts[1] == alone[0]

    # the released Qwen2.5-Omni layout: model_type qwen2_5_omni, thinker weights under "thinker."
    from transformers import Qwen2_5OmniConfig, Qwen2_5OmniForConditionalGeneration

    full = tmp_path / "omni_full"
    wrapper = Qwen2_5OmniForConditionalGeneration(
        Qwen2_5OmniConfig(thinker_config=model.config.to_dict(), enable_audio_output=False)
    )
    wrapper.thinker.load_state_dict(model.state_dict())
    wrapper.save_pretrained(full)
    for f in out.iterdir():
        if f.name not in ("config.json", "generation_config.json") and f.suffix != ".safetensors":
            (full / f.name).write_bytes(f.read_bytes())
    thinker, _ = load(full)
    assert isinstance(thinker, Qwen2_5OmniThinkerForConditionalGeneration)
    for (name, a), b in zip(model.state_dict().items(), thinker.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_load_rejects_non_audio_checkpoints(tmp_path):
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 32}))
    with pytest.raises(CheckpointError, match="model_type 'bert' is not a supported speech model") as e:
        load(bert)
    assert str(bert) in str(e.value) and "qwen2_audio" in str(e.value)
    with pytest.raises(CheckpointError, match="no such folder"):
        load(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load(empty)
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text(json.dumps({"model_type": "qwen2_audio"}))
    with pytest.raises(CheckpointError, match=r"missing model weights .*tokenizer\.json.*preprocessor_config"):
        load(half)


def test_model_config_validation():
    assert ModelConfig().backbone == "tiny"
    assert ModelConfig(backbone="qwen2-audio", path="/models/Qwen2-Audio-7B-Instruct").path is not None
    with pytest.raises(ValueError, match="set model.path"):
        ModelConfig(backbone="qwen2.5-omni")
    with pytest.raises(ValueError, match="drop model.path"):
        ModelConfig(path="/models/x")
    with pytest.raises(ValueError, match="multiple of model.heads"):
        ModelConfig(hidden_size=250, heads=4)
    with pytest.raises(ValueError, match="multiple of model.kv_heads"):
        ModelConfig(heads=4, kv_heads=3)
    with pytest.raises(ValueError):
        ModelConfig(audio_layers=2, unknown=1)
