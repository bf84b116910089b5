"""The embedded synthetic corpus (espeak-ng voices with emotion-specific prosody), rendered on demand.

Options (``data.corpora[].options``): every field of :class:`~emotionthinker.config.SynthConfig`
(speakers, neutral_sentences, laden_sentences, disagree_share, variation, seed, labels) plus
``out_dir`` (where the wavs and manifest go, default ``data/synth``) and ``workers`` (render
processes, default 0 = one per CPU core). The corpus is rendered the first time and reused while the
config is unchanged. Each clip's construction facts (voice, espeak settings, pitch shift, range,
rate, gain, contour, tremor, emphasised word, content emotion, ...) travel in ``meta``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from emotionthinker.config import CorpusSpec, SynthConfig
from emotionthinker.corpora.adapters._common import bad_metadata, missing_file
from emotionthinker.corpora.base import SourceClip, SourceProblem, register

DEFAULT_OUT_DIR = Path("data/synth")


@register("synthetic")
def synthetic(spec: CorpusSpec) -> Iterator[SourceClip | SourceProblem]:
    from emotionthinker.synth import render_corpus

    options = dict(spec.options)
    out_dir = Path(options.pop("out_dir", DEFAULT_OUT_DIR)).expanduser().absolute()
    workers = int(options.pop("workers", 0))
    try:
        cfg = SynthConfig(**options)
    except ValueError as e:
        raise ValueError(f"corpus '{spec.name}': bad synthetic options: {e}") from e
    manifest = render_corpus(cfg, out_dir, workers=workers)
    with open(manifest, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                path = out_dir / rec["path"]
                label, speaker = rec["emotion"], rec["speaker"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                yield bad_metadata(manifest, f"line {n}", f"not a synthetic manifest record ({e})")
                continue
            if not path.is_file():
                yield missing_file(path, f"{manifest} line {n}")
                continue
            yield SourceClip(
                source_path=path,
                source_label=label,
                speaker=speaker,
                gender=rec.get("gender"),
                language=spec.language or rec.get("language") or "en",
                transcription=rec.get("transcription"),
                meta=rec.get("meta", {}),
                key=Path(rec["path"]).as_posix(),
            )
