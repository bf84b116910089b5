"""benchmarks/audio_probe.py's level ceiling: the accuracy a reader with a given log error can reach."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("audio_probe", REPO / "benchmarks" / "audio_probe.py")
audio_probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audio_probe)


def test_level_accuracy_matches_a_simulated_noisy_reader():
    rng = np.random.default_rng(0)
    values = np.log(rng.uniform(3.0, 6.0, 400))  # syllable rates
    cuts = np.log(np.tile([4.0, 4.9], (400, 1)))
    sigma = 0.12
    noisy = values[None, :] + rng.normal(0.0, sigma, (2000, 400))
    level = lambda v: (v[..., None] >= cuts).sum(-1)  # noqa: E731
    simulated = float((level(noisy) == level(values)[None, :]).mean())
    assert audio_probe.level_accuracy(values, cuts, sigma) == pytest.approx(simulated, abs=0.005)
    assert audio_probe.level_accuracy(values, cuts, 1e-6) == pytest.approx(1.0)
    # a larger error can only cost accuracy, and a clip on a cut is a coin toss at any error
    assert audio_probe.level_accuracy(values, cuts, 0.2) < audio_probe.level_accuracy(values, cuts, 0.1)
    assert audio_probe.level_accuracy(np.log([4.0]), np.log([[4.0, 4.9]]), 0.05) == pytest.approx(0.5, abs=0.01)


class _OffsetTokens:
    """Pooled 'tokens' that carry log F0 and log rate exactly, except that each val speaker's read slow by its own
    offset: what an encoder that hears new voices off would give."""

    def __init__(self, truth: dict[str, tuple[float, float]], offsets: dict[str, float]):
        self.truth, self.offsets = truth, offsets

    def __call__(self, audio_path: str):
        log_f0, log_rate, speaker = self.truth[audio_path]
        return np.array([10 * log_f0, 10 * (log_rate + self.offsets.get(speaker, 0.0)), 1.0]), None


def test_level_ceilings_report_each_val_speakers_bias(tmp_path):
    import json

    rng = np.random.default_rng(1)
    manifest, features, truth = [], [], {}
    offsets = {"v1": -0.10, "v2": 0.05}
    for speaker, split in [*((f"t{i}", "train") for i in range(6)), ("v1", "val"), ("v2", "val")]:
        for k in range(20):
            uid = f"{speaker}_{k}"
            f0, rate = float(rng.uniform(100, 250)), float(rng.uniform(3.0, 6.0))
            manifest.append({"utt_id": uid, "audio_path": f"{uid}.wav", "split": split, "speaker": speaker})
            features.append({"utt_id": uid, "corpus": "c", "gender": "female", "f0_median_hz": f0,
                             "f0_reliable": True, "speed_syl_s": rate})  # fmt: skip
            truth[f"{uid}.wav"] = (np.log(f0), np.log(rate), speaker)
    for name, rows in (("manifest", manifest), ("features", features)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    thresholds = {f: {"pooled": cuts, "groups": {}} for f, cuts in (("pitch", [140.0, 190.0]), ("speed", [4.0, 5.0]))}
    (tmp_path / "thresholds.json").write_text(json.dumps(thresholds))
    out = audio_probe.level_ceilings(_OffsetTokens(truth, offsets), tmp_path)
    speed = out["speed"]["val_speakers"]
    assert set(speed) == {"v1", "v2"} and speed["v1"]["n"] == 20
    assert speed["v1"]["bias"] == pytest.approx(-0.10, abs=0.01)
    assert speed["v2"]["bias"] == pytest.approx(0.05, abs=0.01)
    assert speed["v1"]["sd"] < 0.01 and out["speed"]["log_error_train"] < 0.01
    assert all(abs(b["bias"]) < 0.01 for b in out["pitch"]["val_speakers"].values())  # F0 is read exactly
    assert out["speed"]["ceiling_val"] < out["pitch"]["ceiling_val"]
