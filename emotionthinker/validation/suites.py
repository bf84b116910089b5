"""The expectation suites over the pipeline's data, and the derived tables behind the cross-row checks.

Each :class:`Suite` pairs a pandas frame with Great Expectations expectations. Checks that GX has no built-in
expectation for (a speaker in two splits, identical audio in two splits, the audio files themselves, per-emotion
train counts, the class imbalance, the quarantine share, the tag format of a target) are computed here as derived
columns or tables first, then checked with standard expectations on them, so that every check is a real GX
expectation and shows in Data Docs. Every expectation carries its check name (``meta.check``) and the check's
severity; a frame's index holds the columns that identify a failing row in the reports.

Suites hold no data: ids and paths stay in the frames, so the suites in ``gx/expectations/`` change only with
the params.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
import soundfile as sf

from emotionthinker.annotate.degrade import DEGRADATIONS
from emotionthinker.annotate.tasks import HALVES, LEVELS, OPTIONS
from emotionthinker.config import AudioLimits, ValidateConfig
from emotionthinker.config.validate import CHECKS
from emotionthinker.corpora.ingest import MANIFEST_FIELDS
from emotionthinker.judge import DIMENSIONS
from emotionthinker.labels import normalise
from emotionthinker.prompts import TAG_FORMAT, parse_answer
from emotionthinker.prosody import LABEL_FIELDS
from emotionthinker.prosody.contour import LABELS as CONTOUR_LABELS

E = gx.expectations
SPLITS = ("train", "val", "test")
RM_SPLITS = ("train", "val")
FEATURE_STATUS = ("ok", "insufficient_voiced", "too_short", "error")
# answer vocabulary of each closed SFT task; stress and caption answers are free text
TASK_ANSWERS: dict[str, tuple[str, ...]] = {**OPTIONS, "contrastive": HALVES}
OPEN_TASKS = ("stress", "caption")
NUMBER = ["int", "float", "int64", "float64", "int32", "float32"]
STR = ["str"]
BOOL = ["bool", "bool_"]

FEATURE_FIELDS = ("utt_id", "status", "duration_s", "f0_median_hz", "f0_reliable", "active_level_dbfs")
EMOTIONCOT_FIELDS = ("utt_id", "split", "audio_path", "emotion", "messages", "rationale", "target")
SFT_FIELDS = ("task", "utt_id", "audio_path", "question", "answer", "split", "options")
RM_FIELDS = ("utt_id", "kind", "completion", "scores", "reward")


@dataclass
class Inputs:
    """The data the suites check, as read from the pipeline's files."""

    manifest: list[dict]
    quarantine: list[dict]
    features: list[dict]
    labels: list[dict]
    emotioncot: dict[str, list[dict]]  # split -> records
    sft_tasks: dict[str, list[dict]]  # file stem (task) -> records
    rm: dict[str, list[dict]]  # split -> records


@dataclass
class Suite:
    """One expectation suite and the frame it validates."""

    name: str
    description: str
    frame: pd.DataFrame
    expectations: list[Any] = field(default_factory=list)


@dataclass
class _Builder:
    cfg: ValidateConfig
    suite: Suite

    def add(self, check: str, *expectations: Any) -> None:
        """Add the expectations of ``check`` with its severity, unless the check is switched off."""
        severity = self.cfg.severity_of(check)
        if severity == "off":
            return
        for e in expectations:
            e.severity = severity
            e.meta = {"check": check}
            e.notes = f"{check} ({severity}): {CHECKS[check][1]}"
            self.suite.expectations.append(e)


def _frame(records: Sequence[dict], index: Sequence[str], columns: Sequence[str] = ()) -> pd.DataFrame:
    """Records as a frame with object-dtype strings (GX checks str types row by row on object columns only),
    indexed by ``index`` (the columns that identify a row in failure reports). With no records, ``columns``."""
    df = pd.DataFrame.from_records(list(records)) if records else pd.DataFrame(columns=list(columns))
    df = df.astype({c: object for c in df.columns if isinstance(df[c].dtype, pd.StringDtype)})
    arrays = [df[c].tolist() if c in df.columns else [None] * len(df) for c in index]
    df.index = (
        pd.MultiIndex.from_arrays(arrays, names=list(index))
        if len(index) > 1
        else pd.Index(arrays[0], name=index[0], dtype=object)
    )
    return df


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)


