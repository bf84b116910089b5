"""The EmotionThinker BentoML 1.4 service: ``bentoml serve serving.service:EmotionThinker``.

Routes
    POST /analyze         multipart: ``audio`` (wav, flac, mp3 or ogg) and options -> the answer, the rationale, the
                          measured prosody facts and a caption, the cues the rationale cites checked against them
    POST /generate_batch  the batchable generation step /analyze calls (adaptive batching; internal, but
                          protected and validated like any route)
    GET  /healthz /livez  liveness; GET /readyz: ready once the model is loaded and has generated once
    GET  /ui/             the web page (upload or record a clip, see waveform, pitch contour and cited cues)

Which model: the one the promote stage made current (``Registry().current("emotionthinker")``), declared at class
scope as a ``BentoModel`` so that ``bentoml build`` puts it into the Bento; inside a built Bento, the model it was
built with; ``EMOTIONTHINKER_MODEL_TAG`` overrides both. The other settings are ``EMOTIONTHINKER_*`` variables
(:mod:`serving.settings`).

Why a separate batchable step: decoding, checks and prosody are per clip and run in parallel threads, while
generation is where a batch pays (one forward pass per token for all clips). /analyze calls the step through the
service's own client (``self.to_async``), so BentoML's dispatcher groups concurrent requests; the step then splits
the group by max_new_tokens and similar duration before calling the shared ``analyse_batch``.
"""

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Annotated, Any

import anyio
import bentoml
import numpy as np
from bentoml.exceptions import BentoMLException
from pydantic import BaseModel, Field, field_validator
from starlette.responses import JSONResponse
from starlette.staticfiles import StaticFiles

from emotionthinker.annotate.facts import caption
from serving import analysis
from serving.guard import Guard
from serving.inputs import SAMPLE_RATE, AudioUpload, InputError, limits_for, read_clip
from serving.settings import MODEL_NAME, Settings, resolve_model_tag

logger = logging.getLogger("serving.service")
if logging.getLogger("serving").level == logging.NOTSET:  # BentoML's root level is WARNING; say what is served
    logging.getLogger("serving").setLevel(logging.INFO)

SETTINGS = Settings.from_env()
MODEL_TAG = resolve_model_tag(SETTINGS, Path(__file__))
MODEL = bentoml.models.BentoModel(MODEL_TAG)
UI_DIR = Path(__file__).parent / "ui"
# the generation step's own bound (the model's window, checked on /analyze, is usually shorter)
MAX_JOB_SAMPLES = int((SETTINGS.max_duration_s or 30.0) * SAMPLE_RATE) + SAMPLE_RATE
JOB_BODY_BYTES = 4 * MAX_JOB_SAMPLES * 4 // 3 + 4096  # base64 float32 plus the JSON around it
WARMUP_TOKENS = 2


class Job(BaseModel):
    """One clip for the generation step."""

    pcm: str = Field(description="mono float32 little-endian PCM at 16 kHz, base64 (serving.analysis.encode_pcm)")
    max_new_tokens: int = Field(ge=1, le=SETTINGS.max_new_tokens_cap)

    @field_validator("pcm")
    @classmethod
    def _decodable(cls, value: str) -> str:
        analysis.decode_pcm(value, MAX_JOB_SAMPLES)  # raises ValueError -> a 400 for this request only
        return value


class Generated(BaseModel):
    text: str
    emotion: str | None
    rationale: str | None
    well_formed: bool
    seconds: float = Field(description="this clip's share of its group's generation time")
    new_tokens: int
    batch_size: int = Field(description="clips the dispatcher handed to this call")
    group_size: int = Field(description="clips generated together with this one (same max_new_tokens, similar length)")


class Cue(BaseModel):
    attribute: str
    value: str
    phrase: str
    start: int
    end: int
    measured: str | None
    agrees: bool | None


class Prosody(BaseModel):
    status: str | None
    levels: dict[str, str | None]
    values: dict[str, Any]
    stressed_words: list[str]
    calibration: dict[str, str | None]


class Contour(BaseModel):
    times_s: list[float]
    f0_hz: list[float | None]
    hop_s: float


