"""What a SpeechLLM's audio tokens carry: linear probes of each prosody task on the frozen encoder + projector.

    python benchmarks/audio_probe.py                                  # models/base on data/
    python benchmarks/audio_probe.py --path checkpoints/sft/init      # the tiny model right after the warm-up
    python benchmarks/audio_probe.py --path A --path B                # two models side by side

For every attribute task (pitch, energy, speed, intonation) a logistic regression reads the answer from the mean of
a clip's audio tokens; for contrastive pairs, per kind, from the mean of the tokens and from the difference of the
means of the first and second halves (the comparison the language model has to make). Fitted on train, scored on
train and val: the val figure is about what the language model could reach by reading the tokens linearly, the
reference its SFT accuracy (metrics/sft.json) is set against. Then the F0 a ridge regression reads from the pooled
tokens, its error in semitones per val speaker: a bias per speaker says the encoder hears the voice, not the pitch.

Last, the ceiling that error sets. Pitch and speed levels are cuts of one measured value (F0 per corpus and gender,
the syllable rate per corpus; data/thresholds.json), so a reader whose estimate of the value is off by a log error
of SD s gets a val clip's level right with a probability that depends only on s and how far the clip lies from the
cuts. Per model: the val log error of a ridge read-out of the value, the accuracy that error allows on the val
clips (a well-calibrated reader, Gaussian errors), the largest error that still allows 0.75, and each val
speaker's mean log error and its SD (on the default corpus every val speaker's rate reads slow). A language model
near that figure reads the value about as precisely as the linear read-out; to go past it, it must read the tokens
more precisely than a linear map does, or the encoder must carry the value with a smaller error.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from emotionthinker.audio import load as load_audio
from emotionthinker.model import load
from emotionthinker.records import read_jsonl
from emotionthinker.training.warmup import ProsodyProbe

ATTRIBUTES = ("pitch", "energy", "speed", "intonation")
KINDS = ("pitch", "speed", "energy")


class Tokens:
    """The audio tokens of a model per clip, cached: (mean of all, mean of first half - mean of second half)."""

    def __init__(self, path: Path):
        model, processor = load(path, device="cpu")
        model.eval()
        self.fe = processor.feature_extractor
        self.probe = ProsodyProbe(model, 1)
        self.cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, audio_path: str) -> tuple[np.ndarray, np.ndarray]:
        if audio_path not in self.cache:
            x = load_audio(Path(audio_path), self.fe.sampling_rate)
            f = self.fe([x], sampling_rate=self.fe.sampling_rate, return_attention_mask=True, padding="max_length",
                        return_tensors="pt")  # fmt: skip
            with torch.no_grad():
                hidden, n = self.probe.tokens(f["input_features"], f["attention_mask"])
            h = hidden[0, : int(n[0])].numpy()
            mid = len(h) // 2
            self.cache[audio_path] = (h.mean(0), h[:mid].mean(0) - h[mid:].mean(0))
        return self.cache[audio_path]


def _classify(tokens: Tokens, rows: list[dict], view: int) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = {s: [r for r in rows if r["split"] == s] for s in ("train", "val")}
    x = {s: np.stack([tokens(r["audio_path"])[view] for r in v]) for s, v in data.items()}
    y = {s: [r["answer"] for r in v] for s, v in data.items()}
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)).fit(x["train"], y["train"])
    return clf.score(x["train"], y["train"]), clf.score(x["val"], y["val"])


def task_probes(tokens: Tokens, data_dir: Path) -> dict[str, tuple[float, float]]:
    out = {}
    for task in ATTRIBUTES:
        rows = [r for r in read_jsonl(data_dir / "sft_tasks" / f"{task}.jsonl") if r["split"] != "test"]
        out[task] = _classify(tokens, rows, 0)
    pairs = [r for r in read_jsonl(data_dir / "sft_tasks" / "contrastive.jsonl") if r["split"] != "test"]
    for kind in KINDS:
        rows = [r for r in pairs if r["meta"]["kind"] == kind]
        out[f"contrastive {kind}, pooled"] = _classify(tokens, rows, 0)
        out[f"contrastive {kind}, halves"] = _classify(tokens, rows, 1)
    return out


LEVELS = ("pitch", "speed")
ST_PER_LOG = 12 / np.log(2)  # semitones per natural-log unit of F0


def level_accuracy(values: np.ndarray, cuts: np.ndarray, sigma: float) -> float:
    """Mean probability that ``log(value) + N(0, sigma)`` falls in the value's own level, given each clip's log
    ``cuts`` (one row per clip): what a calibrated reader with that log error scores.

    >>> round(level_accuracy(np.log([1.0, 4.0]), np.log([[2.0, 3.0]] * 2), 1e-6), 3)
    1.0
    >>> round(level_accuracy(np.log([2.0]), np.log([[2.0, 3.0]]), 0.1), 2)  # on a cut: a coin toss
    0.5
    """
    from scipy.stats import norm

    edges = np.concatenate([np.full((len(cuts), 1), -np.inf), cuts, np.full((len(cuts), 1), np.inf)], axis=1)
    k = (values[:, None] >= cuts).sum(axis=1)
    rows = np.arange(len(values))
    hi, lo = edges[rows, k + 1], edges[rows, k]
    return float(np.mean(norm.cdf((hi - values) / sigma) - norm.cdf((lo - values) / sigma)))


def level_ceilings(tokens: Tokens, data_dir: Path) -> dict[str, dict]:
    """Per level (pitch, speed): the train and val log error of a ridge read-out of the value from the pooled tokens,
    the val accuracy that error allows, the largest error that allows 0.75, and per val speaker the mean error
    (bias) and its SD: biases of one sign say the encoder reads new voices off, not noisily."""
    from sklearn.linear_model import Ridge

    from emotionthinker.prosody.calibrate import value_and_cuts

    thresholds = json.loads((data_dir / "thresholds.json").read_text())
    features = {f["utt_id"]: f for f in read_jsonl(data_dir / "features.jsonl")}
    rows = [r for r in read_jsonl(data_dir / "manifest.jsonl") if r["split"] != "test" and r["utt_id"] in features]
    out = {}
    for level in LEVELS:
        x, y, cuts, train, speakers = [], [], [], [], []
        for r in rows:
            value, level_cuts = value_and_cuts(features[r["utt_id"]], thresholds, level)
            if not value:
                continue
            x.append(tokens(r["audio_path"])[0])
            y.append(np.log(value))
            cuts.append(np.log(level_cuts))
            train.append(r["split"] == "train")
            speakers.append(r.get("speaker", "?"))
        x, y, cuts, train, speakers = np.stack(x), np.array(y), np.array(cuts), np.array(train), np.array(speakers)
        err = Ridge(alpha=1.0).fit(x[train], y[train]).predict(x) - y
        s_val = float(np.sqrt(np.mean(err[~train] ** 2)))
        grid = np.arange(0.005, 0.5, 0.0025)
        allowed = [s for s in grid if level_accuracy(y[~train], cuts[~train], s) >= 0.75]
        out[level] = {
            "log_error_train": float(np.sqrt(np.mean(err[train] ** 2))),
            "log_error_val": s_val,
            "ceiling_val": level_accuracy(y[~train], cuts[~train], s_val),
            "error_for_0.75": float(max(allowed)) if allowed else None,
            "val_speakers": {
                spk: {"n": int(m.sum()), "bias": float(err[m].mean()), "sd": float(err[m].std())}
                for spk in sorted(set(speakers[~train]))
                for m in [(speakers == spk) & ~train]
            },
        }
    return out


def _cell(fmt: str, *values: float) -> str:
    return f"{fmt.format(*values):>30}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--path", type=Path, action="append", help="model folder (repeat to compare; default models/base)")
    ap.add_argument("--data-dir", type=Path, default=Path("data"), help="folder with sft_tasks/, manifest, features")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    paths = args.path or [Path("models/base")]
    for p in paths:
        if not (p / "config.json").exists():
            raise SystemExit(f"{p}: no model there (config.json missing); run the sft stage or pass --path")
    results = {}
    for p in paths:
        tokens = Tokens(p)
        results[str(p)] = {"tasks": task_probes(tokens, args.data_dir),
                           "ceilings": level_ceilings(tokens, args.data_dir)}  # fmt: skip
    names = list(results)
    print(f"{'linear probe (train / val accuracy)':34}" + "".join(f"{n[-28:]:>30}" for n in names))
    for task in results[names[0]]["tasks"]:
        print(f"{task:34}" + "".join(_cell("{:.3f} / {:.3f}", *results[n]["tasks"][task]) for n in names))
    pitch = [results[n]["ceilings"]["pitch"] for n in names]  # F0 in semitones: the pitch read-out's log error
    for key in ("log_error_train", "log_error_val"):
        print(f"{'F0 rmse ' + key[10:] + ' (st)':34}" + "".join(_cell("{:.2f}", c[key] * ST_PER_LOG) for c in pitch))
    for speaker in pitch[0]["val_speakers"]:
        cells = [c["val_speakers"].get(speaker) for c in pitch]
        st = [(c["bias"] * ST_PER_LOG, c["sd"] * ST_PER_LOG) if c else None for c in cells]
        line = "".join(_cell("{:+.2f} / {:.2f} st", *v) if v else _cell("-") for v in st)
        print(f"{'F0 bias / sd, ' + speaker:34}" + line)
    for level in LEVELS:
        cells = [results[n]["ceilings"][level] for n in names]
        print(
            f"{level + ' log error train / val':34}"
            + "".join(_cell("{:.3f} / {:.3f}", c["log_error_train"], c["log_error_val"]) for c in cells)
        )
        print(f"{level + ' ceiling at that val error':34}" + "".join(_cell("{:.3f}", c["ceiling_val"]) for c in cells))
        print(
            f"{level + ' largest error for 0.75':34}"
            + "".join(_cell("{:.3f}", c["error_for_0.75"]) if c["error_for_0.75"] else _cell("-") for c in cells)
        )
        if level == "speed":  # pitch's are the F0 biases above, in semitones
            for speaker in cells[0]["val_speakers"]:
                by = [c["val_speakers"].get(speaker) for c in cells]
                line = "".join(_cell("{:+.3f} / {:.3f}", b["bias"], b["sd"]) if b else _cell("-") for b in by)
                print(f"{level + ' bias / sd, ' + speaker:34}" + line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
