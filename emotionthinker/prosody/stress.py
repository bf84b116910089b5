"""Word stress: which words of the transcript carry prominence.

Word spans come from the syllable nuclei: the transcript's syllables are laid onto the detected nuclei
in order (stretched when the counts differ), and each word spans from the boundary before its first
syllable to the boundary after its last (boundaries halfway between nuclei). A word's prominence is
the sum of z-scores, across the utterance's words, of its F0 peak (semitones), its energy peak (dB)
and its duration per syllable. Function words are not candidates.
"""

from __future__ import annotations

import numpy as np

FUNCTION_WORDS = {
    "en": set("a an the and or but of to in on at by for with from is are was were be been am it its this that "
              "these those i you he she we they me him her us them my your his our their do does did has have had "
              "will would can could shall should not no as if so than".split()),
    "de": set("der die das den dem des ein eine einen einem einer und oder aber auf in im an am zu zum zur von "
              "mit für ist sind war hat haben wird es er sie wir ihr ich du sich nicht".split()),
}  # fmt: skip


def word_prominence(
    words: list[str],
    syllables: list[int],
    nuclei_s: np.ndarray,
    times: np.ndarray,
    f0: np.ndarray,
    frame_db: np.ndarray,
    hop_s: float,
    language: str | None,
    z_threshold: float = 1.0,
) -> dict:
    """Stressed words and the per-word scores. Needs at least two candidate words and two nuclei."""
    total = sum(syllables)
    candidates = [i for i, w in enumerate(words) if w not in FUNCTION_WORDS.get((language or "")[:2], set())]
    if len(nuclei_s) < 2 or len(candidates) < 2 or total == 0:
        return {"stressed_words": [], "stress_scores": None}
    # place syllable j at nucleus round(j * (N - 1) / (S - 1)); boundaries halfway between
    n = len(nuclei_s)
    pos = np.array([nuclei_s[round(j * (n - 1) / max(total - 1, 1))] for j in range(total)])
    bounds = np.concatenate([[pos[0] - 0.15], (pos[:-1] + pos[1:]) / 2, [pos[-1] + 0.15]])
    st = 12 * np.log2(f0 / np.nanmedian(f0)) if np.isfinite(f0).any() else f0
    feats = []
    j = 0
    for k in syllables:
        lo, hi = bounds[j], bounds[j + k]
        sel = (times >= lo) & (times < hi)
        pitch_peak = np.nanmax(st[sel]) if np.isfinite(st[sel]).any() else np.nan
        f_lo, f_hi = int(lo / hop_s), max(int(lo / hop_s) + 1, int(np.ceil(hi / hop_s)))
        energy_peak = float(frame_db[max(0, f_lo) : f_hi].max()) if f_hi > max(0, f_lo) else np.nan
        feats.append((pitch_peak, energy_peak, (hi - lo) / k))
        j += k
    arr = np.array(feats, dtype=float)[candidates]
    z = np.zeros(len(candidates))
    for col in range(3):
        c = arr[:, col]
        fill = np.nanmin(c) if np.isfinite(c).any() else 0.0
        c = np.where(np.isfinite(c), c, fill)
        sd = c.std()
        z += (0.5 if col == 2 else 1.0) * ((c - c.mean()) / sd if sd > 1e-9 else 0.0)
    z /= 2.5 / np.sqrt(2.25)  # scale so the sum of the three weighted z-scores has about unit spread
    stressed = [words[candidates[i]] for i in np.argsort(-z) if z[i] >= z_threshold]
    return {"stressed_words": stressed, "stress_scores": {words[candidates[i]]: round(float(z[i]), 2)
                                                          for i in range(len(candidates))}}  # fmt: skip


def estimate_gender(f0_median: float | None, formant_dispersion: float | None = None) -> tuple[str | None, float]:
    """Gender guessed from the median F0 (and the formant dispersion when F0 is ambiguous), with a confidence.

    >>> estimate_gender(110.0)[0], estimate_gender(230.0)[0], estimate_gender(None)
    ('male', 'female', (None, 0.0))
    """
    if f0_median is None:
        return None, 0.0
    p_female = 1 / (1 + np.exp(-(f0_median - 165.0) / 12.0))
    if formant_dispersion is not None and 0.2 < p_female < 0.8:
        p_formant = 1 / (1 + np.exp(-(formant_dispersion - 1130.0) / 60.0))
        p_female = (p_female + p_formant) / 2
    gender = "female" if p_female >= 0.5 else "male"
    return gender, round(float(abs(p_female - 0.5) * 2), 3)


def age_level(age: float | None) -> str | None:
    """Age group from metadata only; never guessed from audio.

    >>> age_level(8), age_level(25), age_level(70), age_level(None)
    ('child', 'young adult', 'senior', None)
    """
    if age is None:
        return None
    for limit, name in ((13, "child"), (20, "teenager"), (36, "young adult"), (60, "adult")):
        if age < limit:
            return name
    return "senior"


def stress_agreement(pairs: list[tuple[list[str], list[str]]]) -> dict | None:
    """Precision, recall and F1 of detected stressed words against known ones, pooled over clips.

    >>> stress_agreement([(["bravo"], ["Bravo"]), (["alpha", "delta"], ["delta"]), ([], ["echo"])])
    {'clips': 3, 'precision': 0.667, 'recall': 0.667, 'f1': 0.667}
    """
    if not pairs:
        return None
    tp = fp = fn = 0
    for found, known in pairs:
        f = {w.lower().strip(".,!?;:'\"") for w in found}
        k = {w.lower().strip(".,!?;:'\"") for w in known}
        tp, fp, fn = tp + len(f & k), fp + len(f - k), fn + len(k - f)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"clips": len(pairs), "precision": round(p, 3), "recall": round(r, 3), "f1": round(f1, 3)}
