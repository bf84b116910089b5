"""Build a tiny SpeechLLM from a config, or load a local Qwen2-Audio / Qwen2.5-Omni checkpoint. Never downloads.

``build_tiny`` makes a ``Qwen2AudioForConditionalGeneration`` of a few million parameters, a byte-level BPE
trained on the corpus, and a Whisper front end padded to the longest clip (not 30 s), and saves them with
``save_pretrained`` so that ``AutoProcessor`` / ``Qwen2AudioForConditionalGeneration.from_pretrained`` reload
them. ``load`` reads any such folder, or a Qwen2-Audio-7B(-Instruct) or Qwen2.5-Omni folder (whose thinker is
the policy), from the ``model_type`` in its config.json.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import torch

from emotionthinker.config.model import ModelConfig
from emotionthinker.model.audio import encoder_positions, make_feature_extractor
from emotionthinker.model.chat import CHAT_TEMPLATE
from emotionthinker.model.tokenizer import IM_END, IM_START, PAD_TOKEN, special_ids, train_tokenizer

logger = logging.getLogger(__name__)

# model_type in config.json -> what load() builds
SUPPORTED = {
    "qwen2_audio": "Qwen2-Audio (Qwen2-Audio-7B, Qwen2-Audio-7B-Instruct, or a tiny model from build_tiny)",
    "qwen2_5_omni": "Qwen2.5-Omni (Qwen2.5-Omni-3B/7B; the thinker is loaded, the talker is not)",
    "qwen2_5_omni_thinker": "a Qwen2.5-Omni thinker saved on its own",
}
WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin")
TOKENIZER_FILES = (("tokenizer.json",), ("vocab.json", "merges.txt"))
# text the chat template adds around the corpus; the BPE should know it
_TEMPLATE_TEXTS = ("system\n", "user\n", "assistant\n", "Audio 1: ")


class CheckpointError(ValueError):
    """A folder that is not a loadable SpeechLLM checkpoint; the message names the path and what is missing."""


def _dtype(name: str | torch.dtype | None):
    if name is None or name == "auto":
        return "auto"
    if isinstance(name, torch.dtype):
        return name
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
    except KeyError:
        raise ValueError(f"dtype '{name}': use auto, float32, bfloat16 or float16") from None


def _seed(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def parameter_count(model) -> int:
    """Parameters of the model (each tensor once; the fixed position tables included)."""
    return sum(p.numel() for p in model.parameters())


def freeze_audio(model) -> int:
    """Stop training the audio path (encoder, and Qwen2-Audio's projector); returns the parameters frozen."""
    inner = model.model
    modules = [inner.audio_tower] + ([inner.multi_modal_projector] if hasattr(inner, "multi_modal_projector") else [])
    n = 0
    for m in modules:
        for p in m.parameters():
            p.requires_grad_(False)
            n += p.numel()
    return n


def _tokenizer_for(cfg: ModelConfig, corpus_texts: Iterable[str]):
    texts = [*_TEMPLATE_TEXTS, *corpus_texts]
    if len(texts) == len(_TEMPLATE_TEXTS):
        raise ValueError("build_tiny: corpus_texts is empty; pass emotionthinker.model.tokenizer.corpus_texts(data)")
    return train_tokenizer(texts, cfg.vocab_size)


def _text_config_kwargs(cfg: ModelConfig, tokenizer, ids: dict[str, int]) -> dict:
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.text_layers,
        "num_attention_heads": cfg.heads,
        "num_key_value_heads": cfg.kv_heads,
        "max_position_embeddings": cfg.max_positions,
        "tie_word_embeddings": False,
        "pad_token_id": ids[PAD_TOKEN],
        "bos_token_id": None,
        "eos_token_id": ids[IM_END],
    }


def _audio_config_kwargs(cfg: ModelConfig, feature_extractor) -> dict:
    return {
        "num_mel_bins": cfg.num_mel_bins,
        "encoder_layers": cfg.audio_layers,
        "encoder_attention_heads": cfg.audio_heads,
        "encoder_ffn_dim": cfg.audio_ffn_dim,
        "d_model": cfg.audio_d_model,
        "max_source_positions": encoder_positions(feature_extractor.chunk_length, feature_extractor.hop_length),
    }


def _set_generation_defaults(model, ids: dict[str, int], repetition_penalty: float) -> None:
    gc = model.generation_config
    gc.eos_token_id = [ids[IM_END], ids[PAD_TOKEN]]
    gc.pad_token_id = ids[PAD_TOKEN]
    gc.bos_token_id = None
    gc.do_sample = False
    gc.max_new_tokens = 256
    gc.repetition_penalty = repetition_penalty


