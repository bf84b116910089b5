"""Uploaded audio: from a multipart file part to a checked 16 kHz clip, or an :class:`InputError` with a 4xx.

The rules are the ingest stage's (``emotionthinker.audio.check_clip`` with ``AudioLimits``), so the service refuses
exactly the clips the training data would have quarantined: empty, NaN, too short, too long, silent, clipped. On
top of them come the checks only a public endpoint needs: the bytes must be wav, flac, mp3 or ogg (recognised by
their signature, since a client's file name and content type are claims, not facts), and the duration is read from
the header before decoding, so that a small, highly compressed file cannot expand into gigabytes.

The client's file name is never used: BentoML's ``Path`` inputs put it into the temporary file's name, so the
service declares its upload as :class:`AudioUpload`, which keeps the bytes in memory, and decodes them from a file
it names itself.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from emotionthinker import audio
from emotionthinker.config import AudioLimits

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FORMATS = ("wav", "flac", "mp3", "ogg")
# what the client should do about each problem; check_clip's own messages say what was measured
FIXES = {
    "empty": "the file holds no audio samples; record or export the clip again",
    "non_finite": "the file holds NaN or infinite samples; export it again as PCM wav or flac",
    "too_short": "send a longer clip",
    "too_long": "send a shorter clip (split long recordings into utterances)",
    "silent": "no audible signal; check the microphone and the input gain",
    "clipped": "the recording is heavily clipped; record it again at a lower gain",
    "unreadable": "re-encode it, e.g. ffmpeg -i in.x -ar 16000 -ac 1 out.wav",
    "not_audio": "send a wav, flac, mp3 or ogg file (convert with ffmpeg -i in.x -ar 16000 -ac 1 out.wav)",
}


class InputError(Exception):
    """A request the service refuses: an HTTP status, a reason code, and a message that names the input and fix."""

    def __init__(self, status: int, reason: str, message: str, field: str = "audio"):
        super().__init__(message)
        self.status, self.reason, self.message, self.field = status, reason, message, field

    def body(self) -> dict:
        return {"error": self.message, "reason": self.reason, "input": self.field}


@dataclass(frozen=True)
class Upload:
    """The bytes of one uploaded file part; the client's file name is dropped on purpose."""

    data: bytes
    content_type: str | None = None


def _to_upload(value: Any) -> Upload:
    from pydantic_core import PydanticCustomError
    from starlette.datastructures import UploadFile

    if isinstance(value, Upload):
        return value
    if isinstance(value, UploadFile):
        value.file.seek(0)
        return Upload(value.file.read(), value.content_type)
    if isinstance(value, (bytes, bytearray)):
        return Upload(bytes(value))
    raise PydanticCustomError(
        "audio_upload",
        "send the clip as a multipart/form-data file part named 'audio' (curl -F audio=@clip.wav ...), "
        "not as a JSON value or text field",
    )