class Waveform(BaseModel):
    min: list[float]
    max: list[float]
    duration_s: float


class Timings(BaseModel):
    decode_ms: float
    prosody_ms: float
    generate_ms: float = Field(description="wall time of the generation step, batching queue included")
    model_ms: float = Field(description="this clip's share of its batch's generation")
    total_ms: float


class Analysis(BaseModel):
    emotion: str | None = Field(description="the label in the answer, if it is one of the model's labels")
    rationale: str | None
    raw_output: str
    well_formed: bool
    labels: list[str]
    caption: str = Field(description="the measured prosody in words, as the training captions were written")
    prosody: Prosody
    cues: list[Cue] = Field(description="cue claims of the rationale, with the measured value and whether it agrees")
    features: dict[str, Any] | None = None
    contour: Contour | None = None
    waveform: Waveform | None = None
    duration_s: float
    max_new_tokens: int
    new_tokens: int
    batch_size: int
    timings_ms: Timings
    model_tag: str


def _verify(path: Path) -> None:
    """Refuse to serve a model folder whose files differ from the SHA-1 manifest written when it was saved."""
    from emotionthinker.registry import MANIFEST, file_hashes

    manifest = path / MANIFEST
    if not manifest.exists():
        logger.warning("%s has no %s; its files are served unchecked", path, MANIFEST)
        return
    expected = json.loads(manifest.read_text())
    actual = {k: v for k, v in file_hashes(path).items() if k in expected}
    if actual != expected:
        bad = sorted(k for k in expected if actual.get(k) != expected[k])
        raise RuntimeError(
            f"{MODEL_TAG}: {len(bad)} file(s) differ from the saved manifest ({', '.join(bad[:5])}); the store copy "
            f"at {path} is damaged. Save and promote the model again, or set EMOTIONTHINKER_VERIFY_MODEL=0"
        )


def _set_threads(model) -> int:
    """Intra-op threads for generation (``EMOTIONTHINKER_TORCH_THREADS``; automatic when 0).

    On 2 CPU cores shared with the prosody threads (and another process), the project's 3M-parameter tiny model
    generated a batch of 8 clips in 0.26 s with one thread and in 1.5 s with two: its matrices are too small to
    split, and the threads spin waiting for each other.
    """
    import torch

    from emotionthinker.model import parameter_count

    threads = SETTINGS.torch_threads or (1 if parameter_count(model) < 50_000_000 else 0)
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