def build_tiny(cfg: ModelConfig, corpus_texts: Iterable[str], max_audio_s: float, out_dir: Path) -> Path:
    """Build, and save to ``out_dir``, a tiny Qwen2-Audio and its processor. Deterministic for ``cfg.seed``.

    ``max_audio_s`` is the longest clip the model will hear (``cfg.max_audio_s`` overrides it): the feature
    extractor pads to ``ceil(max_audio_s) + 1`` s, and the encoder's ``max_source_positions`` matches.
    """
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor

    if cfg.backbone != "tiny":
        raise ValueError(f"build_tiny: model.backbone is '{cfg.backbone}'; use load(model.path) for checkpoints")
    max_audio_s = cfg.max_audio_s or max_audio_s
    out_dir = Path(out_dir)
    tokenizer = _tokenizer_for(cfg, corpus_texts)
    ids = special_ids(tokenizer)
    feature_extractor = make_feature_extractor(
        max_audio_s, cfg.num_mel_bins, hop_length=cfg.hop_length, n_fft=cfg.n_fft
    )
    config = Qwen2AudioConfig(
        audio_config={
            "model_type": "qwen2_audio_encoder",
            **_audio_config_kwargs(cfg, feature_extractor),
        },
        text_config={"model_type": "qwen2", **_text_config_kwargs(cfg, tokenizer, ids)},
        audio_token_index=ids["<|AUDIO|>"],
    )
    _seed(cfg.seed)
    model = Qwen2AudioForConditionalGeneration(config).to(torch.float32)
    _set_generation_defaults(model, ids, cfg.repetition_penalty)
    processor = Qwen2AudioProcessor(
        feature_extractor=feature_extractor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)
    logger.info(
        "built a tiny Qwen2-Audio of %.2fM parameters (vocab %d, %d s chunks) in %s",
        parameter_count(model) / 1e6,
        len(tokenizer),
        feature_extractor.chunk_length,
        out_dir,
    )
    return out_dir


def build_tiny_omni(cfg: ModelConfig, corpus_texts: Iterable[str], max_audio_s: float, out_dir: Path) -> Path:
    """The same tiny sizes as a Qwen2.5-Omni thinker (with a one-layer vision tower, which audio never uses).

    For tests and for exercising the Omni code path on a CPU; ``load(out_dir)`` reads it back.
    """
    from transformers import Qwen2_5OmniThinkerConfig, Qwen2_5OmniThinkerForConditionalGeneration

    max_audio_s = cfg.max_audio_s or max_audio_s
    out_dir = Path(out_dir)
    tokenizer = _tokenizer_for(cfg, corpus_texts)
    ids = special_ids(tokenizer)
    feature_extractor = make_feature_extractor(
        max_audio_s, cfg.num_mel_bins, hop_length=cfg.hop_length, n_fft=cfg.n_fft
    )
    head_dim = cfg.hidden_size // cfg.heads
    hw = 3 * head_dim // 16  # mrope sections (t, h, w) sum to head_dim / 2, as Qwen's [16, 24, 24] for 128
    text = _text_config_kwargs(cfg, tokenizer, ids)
    text["rope_parameters"] = {
        "rope_type": "default",
        "rope_theta": 1000000.0,
        "mrope_section": [head_dim // 2 - 2 * hw, hw, hw],
    }
    audio = _audio_config_kwargs(cfg, feature_extractor)
    audio["output_dim"] = cfg.hidden_size  # the Omni encoder projects to the LLM width itself
    config = Qwen2_5OmniThinkerConfig(
        audio_config=audio,
        vision_config={
            "depth": 1,
            "hidden_size": 32,
            "intermediate_size": 32,
            "num_heads": 2,
            "out_hidden_size": cfg.hidden_size,
            "fullatt_block_indexes": [0],
        },
        text_config=text,
        audio_token_index=ids["<|AUDIO|>"],
        image_token_index=ids["<|IMAGE|>"],
        video_token_index=ids["<|VIDEO|>"],
        audio_start_token_id=ids["<|audio_bos|>"],
        audio_end_token_id=ids["<|audio_eos|>"],
        vision_start_token_id=ids["<|vision_bos|>"],
        user_token_id=ids[IM_START],  # only the talker reads it
    )
    _seed(cfg.seed)
    model = Qwen2_5OmniThinkerForConditionalGeneration(config).to(torch.float32)
    _set_generation_defaults(model, ids, cfg.repetition_penalty)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    # laid out as the released checkpoints are: tokenizer files, preprocessor_config.json, chat_template.jinja
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out_dir)
    feature_extractor.save_pretrained(out_dir)
    return out_dir


def _audio_only_processor(feature_extractor, tokenizer, chat_template):
    """Qwen2.5-Omni's processor for audio-only input, when its own cannot be built.

    ``Qwen2_5OmniProcessor`` needs a video processor, and transformers builds those only with torchvision. For
    audio its work is exactly ``Qwen2AudioProcessor``'s (render, one ``<|AUDIO|>`` per encoder frame between the
    template's ``<|audio_bos|>`` / ``<|audio_eos|>``, Whisper features with ``feature_attention_mask``).
    """
    from transformers import Qwen2AudioProcessor

    return Qwen2AudioProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer, chat_template=chat_template)