class AudioUpload(PurePosixPath):
    """Annotation of the ``audio`` parameter: a multipart file part, validated into an :class:`Upload`.

    It subclasses ``PurePath`` only because that is how BentoML recognises a file field (multipart form, file
    picker in its UI); it is never instantiated, and no path is ever made from the client's file name.
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            _to_upload, serialization=core_schema.plain_serializer_function_ser_schema(lambda u: u.data)
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema, handler):
        if handler.mode == "validation":
            return {"type": "file", "format": "audio", "title": "Audio"}
        return {"type": "string", "format": "binary"}


def sniff(head: bytes) -> str | None:
    """The container format from a file's first bytes, or None when it is none of :data:`FORMATS`.

    >>> sniff(b"RIFF\\x24\\x00\\x00\\x00WAVEfmt "), sniff(b"fLaC\\x00"), sniff(b"OggS\\x00"), sniff(b"ID3\\x04")
    ('wav', 'flac', 'ogg', 'mp3')
    >>> sniff(b"\\xff\\xfb\\x90\\x00"), sniff(b"%PDF-1.7"), sniff(b"\\xff\\xf1\\x50\\x80")
    ('mp3', None, None)
    """
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3":
        return "mp3"
    # an MPEG audio frame: 11 sync bits, then a version and a layer (00 is reserved; AAC's ADTS uses it)
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and (head[1] >> 1) & 0x3 != 0:
        return "mp3"
    return None


@dataclass
class Clip:
    samples: np.ndarray  # mono float32 at 16 kHz, DC removed: what every stage reads
    source_sr: int
    channels: int
    format: str
    bytes: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _too_long(duration: float, limits: AudioLimits) -> InputError:
    return InputError(
        422,
        "too_long",
        f"audio: {duration:.2f} s of audio; this service accepts at most {limits.max_duration_s:g} s. "
        f"Fix: {FIXES['too_long']}",
    )


def read_clip(upload: Upload, limits: AudioLimits) -> Clip:
    """Decode and check one upload (the ingest rules); raises :class:`InputError` with a 4xx status."""
    import soundfile as sf

    size = len(upload.data)
    if size == 0:
        raise InputError(422, "empty", f"audio: the uploaded file is empty (0 bytes). Fix: {FIXES['empty']}")
    fmt = sniff(upload.data[:16])
    if fmt is None:
        raise InputError(
            415,
            "not_audio",
            f"audio: the upload ({size} bytes, starting {upload.data[:8]!r}) is not a wav, flac, mp3 or ogg "
            f"file. Fix: {FIXES['not_audio']}",
        )
    with tempfile.TemporaryDirectory(prefix="emotionthinker-upload-") as tmp:
        path = Path(tmp) / f"upload.{fmt}"  # our name, never the client's
        path.write_bytes(upload.data)
        try:
            info = sf.info(str(path))
            header_s = info.frames / info.samplerate if info.samplerate else 0.0
        except (sf.LibsndfileError, RuntimeError, ValueError) as e:
            raise _unreadable(fmt, str(e), path) from None
        if header_s > limits.max_duration_s * 1.05 + 1:  # refuse before decoding what the header says is huge
            raise _too_long(header_s, limits)
        try:
            samples, sr = audio.decode(path)
        except audio.AudioProblem as e:
            raise _unreadable(fmt, e.message, path) from None
        except Exception as e:  # noqa: BLE001 - a decoder crash on hostile bytes is the client's file, not a 500
            raise _unreadable(fmt, f"{type(e).__name__}: {e}", path) from None
    problem = audio.check_clip(samples, sr, limits)
    if problem is not None:
        if problem.reason == "too_long":
            raise _too_long(samples.shape[0] / sr, limits)
        raise InputError(422, problem.reason, f"audio: {problem.message}. Fix: {FIXES.get(problem.reason, '')}")
    mono = audio.normalise(samples, sr, SAMPLE_RATE)
    channels = 1 if samples.ndim == 1 else int(samples.shape[1])
    return Clip(mono, sr, channels, fmt, size)


def _unreadable(fmt: str, detail: str, path: Path) -> InputError:
    detail = detail.replace(str(path), f"upload.{fmt}").replace(str(path.parent), "")  # no server paths
    return InputError(
        422,
        "unreadable",
        f"audio: the upload starts like a {fmt} file but cannot be decoded ({detail[:200]}). "
        f"Fix: {FIXES['unreadable']}",
    )


def limits_for(max_duration_s: float | None, model_window_s: float | None, base: AudioLimits | None = None):
    """The ingest limits with the longest duration lowered to what the model hears.

    The feature extractor pads or cuts every clip to its window (``chunk_length``): a longer clip would lose its
    end silently, so it is refused instead. ``max_duration_s`` (the operator's setting) can only lower it further.

    >>> [limits_for(a, b).max_duration_s for a, b in [(None, 4.0), (2.5, 4.0), (None, None)]]
    [4.0, 2.5, 30.0]
    """
    base = base or AudioLimits()
    longest = base.max_duration_s
    for cap in (max_duration_s, model_window_s):
        if cap is not None:
            longest = min(longest, float(cap))
    if longest <= base.min_duration_s:
        raise ValueError(
            f"the longest accepted clip ({longest} s) is not above the shortest ({base.min_duration_s} s); raise "
            "EMOTIONTHINKER_MAX_DURATION_S or serve a model with a longer audio window"
        )
    return base.model_copy(update={"max_duration_s": longest})