def _obj(values: Iterable[Any], df: pd.DataFrame) -> pd.Series:
    return pd.Series(list(values), index=df.index, dtype=object)


def _schema(b: _Builder, check: str, columns: Sequence[str]) -> None:
    b.add(check, E.ExpectTableColumnsToMatchSet(column_set=list(columns), exact_match=False))


def _types(b: _Builder, check: str, types: dict[str, list[str]], df: pd.DataFrame) -> None:
    # a column the schema check already reports missing gets no type check (it would only error)
    b.add(
        check,
        *[E.ExpectColumnValuesToBeInTypeList(column=c, type_list=t) for c, t in types.items() if c in df.columns],
    )


# ---------------------------------------------------------------------------------------------- audio probing


@dataclass(frozen=True)
class AudioProbe:
    exists: bool
    sample_rate: int | None = None
    channels: int | None = None
    duration_s: float | None = None
    content_hash: str | None = None


def probe_audio(path: Path, hash_bytes: bool = True) -> AudioProbe:
    """Existence, header and content hash (SHA-1 of the file's bytes) of one audio file."""
    if not path.is_file():
        return AudioProbe(False)
    try:
        info = sf.info(str(path))
        rate, channels, duration = int(info.samplerate), int(info.channels), round(float(info.duration), 4)
    except (RuntimeError, sf.LibsndfileError):  # unreadable: exists, but no header to check
        rate = channels = duration = None
    digest = hashlib.sha1(path.read_bytes()).hexdigest() if hash_bytes else None
    return AudioProbe(True, rate, channels, duration, digest)


