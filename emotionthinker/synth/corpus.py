"""The synthetic corpus: a deterministic utterance plan, and rendering it to wavs plus a manifest.

:func:`plan_corpus` decides everything about every clip (speaker voice, text, the emphasised word,
every prosody setting) from the config alone, without audio; :func:`render_corpus` renders the plan
in worker processes and writes ``wav/<utt>.wav``, ``manifest.jsonl`` and ``synth.json``. Random draws
come from ``random.Random`` seeded with strings (seed plus utterance id), so a clip's settings do not
depend on the order of the plan or on the other clips, and the same config gives the same corpus.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import re
import shutil
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from emotionthinker.config import SynthConfig
from emotionthinker.synth.profiles import (
    ACCENTS,
    FEMALE_EXTRA,
    FEMALE_VARIANTS,
    LADEN_SENTENCES,
    MALE_EXTRA,
    MALE_VARIANTS,
    NEUTRAL_SENTENCES,
    PITCH_RANGE,
    SPEAKER_EXPRESSIVITY_SD,
    STOPWORDS,
    VARIATION_SD,
    WHISPER_VARIANT,
    EmotionProfile,
    profile_for,
)

log = logging.getLogger(__name__)

# Bump when rendering changes in a way that changes the audio: cached corpora are then re-rendered.
RENDER_VERSION = "1"
ESPEAK_AMPLITUDE = 100  # espeak-ng -a; the level is set afterwards (gain_db), so it stays fixed


@dataclass(frozen=True)
class Speaker:
    speaker_id: str
    gender: str  # "female" | "male"
    accent: str  # espeak-ng language voice
    variant: str  # espeak-ng voice variant
    espeak_pitch: int  # espeak-ng -p (base pitch, 0-99)
    wpm: int  # neutral speaking rate, words per minute
    expressivity: float  # factor on every emotion offset from neutral
    level_db: float  # speaker's own level offset

    @property
    def voice(self) -> str:
        return f"{self.accent}+{self.variant}"


@dataclass(frozen=True)
class UtterancePlan:
    """Everything about one clip, decided before rendering. All values are what the renderer applies."""

    utt_id: str
    speaker: str
    gender: str
    emotion: str
    text: str  # the transcription
    ssml: str  # what espeak-ng reads
    sentence_kind: str  # "neutral" | "laden"
    content_emotion: str | None  # emotion the words express (None for neutral sentences)
    content_agrees: bool | None  # content_emotion == emotion (None for neutral sentences)
    voice: str
    espeak_wpm: int
    espeak_pitch: int
    espeak_amplitude: int
    pitch_shift_st: float
    range_scale: float
    rate_factor: float
    gain_db: float
    speaker_level_db: float
    tilt_db_per_oct: float
    contour: str
    contour_st: float
    declination_st: float
    final_lengthening: float
    tremor: bool
    tremor_hz: float
    tremor_st: float
    tremor_phase: float
    emphasis: tuple[str, ...]
    hesitation_ms: float
    drawl: bool
    whisper: bool
    pitch_floor: float
    pitch_ceiling: float
    noise_seed: int

    def meta(self) -> dict[str, Any]:
        """The construction facts, as recorded in the manifest (JSON-ready)."""
        d = asdict(self)
        d["emphasis"] = list(self.emphasis)
        d["espeak"] = {
            "voice": self.voice,
            "wpm": self.espeak_wpm,
            "pitch": self.espeak_pitch,
            "amplitude": self.espeak_amplitude,
            "ssml": True,
        }
        for k in ("espeak_wpm", "espeak_pitch", "espeak_amplitude", "noise_seed"):
            d.pop(k)
        return d


def _rng(seed: int, *parts: object) -> random.Random:
    # str seeds are hashed with SHA-512 by random.Random: stable across runs, platforms and PYTHONHASHSEED
    return random.Random("/".join(["emotionthinker-synth", str(seed), *map(str, parts)]))


def make_speakers(cfg: SynthConfig) -> list[Speaker]:
    """``cfg.speakers`` voices, genders alternating (syn01 female, syn02 male, ...), deterministic for the seed."""
    rng, extra_rng = _rng(cfg.seed, "speakers"), _rng(cfg.seed, "extra voices")
    pools = {}
    for gender, variants, extra in (("female", FEMALE_VARIANTS, FEMALE_EXTRA), ("male", MALE_VARIANTS, MALE_EXTRA)):
        v, a, x = list(variants), list(ACCENTS), list(extra)
        rng.shuffle(v)
        rng.shuffle(a)
        extra_rng.shuffle(x)  # its own generator: the first speakers' voices do not depend on the extra pool
        pools[gender] = (v + x, a)
    speakers, counts = [], {"female": 0, "male": 0}
    for i in range(cfg.speakers):
        gender = "female" if i % 2 == 0 else "male"
        k = counts[gender]
        counts[gender] += 1
        variants, accents = pools[gender]
        # distinct variants first; once they are used up, the same variant comes back with another accent
        variant = variants[k % len(variants)]
        accent = accents[(k + k // len(variants)) % len(accents)]
        expressivity = 1.0 + rng.gauss(0.0, SPEAKER_EXPRESSIVITY_SD) * cfg.variation
        speakers.append(
            Speaker(
                speaker_id=f"syn{i + 1:02d}",
                gender=gender,
                accent=accent,
                variant=variant,
                espeak_pitch=rng.randint(38, 62) if gender == "female" else rng.randint(45, 65),
                wpm=rng.randint(158, 185),
                expressivity=round(min(1.4, max(0.6, expressivity)), 3),
                level_db=round(rng.gauss(0.0, 1.5) * cfg.variation, 2),
            )
        )
    reused = {g: counts[g] - len(pools[g][0]) for g in counts if counts[g] > len(pools[g][0])}
    if reused:
        log.warning(
            "synthetic corpus: %d speakers need more voices than there are espeak-ng variants (%s); %s of them reuse "
            "a variant with another accent, so a val or test voice can share its variant with a train voice",
            cfg.speakers, ", ".join(f"{len(pools[g][0])} {g}" for g in reused),
            " and ".join(f"{n} {g}" for g, n in reused.items()),
        )  # fmt: skip
    return speakers


_WORD = re.compile(r"^([^A-Za-z']*)([A-Za-z']+)([^A-Za-z']*)$")


def _emphasis_index(tokens: list[str], rng: random.Random) -> int:
    candidates = []
    for i, tok in enumerate(tokens):
        m = _WORD.match(tok)
        if m and len(m.group(2)) >= 3 and m.group(2).lower() not in STOPWORDS:
            candidates.append(i)
    if not candidates:  # every sentence in the bank has a content word; this is for custom text
        candidates = list(range(len(tokens)))
    return rng.choice(candidates)


def build_ssml(text: str, emph_index: int, final_punct: str, hesitation_ms: float, drawl: bool) -> tuple[str, str]:
    """SSML for espeak-ng: the stressed word in ``<emphasis>``, the clause-final punctuation of the profile,
    an optional hesitation pause before the stressed word and an optional drawn-out stressed word.
    Returns (ssml, emphasised word)."""
    tokens = text.split()
    parts = []
    word = ""
    for i, tok in enumerate(tokens):
        if i == len(tokens) - 1:
            tok = tok.rstrip(".!?") + final_punct
        if i == emph_index:
            m = _WORD.match(tok)
            pre, word, post = (m.group(1), m.group(2), m.group(3)) if m else ("", tok, "")
            inner = escape(word)
            if drawl:
                inner = f'<prosody rate="x-slow">{inner}</prosody>'
            piece = f'{escape(pre)}<emphasis level="strong">{inner}</emphasis>{escape(post)}'
            if hesitation_ms > 0:
                piece = f'<break time="{int(round(hesitation_ms))}ms"/> {piece}'
            parts.append(piece)
        else:
            parts.append(escape(tok))
    return "<speak>" + " ".join(parts) + "</speak>", word


def _choose_contour(p: EmotionProfile, rng: random.Random, variation: float) -> tuple[str, float, bool]:
    """(shape, size in st, primary?) — alternatives are taken with their probability times min(variation, 1)."""
    u = rng.random()
    acc = 0.0
    for shape, prob, size in p.alt_contours:
        acc += prob * min(variation, 1.0)
        if u < acc:
            return shape, size, False
    return p.contour, p.contour_st, True


def _utterance(
    cfg: SynthConfig,
    spk: Speaker,
    emotion: str,
    utt_id: str,
    text: str,
    kind: str,
    content_emotion: str | None,
) -> UtterancePlan:
    p = profile_for(emotion)
    rng = _rng(cfg.seed, "utt", utt_id)
    v, e = cfg.variation, spk.expressivity

    def g(name: str) -> float:
        return rng.gauss(0.0, VARIATION_SD[name]) * v

    shift = e * p.pitch_shift_st + g("pitch_shift_st")
    range_scale = math.exp(e * math.log(p.range_scale) + g("log_range_scale"))
    rate = math.exp(e * math.log(p.rate_factor) + g("log_rate_factor"))
    gain = e * p.gain_db + g("gain_db")
    tilt = e * p.tilt_db_per_oct + g("tilt_db_per_oct")
    contour, size, _ = _choose_contour(p, rng, v)
    contour_st = max(0.0, size * e * (1.0 + g("contour_rel"))) if contour != "level" else 0.0
    declination = max(0.0, p.declination_st + g("declination_st"))
    tremor = p.tremor_st > 0
    tremor_hz = rng.uniform(5.0, 7.0) if tremor else 0.0
    tremor_st = max(0.3, p.tremor_st * e * (1.0 + g("contour_rel"))) if tremor else 0.0
    tremor_phase = rng.uniform(0.0, 2 * math.pi) if tremor else 0.0
    hesitation = min(700.0, max(150.0, p.hesitation_ms + g("hesitation_ms"))) if p.hesitation_ms > 0 else 0.0
    hesitation = round(hesitation / 10.0) * 10.0
    tokens = text.split()
    ssml, word = build_ssml(text, _emphasis_index(tokens, rng), p.final_punct, hesitation, p.drawl)
    variant = WHISPER_VARIANT[spk.gender] if p.whisper else spk.variant
    floor, ceiling = PITCH_RANGE[spk.gender]
    rate = round(rate, 3)
    return UtterancePlan(
        utt_id=utt_id,
        speaker=spk.speaker_id,
        gender=spk.gender,
        emotion=emotion,
        text=text,
        ssml=ssml,
        sentence_kind=kind,
        content_emotion=content_emotion,
        content_agrees=None if content_emotion is None else content_emotion == emotion,
        voice=f"{spk.accent}+{variant}",
        espeak_wpm=int(min(350, max(80, round(spk.wpm * rate)))),
        espeak_pitch=spk.espeak_pitch,
        espeak_amplitude=ESPEAK_AMPLITUDE,
        pitch_shift_st=round(shift, 2),
        range_scale=round(range_scale, 3),
        rate_factor=rate,
        gain_db=round(gain, 2),
        speaker_level_db=spk.level_db,
        tilt_db_per_oct=round(tilt, 2),
        contour=contour,
        contour_st=round(contour_st, 2),
        declination_st=round(declination, 2),
        final_lengthening=p.final_lengthening,
        tremor=tremor,
        tremor_hz=round(tremor_hz, 2),
        tremor_st=round(tremor_st, 2),
        tremor_phase=round(tremor_phase, 3),
        emphasis=(word,),
        hesitation_ms=hesitation,
        drawl=p.drawl,
        whisper=p.whisper,
        pitch_floor=floor,
        pitch_ceiling=ceiling,
        noise_seed=rng.getrandbits(31),
    )


def plan_corpus(cfg: SynthConfig) -> list[UtterancePlan]:
    """The deterministic plan: every speaker x emotion x (neutral sentences + laden sentences), no audio.

    Each speaker reads ``cfg.neutral_sentences`` neutral sentences in every emotion (the same texts across
    emotions) and ``cfg.laden_sentences`` emotion-laden sentences per emotion. A share ``cfg.disagree_share``
    of all laden utterances (chosen at random, the count rounded) carries the words of another emotion.
    """
    labels = tuple(cfg.labels)
    profiles = [profile_for(label) for label in labels]  # fails early on labels without a profile
    if len(set(labels)) != len(labels):
        raise ValueError(f"synthetic corpus: labels repeat: {list(labels)}")
    if cfg.neutral_sentences > len(NEUTRAL_SENTENCES):
        raise ValueError(
            f"synthetic corpus: neutral_sentences={cfg.neutral_sentences} but the bank holds "
            f"{len(NEUTRAL_SENTENCES)}; use at most {len(NEUTRAL_SENTENCES)}"
        )
    max_laden = min(len(LADEN_SENTENCES[label]) for label in labels)
    if cfg.laden_sentences > max_laden:
        raise ValueError(
            f"synthetic corpus: laden_sentences={cfg.laden_sentences} but the bank holds {max_laden} "
            f"per emotion; use at most {max_laden}"
        )
    speakers = make_speakers(cfg)
    rng = _rng(cfg.seed, "sentences")
    neutral_bank = list(NEUTRAL_SENTENCES)
    rng.shuffle(neutral_bank)
    laden_bank = {label: list(LADEN_SENTENCES[label]) for label in labels}
    for label in labels:
        rng.shuffle(laden_bank[label])

    laden_slots = [
        (s, e, j) for s in range(len(speakers)) for e in range(len(labels)) for j in range(cfg.laden_sentences)
    ]
    n_disagree = round(cfg.disagree_share * len(laden_slots)) if len(labels) > 1 else 0
    disagree = set(_rng(cfg.seed, "disagree").sample(range(len(laden_slots)), n_disagree))
    content_rng = _rng(cfg.seed, "content")
    content: dict[tuple[int, int, int], tuple[str, str]] = {}
    for n, (s, e, j) in enumerate(laden_slots):
        if n in disagree:
            other = content_rng.choice([x for x in labels if x != labels[e]])
            content[(s, e, j)] = (other, laden_bank[other][content_rng.randrange(len(laden_bank[other]))])
        else:
            bank = laden_bank[labels[e]]
            content[(s, e, j)] = (labels[e], bank[(s * cfg.laden_sentences + j) % len(bank)])

    plans = []
    for s, spk in enumerate(speakers):
        texts = [
            neutral_bank[(s * cfg.neutral_sentences + j) % len(neutral_bank)] for j in range(cfg.neutral_sentences)
        ]
        for e, (label, prof) in enumerate(zip(labels, profiles, strict=True)):
            for j, text in enumerate(texts):
                uid = f"{spk.speaker_id}_{prof.code}_n{j + 1:02d}"
                plans.append(_utterance(cfg, spk, label, uid, text, "neutral", None))
            for j in range(cfg.laden_sentences):
                content_emotion, text = content[(s, e, j)]
                uid = f"{spk.speaker_id}_{prof.code}_l{j + 1:02d}"
                plans.append(_utterance(cfg, spk, label, uid, text, "laden", content_emotion))
    return plans


# --------------------------------------------------------------------------------------------- rendering


def config_hash(cfg: SynthConfig) -> str:
    """SHA-256 over the config and RENDER_VERSION: the cache key of a rendered corpus."""
    payload = json.dumps({"config": cfg.model_dump(mode="json"), "render_version": RENDER_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def espeak_version() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError(
            "synthetic corpus: espeak-ng is not on PATH; install it (apt-get install espeak-ng, "
            "brew install espeak-ng) or drop the synthetic corpus from data.corpora"
        )
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout
    return " ".join(out.split()[:4]) if out else "unknown"


def _render_job(job: tuple[UtterancePlan, str]) -> dict[str, Any]:
    """Worker: render one clip and write it (atomically); returns the rendered facts."""
    from emotionthinker.synth.render import render_utterance

    plan, path = job
    data, facts = render_utterance(plan)
    tmp = f"{path}.part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return facts


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    os.replace(tmp, path)


def _is_cached(out_dir: Path, key: str, plans: list[UtterancePlan]) -> bool:
    stamp, manifest = out_dir / "synth.json", out_dir / "manifest.jsonl"
    if not (stamp.is_file() and manifest.is_file()):
        return False
    try:
        info = json.loads(stamp.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if info.get("config_hash") != key or info.get("render_version") != RENDER_VERSION:
        return False
    return all((out_dir / "wav" / f"{p.utt_id}.wav").is_file() for p in plans)


def render_corpus(cfg: SynthConfig, out_dir: Path, workers: int = 0, progress: bool = True) -> Path:
    """Render the synthetic corpus into ``out_dir`` and return the path of its ``manifest.jsonl``.

    Writes ``wav/<utt>.wav`` (16 kHz mono PCM16), ``manifest.jsonl`` (one record per clip: ``path``
    relative to ``out_dir``, ``emotion``, ``speaker``, ``gender``, ``language``, ``transcription``,
    ``meta``) and ``synth.json`` (config, its hash, RENDER_VERSION). When ``synth.json`` matches the
    config and every wav exists, nothing is rendered. ``workers=0`` uses one process per CPU core.
    """
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    plans = plan_corpus(cfg)
    key = config_hash(cfg)
    manifest = out_dir / "manifest.jsonl"
    if _is_cached(out_dir, key, plans):
        log.info("synthetic corpus in %s is up to date (%d clips, config %s)", out_dir, len(plans), key[:12])
        return manifest

    version = espeak_version()
    wav_dir = out_dir / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "synth.json").unlink(missing_ok=True)  # a render cut short must not look complete
    wanted = {f"{p.utt_id}.wav" for p in plans}
    for old in wav_dir.glob("*.wav"):  # clips of an earlier config that this one does not have
        if old.name not in wanted:
            old.unlink()

    jobs = [(p, str(wav_dir / f"{p.utt_id}.wav")) for p in plans]
    workers = workers or os.cpu_count() or 1
    t0 = time.perf_counter()
    with tqdm(total=len(jobs), desc="synth", unit="clip", disable=not progress) as bar:
        if workers == 1:
            facts = []
            for job in jobs:
                facts.append(_render_job(job))
                bar.update()
        else:
            facts = []
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for f in pool.map(_render_job, jobs, chunksize=4):
                    facts.append(f)
                    bar.update()
    elapsed = time.perf_counter() - t0

    lines = []
    for plan, rendered in zip(plans, facts, strict=True):
        record = {
            "path": f"wav/{plan.utt_id}.wav",
            "emotion": plan.emotion,
            "speaker": plan.speaker,
            "gender": plan.gender,
            "language": "en",
            "transcription": plan.text,
            "meta": {**plan.meta(), **rendered},
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    _write_text(manifest, "\n".join(lines) + "\n")
    info = {
        "render_version": RENDER_VERSION,
        "config_hash": key,
        "config": cfg.model_dump(mode="json"),
        "espeak_ng": version,
        "clips": len(plans),
    }
    _write_text(out_dir / "synth.json", json.dumps(info, indent=2) + "\n")
    log.info("rendered %d synthetic clips into %s in %.1f s (%d workers)", len(plans), out_dir, elapsed, workers)
    return manifest
