"""Speaking rate from syllable nuclei, in the manner of de Jong & Wempe (2009), and from the transcript.

Nuclei are peaks of a smoothed intensity contour that stand out from the clip's loud frames (within
25 dB of its 99th percentile), are separated from the previous peak by a dip of at least 2 dB, and
fall on voiced frames. Language-independent: no transcript is needed.

Rate with pauses = nuclei / clip duration; articulation rate = nuclei / speech time.
"""

from __future__ import annotations

import re

import numpy as np
from scipy.signal import find_peaks

from emotionthinker.prosody.energy import frame_power, to_db

_VOWELS = {
    "en": "aeiouy",
    "de": "aeiouyäöü",
    "nl": "aeiouy",
    "fr": "aeiouyéèêëàâîïôûùü",
    "es": "aeiouáéíóúü",
    "it": "aeiouàèéìíòóù",
    "pt": "aeiouáâãàéêíóôõú",
}
KNOWN_LANGUAGES = tuple(_VOWELS)


def syllable_nuclei(
    x: np.ndarray,
    sr: int,
    voiced_at: np.ndarray,
    hop_s: float = 0.01,
    silence_db: float = 25.0,
    min_dip_db: float = 2.0,
) -> np.ndarray:
    """Times (s) of syllable nuclei. ``voiced_at`` is a bool per ``hop_s`` frame."""
    db = to_db(frame_power(x, sr, hop_s, 0.05))
    threshold = float(np.percentile(db, 99)) - silence_db
    peaks, _ = find_peaks(db, height=threshold)
    kept: list[int] = []
    for p in peaks:
        if kept:
            dip = float(db[kept[-1] : p + 1].min())
            if min(db[kept[-1]], db[p]) - dip < min_dip_db:
                if db[p] > db[kept[-1]]:
                    kept[-1] = p  # same syllable: keep the louder peak
                continue
        kept.append(p)
    if voiced_at is None:
        return np.asarray(kept, dtype=float) * hop_s
    near = 2  # frames: a peak within 20 ms of voicing counts as voiced
    voiced = [p for p in kept if voiced_at[max(0, p - near) : p + near + 1].any()]
    return np.asarray(voiced, dtype=float) * hop_s


def _silent_e(word: str) -> bool:
    """Whether the last vowel group of an English word is a silent e: final -e (not -le, -ee, -ye), -ely, the -ed of a
    past tense not after t or d, and the -es of a plural or verb not after a sibilant (s, x, z, ch, sh, ce, ge)."""
    if word.endswith("ely") or (word.endswith("e") and not word.endswith(("le", "ee", "ye"))):
        return True
    if word.endswith("ed"):
        return not word.endswith(("ted", "ded", "eed"))
    if word.endswith("es"):
        return not word.endswith(("ses", "xes", "zes", "ches", "shes", "ces", "ges", "ies", "les", "ees"))
    return False


def count_syllables(text: str, language: str | None) -> tuple[list[str], list[int]] | None:
    """Words of ``text`` and their syllable counts from vowel groups, or None for an unknown language.

    >>> count_syllables("The weather is lovely today.", "en")
    (['the', 'weather', 'is', 'lovely', 'today'], [1, 2, 1, 2, 2])
    >>> count_syllables("He walked home, wanted rest and lives on; boxes, parties, tables.", "en")[1]
    [1, 1, 1, 2, 1, 1, 1, 1, 2, 2, 2]
    >>> count_syllables("Der Lappen liegt auf dem Eisschrank.", "de")[1]
    [1, 2, 1, 1, 1, 2]
    """
    lang = (language or "").split("-")[0].lower()
    if lang not in _VOWELS:
        return None
    vowels = _VOWELS[lang]
    words = [w for w in re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text.lower())]
    counts = []
    for w in words:
        n = len(re.findall(f"[{vowels}]+", w))
        if lang == "en" and n > 1 and _silent_e(w):
            n -= 1  # "make", "walked" and "lives" have one syllable; "lovely", "wanted" and "boxes" two
        counts.append(max(1, n))
    return words, counts
