"""Prosody SFT task sets: records that teach the model to *hear* pitch, energy, rate, intonation and stress.

Every record is ``{"task", "utt_id", "audio_path", "question", "answer", "split", "options"}`` (contrastive
records add ``meta``); ``audio_path`` is relative to the repository root, as in the manifest. The task
builders read only :class:`Facts` and the manifest records, never the label files.

- :func:`attribute_tasks`: pitch / energy / speed level and intonation contour, multiple choice, each attribute in
  its own words (``OPTIONS``: pitch low/medium/high, energy quiet/moderate/loud, speed slow/average/fast).
- :func:`stress_tasks`: which words carry the emphasis (clips with a transcript and a stressed word).
- :func:`caption_tasks`: the fine-grained caption of :func:`caption`.
- :func:`contrastive_tasks`: the same clip twice, one parameter changed (pitch, tempo or gain), joined by a
  pause: which half is higher / faster / louder? Writes the pair audio, balanced answers per kind.

>>> f = Facts("u1", "sad", "I lost it.", "en", "female", "adult", "low", None, "low", "falling", "voiced", ("lost",))
>>> clips = [{"utt_id": "u1", "audio_path": "data/audio/u1.wav", "split": "train"}]
>>> sorted((t, r[0]["answer"]) for t, r in attribute_tasks({"u1": f}, clips).items() if r)
[('intonation', 'falling'), ('pitch', 'low'), ('speed', 'slow')]
>>> stress_tasks({"u1": f}, clips)[0]["answer"]
'lost'
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from emotionthinker import audio
from emotionthinker.annotate.contrast import apply_gain, join_pair, limit_peak, resynthesise
from emotionthinker.annotate.facts import Facts, caption
from emotionthinker.prosody.energy import levels, voice_activity

log = logging.getLogger(__name__)

SR = 16000
LEVELS = ("low", "medium", "high")
INTONATIONS = ("rising", "falling", "rising-falling", "falling-rising", "flat", "expressive")
# The words each attribute task answers with, in LEVELS order. Each attribute has its own words, as people describe
# them ("a loud voice", "fast speech"): with one shared low/medium/high, a small model has to learn which attribute a
# question asks about before any answer can depend on the audio, and on the default corpus it stayed near the answer
# prior (val energy 0.63 after 3 epochs, against 0.78 with these words).
OPTIONS: dict[str, tuple[str, ...]] = {
    "pitch": LEVELS,
    "energy": ("quiet", "moderate", "loud"),
    "speed": ("slow", "average", "fast"),
    "intonation": INTONATIONS,
}


def answer_word(task: str, value: str) -> str:
    """The option of ``task`` that says ``value`` (a level of LEVELS, or an intonation).

    >>> answer_word("energy", "high"), answer_word("speed", "low"), answer_word("intonation", "flat")
    ('loud', 'slow', 'flat')
    """
    if task == "intonation":
        return value
    return OPTIONS[task][LEVELS.index(value)]


CONTRAST_KINDS = ("pitch", "speed", "energy")
HALVES = ("first", "second")

# Paraphrases per task; ``{options}`` is the option list. One is picked per clip by a hash of its id.
_ATTRIBUTE_QUESTIONS: dict[str, tuple[str, ...]] = {
    "pitch": (
        "What is the pitch level of the speaker in this clip? Choose one: {options}.",
        "How high is the speaker's voice pitched in this recording? Answer with one of: {options}.",
        "Listen to the speaker's voice. Is its pitch low, medium or high? Options: {options}.",
        "Rate the overall pitch of the voice in this audio. Choose from: {options}.",
    ),
    "energy": (
        "What is the energy level of the speaker in this clip? Choose one: {options}.",
        "How loud and forceful is the speaker in this recording? Answer with one of: {options}.",
        "Listen to the speaker's vocal energy. Is it quiet, moderate or loud? Options: {options}.",
        "Rate the loudness of the voice in this audio. Choose from: {options}.",
    ),
    "speed": (
        "What is the speaking rate of the speaker in this clip? Choose one: {options}.",
        "How fast does the speaker talk in this recording? Answer with one of: {options}.",
        "Listen to the tempo of the speech. Is it slow, average or fast? Options: {options}.",
        "Rate the speed of the speech in this audio. Choose from: {options}.",
    ),
    "intonation": (
        "What is the intonation contour of the speaker in this clip? Choose one: {options}.",
        "How does the pitch of the voice move over this utterance? Answer with one of: {options}.",
        "Listen to the melody of the sentence. Which intonation pattern does it follow? Options: {options}.",
        "Describe the intonation of this recording with one label. Choose from: {options}.",
    ),
}
_STRESS_QUESTIONS = (
    'The speaker says: "{transcript}". Which word(s) carry the emphasis?',
    'The speaker says: "{transcript}". Which words are stressed in this clip?',
    'In this clip the speaker says "{transcript}". Which word(s) does the speaker emphasise?',
)
_CAPTION_QUESTIONS = (
    "Describe the speaker and the prosody of this clip.",
    "Describe who is speaking and how: the voice, its pitch, energy, speed, intonation and stress.",
    "Give a detailed description of the speaker and the prosody of this recording.",
)
_CONTRAST_INTRO = "The clip plays the same utterance twice, separated by a short pause. "
_CONTRAST_QUESTIONS = {
    "pitch": "Which part is higher in pitch, the first or the second?",
    "speed": "Which part is faster, the first or the second?",
    "energy": "Which part is louder, the first or the second?",
}
# (modified half, direction) ordered so that every aligned pair has one "first" and one "second" answer and one
# "up" and one "down"; every aligned four also has each modified half twice
_COMBOS = (("first", "up"), ("first", "down"), ("second", "down"), ("second", "up"))


def _pick(options: tuple[str, ...], key: str) -> str:
    """A deterministic choice among ``options`` from a hash of ``key`` (stable across runs and machines)."""
    h = int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big")
    return options[h % len(options)]


def _record(task: str, clip: dict, question: str, answer: str, options: Iterable[str] | None) -> dict:
    return {
        "task": task,
        "utt_id": clip["utt_id"],
        "audio_path": clip["audio_path"],
        "question": question,
        "answer": answer,
        "split": clip.get("split"),
        "options": list(options) if options is not None else [],
    }


def _with_facts(facts_by_id: dict[str, Facts], clips: list[dict]) -> Iterable[tuple[dict, Facts]]:
    missing = 0
    for clip in clips:
        f = facts_by_id.get(clip["utt_id"])
        if f is None:
            missing += 1
            continue
        yield clip, f
    if missing:
        log.warning("%d clips have no facts and were left out of the task set", missing)


def attribute_tasks(facts_by_id: dict[str, Facts], clips: list[dict]) -> dict[str, list[dict]]:
    """Multiple-choice level questions: ``{"pitch": [...], "energy": [...], "speed": [...], "intonation": [...]}``.

    A clip whose value for an attribute is unknown (None) or outside the options gets no record for it."""
    out: dict[str, list[dict]] = {t: [] for t in _ATTRIBUTE_QUESTIONS}
    for clip, f in _with_facts(facts_by_id, clips):
        for task, templates in _ATTRIBUTE_QUESTIONS.items():
            value = getattr(f, task)
            known = INTONATIONS if task == "intonation" else LEVELS
            if value is None:
                continue
            if value not in known:
                log.warning("%s: %s %r is not one of %s; no %s task", f.utt_id, task, value, known, task)
                continue
            options = OPTIONS[task]
            question = _pick(templates, f"{task}:{f.utt_id}").format(options=", ".join(options))
            out[task].append(_record(task, clip, question, answer_word(task, value), options))
    return out


def stress_tasks(facts_by_id: dict[str, Facts], clips: list[dict]) -> list[dict]:
    """Which words are stressed; only clips with a transcript and at least one stressed word.

    The answer is the stressed words in their order in the utterance, joined by ", "."""
    out = []
    for clip, f in _with_facts(facts_by_id, clips):
        if not f.transcript or not f.stressed_words:
            continue
        question = _pick(_STRESS_QUESTIONS, f"stress:{f.utt_id}").format(transcript=f.transcript)
        out.append(_record("stress", clip, question, ", ".join(f.stressed_words), None))
    return out


def caption_tasks(facts_by_id: dict[str, Facts], clips: list[dict]) -> list[dict]:
    """Free-form descriptions: the answer is :func:`caption` of the clip's facts."""
    return [
        _record("caption", clip, _pick(_CAPTION_QUESTIONS, f"caption:{f.utt_id}"), caption(f), None)
        for clip, f in _with_facts(facts_by_id, clips)
    ]


