"""The calibration plot: where the measurements sit, and how levels spread over emotions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_calibration(features: list[dict], labels: list[dict], path: Path) -> Path:
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for ax, key, unit, group in (
        (axes[0, 0], "f0_median_hz", "median F0 (Hz), reliable clips", "gender"),
        (axes[0, 1], "active_level_dbfs", "active speech level (dBFS)", "corpus"),
        (axes[0, 2], "articulation_rate_syl_s", "articulation rate (syllables/s)", "corpus"),
    ):
        for g in sorted({str(f.get(group)) for f in features}):
            v = [f[key] for f in features if str(f.get(group)) == g and f.get(key) is not None
                 and (key != "f0_median_hz" or f.get("f0_reliable"))]  # fmt: skip
            if v:
                ax.hist(v, bins=30, alpha=0.6, label=f"{g} (n={len(v)})")
        ax.set_xlabel(unit)
        ax.legend(fontsize=8)
    emotions = sorted({str(r.get("emotion")) for r in labels})
    for ax, key in ((axes[1, 0], "pitch_level"), (axes[1, 1], "energy_level"), (axes[1, 2], "speed_level")):
        levels = [
            lv for lv in ("very low", "low", "medium", "high", "very high") if any(r.get(key) == lv for r in labels)
        ]
        bottom = np.zeros(len(emotions))
        for lv in levels:
            share = []
            for e in emotions:
                c = Counter(r.get(key) for r in labels if str(r.get("emotion")) == e)
                share.append(c[lv] / max(1, sum(c.values())))
            ax.bar(emotions, share, bottom=bottom, label=lv)
            bottom += np.array(share)
        ax.set_title(key.replace("_", " ") + " by emotion")
        ax.tick_params(axis="x", rotation=60, labelsize=8)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
