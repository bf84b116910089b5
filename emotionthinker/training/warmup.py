"""Audio warm-up of a model built from scratch: teach its audio encoder to carry the measured prosody.

A released SpeechLLM (Qwen2-Audio, Qwen2.5-Omni) arrives with an audio encoder pretrained on many hours of speech;
the paper's prosody SFT starts from there. The tiny default is built from a config, so its encoder starts random,
and the one-token answers of the SFT tasks are a weak signal to train it from: the model first learns the answer
priors, and only slowly finds the audio. This warm-up stands in for the missing pretraining. The encoder and the
audio projector are trained on two targets measured with the prosody stage's own functions:

* per clip, from the time-average of the audio tokens: F0 level, range and SD, speech level, rates, voicing share,
  HNR and gender (``data/features.jsonl``);
* per audio token (80 ms at the tiny model's 20 ms hop): the F0 of the voiced frames under it, its voiced share,
  its energy, the syllable nuclei it holds and its speech share (:func:`frame_targets`). A clip gives one
  clip-level target but dozens of frame-level ones, and these teach every token to say what happens at its time,
  which is what comparing the halves of a contrastive pair or following a contour needs.

Eight train speakers are too few to learn pitch apart from voice, so every clip is also heard resampled (pitch and
tempo moved together by ``shifts_st`` semitones, a change whose effect on every target is exact: F0 and rates scale
by the same factor, times shrink by it), at other gains (``gains_db``: levels move by as much), and with PSOLA
(``psola``: F0 moved with the formants kept, or the tempo changed with the pitch kept), the only variants in which
the voice's timbre does not move with its pitch. On the default corpus resampling took the val F0 error of a linear
read-out from 3.0 to 1.4 semitones; PSOLA took a linear probe's val pitch-level accuracy from 0.61 to 0.65 and its
F0 error from 1.84 to 1.55 semitones (``benchmarks/audio_probe.py``). The clip targets of a contrastive pair are
how its second half differs from its first, known exactly from how the pair was made (:func:`pair_deltas`).
The language model is not touched. Checkpoints skip the warm-up; the stage reruns it rather than resuming it.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
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
    # relative to the clip's calibration group, as the prosody stage's levels are (pitch per corpus and gender,
    # energy and speed per corpus): each level then lies along one direction of the audio tokens
    ("f0_rel_octaves", "identity"),
    ("level_rel_db", "identity"),
    ("rate_rel_log", "identity"),
)
# clip targets of a contrastive pair (two renditions joined by a pause): how the second half differs from the first
PAIR_TARGETS = ("pair_delta_log2_f0", "pair_delta_log_rate", "pair_delta_db")
# per-token targets, the columns of frame_targets()
FRAME_TARGETS = ("log2_f0", "voiced_share", "energy_db", "nuclei", "speech_share")
ANALYSIS_HOP_S = 0.01  # the prosody stage's time_step default


def _value(row: dict, key: str, transform: str) -> float:
    v = row.get(key)
    if transform == "female":
        return {"female": 1.0, "male": 0.0}.get(v, math.nan)
    if v is None or (key.startswith("f0_") and not row.get("f0_reliable", True)):
        return math.nan
    v = float(v)
    return math.log2(v) if transform == "log2" and v > 0 else (math.nan if transform == "log2" else v)


def add_relative(rows: Sequence[dict | None], reference: Sequence[dict | None]) -> list[dict | None]:
    """``rows`` with F0, level and speed rate relative to the median of their group in ``reference`` (the unshifted
    train rows): F0 per (corpus, gender) in octaves, level per corpus in dB, rate per corpus as a log ratio.

    >>> ref = [{"corpus": "c", "gender": "male", "f0_median_hz": 100.0, "active_level_dbfs": -20.0,
    ...         "speed_syl_s": 4.0}]
    >>> out = add_relative([{**ref[0], "f0_median_hz": 200.0, "active_level_dbfs": -26.0}], ref)[0]
    >>> out["f0_rel_octaves"], out["level_rel_db"], out["rate_rel_log"]
    (1.0, -6.0, 0.0)
    """
    groups: dict[tuple, list[float]] = {}
    for r in reference:
        if r is None:
            continue
        for key, group in _relative_keys(r):
            v = r.get(key)
            if v is not None and (key != "f0_median_hz" or r.get("f0_reliable", True)):
                groups.setdefault((key, group), []).append(float(v))
    medians = {k: float(np.median(v)) for k, v in groups.items()}
    out = []
    for r in rows:
        if r is None:
            out.append(None)
            continue
        r = dict(r)
        for key, group in _relative_keys(r):
            m, v = medians.get((key, group)), r.get(key)
            name, rel = _RELATIVE[key]
            r[name] = rel(float(v), m) if v is not None and m else None
        out.append(r)
    return out


_RELATIVE = {
    "f0_median_hz": ("f0_rel_octaves", lambda v, m: math.log2(v / m) if v > 0 else None),
    "active_level_dbfs": ("level_rel_db", lambda v, m: v - m),
    "speed_syl_s": ("rate_rel_log", lambda v, m: math.log(v / m) if v > 0 and m > 0 else None),
}


def _relative_keys(row: dict) -> list[tuple[str, tuple]]:
    corpus = row.get("corpus")
    return [("f0_median_hz", (corpus, row.get("gender"))), ("active_level_dbfs", (corpus,)),
            ("speed_syl_s", (corpus,))]  # fmt: skip


def target_matrix(features: Sequence[dict | None], stats: tuple[np.ndarray, np.ndarray] | None = None):
    """``(targets, mean, std)``: one row per clip, the columns of ``TARGETS`` then those of ``PAIR_TARGETS``; NaN
    where a value is missing or unreliable (a features row has no pair deltas, a pair no features); columns z-scored
    by ``stats`` or, without it, by their own mean and SD."""
    keys = [*TARGETS, *((k, "identity") for k in PAIR_TARGETS)]
    raw = np.array(
        [[_value(r, k, t) if r is not None else math.nan for k, t in keys] for r in features], dtype=np.float64
    ).reshape(len(features), len(keys))
    mean, std = stats if stats is not None else _stats(raw)
    return ((raw - mean) / std).astype(np.float32), mean, std


def _stats(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of an all-NaN column: replaced right below
        mean = np.nanmean(raw, axis=0)
        std = np.nanstd(raw, axis=0)
    std[~np.isfinite(std) | (std < 1e-6)] = 1.0
    mean[~np.isfinite(mean)] = 0.0
    return mean, std


# --------------------------------------------------------------------------------------------------------------------
# Frame-level targets
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class FrameMeasures:
    """A clip's prosody on the analysis grid (10 ms), as the prosody stage measures it."""

    f0_times: np.ndarray  # s
    f0: np.ndarray  # Hz, NaN where unvoiced or outside speech
    energy_db: np.ndarray  # per 10 ms frame
    speech: np.ndarray  # bool per 10 ms frame
    nuclei: np.ndarray  # times (s) of syllable nuclei


