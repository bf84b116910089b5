"""Prosody speed and F0 agreement against a librosa pYIN reference, on the same clips, in one run.

    python benchmarks/prosody.py --manifest ../shared/data/emodb/manifest.csv --clips 120

For each clip (16 kHz mono): our whole feature set (both pitch passes, activity, levels, rate, voice
quality, contour, stress, speaker traits), and a reference that tracks pitch only, with pYIN in two
passes (55-500 Hz, then an octave around the speaker's median from the first pass). Prints audio
seconds per CPU second of each (one process, so per core), the speed ratio, and the disagreement of
the two median F0 values over clips where both are reliable.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections import defaultdict
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from emotionthinker.audio import normalise
from emotionthinker.config import ProsodyConfig
from emotionthinker.prosody.features import extract, speaker_f0_median

SR = 16000


def read_manifest(path: Path) -> list[dict]:
    if path.suffix == ".csv":
        rows = list(csv.DictReader(path.open()))
    else:
        rows = [json.loads(line) for line in path.open() if line.strip()]
    for r in rows:
        p = Path(r.get("audio_path") or r["path"])
        r["path"] = str(p if p.is_absolute() else path.parent / p)
    return rows


def pyin_median(x: np.ndarray, fmin: float, fmax: float) -> float | None:
    f0, voiced, _ = librosa.pyin(x, fmin=fmin, fmax=fmax, sr=SR, frame_length=1024, hop_length=160)
    v = f0[voiced & np.isfinite(f0)]
    return float(np.median(v)) if len(v) >= 5 else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, default=Path("../shared/data/emodb/manifest.csv"))
    ap.add_argument("--clips", type=int, default=120, help="clips to measure (evenly spread over the manifest)")
    args = ap.parse_args()
    rows = read_manifest(args.manifest)
    rows = [rows[i] for i in np.linspace(0, len(rows) - 1, min(args.clips, len(rows))).astype(int)]
    audio = {}
    for r in rows:
        x, sr = sf.read(r["path"], dtype="float32", always_2d=True)
        audio[r["path"]] = normalise(x, sr, SR)
    seconds = sum(len(x) for x in audio.values()) / SR
    cfg = ProsodyConfig()

    # ours: pass 1 per clip, speaker medians, pass 2 with everything
    t0 = time.process_time()
    first = {r["path"]: speaker_f0_median(audio[r["path"]], SR, cfg) for r in rows}
    spk = defaultdict(list)
    for r in rows:
        if first[r["path"]]:
            spk[r.get("speaker")].append(first[r["path"]])
    ours = {}
    for r in rows:
        med = float(np.median(spk[r.get("speaker")])) if spk[r.get("speaker")] else None
        ours[r["path"]] = extract(audio[r["path"]], SR, cfg, r.get("transcription"), r.get("language"),
                                  r.get("gender") or None, None, med)  # fmt: skip
    t_ours = time.process_time() - t0

    # reference: pYIN, two passes
    t0 = time.process_time()
    ref1 = {p: pyin_median(x, 55, 500) for p, x in audio.items()}
    rspk = defaultdict(list)
    for r in rows:
        if ref1[r["path"]]:
            rspk[r.get("speaker")].append(ref1[r["path"]])
    ref = {}
    for r in rows:
        m = float(np.median(rspk[r.get("speaker")])) if rspk[r.get("speaker")] else None
        ref[r["path"]] = pyin_median(audio[r["path"]], max(40, m / 2), min(1000, m * 2)) if m else None
    t_ref = time.process_time() - t0

    pairs = [(ours[p]["f0_median_hz"], ref[p]) for p in audio if ours[p].get("f0_reliable") and ref[p]]
    dis = np.array([abs(a - b) / b for a, b in pairs])
    print(f"clips: {len(rows)} ({seconds:.1f} s of audio) from {args.manifest}")
    print(f"{'extractor':<44}{'CPU s':>9}{'audio s / CPU s':>18}")
    print(f"{'ours: whole feature set (Praat ac, 2 passes)':<44}{t_ours:>9.2f}{seconds / t_ours:>18.1f}")
    print(f"{'reference: pYIN F0 only (2 passes)':<44}{t_ref:>9.2f}{seconds / t_ref:>18.1f}")
    print(f"speed ratio ours / reference: {t_ref / t_ours:.1f}x")
    print(f"median F0 disagreement over {len(pairs)} clips both call reliable: median {100 * np.median(dis):.2f}%, "
          f"p90 {100 * np.percentile(dis, 90):.2f}%, share > 10%: {100 * np.mean(dis > 0.1):.1f}%")  # fmt: skip


if __name__ == "__main__":
    main()