# --- contrastive pairs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairPlan:
    """One pair to make: which parameter, by how much, in which half."""

    utt_id: str
    kind: str  # pitch | speed | energy
    amount: float  # semitones (signed), tempo factor (> 1 faster), or dB (signed)
    modified_half: str  # first | second
    direction: str  # up | down
    out_path: str

    @property
    def answer(self) -> str:
        """The half that is higher / faster / louder."""
        return self.modified_half if self.direction == "up" else _other(self.modified_half)


def _other(half: str) -> str:
    return HALVES[1 - HALVES.index(half)]


def _pair_path(out_dir: Path, utt_id: str, kind: str, modified_half: str) -> Path:
    return out_dir / f"{utt_id}_{kind}_mod{modified_half}.wav"


def _active_db(x: np.ndarray, sr: int) -> float | None:
    return levels(x, sr, voice_activity(x, sr))["active_level_dbfs"]


def _match_level(x: np.ndarray, reference: np.ndarray, sr: int) -> np.ndarray:
    """``x`` scaled to the active speech level of ``reference`` (PSOLA moves the level a little with F0)."""
    a, b = _active_db(x, sr), _active_db(reference, sr)
    return apply_gain(x, b - a) if a is not None and b is not None else x


def _trim(x: np.ndarray, sr: int, max_s: float | None) -> np.ndarray:
    """The first ``max_s`` seconds of ``x`` with a 10 ms fade-out at the cut (no click); all of it when shorter."""
    n = int(round(max_s * sr)) if max_s else len(x)
    if len(x) <= n:
        return x
    out = np.array(x[:n], dtype=np.float32)
    fade = min(n, int(0.01 * sr))
    out[n - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return out


def make_pair(
    samples: np.ndarray, sr: int, plan: PairPlan, pause_s: float, max_half_s: float | None = None
) -> np.ndarray:
    """The pair audio for one plan: reference and modified halves in the planned order, joined by a pause.

    For pitch and speed both halves are PSOLA resyntheses from one analysis (the reference unmodified), and
    the modified half is matched to the reference's active level, so only the planned parameter differs.
    ``max_half_s`` keeps the first seconds of each half (a speed pair then holds fewer syllables in the slower
    half: equal durations, different rates), so that pairs are no longer than the clips and the model's audio
    window stays short."""
    key = f"{plan.utt_id}:{plan.kind}:{plan.amount}"
    seed = int.from_bytes(hashlib.sha1(key.encode()).digest()[:4], "big")  # the same plan makes the same audio
    if plan.kind == "pitch":
        reference, modified = resynthesise(samples, sr, semitones=plan.amount, seed=seed)
        modified = _match_level(modified, reference, sr)
    elif plan.kind == "speed":
        reference, modified = resynthesise(samples, sr, tempo=plan.amount, seed=seed)
        modified = _match_level(modified, reference, sr)
    elif plan.kind == "energy":
        reference, modified = np.asarray(samples, np.float32), apply_gain(samples, plan.amount)
    else:
        raise ValueError(f"unknown contrast kind {plan.kind!r}; expected one of {CONTRAST_KINDS}")
    first, second = (modified, reference) if plan.modified_half == "first" else (reference, modified)
    return limit_peak(join_pair(_trim(first, sr, max_half_s), _trim(second, sr, max_half_s), sr, pause_s))


def _make_clip_pairs(
    source: str, plans: list[PairPlan], pause_s: float, max_half_s: float | None = None
) -> tuple[list[PairPlan], str | None]:
    """Worker: decode one clip once and write each of its planned pairs. Returns (plans written, None), or
    ([], the error) after removing what it wrote: errors travel as text, since not every exception pickles."""
    written: list[Path] = []
    try:
        x = audio.load(source, SR)
        for plan in plans:
            out = Path(plan.out_path)
            audio.write_wav(out, make_pair(x, SR, plan, pause_s, max_half_s), SR)
            written.append(out)
            _pair_path(out.parent, plan.utt_id, plan.kind, _other(plan.modified_half)).unlink(missing_ok=True)
    except Exception as e:  # one bad clip must not stop the set
        for out in written:
            out.unlink(missing_ok=True)
        return [], f"{type(e).__name__}: {e}"
    return plans, None


def _plan(
    clips: list[dict],
    facts_by_id: dict[str, Facts],
    out_dir: Path,
    rng_seed: int,
    per_clip: int,
    semitones: float,
    tempo: float,
    gain_db: float,
) -> list[PairPlan]:
    """Kinds per clip (the least used first, ties at random), then per kind a balanced, shuffled assignment
    of (modified half, direction). Each kind gets an even number of pairs so that answers split exactly."""
    rng = random.Random(rng_seed)
    used = dict.fromkeys(CONTRAST_KINDS, 0)
    chosen: dict[str, list[str]] = {k: [] for k in CONTRAST_KINDS}
    for clip in sorted(clips, key=lambda c: c["utt_id"]):
        f = facts_by_id.get(clip["utt_id"])
        voiced = f is not None and f.voicing != "unvoiced"  # unknown voicing: no pitch pair
        kinds = [k for k in CONTRAST_KINDS if voiced or k != "pitch"]
        ties = {k: rng.random() for k in kinds}
        for k in sorted(kinds, key=lambda k: (used[k], ties[k]))[: max(0, per_clip)]:
            used[k] += 1
            chosen[k].append(clip["utt_id"])
    amounts = {
        "pitch": {"up": semitones, "down": -semitones},
        "speed": {"up": tempo, "down": 1.0 / tempo},
        "energy": {"up": gain_db, "down": -gain_db},
    }
    plans = []
    for kind, ids in chosen.items():
        if len(ids) % 2:
            dropped = ids.pop(rng.randrange(len(ids)))
            log.info("odd number of %s pairs: %s left out so that the answers split exactly", kind, dropped)
        combos = [_COMBOS[i % len(_COMBOS)] for i in range(len(ids))]
        rng.shuffle(combos)
        for uid, (half, direction) in zip(ids, combos, strict=True):
            path = _pair_path(out_dir, uid, kind, half)
            plans.append(PairPlan(uid, kind, round(amounts[kind][direction], 4), half, direction, str(path)))
    return plans


def _rebalance(done: list[PairPlan], rng_seed: int) -> list[PairPlan]:
    """Drop pairs (and their files) of the majority answer per kind, after failures, so answers split exactly."""
    rng = random.Random(f"{rng_seed}:rebalance")
    keep = []
    for kind in CONTRAST_KINDS:
        by_answer = {h: [p for p in done if p.kind == kind and p.answer == h] for h in HALVES}
        n = min(len(v) for v in by_answer.values())
        for half, plans in by_answer.items():
            extra = rng.sample(plans, len(plans) - n)
            for p in extra:
                Path(p.out_path).unlink(missing_ok=True)
            if extra:
                log.warning("%d %s pairs answering %r dropped to keep the answers balanced", len(extra), kind, half)
            keep += [p for p in plans if p not in extra]
    return keep


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def contrastive_tasks(
    clips: list[dict],
    facts_by_id: dict[str, Facts],
    out_dir: Path,
    repo_root: Path,
    rng_seed: int,
    per_clip: int,
    semitones: float = 3.0,
    tempo: float = 1.3,
    gain_db: float = 6.0,
    pause_s: float = 0.4,
    max_half_s: float | None = None,
    workers: int = 0,
    progress: bool = True,
) -> list[dict]:
    """Contrastive pairs: up to ``per_clip`` pairs per clip (each of a different kind; the kinds least used so
    far are picked first, so the kinds stay even), each with one of pitch (± ``semitones``, PSOLA),
    speed (tempo ``tempo`` or ``1/tempo``, PSOLA, pitch kept) or energy (± ``gain_db``) changed in one half.

    Files go to ``out_dir/<utt_id>_<kind>_mod<first|second>.wav`` (16 kHz PCM16). Unvoiced (whispered)
    clips get no pitch pair. Per kind exactly half of the answers are "first" (an odd pair is left out),
    and the direction (up/down) is balanced too, so neither the modified half nor its PSOLA artefacts
    predicts the answer. Deterministic for ``rng_seed``, whatever ``workers``. A clip whose audio fails is
    logged and skipped. Records are sorted by (utt_id, kind) and carry ``meta``: kind, amount,
    modified_half, direction."""
    if tempo <= 1.0:
        raise ValueError(f"tempo must be above 1 (the faster factor; slower pairs use 1/tempo), got {tempo}")
    if semitones <= 0 or gain_db <= 0 or pause_s < 0:
        raise ValueError("semitones and gain_db must be positive and pause_s non-negative")
    out_dir, repo_root = Path(out_dir), Path(repo_root)
    by_id = {c["utt_id"]: c for c in clips}
    plans = _plan(clips, facts_by_id, out_dir, rng_seed, per_clip, semitones, tempo, gain_db)
    jobs: dict[str, list[PairPlan]] = {}
    for p in plans:
        jobs.setdefault(p.utt_id, []).append(p)
    out_dir.mkdir(parents=True, exist_ok=True)

    done: list[PairPlan] = []
    failed = 0

    def collect(uid: str, run) -> None:
        nonlocal failed
        try:
            made, error = run()
        except Exception as e:  # the worker process died (BrokenProcessPool)
            made, error = [], f"{type(e).__name__}: {e}"
        if error:
            failed += 1
            log.warning("%s: contrastive pairs failed (%s); clip skipped", uid, error)
        done.extend(made)

    n_workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(jobs), desc="contrastive pairs", unit="clip", disable=not progress)
    if n_workers == 1 or len(jobs) < 2:
        for uid, ps in jobs.items():
            source = str(repo_root / by_id[uid]["audio_path"])
            collect(uid, lambda s=source, ps=ps: _make_clip_pairs(s, ps, pause_s, max_half_s))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=min(n_workers, len(jobs))) as pool:
            futures = {
                pool.submit(_make_clip_pairs, str(repo_root / by_id[uid]["audio_path"]), ps, pause_s, max_half_s): uid
                for uid, ps in jobs.items()
            }
            for fut in as_completed(futures):
                collect(futures[fut], fut.result)
                bar.update()
    bar.close()
    done.sort(key=lambda p: (p.utt_id, CONTRAST_KINDS.index(p.kind)))
    if failed:
        log.warning("%d of %d clips failed; their pairs are left out", failed, len(jobs))
        done = _rebalance(done, rng_seed)

    records = []
    for p in sorted(done, key=lambda p: (p.utt_id, CONTRAST_KINDS.index(p.kind))):
        clip = by_id[p.utt_id]
        rec = _record(
            "contrastive",
            {**clip, "audio_path": _relative(Path(p.out_path), repo_root)},
            _CONTRAST_INTRO + _CONTRAST_QUESTIONS[p.kind],
            p.answer,
            HALVES,
        )
        rec["meta"] = {"kind": p.kind, "amount": p.amount, "modified_half": p.modified_half, "direction": p.direction}
        records.append(rec)
    counts = {k: sum(r["meta"]["kind"] == k for r in records) for k in CONTRAST_KINDS}
    log.info("%d contrastive pairs from %d clips: %s", len(records), len(jobs), counts)
    return records
