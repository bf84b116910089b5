"""Helpers of the serving tests and the load benchmark: a tiny model promoted into a private BentoML store, speech-like
clips, and a ``bentoml serve`` process on a free loopback port.

The model is the tiny Qwen2-Audio of the model tests (a few hundred thousand parameters), optionally fitted for a
few dozen steps to one fixed reply, so that the contract tests can check a well-formed answer with cue claims
coming out of the real generation path; untrained, it answers garbage at full length, which is the worst case
for latency.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from serving.local import Served, free_port, service_env, serving  # noqa: F401 - re-exported for the tests
from tests.test_sft import TINY  # the tiny Qwen2-Audio of the model tests

REPO = Path(__file__).resolve().parents[1]
SR = 16000
# claims pitch low ("low pitch"), energy low ("soft") and speed low ("slow") in the judge's lexicon
FITTED_REPLY = "<think>A low pitch, a soft voice and a slow pace.</think><answer>sad</answer>"
# level cuts in the prosody stage's format (fit_thresholds): one calibrated group, pooled cuts for the rest
THRESHOLDS = {
    "percentiles": [33.333, 66.667],
    "levels": ["low", "medium", "high"],
    "min_group": 30,
    "pitch": {"pooled": [140.0, 210.0],
              "groups": {"lab|female": {"cuts": [300.0, 400.0], "n": 40, "source": "group"}}},
    "energy": {"pooled": [-30.0, -20.0], "groups": {}},
    "speed": {"pooled": [2.0, 4.0], "groups": {}},
}  # fmt: skip


def corpus_texts() -> list[str]:
    from emotionthinker.labels import DEFAULT_LABELS
    from emotionthinker.prompts import SYSTEM_PROMPT, question

    texts = [SYSTEM_PROMPT, question(DEFAULT_LABELS), *DEFAULT_LABELS, FITTED_REPLY, "low", "medium", "high"]
    return texts * 3


def speech_like(seconds: float = 1.5, f0_start: float = 220.0, f0_end: float = 160.0, amp: float = 0.3,
                syllables_per_s: float = 4.0, sr: int = SR, seed: int = 0) -> np.ndarray:  # fmt: skip
    """A voiced glide with syllable-like loudness bumps and a little noise: pitch trackers and the syllable nucleus
    detector find in it what they find in speech (an F0 from ``f0_start`` to ``f0_end`` Hz, ~4 nuclei a second)."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = np.geomspace(f0_start, f0_end, len(t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4))
    bumps = 0.55 + 0.45 * np.sin(np.pi * syllables_per_s * t) ** 2
    edge = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)
    noise = np.random.default_rng(seed).normal(0, 0.003, len(t))
    x = amp * voice / 2.1 * bumps * edge + noise
    return x.astype(np.float32)


def build_model(out_dir: Path, max_audio_s: float = 3.0, fit_steps: int = 0, config: dict | None = None) -> Path:
    """Build a tiny model into ``out_dir`` (:data:`TINY`, or the ``model:`` section given as ``config``); with
    ``fit_steps``, fit it to :data:`FITTED_REPLY` on a few clips."""
    from emotionthinker.config.model import ModelConfig
    from emotionthinker.model import build_tiny

    cfg = ModelConfig.model_validate({**(TINY if config is None else config), "max_audio_s": max_audio_s})
    path = build_tiny(cfg, corpus_texts(), max_audio_s, Path(out_dir))
    if fit_steps:
        _fit(path, fit_steps)
    return path


def _fit(path: Path, steps: int) -> None:
    import torch

    from emotionthinker.labels import DEFAULT_LABELS
    from emotionthinker.model import encode_batch, load
    from emotionthinker.prompts import build_messages

    torch.manual_seed(0)
    model, processor = load(path)
    clips = [speech_like(s, f0, f0 * 0.8, seed=i) for i, (s, f0) in enumerate([(1.0, 200), (1.5, 150), (2.5, 260)])]
    messages = [build_messages("clip.wav", DEFAULT_LABELS) for _ in clips]
    batch = encode_batch(processor, model.config.model_type, messages, clips, targets=[FITTED_REPLY] * len(clips))
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    model.eval()
    model.save_pretrained(path, safe_serialization=True)


def promote(home: Path, model_dir: Path, max_new_tokens: int = 16, thresholds: dict | None = None) -> str:
    """Save ``model_dir`` into the store at ``home`` and make it the promoted ``emotionthinker``; returns its tag."""
    from emotionthinker.labels import DEFAULT_LABELS
    from emotionthinker.registry import Registry

    registry = Registry(home)
    metadata = {"candidate": "tiny", "labels": list(DEFAULT_LABELS), "max_new_tokens": max_new_tokens,
                "thresholds": THRESHOLDS if thresholds is None else thresholds, "metrics": {"uar": 0.0}}  # fmt: skip
    tag = registry.save("emotionthinker", model_dir, labels={"candidate": "tiny"}, metadata=metadata)
    registry.promote("emotionthinker", tag, {"reason": "test"})
    return tag


def wav_bytes(samples: np.ndarray, sr: int = SR, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, sr, format=fmt, subtype=subtype)
    return buf.getvalue()