@bentoml.service(
    name=MODEL_NAME,
    workers=1,  # one model copy and one batching queue (more workers would split the batches)
    traffic={"timeout": SETTINGS.timeout_s},
    # /analyze reaches the batching step through the service's own client; BentoML 1.4 recycles a client session
    # every 100 requests and closing it aborts the requests in flight on it (bentoml/BentoML#5540, #5698). The
    # session is in-process (an ASGI connector), so there is nothing to gain from recycling it: never do.
    runner_connection={"max_requests": 2**31 - 1, "max_age": 10.0 * 365 * 86400},
    labels={"project": "emotionthinker"},
)
class EmotionThinker:
    model_ref = MODEL

    def __init__(self) -> None:
        from emotionthinker.evaluation.inference import analyse_batch
        from emotionthinker.labels import DEFAULT_LABELS
        from emotionthinker.model import load

        stored = MODEL.stored
        if stored is None:
            raise RuntimeError(
                f"model {MODEL_TAG} is not in the BentoML model store "
                f"(BENTOML_HOME={os.environ.get('BENTOML_HOME', '~/bentoml')}); point BENTOML_HOME at the store "
                "that holds it, or set EMOTIONTHINKER_MODEL_TAG to a tag that `bentoml models list` shows"
            )
        path = Path(self.model_ref.path)
        if SETTINGS.verify_model:
            _verify(path)
        meta = dict(stored.info.metadata)
        self.tag = str(stored.tag)
        self.labels = list(meta.get("labels") or DEFAULT_LABELS)
        self.default_new_tokens = min(int(meta.get("max_new_tokens") or 256), SETTINGS.max_new_tokens_cap)
        self.thresholds = meta.get("thresholds") or None
        if not self.thresholds:
            logger.warning("%s was promoted without prosody thresholds: levels will be null", self.tag)
        self.model, self.processor = load(path, device="auto")
        self.torch_threads = _set_threads(self.model)
        window = getattr(self.processor.feature_extractor, "chunk_length", None)
        self.limits = limits_for(SETTINGS.max_duration_s, window)
        self._analyse = analyse_batch
        self._pending = 0
        self._limiter: anyio.CapacityLimiter | None = None
        self._authorised_self = False
        rng = np.random.default_rng(0)  # a generation at start: the first client does not pay the lazy inits
        self._analyse(self.model, self.processor, [0.05 * rng.standard_normal(SAMPLE_RATE).astype(np.float32)],
                      self.labels, WARMUP_TOKENS)  # fmt: skip
        self._ready = True
        logger.info(
            "serving %s from %s: labels %s, max_new_tokens %d, clips %.1f-%.1f s, batching %s (max %d), %d torch "
            "thread(s)", self.tag, path, self.labels, self.default_new_tokens, self.limits.min_duration_s,
            self.limits.max_duration_s, "on" if SETTINGS.batching else "off", SETTINGS.max_batch_size,
            self.torch_threads,
        )  # fmt: skip

    def __is_ready__(self) -> bool:
        return getattr(self, "_ready", False)

    @bentoml.api(
        route="/generate_batch",
        batchable=SETTINGS.batching,
        batch_dim=0,
        max_batch_size=SETTINGS.max_batch_size,
        max_latency_ms=SETTINGS.max_latency_ms,
    )
    def generate_batch(self, jobs: list[Job]) -> list[Generated]:
        """Generate the answers of a batch of clips (the adaptive batching step of /analyze).

        BentoML's dispatcher concatenates the jobs of concurrent requests; they are generated in groups of one
        max_new_tokens and similar duration, with the inference path evaluation uses (greedy, same prompt/parser).
        """
        audios = [analysis.decode_pcm(j.pcm, MAX_JOB_SAMPLES) for j in jobs]
        keys = [j.max_new_tokens for j in jobs]
        out: list[Generated | None] = [None] * len(jobs)
        for group in analysis.group_by_duration([len(a) / SAMPLE_RATE for a in audios], keys):
            answers = self._analyse(self.model, self.processor, [audios[i] for i in group], self.labels,
                                    keys[group[0]], 0.0)  # fmt: skip
            for i, a in zip(group, answers, strict=True):
                out[i] = Generated(**a.to_dict(), batch_size=len(jobs), group_size=len(group))
        if len(jobs) > 1:
            logger.debug("generated a batch of %d clips in groups", len(jobs))
        return out  # type: ignore[return-value]

    def _cpu(self) -> anyio.CapacityLimiter:
        if self._limiter is None:  # per event loop, so made on first use
            self._limiter = anyio.CapacityLimiter(2)
        return self._limiter

    def _self_client(self):
        """The service's own client, carrying the token when one is required (the guard checks every call).

        BentoML's client opens its session on the first call, with its ``default_headers``; this runs before it.
        """
        client = self.to_async
        if SETTINGS.api_token and not self._authorised_self:
            headers = getattr(client, "default_headers", None)
            if headers is not None:
                headers["Authorization"] = f"Bearer {SETTINGS.api_token}"
            self._authorised_self = True
        return client

    @bentoml.api(route="/analyze")
    async def analyze(
        self,
        audio: AudioUpload,
        features: bool = Field(False, description="also return every measured prosodic feature"),
        contour: bool = Field(False, description="also return the F0 contour (times, Hz) for plotting"),
        waveform: bool = Field(False, description="also return a min/max waveform envelope for plotting"),
        max_new_tokens: Annotated[int | None, Field(ge=1, le=SETTINGS.max_new_tokens_cap)] = Field(
            None, description="generation budget; default: the one the model was evaluated with"
        ),
        corpus: Annotated[str | None, Field(max_length=64)] = Field(
            None, description="calibration group to use (a corpus of the training data); default: pooled cuts"
        ),
        transcript: Annotated[str | None, Field(max_length=2000)] = Field(
            None, description="what is said, if known: enables stressed words and the text-based rate"
        ),
        language: Annotated[str | None, Field(max_length=16)] = Field(None, description="language code, e.g. en"),
    ) -> Analysis:
        """Analyse one clip: emotion, rationale, measured prosody facts, caption and the cues the rationale cites."""
        started = time.perf_counter()
        if self._pending >= SETTINGS.max_pending:
            return JSONResponse(
                {"error": f"the service is busy ({self._pending} analyses in flight); retry in a few seconds",
                 "reason": "busy"}, status_code=503, headers={"Retry-After": "2"},
            )  # fmt: skip
        self._pending += 1
        try:
            try:
                clip = await anyio.to_thread.run_sync(read_clip, audio, self.limits, limiter=self._cpu())
            except InputError as e:
                logger.info("refused an upload: %s (%s)", e.reason, e.message)
                return JSONResponse(e.body(), status_code=e.status)
            decoded = time.perf_counter()
            budget = max_new_tokens or self.default_new_tokens
            job = Job(pcm=analysis.encode_pcm(clip.samples), max_new_tokens=budget)

            async def measure():
                t0 = time.perf_counter()
                result = await anyio.to_thread.run_sync(self._measure, clip.samples, corpus, transcript, language,
                                                        contour, waveform, limiter=self._cpu())  # fmt: skip
                return result, time.perf_counter() - t0

            async def generate():
                t0 = time.perf_counter()
                result = await self._self_client().generate_batch([job])
                return result[0], time.perf_counter() - t0

            try:
                (measured, prosody_s), (gen, generate_s) = await asyncio.gather(measure(), generate())
            except BentoMLException as e:
                status = int(getattr(e.error_code, "value", 500))
                if status == 503:
                    return JSONResponse({"error": "the generation queue is full; retry in a few seconds",
                                         "reason": "busy"}, status_code=503, headers={"Retry-After": "2"})  # fmt: skip
                logger.error("generation failed (%d): %s", status, str(e)[:500])
                return JSONResponse({"error": "generation failed; the server log has the details",
                                     "reason": "internal"}, status_code=500)  # fmt: skip
        finally:
            self._pending -= 1
        feats, facts, prosody, trace, wave = measured
        return Analysis(
            emotion=gen.emotion,
            rationale=gen.rationale,
            raw_output=gen.text,
            well_formed=gen.well_formed,
            labels=self.labels,
            caption=caption(facts),
            prosody=prosody,
            cues=analysis.cited_cues(gen.rationale, facts),
            features=feats if features else None,
            contour=trace,
            waveform=wave,
            duration_s=round(clip.duration_s, 4),
            max_new_tokens=budget,
            new_tokens=gen.new_tokens,
            batch_size=gen.batch_size,
            timings_ms=Timings(
                decode_ms=round(1000 * (decoded - started), 1),
                prosody_ms=round(1000 * prosody_s, 1),
                generate_ms=round(1000 * generate_s, 1),
                model_ms=round(1000 * gen.seconds, 1),
                total_ms=round(1000 * (time.perf_counter() - started), 1),
            ),
            model_tag=self.tag,
        )

    def _measure(self, samples, corpus, transcript, language, want_contour, want_waveform):
        feats, facts, prosody = analysis.measure(samples, SAMPLE_RATE, self.thresholds, corpus=corpus,
                                                 transcript=transcript, language=language)  # fmt: skip
        trace = analysis.f0_contour(samples, SAMPLE_RATE) if want_contour else None
        wave = analysis.waveform(samples, SAMPLE_RATE) if want_waveform else None
        return feats, facts, prosody, trace, wave


EmotionThinker.add_asgi_middleware(
    Guard,
    token=SETTINGS.api_token,
    limits={
        "/analyze": SETTINGS.max_upload_bytes,
        "/generate_batch": SETTINGS.max_batch_size * JOB_BODY_BYTES,
    },  # fmt: skip
    default_limit=1024 * 1024,
)
EmotionThinker.mount_asgi_app(StaticFiles(directory=UI_DIR, html=True), path="/ui", name="ui")
