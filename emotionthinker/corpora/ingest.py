"""Turn the configured corpora into one clean, labelled, speaker-split manifest.

For every corpus: the adapter lists clips; labels are mapped onto the configured set; audio is
decoded, checked and normalised (mono, 16 kHz, DC removed) in worker processes and written to
``<audio_dir>/<corpus>/<utt_id>.wav``; clips that cannot be used go to quarantine with a reason; the
remaining speakers are split train/val/test. Work on a clip whose source and settings are unchanged
since the last run is skipped: ``<audio_dir>/.ingest_cache.json`` keys each clip by its source file's size and
mtime, which differ between machines, so ``.dvcignore`` keeps that file out of the DVC hash of ``data/audio``.
Paths in the records are relative to the repository root where the file lies inside it, so that a clone
elsewhere writes the same manifest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from emotionthinker import audio
from emotionthinker.config import AudioLimits, CorpusSpec, DataConfig
from emotionthinker.corpora.base import SourceClip, SourceProblem, get_adapter
from emotionthinker.corpora.splits import assign_splits
from emotionthinker.labels import LabelSet

log = logging.getLogger(__name__)
CACHE_NAME = ".ingest_cache.json"
MANIFEST_FIELDS = (
    "utt_id", "corpus", "audio_path", "source_path", "duration_s", "emotion", "source_label", "speaker",
    "gender", "age", "language", "transcription", "split", "meta",
)  # fmt: skip


class IngestError(RuntimeError):
    """A problem with the whole run (not one clip): nothing usable came out of a corpus."""


def utt_id(corpus: str, source_key: str) -> str:
    """Stable id: the corpus name and a hash of the clip's source path relative to its corpus.

    >>> utt_id("emodb", "03a01Fa.wav")
    'emodb_3905c48e8410'
    """
    return f"{corpus}_{hashlib.sha1(f'{corpus}|{source_key}'.encode()).hexdigest()[:12]}"


def _source_key(clip: SourceClip, spec: CorpusSpec) -> str:
    """What a clip's utt_id hashes: its path relative to the corpus root (or the manifest's folder, or the clip's own
    ``key``), plus its segment; an absolute path only when there is none of those."""
    base = spec.root or (Path(spec.manifest).parent if spec.manifest else None)
    path = Path(clip.source_path)
    key = clip.key or str(path)
    if base is not None and not clip.key:
        try:
            key = path.resolve().relative_to(Path(base).expanduser().resolve()).as_posix()
        except ValueError:
            pass
    if clip.start_s is not None or clip.end_s is not None:
        key += f"#{clip.start_s}-{clip.end_s}"
    return key


def _speaker_id(corpus: str, speaker: str, uid: str) -> str:
    if not speaker:
        return f"{corpus}_unknown_{uid[-6:]}"  # no speaker known: the clip stands alone
    return speaker if speaker.startswith(f"{corpus}_") else f"{corpus}_{speaker}"


@dataclass
class _Job:
    utt_id: str
    source_path: str
    start_s: float | None
    end_s: float | None
    out_path: str
    limits: AudioLimits


def _signature(path: str, limits: AudioLimits, start_s: float | None, end_s: float | None) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return hashlib.sha1(
        f"{st.st_size}|{st.st_mtime_ns}|{limits.model_dump_json()}|{start_s}|{end_s}".encode()
    ).hexdigest()


def _process(job: _Job) -> tuple[str, float | None, str | None, str | None]:
    """Decode, check, normalise and write one clip. Returns (utt_id, duration, reason, message)."""
    try:
        samples, sr = audio.decode(job.source_path, job.start_s, job.end_s)
        problem = audio.check_clip(samples, sr, job.limits)
        if problem:
            return job.utt_id, None, problem.reason, problem.message
        clean = audio.normalise(samples, sr, job.limits.sample_rate)
        audio.write_wav(Path(job.out_path), clean, job.limits.sample_rate)
        return job.utt_id, len(clean) / job.limits.sample_rate, None, None
    except audio.AudioProblem as e:
        return job.utt_id, None, e.reason, e.message
    except Exception as e:  # noqa: BLE001 - one bad file must not stop the corpus; the reason is kept
        return job.utt_id, None, "unreadable", f"{type(e).__name__}: {e}"


def _relative(path: Path, repo_root: Path) -> str:
    """``path`` relative to ``repo_root`` if it lies inside it, else absolute."""
    try:
        return path.resolve().relative_to(repo_root.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


@dataclass
class IngestResult:
    manifest: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    metrics: dict[str, Any]


def ingest(cfg: DataConfig, audio_dir: Path, repo_root: Path = Path("."), progress: bool = True) -> IngestResult:
    """Run every corpus of ``cfg`` into records; writes audio under ``audio_dir``, returns the records."""
    labels = LabelSet(tuple(cfg.labels.set), tuple(cfg.labels.extra))
    audio_dir = Path(audio_dir)
    cache_path = audio_dir / CACHE_NAME
    cache: dict[str, dict] = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    records: dict[str, dict[str, Any]] = {}
    quarantine: list[dict[str, Any]] = []
    jobs: list[_Job] = []
    dropped_labels: Counter = Counter()

    def quarantine_one(uid: str, corpus: str, source: object, reason: str, message: str) -> None:
        hint = audio.REASONS.get(reason, "")
        source = Path(str(source))  # an adapter's path, or a record's (already repo-relative)
        quarantine.append(
            {
                "utt_id": uid,
                "corpus": corpus,
                "source_path": _relative(source, repo_root) if source.is_absolute() else source.as_posix(),
                "reason": reason,
                "message": f"{message}; fix: {hint}" if hint else message,
            }  # fmt: skip
        )

    for spec in cfg.corpora:
        log.info("listing corpus %s (%s)", spec.name, spec.format)
        seen: set[str] = set()
        for item in get_adapter(spec.format)(spec):
            if isinstance(item, SourceProblem):
                uid = utt_id(spec.name, str(item.source_path))
                quarantine_one(uid, spec.name, item.source_path, item.reason, item.message)
                continue
            uid = utt_id(spec.name, _source_key(item, spec))
            if uid in seen:
                continue  # the same clip listed twice (e.g. in two metadata files)
            seen.add(uid)
            emotion = labels.resolve(item.source_label, spec.format, spec.label_map)
            if emotion is None:
                dropped_labels[(spec.name, item.source_label)] += 1
                quarantine_one(
                    uid, spec.name, item.source_path, "unmapped_label",
                    f"{_relative(Path(item.source_path), repo_root)}: label '{item.source_label}' has no mapping onto "
                    f"{list(labels.all)}",
                )  # fmt: skip
                continue
            out_path = audio_dir / spec.name / f"{uid}.wav"
            records[uid] = {
                "utt_id": uid, "corpus": spec.name, "audio_path": _relative(out_path, repo_root),
                "source_path": _relative(Path(item.source_path), repo_root), "duration_s": None, "emotion": emotion,
                "source_label": item.source_label, "speaker": _speaker_id(spec.name, item.speaker, uid),
                "gender": item.gender, "age": item.age, "language": item.language or spec.language,
                "transcription": item.transcription, "split": None, "meta": item.meta,
            }  # fmt: skip
            jobs.append(_Job(uid, str(item.source_path), item.start_s, item.end_s, str(out_path), cfg.audio))

    # skip clips whose source file and audio settings are unchanged and whose output still exists
    todo, new_cache = [], {}
    for job in jobs:
        sig = _signature(job.source_path, job.limits, job.start_s, job.end_s)
        hit = cache.get(job.utt_id)
        if sig and hit and hit.get("sig") == sig and (hit.get("duration_s") is None or Path(job.out_path).exists()):
            new_cache[job.utt_id] = hit
        else:
            todo.append((job, sig))
    log.info(
        "%d clips listed, %d unchanged since the last run, %d to decode", len(jobs), len(jobs) - len(todo), len(todo)
    )

    workers = cfg.workers or os.cpu_count() or 1
    results = []
    if todo:
        bar = tqdm(total=len(todo), desc="decoding", unit="clip", disable=not progress)
        if workers == 1 or len(todo) < 8:
            for job, _ in todo:
                results.append(_process(job))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for r in pool.map(_process, [j for j, _ in todo], chunksize=8):
                    results.append(r)
                    bar.update()
        bar.close()
    for (_job, sig), (uid, duration, reason, message) in zip(todo, results, strict=True):
        new_cache[uid] = {"sig": sig, "duration_s": duration, "reason": reason, "message": message}

    for uid, entry in new_cache.items():
        rec = records[uid]
        if entry["reason"]:
            quarantine_one(
                uid, rec["corpus"], rec["source_path"], entry["reason"], f"{rec['source_path']}: {entry['message']}"
            )
            del records[uid]
        else:
            rec["duration_s"] = round(entry["duration_s"], 4)

    by_corpus: dict[str, list[tuple[str, str]]] = {}
    for rec in records.values():
        by_corpus.setdefault(rec["corpus"], []).append((rec["speaker"], rec["emotion"]))
    for spec in cfg.corpora:
        if spec.name not in by_corpus:
            reasons = Counter(q["reason"] for q in quarantine if q["corpus"] == spec.name)
            raise IngestError(
                f"corpus '{spec.name}' ({spec.format}, {spec.root or spec.manifest or 'synthetic'}) yielded no usable "
                f"clip; quarantined by reason: {dict(reasons) or 'nothing found'}. Check its path and format in "
                "params.yaml data.corpora"
            )
    forced = {s.name: [_speaker_id(s.name, t, "") for t in s.test_speakers] for s in cfg.corpora}
    splits = assign_splits(by_corpus, cfg.split.val, cfg.split.test, cfg.split.seed, forced)
    for rec in records.values():
        rec["split"] = splits[rec["corpus"]][rec["speaker"]]

    _prune(audio_dir, {Path(j.out_path).name for j in jobs if j.utt_id in records})
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache_path.write_text(json.dumps(new_cache, sort_keys=True))

    manifest = sorted(records.values(), key=lambda r: (r["corpus"], r["split"], r["speaker"], r["utt_id"]))
    quarantine.sort(key=lambda q: (q["corpus"], q["reason"], q["utt_id"]))
    return IngestResult(manifest, quarantine, summarise(manifest, quarantine, len(todo)))


def _prune(audio_dir: Path, keep: set[str]) -> None:
    """Delete normalised copies of clips that are no longer in the manifest, so the folder matches it."""
    for path in audio_dir.glob("*/*.wav"):
        if path.name not in keep:
            path.unlink()


def summarise(manifest: Iterable[dict], quarantine: Iterable[dict], decoded: int = 0) -> dict[str, Any]:
    manifest, quarantine = list(manifest), list(quarantine)
    per_corpus: dict[str, Any] = {}
    for rec in manifest:
        c = per_corpus.setdefault(
            rec["corpus"], {"clips": 0, "speakers": set(), "hours": 0.0, "split": Counter(), "emotion": Counter()}
        )
        c["clips"] += 1
        c["speakers"].add(rec["speaker"])
        c["hours"] += rec["duration_s"] / 3600
        c["split"][rec["split"]] += 1
        c["emotion"][rec["emotion"]] += 1
    split_emotion: dict[str, Counter] = {}
    for rec in manifest:
        split_emotion.setdefault(rec["split"], Counter())[rec["emotion"]] += 1
    return {
        "clips": len(manifest),
        "quarantined": len(quarantine),
        "decoded_this_run": decoded,
        "hours": round(sum(r["duration_s"] for r in manifest) / 3600, 4),
        "quarantined_by_reason": dict(sorted(Counter(q["reason"] for q in quarantine).items())),
        "split": {s: sum(v.values()) for s, v in sorted(split_emotion.items())},
        "split_emotion": {s: dict(sorted(v.items())) for s, v in sorted(split_emotion.items())},
        "corpora": {
            name: {
                "clips": c["clips"],
                "speakers": len(c["speakers"]),
                "hours": round(c["hours"], 4),
                "split": dict(sorted(c["split"].items())),
                "emotion": dict(sorted(c["emotion"].items())),
                "quarantined": sum(1 for q in quarantine if q["corpus"] == name),
            }
            for name, c in sorted(per_corpus.items())
        },  # fmt: skip
    }