def measure_frames(samples: np.ndarray, sr: int, speaker_median: float | None = None) -> FrameMeasures:
    """Pitch track, frame energy, voice activity and syllable nuclei of one clip, with the prosody stage's
    functions and default settings (so that the warm-up teaches the measurements the labels come from)."""
    from emotionthinker.config import ProsodyConfig
    from emotionthinker.prosody.energy import voice_activity
    from emotionthinker.prosody.pitch import track
    from emotionthinker.prosody.rate import syllable_nuclei

    cfg = ProsodyConfig()
    act = voice_activity(samples, sr, hop_s=ANALYSIS_HOP_S)
    pt = track(samples, sr, ANALYSIS_HOP_S, cfg.f0_floor, cfg.f0_ceiling, speaker_median,
               tuple(cfg.speaker_range_octaves), act.speech, ANALYSIS_HOP_S)  # fmt: skip
    voiced = np.zeros(len(act.speech), dtype=bool)
    voiced[np.clip(np.round(pt.times[pt.voiced] / ANALYSIS_HOP_S).astype(int), 0, len(voiced) - 1)] = True
    reliable = voiced.sum() * ANALYSIS_HOP_S >= cfg.min_voiced_s
    nuclei = syllable_nuclei(samples, sr, voiced if reliable else None, hop_s=ANALYSIS_HOP_S)
    return FrameMeasures(pt.times, pt.f0, act.frame_db, act.speech, nuclei)


