"""From chat messages (``prompts.build_messages``) and 16 kHz arrays to model inputs, and back to text.

One code path for Qwen2-Audio (the tiny model and the 7B) and the Qwen2.5-Omni thinker: the processor's own chat
template renders the prompt, the processor expands each audio placeholder to one token per encoder frame and
computes the log-mel features, and the assistant completion (when training) is tokenised on its own and
appended, so the prompt tokens are exactly those generation starts from and the loss covers the completion only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from emotionthinker.model.audio import SAMPLE_RATE, check_fits

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
MODEL_INPUTS = ("input_ids", "attention_mask", "input_features", "feature_attention_mask")
END_OF_TURN = "<|im_end|>"

# The tiny model's chat template (Qwen chat format; audio parts become "Audio n: <bos><AUDIO><eos>\n").
# Whitespace is spelled out with {{ '\n' }} so that the layout does not depend on Jinja's trimming rules.
CHAT_TEMPLATE = (
    "{%- set ns = namespace(audio=0) -%}"
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] }}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'audio' or 'audio' in part or 'audio_url' in part -%}"
    "{%- set ns.audio = ns.audio + 1 -%}"
    "{{ 'Audio ' + ns.audio|string + ': <|audio_bos|><|AUDIO|><|audio_eos|>\n' }}"
    "{%- elif part['type'] == 'text' -%}"
    "{{ part['text'] }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{ '<|im_end|>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<|im_start|>assistant\n' }}"
    "{%- endif -%}"
)

MODEL_TYPES = ("qwen2_audio", "qwen2_5_omni_thinker")
_ALIASES = {
    "tiny": "qwen2_audio",
    "qwen2-audio": "qwen2_audio",
    "qwen2_audio": "qwen2_audio",
    "qwen2.5-omni": "qwen2_5_omni_thinker",
    "qwen2_5_omni": "qwen2_5_omni_thinker",
    "qwen2_5_omni_thinker": "qwen2_5_omni_thinker",
}


def model_kind(model_or_type) -> str:
    """``qwen2_audio`` or ``qwen2_5_omni_thinker`` for a model, a config ``model_type`` or a backbone name."""
    name = model_or_type if isinstance(model_or_type, str) else model_or_type.config.model_type
    if name not in _ALIASES:
        raise ValueError(f"model type '{name}' is not supported; expected one of {sorted(_ALIASES)}")
    return _ALIASES[name]


def _with_audio_keys(messages: list[dict]) -> list[dict]:
    """Audio parts also under the key ``audio``: released templates test ``'audio' in part``, not the type."""
    out = []
    for m in messages:
        if isinstance(m.get("content"), list):
            parts = [
                {**p, "audio": p.get("audio") or p.get("path") or p.get("url") or ""}
                if p.get("type") == "audio"
                else p
                for p in m["content"]
            ]
            m = {**m, "content": parts}
        out.append(m)
    return out


def render_prompts(processor, messages_list: Sequence[list[dict]], add_generation_prompt: bool = True) -> list[str]:
    """The chat template applied to each conversation, as text (audio placeholders not yet expanded)."""
    audio_token = getattr(processor, "audio_token", "<|AUDIO|>")
    prompts = []
    for i, messages in enumerate(messages_list):
        text = processor.apply_chat_template(
            _with_audio_keys(messages), tokenize=False, add_generation_prompt=add_generation_prompt
        )
        if text.count(audio_token) != _count_audio_parts(messages):
            raise ValueError(
                f"conversation {i}: the chat template rendered {text.count(audio_token)} {audio_token} for "
                f"{_count_audio_parts(messages)} audio part(s); give audio parts as {{'type': 'audio', ...}}"
            )
        prompts.append(text)
    return prompts


def _count_audio_parts(messages: list[dict]) -> int:
    n = 0
    for m in messages:
        if isinstance(m.get("content"), list):
            n += sum(1 for p in m["content"] if p.get("type") == "audio")
    return n


def _flatten_audios(messages_list: Sequence[list[dict]], audios: Sequence) -> list[np.ndarray]:
    """One float32 array per audio part, in order; ``audios[i]`` is an array, a list of arrays, or None."""
    if len(audios) != len(messages_list):
        raise ValueError(f"got {len(messages_list)} conversations but {len(audios)} audio entries; give one each")
    flat = []
    for i, (messages, a) in enumerate(zip(messages_list, audios, strict=True)):
        clips = [] if a is None else [a] if isinstance(a, np.ndarray) else list(a)
        need = _count_audio_parts(messages)
        if len(clips) != need:
            raise ValueError(f"conversation {i} has {need} audio part(s) but {len(clips)} array(s) were given")
        for x in clips:
            x = np.asarray(x, dtype=np.float32)
            if x.ndim != 1:
                raise ValueError(f"conversation {i}: audio must be mono 1-D at {SAMPLE_RATE} Hz, got shape {x.shape}")
            flat.append(x)
    return flat


def _pad(rows: list[list[int]], value: int, side: str) -> torch.Tensor:
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, r in enumerate(rows):
        if side == "right":
            out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        else:
            out[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
    return out


def encode_batch(
    processor,
    model_type: str,
    messages_list: Sequence[list[dict]],
    audios: Sequence,
    targets: Sequence[str] | None = None,
    padding_side: str | None = None,
) -> dict[str, torch.Tensor]:
    """Model inputs for a batch: input_ids, attention_mask, input_features, feature_attention_mask (+ labels).

    ``audios[i]`` is the 16 kHz float32 clip of conversation i (or a list, one per audio part; None for none).
    With ``targets`` (assistant completions such as ``format_target(...)``), each row is prompt + target +
    ``<|im_end|>`` and ``labels`` are -100 everywhere except the target and its ``<|im_end|>``. Padding is on the
    left for generation (no targets) and on the right for training, unless ``padding_side`` says otherwise; a
    left-padded Qwen2-Audio training batch also gets ``position_ids`` so that padding does not shift positions.
    """
    kind = model_kind(model_type)
    if padding_side is None:
        padding_side = "left" if targets is None else "right"
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side='{padding_side}': use 'left' (generation) or 'right' (training)")
    if targets is not None and len(targets) != len(messages_list):
        raise ValueError(f"got {len(messages_list)} conversations but {len(targets)} targets")
    tokenizer = processor.tokenizer
    prompts = render_prompts(processor, messages_list, add_generation_prompt=True)
    flat = _flatten_audios(messages_list, audios)
    check_fits(flat, processor.feature_extractor)
    call = {"text": prompts, "padding": True, "return_tensors": "pt"}
    if flat:
        call["audio"] = flat
        call["sampling_rate"] = processor.feature_extractor.sampling_rate
    enc = processor(**call, padding_side="right" if targets is not None else padding_side)
    out = {k: v for k, v in enc.items() if k in MODEL_INPUTS}
    if kind == "qwen2_5_omni_thinker" and "feature_attention_mask" in out:
        out["feature_attention_mask"] = out["feature_attention_mask"].long()
    if targets is None:
        return out

    if tokenizer.pad_token_id is None:
        raise ValueError("the tokenizer has no pad token; set tokenizer.pad_token before encoding a training batch")
    end_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if end_id is None or end_id == tokenizer.unk_token_id:
        raise ValueError(f"the tokenizer has no {END_OF_TURN} token; only Qwen-format checkpoints are supported")
    lengths = out["attention_mask"].sum(-1).tolist()
    ids, labels = [], []
    for row, n, target in zip(out["input_ids"].tolist(), lengths, targets, strict=True):
        completion = tokenizer(target, add_special_tokens=False)["input_ids"] + [end_id]
        ids.append(row[:n] + completion)
        labels.append([IGNORE_INDEX] * n + completion)
    out["input_ids"] = _pad(ids, tokenizer.pad_token_id, padding_side)
    out["labels"] = _pad(labels, IGNORE_INDEX, padding_side)
    out["attention_mask"] = _pad([[1] * len(r) for r in ids], 0, padding_side)
    if padding_side == "left" and kind == "qwen2_audio":
        # Qwen2-Audio numbers positions 0..L-1 whatever the mask; left padding would shift every row's RoPE
        # positions (the Omni thinker derives them from the mask itself). generate() does the same for itself.
        out["position_ids"] = position_ids(out["attention_mask"])
    return out


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """0, 1, 2, ... over each row's real tokens (padding gets 1), as generation numbers them."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0).masked_fill(attention_mask == 0, 1)


