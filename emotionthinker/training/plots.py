"""Charts of the sft stage."""

from __future__ import annotations

from pathlib import Path

STAGES = (("before", "before SFT"), ("after_prosody", "after prosody SFT"), ("after_cold_start", "after cold start"),
          ("majority", "majority class"))  # fmt: skip


def plot_sft_eval(table: dict, path: Path) -> Path:
    """Grouped bars: each task's metric before SFT, after each phase and for the majority class (val split), with the
    95% interval of the trained models' accuracies as error bars where the table has one (``ci95``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tasks = list(table)
    x = np.arange(len(tasks))
    width = 0.8 / len(STAGES)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(tasks) + 2), 4.0))
    for i, (key, name) in enumerate(STAGES):
        values = np.array([table[t].get(key, np.nan) for t in tasks], dtype=float)
        lo_hi = np.array([(table[t].get("ci95") or {}).get(key, (np.nan, np.nan)) for t in tasks], dtype=float)
        errors = np.abs(lo_hi.T - values) if np.isfinite(lo_hi).any() else None
        ax.bar(x + (i - (len(STAGES) - 1) / 2) * width, values, width, label=name, yerr=errors, capsize=2,
               error_kw={"elinewidth": 0.8})  # fmt: skip
    ax.set_xticks(x, [f"{t}\n({table[t]['metric']})" for t in tasks], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score on val")
    ax.set_title("Prosody perception and emotion reasoning, before and after SFT (error bars: 95% interval)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
