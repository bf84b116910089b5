"""Audio side of the SpeechLLM: the Whisper log-mel front end, sized to the clips instead of Whisper's 30 s.

Qwen2-Audio's encoder (a Whisper encoder) only accepts mel features of exactly ``2 * max_source_positions``
frames: the feature extractor pads every clip to ``chunk_length`` seconds (100 frames a second at hop 160), the
first conv keeps that length, the second halves it (stride 2), and the learned position table has one row per
frame after it. So ``chunk_length`` seconds <-> ``50 * chunk_length`` positions, and a tiny model built for 10 s
clips attends over 500 positions instead of 1500. After the encoder an average pooling halves the length again:
a clip of ``n`` valid mel frames becomes ``((n - 1) // 2 + 1 - 2) // 2 + 1`` LLM tokens (25 a second).

>>> chunk_length_s(3.98)
5
>>> encoder_positions(5)
250
>>> audio_token_count(3 * SAMPLE_RATE)
75
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
HOP_LENGTH = 160  # 10 ms: 100 mel frames a second
CHUNK_MARGIN_S = 1  # head room over the longest clip, so a clip a little longer than measured is not cut
FRAMES_PER_POSITION = 2  # conv2 has stride 2


def chunk_length_s(max_audio_s: float, margin_s: int = CHUNK_MARGIN_S) -> int:
    """Seconds every clip is padded to: the longest clip rounded up, plus a margin (whole seconds)."""
    if not max_audio_s > 0:
        raise ValueError(f"max_audio_s={max_audio_s} must be > 0: pass the duration of the longest clip in seconds")
    return math.ceil(max_audio_s) + margin_s


def mel_frames(chunk_s: int, hop_length: int = HOP_LENGTH) -> int:
    """Mel frames of a clip padded to ``chunk_s`` seconds (what the encoder receives)."""
    return chunk_s * SAMPLE_RATE // hop_length


def encoder_positions(chunk_s: int, hop_length: int = HOP_LENGTH) -> int:
    """``max_source_positions`` of an encoder that reads ``chunk_s``-second inputs."""
    return mel_frames(chunk_s, hop_length) // FRAMES_PER_POSITION


def audio_token_count(num_samples: int, hop_length: int = HOP_LENGTH) -> int:
    """LLM tokens that one clip of ``num_samples`` 16 kHz samples becomes (Qwen2-Audio and Qwen2.5-Omni alike).

    >>> audio_token_count(3 * SAMPLE_RATE, hop_length=320)
    37
    """
    frames = math.ceil(num_samples / hop_length)
    after_conv = (frames - 1) // 2 + 1
    return (after_conv - 2) // 2 + 1


def make_feature_extractor(
    max_audio_s: float,
    num_mel_bins: int = 128,
    margin_s: int = CHUNK_MARGIN_S,
    hop_length: int = HOP_LENGTH,
    n_fft: int = 400,
):
    """A ``WhisperFeatureExtractor`` that pads to ``chunk_length_s(max_audio_s)`` seconds instead of 30.

    ``hop_length`` 320 (20 ms) halves the encoder's frames and the audio tokens of a tiny model, and ``n_fft`` 1024
    (a 64 ms window) resolves the harmonics of low voices, which Whisper's 25 ms window (400) smears together;
    released checkpoints were trained at 160 and 400 and keep their own extractor.
    """
    from transformers import WhisperFeatureExtractor

    if num_mel_bins not in (80, 128):
        raise ValueError(f"num_mel_bins={num_mel_bins}: Whisper front ends use 80 or 128 mel bins")
    return WhisperFeatureExtractor(
        feature_size=num_mel_bins,
        sampling_rate=SAMPLE_RATE,
        hop_length=hop_length,
        chunk_length=chunk_length_s(max_audio_s, margin_s),
        n_fft=n_fft,
        padding_value=0.0,
        return_attention_mask=True,
    )


def longest_clip_s(paths: Iterable[str | Path]) -> float:
    """Duration in seconds of the longest of ``paths`` (read from the file headers, not decoded)."""
    import soundfile as sf

    longest = 0.0
    for p in paths:
        info = sf.info(str(p))
        longest = max(longest, info.frames / info.samplerate)
    if longest == 0.0:
        raise ValueError("longest_clip_s: no clips given (or all are empty)")
    return longest


def data_max_audio_s(data_dir: str | Path) -> float:
    """The longest clip the model will hear: ``duration_s`` of ``manifest.jsonl`` and the SFT task clips.

    Task clips that are not in the manifest (the contrastive pairs: two halves and a pause) are measured from
    their file headers; ``audio_path`` is relative to the repository root (the parent of ``data_dir``).
    """
    import json

    data_dir = Path(data_dir)
    longest, known = 0.0, set()
    manifest = data_dir / "manifest.jsonl"
    if manifest.exists():
        for line in manifest.open():
            if line.strip():
                rec = json.loads(line)
                longest = max(longest, float(rec["duration_s"]))
                known.add(rec["audio_path"])
    extra = set()
    for task in sorted((data_dir / "sft_tasks").glob("*.jsonl")):
        for line in task.open():
            if line.strip() and (p := json.loads(line).get("audio_path")) and p not in known:
                extra.add(p if Path(p).is_absolute() else str(data_dir.parent / p))
    if extra:
        longest = max(longest, longest_clip_s(sorted(extra)))
    if longest == 0.0:
        raise ValueError(f"{data_dir}: no manifest.jsonl or sft_tasks/*.jsonl with clips; run the ingest stage first")
    return longest


def check_fits(audios: Iterable[np.ndarray], feature_extractor) -> None:
    """Warn when a clip is longer than the feature extractor's chunk: its end would be cut silently."""
    limit = feature_extractor.n_samples
    for x in audios:
        if x is not None and len(x) > limit:
            logger.warning(
                "a clip of %.2f s is longer than the feature extractor's chunk_length of %s s; its end is cut. "
                "Rebuild the model with a larger model.max_audio_s",
                len(x) / SAMPLE_RATE,
                feature_extractor.chunk_length,
            )
