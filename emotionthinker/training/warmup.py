"""Audio warm-up of a model built from scratch: teach its audio encoder to carry the measured prosody.

A released SpeechLLM (Qwen2-Audio, Qwen2.5-Omni) arrives with an audio encoder pretrained on many hours of speech;
the paper's prosody SFT starts from there. The tiny default is built from a config, so its encoder starts random,
and the one-token answers of the SFT tasks are a weak signal to train it from: the model first learns the answer
priors, and only slowly finds the audio. This warm-up stands in for the missing pretraining. The encoder and the
audio projector are trained to predict, from the time-average of the audio tokens the language model will read, the
prosody the prosody stage measured on each train clip (F0 level and range, speech level, rate, voicing, gender):
a dense, continuous target on every clip. The language model is not touched. Checkpoints are skipped for it: it
takes about a minute, and the stage reruns it rather than resuming it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger(__name__)

# (feature, transform) of data/features.jsonl rows; each becomes one z-scored regression target
TARGETS: tuple[tuple[str, str], ...] = (
    ("f0_median_hz", "log2"),
    ("f0_range_st", "identity"),
    ("f0_sd_st", "identity"),
    ("active_level_dbfs", "identity"),
    ("articulation_rate_syl_s", "identity"),
    ("speech_rate_syl_s", "identity"),
    ("speech_share", "identity"),
    ("hnr_db", "identity"),
    ("gender", "female"),
)


def _value(row: dict, key: str, transform: str) -> float:
    v = row.get(key)
    if transform == "female":
        return {"female": 1.0, "male": 0.0}.get(v, math.nan)
    if v is None or (key.startswith("f0_") and not row.get("f0_reliable", True)):
        return math.nan
    v = float(v)
    return math.log2(v) if transform == "log2" and v > 0 else (math.nan if transform == "log2" else v)


def target_matrix(features: Sequence[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(targets, mean, std)``: one row per clip, NaN where a feature is missing or unreliable, z-scored columns."""
    raw = np.array([[_value(r, k, t) for k, t in TARGETS] for r in features], dtype=np.float64)
    mean = np.nanmean(raw, axis=0)
    std = np.nanstd(raw, axis=0)
    std[~np.isfinite(std) | (std < 1e-6)] = 1.0
    mean[~np.isfinite(mean)] = 0.0
    return ((raw - mean) / std).astype(np.float32), mean, std


class ProsodyProbe(torch.nn.Module):
    """The model's audio path (encoder, projector) with a linear read-out of the time-averaged audio tokens."""

    def __init__(self, model, n_targets: int):
        super().__init__()
        self.tower = model.model.audio_tower
        self.projector = model.model.multi_modal_projector
        self.head = torch.nn.Linear(model.config.text_config.hidden_size, n_targets)

    def forward(self, input_features: torch.Tensor, feature_attention_mask: torch.Tensor) -> torch.Tensor:
        from transformers.masking_utils import create_bidirectional_mask

        feat_lengths, out_lengths = self.tower._get_feat_extract_output_lengths(feature_attention_mask.sum(-1))
        batch, _, frames = input_features.shape
        steps = (frames - 2) // 2 + 1
        mask2d = (torch.arange(steps)[None, :] < feat_lengths[:, None]).long()
        attn = create_bidirectional_mask(
            config=self.tower.config, inputs_embeds=torch.zeros(batch, steps, 1), attention_mask=mask2d
        )
        hidden = self.projector(self.tower(input_features, attention_mask=attn).last_hidden_state)
        valid = (torch.arange(hidden.shape[1])[None, :] < out_lengths[:, None]).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * valid).sum(1) / valid.sum(1).clamp(min=1.0)
        return self.head(pooled)


def warm_up_audio(
    model,
    processor,
    clips: Sequence[tuple[str, dict]],
    repo_root: Path,
    epochs: float,
    learning_rate: float,
    batch_size: int,
    seed: int = 0,
) -> dict:
    """Train ``model``'s audio encoder and projector in place on ``clips`` ((audio_path, features row) pairs).

    Returns the loss before and after and the time taken. Stops early (with a log line) if the loss is not finite.
    """
    from tqdm.auto import tqdm

    from emotionthinker.audio import load

    if not clips:
        raise ValueError("audio warm-up: no train clips with measured features (data/features.jsonl)")
    targets, _, _ = target_matrix([f for _, f in clips])
    probe = ProsodyProbe(model, targets.shape[1])
    params = [p for p in probe.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    fe = processor.feature_extractor
    # log-mel features once for all clips (the extractor is the slow part of a step)
    feats = fe([load(Path(repo_root) / p, fe.sampling_rate) for p, _ in clips], sampling_rate=fe.sampling_rate,
               return_attention_mask=True, padding="max_length", return_tensors="pt")  # fmt: skip
    steps = max(1, math.ceil(epochs * len(clips) / batch_size))
    order: list[int] = []
    losses: list[float] = []
    started = time.perf_counter()
    probe.train()
    for step in tqdm(range(steps), desc="audio warm-up", unit="step"):
        if len(order) < batch_size:
            order += rng.permutation(len(clips)).tolist()
        idx, order = order[:batch_size], order[batch_size:]
        y = torch.from_numpy(targets[idx])
        known = torch.isfinite(y)
        pred = probe(feats["input_features"][idx], feats["attention_mask"][idx])
        loss = ((pred - torch.nan_to_num(y)) ** 2 * known).sum() / known.sum().clamp(min=1)
        if not torch.isfinite(loss):
            logger.warning("audio warm-up: loss is %s at step %d; stopping it there", loss.item(), step)
            break
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        lr = learning_rate * 0.5 * (1 + math.cos(math.pi * step / steps))  # cosine to zero
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
        losses.append(loss.item())
    window = max(1, len(losses) // 10)
    result = {
        "clips": len(clips),
        "steps": len(losses),
        "loss_first": round(float(np.mean(losses[:window])), 4),
        "loss_last": round(float(np.mean(losses[-window:])), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }
    logger.info("audio warm-up: %s", result)
    return result
