"""A byte-level BPE tokenizer trained locally on the corpus, with the control tokens of the Qwen chat format.

Byte-level, so any text round-trips even where the corpus never showed a word. The control tokens
(``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``, the audio placeholders, and the vision ones that the
Qwen2.5-Omni processor also asks for) take the first ids and are special: decoding with
``skip_special_tokens=True`` drops them. The reasoning tags ``<think> </think> <answer> </answer>`` are added
tokens that are *not* special: each is one id, and decoding keeps them, so a generated answer can be parsed.

>>> tok = train_tokenizer(["the voice drops", "a high pitch", "<think>low</think><answer>sad</answer>"], 300)
>>> tok.convert_ids_to_tokens(tok("<think>x</think>")["input_ids"])
['<think>', 'x', '</think>']
>>> tok.decode(tok("<|im_start|>sad<|im_end|>")["input_ids"], skip_special_tokens=True)
'sad'
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from emotionthinker.labels import DEFAULT_LABELS
from emotionthinker.prompts import SYSTEM_PROMPT, question

logger = logging.getLogger(__name__)

# Named control tokens: attribute name on the tokenizer -> token. Order fixes their ids (0, 1, ...).
PAD_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
MULTIMODAL_TOKENS = {
    "audio_bos_token": "<|audio_bos|>",
    "audio_token": "<|AUDIO|>",
    "audio_eos_token": "<|audio_eos|>",
    "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
    "image_token": "<|IMAGE|>",
    "video_token": "<|VIDEO|>",
}
CONTROL_TOKENS = (PAD_TOKEN, IM_START, IM_END, *MULTIMODAL_TOKENS.values())
TAG_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")
MIN_VOCAB = 256 + len(CONTROL_TOKENS) + len(TAG_TOKENS)  # the byte alphabet must fit


def corpus_texts(data_dir: str | Path, labels: Sequence[str] = DEFAULT_LABELS, splits=("train",)) -> Iterator[str]:
    """The text the model will read and write: prompts, labels, transcripts, captions, rationales, task Q&A.

    Reads ``emotioncot/{split}.jsonl`` and ``sft_tasks/*.jsonl`` under ``data_dir`` (records of the other splits
    are skipped); missing files are skipped with a log line, so a partial data folder still gives a corpus.
    """
    data_dir = Path(data_dir)
    yield SYSTEM_PROMPT
    yield question(labels)
    yield from labels
    for split in splits:
        path = data_dir / "emotioncot" / f"{split}.jsonl"
        if not path.exists():
            logger.info("corpus_texts: %s not found, skipped", path)
            continue
        for rec in _read_jsonl(path):
            facts = rec.get("facts") or {}
            for text in (facts.get("transcript"), rec.get("caption"), rec.get("rationale"), rec.get("target")):
                if text:
                    yield text
    task_files = sorted((data_dir / "sft_tasks").glob("*.jsonl"))
    if not task_files:
        logger.info("corpus_texts: no sft_tasks/*.jsonl under %s", data_dir)
    for path in task_files:
        for rec in _read_jsonl(path):
            if rec.get("split", "train") not in splits:
                continue
            for text in (rec.get("question"), rec.get("answer")):
                if text:
                    yield str(text)


def _read_jsonl(path: Path) -> Iterator[dict]:
    with path.open() as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2):
    """Train a byte-level BPE on ``texts`` and wrap it as a fast tokenizer that ``AutoTokenizer`` reloads.

    ``vocab_size`` is a target: a small corpus runs out of merges earlier. The same texts in the same order
    give the same tokenizer.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < MIN_VOCAB:
        raise ValueError(f"vocab_size={vocab_size}: a byte-level BPE with the control tokens needs >= {MIN_VOCAB}")
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(TAG_TOKENS),
        min_frequency=min_frequency,
        show_progress=False,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in CONTROL_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    # strings only, in order (the trainer counts words in parallel; the merges are a function of the counts)
    tok.train_from_iterator((str(t) for t in texts), trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False, single_word=False) for t in TAG_TOKENS])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token=IM_END,
        pad_token=PAD_TOKEN,
        unk_token=None,
        model_max_length=32768,
        clean_up_tokenization_spaces=False,
        extra_special_tokens=dict(MULTIMODAL_TOKENS),
    )
    logger.info("trained a byte-level BPE of %d tokens (target %d)", len(fast), vocab_size)
    return fast


def special_ids(tokenizer) -> dict[str, int]:
    """Ids of the control and tag tokens the models need, by token."""
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (*CONTROL_TOKENS, *TAG_TOKENS)}
    missing = [t for t, i in ids.items() if i is None or i == tokenizer.unk_token_id]
    if missing:
        raise ValueError(f"tokenizer lacks {missing}; train it with emotionthinker.model.tokenizer.train_tokenizer")
    return ids
