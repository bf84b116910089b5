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