def _check_folder(path: Path) -> str:
    expected = (
        "config.json, model weights (*.safetensors), a tokenizer (tokenizer.json or vocab.json + merges.txt), "
        "preprocessor_config.json and a chat template"
    )
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such folder; expected a local checkpoint folder with {expected}")
    config_file = path / "config.json"
    if not config_file.exists():
        raise CheckpointError(f"{path}: config.json is missing; expected a checkpoint folder with {expected}")
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{config_file}: not valid JSON ({e})") from e
    if model_type not in SUPPORTED:
        kinds = "; ".join(f"{k}: {v}" for k, v in SUPPORTED.items())
        raise CheckpointError(
            f"{config_file}: model_type '{model_type}' is not a supported speech model. Expected a checkpoint of "
            f"{kinds}"
        )
    missing = []
    if not any(next(path.glob(g), None) for g in WEIGHT_GLOBS):
        missing.append("model weights (*.safetensors)")
    if not any(all((path / f).exists() for f in group) for group in TOKENIZER_FILES):
        missing.append("tokenizer.json (or vocab.json + merges.txt)")
    if not (path / "preprocessor_config.json").exists() and "feature_extractor" not in _processor_config(path):
        missing.append("preprocessor_config.json (the Whisper feature extractor)")
    if missing:
        raise CheckpointError(f"{path}: {model_type} checkpoint is missing {', '.join(missing)}")
    return model_type


def _processor_config(path: Path) -> dict:
    """transformers 5 saves the sub-processors nested in processor_config.json instead of preprocessor_config.json."""
    file = path / "processor_config.json"
    try:
        return json.loads(file.read_text()) if file.exists() else {}
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{file}: not valid JSON ({e})") from e


def _load_omni_processor(path: Path):
    from transformers import AutoTokenizer, Qwen2_5OmniProcessor, WhisperFeatureExtractor

    try:
        return Qwen2_5OmniProcessor.from_pretrained(path, local_files_only=True)
    except Exception as e:  # its video processor needs torchvision (or an image processor config the folder lacks)
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        logger.info("%s: Qwen2_5OmniProcessor unavailable (%s); using an audio-only processor", path, reason)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    feature_extractor = WhisperFeatureExtractor.from_pretrained(path, local_files_only=True)
    chat_template = _read_chat_template(path) or tokenizer.chat_template
    if chat_template is None:
        raise CheckpointError(f"{path}: no chat template (chat_template.jinja / chat_template.json)")
    return _audio_only_processor(feature_extractor, tokenizer, chat_template)


def _read_chat_template(path: Path) -> str | None:
    if (path / "chat_template.jinja").exists():
        return (path / "chat_template.jinja").read_text()
    if (path / "chat_template.json").exists():
        return json.loads((path / "chat_template.json").read_text()).get("chat_template")
    return None


def load(path: Path, device: str | torch.device = "cpu", dtype: str | torch.dtype | None = None):
    """``(model, processor)`` of a local Qwen2-Audio or Qwen2.5-Omni checkpoint (its thinker); never downloads.

    ``device`` "auto" is CUDA when there is one, else the CPU: what generation-only callers (evaluation, sampling,
    serving) use; training keeps the CPU default and lets the trainer place the model (one copy per process).
    ``dtype`` None or "auto" keeps the checkpoint's dtype. Raises :class:`CheckpointError` naming the path and
    the expected files when the folder is not a supported checkpoint.
    """
    from transformers import AutoConfig, AutoProcessor

    path = Path(path)
    model_type = _check_folder(path)
    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    kwargs = {"dtype": _dtype(dtype), "local_files_only": True}
    if str(device) != "cpu":
        kwargs["device_map"] = str(device)
    if model_type == "qwen2_audio":
        from transformers import Qwen2AudioForConditionalGeneration

        model = Qwen2AudioForConditionalGeneration.from_pretrained(path, **kwargs)
        processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    else:
        from transformers import Qwen2_5OmniThinkerForConditionalGeneration

        config = AutoConfig.from_pretrained(path, local_files_only=True)
        if model_type == "qwen2_5_omni":  # the full model: take the thinker's config, drop talker weights
            config = config.thinker_config
        model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(path, config=config, **kwargs)
        processor = _load_omni_processor(path)
    if str(device) == "cpu":
        model.to("cpu")
    if processor.tokenizer.pad_token is None:
        processor.tokenizer.pad_token = PAD_TOKEN
    logger.info(
        "loaded %s (%s, %.0fM parameters) from %s", model_type, model.dtype, parameter_count(model) / 1e6, path
    )
    return model, processor


def build_or_load(
    cfg: ModelConfig,
    out_dir: Path | None = None,
    corpus_texts: Iterable[str] | None = None,
    max_audio_s: float | None = None,
    device: str | torch.device = "cpu",
):
    """``(model, processor)`` for a config: the tiny model built into ``out_dir`` and loaded, or ``load(cfg.path)``."""
    if cfg.backbone != "tiny":
        return load(cfg.path, device=device, dtype=cfg.dtype)
    if out_dir is None or corpus_texts is None or (max_audio_s is None and cfg.max_audio_s is None):
        raise ValueError("the tiny backbone needs out_dir, corpus_texts and max_audio_s (or model.max_audio_s)")
    path = build_tiny(cfg, corpus_texts, cfg.max_audio_s or max_audio_s, out_dir)
    return load(path, device=device, dtype=cfg.dtype)
