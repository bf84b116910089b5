"""IEMOCAP (Interactive Emotional Dyadic Motion Capture), segmented utterances.

Layout, per session ``root/Session1`` .. ``root/Session5``:

- ``dialog/EmoEvaluation/<dialogue>.txt``: one header line per utterance,
  ``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]``
  (segment in the dialogue, utterance id, consensus label, valence/activation/dominance);
- ``dialog/transcriptions/<dialogue>.txt``: ``Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.``;
- ``sentences/wav/<dialogue>/<utterance>.wav``: the utterance audio, already cut.

The speaker of ``Ses01F_impro01_F000`` is the female actor of session 1: the first letter of the last
underscore field, so the speaker id is ``Ses01_F``. The label code (``neu``, ``exc``, ``fru``, ``xxx``,
...) is yielded as the source label. Scripted dialogues are skipped when ``options.include_scripted``
is false.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from emotionthinker.config import CorpusSpec
from emotionthinker.corpora.adapters._common import bad_metadata, corpus_root, language, missing_file, read_text
from emotionthinker.corpora.base import SourceClip, SourceProblem, register

NUM = r"(\d+(?:\.\d+)?)"
EVAL = re.compile(rf"^\[{NUM}\s*-\s*{NUM}\]\s+(\S+)\s+(\S+)\s+\[{NUM},\s*{NUM},\s*{NUM}\]\s*$")
UTT = re.compile(r"^(Ses\d{2})[FM]_(.+)_([FM])\w*$")
TRANSCRIPT = re.compile(r"^(\S+)\s+\[[\d.]+-[\d.]+\]:\s*(.*)$")


def read_transcriptions(folder: Path) -> dict[str, str]:
    """utterance id -> text, over every transcription file of a session."""
    texts: dict[str, str] = {}
    for path in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
        if path.name.startswith("."):
            continue
        for line in read_text(path).splitlines():
            m = TRANSCRIPT.match(line.strip())
            if m:
                texts[m.group(1)] = m.group(2).strip()
    return texts


def read_evaluation(
    path: Path, session_dir: Path, texts: dict[str, str], lang: str | None, scripted: bool
) -> Iterator[SourceClip | SourceProblem]:
    """The clips of one dialogue's EmoEvaluation file, with a problem for each bad line or missing wav."""
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.startswith("["):
            continue  # the per-evaluator lines and the header
        m = EVAL.match(line.strip())
        utt = UTT.match(m.group(3)) if m else None
        if not m or not utt:
            yield bad_metadata(
                path, f"line {n}", f"expected '[start - end]<TAB>utterance<TAB>label<TAB>[v, a, d]', got {line!r}"
            )
            continue
        start, end, utt_id, label, val, act, dom = m.groups()
        dialogue = utt_id.rsplit("_", 1)[0]
        if "script" in dialogue and not scripted:
            continue
        wav = session_dir / "sentences" / "wav" / dialogue / f"{utt_id}.wav"
        if not wav.is_file():
            yield missing_file(wav, f"utterance {utt_id} in {path}")
            continue
        session, gender_letter = utt.group(1), utt.group(3)
        yield SourceClip(
            source_path=wav,
            source_label=label,
            speaker=f"{session}_{gender_letter}",
            gender="female" if gender_letter == "F" else "male",
            language=lang,
            transcription=texts.get(utt_id),
            meta={
                "session": session,
                "dialogue": dialogue,
                "scripted": "script" in dialogue,
                "dialogue_start_s": float(start),
                "dialogue_end_s": float(end),
                "valence": float(val),
                "activation": float(act),
                "dominance": float(dom),
            },
        )


@register("iemocap")
def read_iemocap(spec: CorpusSpec) -> Iterator[SourceClip | SourceProblem]:
    root = corpus_root(spec)
    lang = language(spec, "en")
    scripted = bool(spec.options.get("include_scripted", True))
    for session_dir in sorted(p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"Session\d+", p.name)):
        texts = read_transcriptions(session_dir / "dialog" / "transcriptions")
        evaluations = session_dir / "dialog" / "EmoEvaluation"
        for path in sorted(evaluations.glob("*.txt")) if evaluations.is_dir() else []:
            if not path.name.startswith("."):
                yield from read_evaluation(path, session_dir, texts, lang, scripted)
