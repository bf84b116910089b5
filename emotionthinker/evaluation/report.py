"""The evaluate stage's outputs for people: the leaderboard in Markdown and the confusion matrices as pictures and as
CSV rows that ``dvc plots`` draws (template ``confusion``, x = actual, y = predicted)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from emotionthinker.evaluation.metrics import NO_ANSWER

# leaderboard columns: (key in a candidate's summary, header, format)
COLUMNS = (
    ("accuracy", "accuracy", "{:.3f}"),
    ("uar", "UAR", "{:.3f}"),
    ("macro_f1", "macro-F1", "{:.3f}"),
    ("format_rate", "format", "{:.3f}"),
    ("judge_overall", "judge (1-5)", "{:.2f}"),
    ("rm_overall", "reward model (1-5)", "{:.2f}"),
    ("rm_judge_spearman", "RM-judge ρ", "{:.2f}"),
    ("consistency", "consistency", "{:.3f}"),
    ("prosody_accuracy", "prosody perception", "{:.3f}"),
    ("ms_per_clip", "ms / clip", "{:.0f}"),
    ("tokens_per_s", "tokens / s", "{:.0f}"),
)


def _cell(value, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def write_confusion_csv(path: Path, gold: Sequence[str], pred: Sequence[str | None]) -> Path:
    """One row per clip, ``actual,predicted`` (an unparsed answer is ``(no answer)``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["actual", "predicted"])
        for g, p in zip(gold, pred, strict=True):
            w.writerow([g, NO_ANSWER if p is None else p])
    return path


def plot_confusion(path: Path, matrix: dict, title: str) -> Path:
    """A heat map of ``metrics.confusion`` counts, rows normalised to recall, counts written in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    counts = np.array(matrix["counts"], dtype=float)
    rows = counts.sum(1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(matrix["columns"]), 1.2 + 0.6 * len(matrix["rows"])))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            if counts[i, j]:
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if share[i, j] > 0.6 else "black")  # fmt: skip
    ax.set_xticks(range(len(matrix["columns"])), matrix["columns"], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(matrix["rows"])), matrix["rows"], fontsize=8)
    ax.set_xlabel("answer")
    ax.set_ylabel("gold")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _header(columns: Sequence[str]) -> str:
    return "| model | " + " | ".join(columns) + " |\n|---|" + "---:|" * len(columns)


def leaderboard(result: dict, plots_dir: str = "plots") -> str:
    """The Markdown report: the main table (candidates and the baseline), per-emotion recall, per-corpus UAR and
    the confusion matrices."""
    names = list(result["candidates"]) + ["baseline"]
    rows = {**{n: result["candidates"][n]["summary"] for n in result["candidates"]}, "baseline": result["baseline"]}
    lines = [
        "# Leaderboard",
        "",
        f"Test split: {result['data']['clips']} clips from {result['data']['corpora']} corpus(es), "
        f"{result['data']['speakers']} speakers; greedy decoding"
        + (f" at temperature {result['settings']['temperature']}" if result["settings"]["temperature"] else "")
        + f", at most {result['settings']['max_new_tokens']} new tokens. Best per column in bold.",
        "",
        "| model | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    best = {}
    for key, _, _ in COLUMNS:
        values = [rows[n].get(key) for n in names if rows[n].get(key) is not None]
        if values and key != "ms_per_clip":
            best[key] = max(values)
        elif values:
            best[key] = min(values)
    for n in names:
        cells = []
        for key, _, fmt in COLUMNS:
            text = _cell(rows[n].get(key), fmt)
            cells.append(f"**{text}**" if rows[n].get(key) is not None and rows[n].get(key) == best.get(key) else text)
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += ["", "RM-judge ρ: Spearman correlation of the reward model's and the judge's overall scores of the "
              "model's own rationales; consistency: share of rationales whose own cues support their own answer; "
              "prosody perception: mean "
              "accuracy on the test split's pitch, energy, speed, intonation and contrastive questions; baseline: "
              "logistic regression on prosodic and MFCC statistics (no rationale).", ""]  # fmt: skip

    emotions = sorted({e for n in names for e in rows[n].get("per_emotion", {})})
    lines += ["## Recall per emotion", "", _header(emotions)]
    for n in names:
        pe = rows[n].get("per_emotion", {})
        lines.append(f"| {n} | " + " | ".join(_cell(pe.get(e, {}).get("recall"), "{:.2f}") for e in emotions) + " |")
    corpora = sorted({c for n in names for c in rows[n].get("per_corpus", {})})
    if corpora:
        lines += ["", "## UAR per corpus", "", _header(corpora)]
        for n in names:
            pc = rows[n].get("per_corpus", {})
            lines.append(f"| {n} | " + " | ".join(_cell(pc.get(c, {}).get("uar"), "{:.3f}") for c in corpora) + " |")
    lines += ["", "## Confusion matrices", ""]
    for n in names:
        lines.append(f"![{n}](../{plots_dir}/confusion_{n}.png)")
    return "\n".join(lines) + "\n"
