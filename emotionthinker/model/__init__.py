"""The SpeechLLM: build a tiny Qwen2-Audio from a config, or load a local Qwen2-Audio / Qwen2.5-Omni checkpoint,
and turn chat messages + 16 kHz audio into model inputs (training) or text (generation). Nothing is downloaded.

    from emotionthinker.model import build_tiny, corpus_texts, load, encode_batch, generate
    path = build_tiny(ModelConfig(), corpus_texts("data"), max_audio_s=9.6, out_dir=Path("models/tiny"))
    model, processor = load(path)
    batch = encode_batch(processor, model.config.model_type, messages_list, audios, targets=targets)
    texts = generate(model, processor, messages_list, audios, max_new_tokens=256)
"""

from emotionthinker.model.audio import (
    SAMPLE_RATE,
    audio_token_count,
    chunk_length_s,
    data_max_audio_s,
    encoder_positions,
    longest_clip_s,
    make_feature_extractor,
)
from emotionthinker.model.builder import (
    SUPPORTED,
    CheckpointError,
    build_or_load,
    build_tiny,
    build_tiny_omni,
    freeze_audio,
    load,
    parameter_count,
)
from emotionthinker.model.chat import (
    CHAT_TEMPLATE,
    IGNORE_INDEX,
    encode_batch,
    generate,
    model_kind,
    position_ids,
    render_prompts,
    to_device,
)
from emotionthinker.model.tokenizer import CONTROL_TOKENS, TAG_TOKENS, corpus_texts, train_tokenizer

__all__ = [
    "CHAT_TEMPLATE", "CONTROL_TOKENS", "IGNORE_INDEX", "SAMPLE_RATE", "SUPPORTED", "TAG_TOKENS", "CheckpointError",
    "audio_token_count", "build_or_load", "build_tiny", "build_tiny_omni", "chunk_length_s", "corpus_texts",
    "data_max_audio_s", "encode_batch", "encoder_positions", "generate", "load", "longest_clip_s",
    "freeze_audio", "make_feature_extractor", "model_kind", "parameter_count", "position_ids", "render_prompts",
    "to_device", "train_tokenizer",
]  # fmt: skip