def to_device(batch: dict[str, torch.Tensor], model) -> dict[str, torch.Tensor]:
    """Move a batch to the model's device, the audio features to its dtype."""
    dtype = next(model.parameters()).dtype
    return {
        k: (v.to(model.device, dtype=dtype) if k == "input_features" else v.to(model.device)) for k, v in batch.items()
    }


@torch.no_grad()
def generate(
    model,
    processor,
    messages_list: Sequence[list[dict]],
    audios: Sequence,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    **generate_kwargs,
) -> list[str]:
    """Batched generation; returns only the new text of each conversation (special tokens dropped, tags kept).

    Greedy decoding (``temperature`` 0) applies the checkpoint's ``repetition_penalty`` (or one passed in) to the
    tokens it has generated only: transformers' own also counts the prompt's, which holds the answer format's tags,
    so that a long answer could no longer close its tags. Sampling uses none, so that sampled answers (policy
    samples, like GRPO's rollouts in TRL) come from the policy's own distribution."""
    from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

    batch = to_device(encode_batch(processor, model_kind(model), messages_list, audios), model)
    tokenizer = processor.tokenizer
    sampling = temperature > 0
    eos = [tokenizer.convert_tokens_to_ids(END_OF_TURN)]
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id not in eos:
        eos.append(tokenizer.pad_token_id)  # <|endoftext|> ends a reply too
    kwargs = {
        "max_new_tokens": max_new_tokens,
        "do_sample": sampling,
        "eos_token_id": eos,
        "pad_token_id": tokenizer.pad_token_id,
    }
    penalty = generate_kwargs.pop("repetition_penalty", None)
    if penalty is None:
        penalty = model.generation_config.repetition_penalty or 1.0
    if sampling:
        kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
    else:  # greedy: override a checkpoint's sampling defaults instead of warning about them
        kwargs.update(temperature=None, top_p=None, top_k=None)
        if penalty != 1.0:  # prompts are left-padded: every answer starts at the same position
            prompt = batch["input_ids"].shape[1]
            kwargs["logits_processor"] = LogitsProcessorList([RepetitionPenaltyLogitsProcessor(penalty, prompt)])
    kwargs.update(generate_kwargs, repetition_penalty=1.0)
    was_training = model.training
    model.eval()
    try:
        out = model.generate(**batch, **kwargs)
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):  # a ModelOutput when return_dict_in_generate is asked for
        out = out.sequences
    new = out[:, batch["input_ids"].shape[1] :]
    return tokenizer.batch_decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)