def probe_all(paths: Sequence[Path], hash_bytes: bool = True, workers: int = 8) -> list[AudioProbe]:
    """Probe many files with a thread pool (reading and hashing release the GIL)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda p: probe_audio(p, hash_bytes), paths))


def _resolve(root: Path, path: Any) -> Path:
    p = Path(str(path)) if path is not None else Path("\0missing")
    return p if p.is_absolute() else root / p


# ------------------------------------------------------------------------------------------------ the suites


def build_suites(
    inputs: Inputs,
    cfg: ValidateConfig,
    labels: Sequence[str],
    audio: AudioLimits,
    root: Path,
) -> list[Suite]:
    """Every suite with its frame. ``labels`` is the label set (set + extra); audio paths resolve against
    ``root``."""
    manifest = _frame(inputs.manifest, ["utt_id"], MANIFEST_FIELDS)
    by_id = {r.get("utt_id"): r for r in inputs.manifest}
    probes = probe_all([_resolve(root, p) for p in _col(manifest, "audio_path")], cfg.hash_audio)
    return [
        _manifest_suite(manifest, inputs, cfg, labels, audio),
        _audio_suite(manifest, probes, cfg, audio),
        _speakers_suite(manifest, cfg),
        _hashes_suite(manifest, probes, cfg),
        _balance_suite(manifest, cfg),
        _quarantine_suite(manifest, inputs.quarantine, cfg),
        _features_suite(inputs.features, by_id, cfg),
        _labels_suite(inputs.labels, by_id, cfg),
        _emotioncot_suite(inputs.emotioncot, by_id, cfg, labels),
        _sft_suite(inputs.sft_tasks, by_id, cfg, root),
        _rm_suite(inputs.rm, by_id, cfg),
    ]


def _manifest_suite(
    df: pd.DataFrame, inputs: Inputs, cfg: ValidateConfig, labels: Sequence[str], audio: AudioLimits
) -> Suite:
    ids = _col(df, "utt_id")
    features = {r.get("utt_id") for r in inputs.features}
    label_ids = {r.get("utt_id") for r in inputs.labels}
    cot = {r.get("utt_id") for recs in inputs.emotioncot.values() for r in recs}
    df["has_features"] = _obj((u in features for u in ids), df)
    df["has_labels"] = _obj((u in label_ids for u in ids), df)
    df["has_emotioncot"] = _obj((u in cot for u in ids), df)
    b = _Builder(cfg, Suite("manifest", "The ingest stage's manifest: one row per usable clip.", df))
    _schema(b, "manifest.schema", MANIFEST_FIELDS)
    _types(
        b,
        "manifest.types",
        {
            "utt_id": STR,
            "corpus": STR,
            "audio_path": STR,
            "emotion": STR,
            "speaker": STR,
            "split": STR,
            "duration_s": NUMBER,
            "meta": ["dict"],
        },
        df,
    )
    b.add(
        "manifest.not_null",
        *[
            E.ExpectColumnValuesToNotBeNull(column=c)
            for c in ("utt_id", "corpus", "audio_path", "emotion", "speaker", "split", "duration_s")
            if c in df.columns
        ],
    )
    b.add("manifest.unique_utt_id", E.ExpectColumnValuesToBeUnique(column="utt_id"))
    b.add("manifest.emotion_in_labels", E.ExpectColumnValuesToBeInSet(column="emotion", value_set=list(labels)))
    b.add("manifest.split_values", E.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)))
    b.add(
        "manifest.duration_bounds",
        E.ExpectColumnValuesToBeBetween(
            column="duration_s", min_value=audio.min_duration_s, max_value=audio.max_duration_s
        ),
    )
    b.add(
        "manifest.label_coverage", E.ExpectColumnDistinctValuesToContainSet(column="emotion", value_set=list(labels))
    )
    for name in ("has_features", "has_labels", "has_emotioncot"):
        b.add(f"manifest.{name}", E.ExpectColumnValuesToBeInSet(column=name, value_set=[True]))
    return b.suite


def _audio_suite(manifest: pd.DataFrame, probes: list[AudioProbe], cfg: ValidateConfig, audio: AudioLimits) -> Suite:
    rows = [
        {
            "utt_id": u,
            "audio_path": p,
            "split": s,
            "exists": pr.exists,
            "sample_rate": pr.sample_rate,
            "channels": pr.channels,
            "file_duration_s": pr.duration_s,
            "duration_diff_s": None
            if pr.duration_s is None or not isinstance(d, int | float) or pd.isna(d)
            else round(abs(pr.duration_s - d), 4),
        }
        for u, p, s, d, pr in zip(
            _col(manifest, "utt_id"),
            _col(manifest, "audio_path"),
            _col(manifest, "split"),
            _col(manifest, "duration_s"),
            probes,
            strict=True,
        )
    ]
    cols = ("utt_id", "audio_path", "split", "exists", "sample_rate", "channels", "file_duration_s", "duration_diff_s")
    df = _frame(rows, ["utt_id", "audio_path"], cols)
    b = _Builder(cfg, Suite("audio", "The audio file behind each manifest clip (read from its header).", df))
    b.add("audio.exists", E.ExpectColumnValuesToBeInSet(column="exists", value_set=[True]))
    b.add("audio.sample_rate", E.ExpectColumnValuesToBeInSet(column="sample_rate", value_set=[audio.sample_rate]))
    b.add("audio.mono", E.ExpectColumnValuesToBeInSet(column="channels", value_set=[1]))
    b.add(
        "audio.duration_matches",
        E.ExpectColumnValuesToBeBetween(column="duration_diff_s", min_value=0, max_value=cfg.duration_tolerance_s),
    )
    return b.suite


def _speakers_suite(manifest: pd.DataFrame, cfg: ValidateConfig) -> Suite:
    splits: dict[Any, set] = defaultdict(set)
    clips: dict[Any, int] = defaultdict(int)
    for spk, split in zip(_col(manifest, "speaker"), _col(manifest, "split"), strict=True):
        if spk is not None and not pd.isna(spk):
            splits[spk].add(str(split))
            clips[spk] += 1
    rows = [
        {"speaker": s, "splits": ",".join(sorted(v)), "n_splits": len(v), "n_clips": clips[s]}
        for s, v in sorted(splits.items(), key=lambda kv: str(kv[0]))
    ]
    df = _frame(rows, ["speaker", "splits"], ("speaker", "splits", "n_splits", "n_clips"))
    b = _Builder(cfg, Suite("speakers", "Derived: one row per speaker, with the splits the speaker is in.", df))
    b.add("speakers.single_split", E.ExpectColumnValuesToBeBetween(column="n_splits", min_value=1, max_value=1))
    return b.suite


def _hashes_suite(manifest: pd.DataFrame, probes: list[AudioProbe], cfg: ValidateConfig) -> Suite:
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for uid, split, pr in zip(_col(manifest, "utt_id"), _col(manifest, "split"), probes, strict=True):
        if pr.content_hash:
            groups[pr.content_hash].append((str(uid), str(split)))
    rows = []
    for digest, members in sorted(groups.items()):
        per_split = defaultdict(int)
        for _, split in members:
            per_split[split] += 1
        rows.append(
            {
                "content_hash": digest[:16],
                "splits": ",".join(sorted(per_split)),
                "utt_ids": ",".join(sorted(u for u, _ in members)[:6]),
                "n_clips": len(members),
                "n_splits": len(per_split),
                "max_clips_in_a_split": max(per_split.values()),
            }
        )
    cols = ("content_hash", "splits", "utt_ids", "n_clips", "n_splits", "max_clips_in_a_split")
    df = _frame(rows, ["content_hash", "splits", "utt_ids"], cols)
    b = _Builder(cfg, Suite("audio_hashes", "Derived: one row per distinct audio content (SHA-1 of the bytes).", df))
    b.add("audio_hashes.single_split", E.ExpectColumnValuesToBeBetween(column="n_splits", min_value=1, max_value=1))
    b.add(
        "audio_hashes.unique_clip",
        E.ExpectColumnValuesToBeBetween(column="max_clips_in_a_split", min_value=1, max_value=1),
    )
    return b.suite


def _balance_suite(manifest: pd.DataFrame, cfg: ValidateConfig) -> Suite:
    train: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for emo, split in zip(_col(manifest, "emotion"), _col(manifest, "split"), strict=True):
        if emo is None or pd.isna(emo):
            continue
        total[emo] += 1
        train[emo] += split == "train"
    largest = max(train.values(), default=0)
    rows = [
        {
            "emotion": e,
            "n_train": train[e],
            "n_total": total[e],
            "imbalance_ratio": round(largest / train[e], 3) if train[e] else None,
        }
        for e in sorted(total)
    ]
    df = _frame(rows, ["emotion"], ("emotion", "n_train", "n_total", "imbalance_ratio"))
    b = _Builder(cfg, Suite("train_balance", "Derived: train clips of each emotion found in the manifest.", df))
    b.add("train_balance.min_clips", E.ExpectColumnValuesToBeBetween(column="n_train", min_value=cfg.min_train_clips))
    b.add(
        "train_balance.imbalance",
        E.ExpectColumnValuesToBeBetween(column="imbalance_ratio", min_value=1, max_value=cfg.max_imbalance_ratio),
    )
    return b.suite


def _quarantine_suite(manifest: pd.DataFrame, quarantine: list[dict], cfg: ValidateConfig) -> Suite:
    kept: dict[str, int] = defaultdict(int)
    dropped: dict[str, int] = defaultdict(int)
    for c in _col(manifest, "corpus"):
        kept[str(c)] += 1
    reasons: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for q in quarantine:
        dropped[str(q.get("corpus"))] += 1
        reasons[str(q.get("corpus"))][str(q.get("reason"))] += 1
    rows = [
        {
            "corpus": c,
            "n_kept": kept[c],
            "n_quarantined": dropped[c],
            "quarantine_share": round(dropped[c] / (kept[c] + dropped[c]), 4),
            "reasons": ",".join(f"{r}:{n}" for r, n in sorted(reasons[c].items())),
        }
        for c in sorted(set(kept) | set(dropped))
    ]
    df = _frame(rows, ["corpus", "reasons"], ("corpus", "reasons", "n_kept", "n_quarantined", "quarantine_share"))
    b = _Builder(cfg, Suite("quarantine", "Derived: clips kept and quarantined by ingest, per corpus.", df))
    b.add(
        "quarantine.share",
        E.ExpectColumnValuesToBeBetween(column="quarantine_share", min_value=0, max_value=cfg.max_quarantine_share),
    )
    return b.suite


def _in_manifest(df: pd.DataFrame, by_id: dict) -> pd.Series:
    return _obj((u in by_id for u in _col(df, "utt_id")), df)


def _manifest_value(df: pd.DataFrame, by_id: dict, key: str) -> pd.Series:
    return _obj(((by_id.get(u) or {}).get(key) for u in _col(df, "utt_id")), df)


def _features_suite(features: list[dict], by_id: dict, cfg: ValidateConfig) -> Suite:
    df = _frame(features, ["utt_id"], FEATURE_FIELDS)
    df["in_manifest"] = _in_manifest(df, by_id)
    df["reliable_f0_median_hz"] = _obj(
        (f if r is True else None for f, r in zip(_col(df, "f0_median_hz"), _col(df, "f0_reliable"), strict=True)), df
    )
    b = _Builder(cfg, Suite("features", "The prosody stage's measurements, one row per clip.", df))
    _schema(b, "features.schema", FEATURE_FIELDS)
    _types(
        b,
        "features.types",
        {
            "utt_id": STR,
            "status": STR,
            "duration_s": NUMBER,
            "f0_median_hz": NUMBER,
            "f0_reliable": BOOL,
            "active_level_dbfs": NUMBER,
        },
        df,
    )
    b.add("features.unique_utt_id", E.ExpectColumnValuesToBeUnique(column="utt_id"))
    b.add("features.in_manifest", E.ExpectColumnValuesToBeInSet(column="in_manifest", value_set=[True]))
    b.add("features.status_values", E.ExpectColumnValuesToBeInSet(column="status", value_set=list(FEATURE_STATUS)))
    b.add("features.measured", E.ExpectColumnValuesToNotBeInSet(column="status", value_set=["error"]))
    lo, hi = cfg.f0_hz
    b.add(
        "features.f0_range",
        E.ExpectColumnValuesToBeBetween(column="reliable_f0_median_hz", min_value=lo, max_value=hi),
    )
    lo, hi = cfg.active_level_dbfs
    b.add(
        "features.active_level",
        E.ExpectColumnValuesToBeBetween(column="active_level_dbfs", min_value=lo, max_value=hi),
    )
    return b.suite


def _labels_suite(labels: list[dict], by_id: dict, cfg: ValidateConfig) -> Suite:
    df = _frame(labels, ["utt_id"], LABEL_FIELDS)
    df["in_manifest"] = _in_manifest(df, by_id)
    for key in ("emotion", "speaker", "split"):
        df[f"manifest_{key}"] = _manifest_value(df, by_id, key)
    b = _Builder(cfg, Suite("labels", "The prosody stage's labels (levels, contour), one row per clip.", df))
    _schema(b, "labels.schema", LABEL_FIELDS)
    b.add("labels.unique_utt_id", E.ExpectColumnValuesToBeUnique(column="utt_id"))
    b.add("labels.in_manifest", E.ExpectColumnValuesToBeInSet(column="in_manifest", value_set=[True]))
    b.add(
        "labels.matches_manifest",
        *[
            E.ExpectColumnPairValuesToBeEqual(column_A=k, column_B=f"manifest_{k}")
            for k in ("emotion", "speaker", "split")
            if k in df.columns
        ],
    )
    b.add(
        "labels.level_vocab",
        *[
            E.ExpectColumnValuesToBeInSet(column=c, value_set=list(LEVELS))
            for c in ("pitch_level", "energy_level", "speed_level")
        ],
    )
    b.add(
        "labels.intonation_vocab", E.ExpectColumnValuesToBeInSet(column="intonation", value_set=list(CONTOUR_LABELS))
    )
    return b.suite


def _emotioncot_suite(cot: dict[str, list[dict]], by_id: dict, cfg: ValidateConfig, labels: Sequence[str]) -> Suite:
    records = [{**r, "file_split": split} for split, recs in cot.items() for r in recs]
    df = _frame(records, ["utt_id", "file_split"], (*EMOTIONCOT_FIELDS, "file_split"))
    df["in_manifest"] = _in_manifest(df, by_id)
    df["manifest_split"] = _manifest_value(df, by_id, "split")
    df["rationale_words"] = _obj((len(r.split()) if isinstance(r, str) else None for r in _col(df, "rationale")), df)
    targets = [t if isinstance(t, str) else None for t in _col(df, "target")]
    df["answer"] = _obj((parse_answer(t) if t is not None else None for t in targets), df)
    df["answer_label"] = _obj((parse_answer(t, labels) if t is not None else None for t in targets), df)
    b = _Builder(cfg, Suite("emotioncot", "EmotionCoT records of every split (file_split: the file they are in).", df))
    _schema(b, "emotioncot.schema", EMOTIONCOT_FIELDS)
    _types(
        b,
        "emotioncot.types",
        {"utt_id": STR, "emotion": STR, "rationale": STR, "target": STR, "messages": ["list"]},
        df,
    )
    b.add("emotioncot.unique_utt_id", E.ExpectColumnValuesToBeUnique(column="utt_id"))
    b.add("emotioncot.in_manifest", E.ExpectColumnValuesToBeInSet(column="in_manifest", value_set=[True]))
    b.add(
        "emotioncot.split_matches",
        E.ExpectColumnPairValuesToBeEqual(column_A="split", column_B="file_split"),
        E.ExpectColumnPairValuesToBeEqual(column_A="split", column_B="manifest_split"),
    )
    b.add("emotioncot.emotion_in_labels", E.ExpectColumnValuesToBeInSet(column="emotion", value_set=list(labels)))
    lo, hi = cfg.rationale_words
    b.add(
        "emotioncot.rationale_length",
        E.ExpectColumnValuesToBeBetween(column="rationale_words", min_value=lo, max_value=hi),
    )
    b.add(
        "emotioncot.target_format",
        E.ExpectColumnValuesToNotBeNull(column="target"),
        E.ExpectColumnValuesToMatchRegex(column="target", regex=TAG_FORMAT),
    )
    b.add(
        "emotioncot.answer_in_labels",
        E.ExpectColumnValuesToBeInSet(column="answer", value_set=sorted({normalise(x) for x in labels})),
    )
    b.add(
        "emotioncot.answer_matches_emotion",
        E.ExpectColumnPairValuesToBeEqual(column_A="answer_label", column_B="emotion"),
    )
    return b.suite


def _sft_suite(tasks: dict[str, list[dict]], by_id: dict, cfg: ValidateConfig, root: Path) -> Suite:
    records = [{**r, "file_task": stem} for stem, recs in tasks.items() for r in recs]
    df = _frame(records, ["task", "utt_id"], (*SFT_FIELDS, "file_task"))
    df["in_manifest"] = _in_manifest(df, by_id)
    df["manifest_split"] = _manifest_value(df, by_id, "split")
    paths = sorted({str(p) for p in _col(df, "audio_path") if p is not None})
    exists = {p: _resolve(root, p).is_file() for p in paths}
    df["audio_exists"] = _obj(
        (exists.get(str(p), False) if p is not None else False for p in _col(df, "audio_path")), df
    )
    df["closed_answer"] = _obj(
        (a if t in TASK_ANSWERS else None for t, a in zip(_col(df, "task"), _col(df, "answer"), strict=True)), df
    )
    df["answer_in_options"] = _obj(
        (
            a in o if isinstance(o, list) and o else None
            for a, o in zip(_col(df, "answer"), _col(df, "options"), strict=True)
        ),
        df,
    )
    b = _Builder(cfg, Suite("sft_tasks", "Prosody SFT task records of every task file (file_task: its file).", df))
    _schema(b, "sft_tasks.schema", SFT_FIELDS)
    b.add(
        "sft_tasks.task_values",
        E.ExpectColumnValuesToBeInSet(column="task", value_set=sorted([*TASK_ANSWERS, *OPEN_TASKS])),
        E.ExpectColumnPairValuesToBeEqual(column_A="task", column_B="file_task"),
    )
    b.add("sft_tasks.unique", E.ExpectCompoundColumnsToBeUnique(column_list=["task", "utt_id", "audio_path"]))
    b.add("sft_tasks.in_manifest", E.ExpectColumnValuesToBeInSet(column="in_manifest", value_set=[True]))
    b.add("sft_tasks.split_matches", E.ExpectColumnPairValuesToBeEqual(column_A="split", column_B="manifest_split"))
    b.add("sft_tasks.audio_exists", E.ExpectColumnValuesToBeInSet(column="audio_exists", value_set=[True]))
    pairs = [(t, a) for t, answers in TASK_ANSWERS.items() for a in answers]
    b.add(
        "sft_tasks.answer_vocab",
        E.ExpectColumnPairValuesToBeInSet(
            column_A="task", column_B="closed_answer", value_pairs_set=pairs, ignore_row_if="either_value_is_missing"
        ),
        E.ExpectColumnValuesToBeInSet(column="answer_in_options", value_set=[True]),
    )
    b.add(
        "sft_tasks.answer_not_empty",
        E.ExpectColumnValuesToNotBeNull(column="answer"),
        E.ExpectColumnValuesToMatchRegex(column="answer", regex=r"\S"),
    )
    return b.suite


def _rm_suite(rm: dict[str, list[dict]], by_id: dict, cfg: ValidateConfig) -> Suite:
    records = []
    for split, recs in rm.items():
        for r in recs:
            scores = r.get("scores") if isinstance(r.get("scores"), dict) else {}
            records.append({**r, "file_split": split, **{f"score_{d}": scores.get(d) for d in DIMENSIONS}})
    score_cols = [f"score_{d}" for d in DIMENSIONS]
    df = _frame(records, ["utt_id", "kind", "file_split"], (*RM_FIELDS, "file_split", *score_cols))
    df["in_manifest"] = _in_manifest(df, by_id)
    df["manifest_split"] = _manifest_value(df, by_id, "split")
    df["gold_completion"] = _obj(
        (c if k == "gold" else None for k, c in zip(_col(df, "kind"), _col(df, "completion"), strict=True)), df
    )
    b = _Builder(cfg, Suite("rm", "Reward-model records (file_split: the file they are in).", df))
    _schema(b, "rm.schema", RM_FIELDS)
    b.add("rm.kind_values", E.ExpectColumnValuesToBeInSet(column="kind", value_set=["gold", *DEGRADATIONS]))
    b.add("rm.in_manifest", E.ExpectColumnValuesToBeInSet(column="in_manifest", value_set=[True]))
    b.add("rm.split_matches", E.ExpectColumnPairValuesToBeEqual(column_A="file_split", column_B="manifest_split"))
    b.add(
        "rm.score_range",
        *[
            e
            for c in score_cols
            for e in (
                E.ExpectColumnValuesToNotBeNull(column=c),
                E.ExpectColumnValuesToBeBetween(column=c, min_value=1, max_value=5),
            )
        ],
    )
    b.add(
        "rm.reward_range",
        E.ExpectColumnValuesToNotBeNull(column="reward"),
        E.ExpectColumnValuesToBeBetween(column="reward", min_value=0, max_value=1),
    )
    b.add("rm.gold_format", E.ExpectColumnValuesToMatchRegex(column="gold_completion", regex=TAG_FORMAT))
    return b.suite