def frame_targets(
    m: FrameMeasures,
    token_s: float,
    n_tokens: int,
    semitones: float = 0.0,
    gain_db: float = 0.0,
    pitch_st: float = 0.0,
    tempo: float = 1.0,
):
    """Per audio token of ``token_s`` seconds, the columns of ``FRAME_TARGETS`` (NaN past the clip's end, and F0
    NaN on a token with no voiced frame), for the variant of ``augment.shift_audio``: resampled by ``semitones``,
    F0 moved by ``pitch_st`` and tempo scaled by ``tempo`` (PSOLA), ``gain_db`` louder.

    >>> m = FrameMeasures(f0_times=np.array([0.005, 0.015, 0.025]), f0=np.array([100.0, np.nan, 200.0]),
    ...                   energy_db=np.array([-20.0, -20.0, -30.0, -30.0]), speech=np.array([True, True, True, False]),
    ...                   nuclei=np.array([0.025]))
    >>> frame_targets(m, 0.02, 3).astype(float).round(2).tolist()  # 20 ms tokens of two 10 ms frames, then none
    [[6.64, 0.5, -20.0, 0.0, 1.0], [7.64, 1.0, -30.0, 1.0, 0.5], [nan, nan, nan, nan, nan]]
    """
    from emotionthinker.training.augment import factors

    f0_factor, factor = factors(semitones, pitch_st, tempo)
    out = np.full((n_tokens, len(FRAME_TARGETS)), np.nan, dtype=np.float32)
    frame_t = np.arange(len(m.energy_db)) * ANALYSIS_HOP_S / factor
    e_tok = (frame_t // token_s).astype(int)
    f_tok = (m.f0_times / factor // token_s).astype(int)
    n_tok = (m.nuclei / factor // token_s).astype(int)
    for i in range(min(n_tokens, int(e_tok.max(initial=-1)) + 1)):
        frames = e_tok == i
        if not frames.any():
            continue
        pitch = m.f0[f_tok == i]
        voiced = pitch[np.isfinite(pitch)]
        out[i, 0] = math.log2(float(np.median(voiced)) * f0_factor) if len(voiced) else math.nan
        out[i, 1] = len(voiced) / max(len(pitch), 1)
        out[i, 2] = float(m.energy_db[frames].mean()) + gain_db
        out[i, 3] = float((n_tok == i).sum())
        out[i, 4] = float(m.speech[frames].mean())
    return out


def is_pair(row: dict | None) -> bool:
    """Whether a warm-up row is a contrastive pair's (:func:`pair_deltas`) rather than a clip's features."""
    return row is not None and PAIR_TARGETS[0] in row


def pair_deltas(meta: dict) -> dict:
    """How the second half of a contrastive pair differs from the first, from how the annotate stage made it (the
    record's ``meta``: kind, amount, modified half): ``PAIR_TARGETS`` (log2 of the F0 ratio, natural log of the rate
    ratio, level difference in dB), 0 for the two parameters left alone (both halves are PSOLA resyntheses at the
    same level). Exact, where measuring the halves was not: the sign of the measured rate ratio agreed with the
    tempo change in 87% of the default corpus's train pairs.

    >>> pair_deltas({"kind": "pitch", "amount": -3.0, "modified_half": "first"})
    {'pair_delta_log2_f0': 0.25, 'pair_delta_log_rate': 0.0, 'pair_delta_db': 0.0}
    >>> round(pair_deltas({"kind": "speed", "amount": 1.3, "modified_half": "second"})["pair_delta_log_rate"], 4)
    0.2624
    """
    kind, amount = meta["kind"], float(meta["amount"])
    effect = {"pitch": ("pair_delta_log2_f0", lambda a: a / 12), "speed": ("pair_delta_log_rate", math.log),
              "energy": ("pair_delta_db", float)}  # fmt: skip
    if kind not in effect or (kind == "speed" and amount <= 0):
        raise ValueError(f"contrastive pair of kind '{kind}', amount {amount}: expected pitch (semitones), speed "
                         "(a tempo factor > 0) or energy (dB)")  # fmt: skip
    key, value = effect[kind][0], effect[kind][1](amount)
    sign = {"second": 1.0, "first": -1.0}[meta["modified_half"]]
    return {k: (sign * value if k == key else 0.0) for k in PAIR_TARGETS}


# --------------------------------------------------------------------------------------------------------------------
# The probe and its training
# --------------------------------------------------------------------------------------------------------------------


class ProsodyProbe(torch.nn.Module):
    """The model's audio path (encoder, projector) with linear read-outs: of the time-averaged audio tokens (clip
    targets) and of every token (frame targets)."""

    def __init__(self, model, n_targets: int, n_frame_targets: int = len(FRAME_TARGETS)):
        super().__init__()
        self.tower = model.model.audio_tower
        self.projector = model.model.multi_modal_projector
        hidden = model.config.text_config.hidden_size
        self.head = torch.nn.Linear(hidden, n_targets)
        self.frame_head = torch.nn.Linear(hidden, n_frame_targets)

    def tokens(self, input_features: torch.Tensor, feature_attention_mask: torch.Tensor):
        """The audio tokens the language model reads, ``(batch, tokens, hidden)``, and each clip's token count."""
        from transformers.masking_utils import create_bidirectional_mask

        feat_lengths, out_lengths = self.tower._get_feat_extract_output_lengths(feature_attention_mask.sum(-1))
        batch, _, frames = input_features.shape
        steps = (frames - 2) // 2 + 1
        mask2d = (torch.arange(steps)[None, :] < feat_lengths[:, None]).long()
        attn = create_bidirectional_mask(
            config=self.tower.config, inputs_embeds=torch.zeros(batch, steps, 1), attention_mask=mask2d
        )
        return self.projector(self.tower(input_features, attention_mask=attn).last_hidden_state), out_lengths

    def forward(self, input_features: torch.Tensor, feature_attention_mask: torch.Tensor):
        hidden, lengths = self.tokens(input_features, feature_attention_mask)
        valid = (torch.arange(hidden.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * valid).sum(1) / valid.sum(1).clamp(min=1.0)
        return self.head(pooled), self.frame_head(hidden)


def _masked_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    known = torch.isfinite(target)
    return ((pred - torch.nan_to_num(target)) ** 2 * known).sum() / known.sum().clamp(min=1)


@dataclass
class WarmupData:
    """Features and targets of every (clip, variant) the warm-up trains on."""

    input_features: torch.Tensor  # float16, (n, mels, frames)
    attention_mask: torch.Tensor
    clip_targets: torch.Tensor  # z-scored, NaN = unknown
    frame_targets: torch.Tensor  # z-scored, NaN = unknown
    clips: int


def _clip_variants(job: tuple) -> tuple[np.ndarray, np.ndarray, list[dict | None], list[np.ndarray]]:
    """One clip's variants: (features float16, attention masks, features rows, frame targets), one per variant."""
    from emotionthinker.audio import load
    from emotionthinker.training.augment import shift_audio, shifted

    path, row, fe, repo_root, variants, token_s, n_tokens = job
    x = load(Path(repo_root) / path, fe.sampling_rate)
    m = measure_frames(x, fe.sampling_rate, (row or {}).get("speaker_f0_median_hz"))
    seed = zlib.crc32(str(path).encode())
    audio = [shift_audio(x, s, g, fe.sampling_rate, p, t, seed)[: fe.n_samples] for s, g, p, t in variants]
    f = fe(audio, sampling_rate=fe.sampling_rate, return_attention_mask=True, padding="max_length",
           return_tensors="np")  # fmt: skip
    rows = [shifted(row, s, g, p, t) for s, g, p, t in variants]
    frames = [frame_targets(m, token_s, n_tokens, s, g, p, t) for s, g, p, t in variants]
    return f["input_features"].astype(np.float16), f["attention_mask"], rows, frames


def prepare(
    clips: Sequence[tuple[str, dict | None]],
    processor,
    repo_root: Path,
    shifts_st: Sequence[float] = (0.0,),
    gains_db: Sequence[float] = (0.0,),
    psola: Sequence[Sequence[float]] = (),
    progress: bool = True,
    workers: int = 1,
) -> WarmupData:
    """Measure every clip's frames once, then build the features and targets of each variant: every shift x gain,
    then every (pitch_st, tempo) of ``psola`` (PSOLA, unshifted, at gain 0). A contrastive pair gets no PSOLA
    copies, which on three pairs per clip took 4 of the stage's 22 minutes; heard at every gain only, the pairs
    taught too little (val contrastive 0.75 after the prosody phase, against 0.98 with every variant). ``workers``
    processes share the clips (PSOLA takes about 50 ms a variant); the result does not depend on their number.

    ``clips`` are (audio_path, features row) pairs; a contrastive pair's row holds how its second half differs from
    its first (:func:`pair_deltas`, which resampling, PSOLA and gain leave unchanged)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    from emotionthinker.model.audio import FRAMES_PER_POSITION

    fe = processor.feature_extractor
    token_s = fe.hop_length * FRAMES_PER_POSITION * 2 / fe.sampling_rate  # conv stride 2, then pooling 2
    n_tokens = fe.nb_max_frames // (FRAMES_PER_POSITION * 2)
    variants = [(s, g, 0.0, 1.0) for s in shifts_st for g in gains_db]
    variants += [(0.0, 0.0, float(p), float(t)) for p, t in psola]
    pair_variants = [(s, g, 0.0, 1.0) for s in shifts_st for g in gains_db]
    jobs = [(path, row, fe, str(repo_root), pair_variants if is_pair(row) else variants, token_s, n_tokens)
            for path, row in clips]  # fmt: skip
    bar = dict(desc="audio warm-up: measuring", unit="clip", total=len(jobs), disable=not progress)
    if workers > 1 and len(jobs) > 1:
        # spawn: the parent holds torch's thread pools, which a forked child must not inherit
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn")) as pool:
            done = list(tqdm(pool.map(_clip_variants, jobs, chunksize=8), **bar))
    else:
        done = [_clip_variants(j) for j in tqdm(jobs, **bar)]
    rows = [r for _, _, clip_rows, _ in done for r in clip_rows]
    originals = [row for _, row in clips]
    clip_y, _, _ = target_matrix(add_relative(rows, originals))
    frame_y = np.stack([f for *_, clip_frames in done for f in clip_frames])
    mean, std = _stats(frame_y.reshape(-1, frame_y.shape[-1]).astype(np.float64))
    frame_y = ((frame_y - mean) / std).astype(np.float32)
    feats = torch.from_numpy(np.concatenate([f for f, *_ in done]))
    masks = torch.from_numpy(np.concatenate([m for _, m, *_ in done]).astype(np.int64))
    return WarmupData(feats, masks, torch.from_numpy(clip_y), torch.from_numpy(frame_y), len(clips))


def warm_up_audio(
    model,
    processor,
    clips: Sequence[tuple[str, dict | None]],
    repo_root: Path,
    epochs: float,
    learning_rate: float,
    batch_size: int,
    seed: int = 0,
    shifts_st: Sequence[float] = (0.0,),
    gains_db: Sequence[float] = (0.0,),
    psola: Sequence[Sequence[float]] = (),
    frame_weight: float = 1.0,
    progress: bool = True,
    workers: int = 1,
) -> dict:
    """Train ``model``'s audio encoder and projector in place on ``clips`` ((audio_path, features row or None)), each
    heard in every variant of :func:`prepare`; the loss is the clip targets' MSE plus ``frame_weight`` times the
    frame targets'.

    Returns the losses before and after and the time taken. Stops early (with a log line) if the loss is not finite.
    """
    from tqdm.auto import tqdm

    if not clips:
        raise ValueError("audio warm-up: no train clips with measured features (data/features.jsonl)")
    started = time.perf_counter()
    torch.manual_seed(seed)
    data = prepare(clips, processor, repo_root, shifts_st, gains_db, psola, progress, workers)
    measured = time.perf_counter() - started
    n = len(data.clip_targets)
    probe = ProsodyProbe(model, data.clip_targets.shape[1], data.frame_targets.shape[2])
    dtype = next(model.parameters()).dtype
    params = [p for p in probe.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    steps = max(1, math.ceil(epochs * n / batch_size))
    warm = max(1, steps // 20)
    order: list[int] = []
    clip_losses: list[float] = []
    frame_losses: list[float] = []
    probe.train()
    for step in tqdm(range(steps), desc="audio warm-up", unit="step", disable=not progress):
        if len(order) < batch_size:
            order += rng.permutation(n).tolist()
        idx, order = order[:batch_size], order[batch_size:]
        clip_pred, frame_pred = probe(data.input_features[idx].to(dtype), data.attention_mask[idx])
        frame_y = data.frame_targets[idx]
        width = min(frame_pred.shape[1], frame_y.shape[1])
        clip_loss = _masked_mse(clip_pred, data.clip_targets[idx])
        frame_loss = _masked_mse(frame_pred[:, :width], frame_y[:, :width])
        loss = clip_loss + frame_weight * frame_loss
        if not torch.isfinite(loss):
            logger.warning("audio warm-up: loss is %s at step %d; stopping it there", loss.item(), step)
            break
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        lr = learning_rate * min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
        clip_losses.append(clip_loss.item())
        frame_losses.append(frame_loss.item())
    window = max(1, len(clip_losses) // 10)
    result = {
        "clips": data.clips,
        "examples": n,
        "steps": len(clip_losses),
        "loss_first": round(float(np.mean(clip_losses[:window])), 4),
        "loss_last": round(float(np.mean(clip_losses[-window:])), 4),
        "frame_loss_first": round(float(np.mean(frame_losses[:window])), 4),
        "frame_loss_last": round(float(np.mean(frame_losses[-window:])), 4),
        "measure_seconds": round(measured, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }
    logger.info("audio warm-up: %s", result)
    return result
