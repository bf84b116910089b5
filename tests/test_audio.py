import shutil
import subprocess

import numpy as np
import pytest

from emotionthinker import audio
from emotionthinker.config import AudioLimits
from tests.conftest import tone, write

LIMITS = AudioLimits(min_duration_s=0.3, max_duration_s=5.0)


@pytest.mark.parametrize(
    "samples, reason",
    [
        (np.zeros(0, np.float32), "empty"),
        (np.full(16000, np.nan, np.float32), "non_finite"),
        (tone(0.2), "too_short"),
        (tone(6.0), "too_long"),
        (np.zeros(16000, np.float32), "silent"),
        (tone(1.0) * 1e-5, "silent"),
        (np.clip(tone(1.0, amp=3.0), -1, 1), "clipped"),
    ],
)
def test_check_clip_names_each_problem(samples, reason):
    problem = audio.check_clip(samples, 16000, LIMITS)
    assert problem is not None and problem.reason == reason
    assert problem.message  # a person can read why


def test_check_clip_accepts_ordinary_speech_level_audio():
    assert audio.check_clip(tone(1.0, amp=0.3), 16000, LIMITS) is None
    # a quiet but audible clip (-50 dBFS) is not silence
    assert audio.check_clip(tone(1.0, amp=0.005), 16000, LIMITS) is None


def test_normalise_downmixes_resamples_and_removes_dc():
    x = tone(1.0, sr=44100, channels=2) + 0.2
    y = audio.normalise(x, 44100, 16000)
    assert y.ndim == 1 and len(y) == 16000
    assert abs(float(y.mean())) < 1e-4
    # the level survives resampling: RMS within 0.1 dB of the source's AC part
    src = x[:, 0] - x[:, 0].mean()
    assert abs(20 * np.log10(np.std(y) / np.std(src))) < 0.1


@pytest.mark.parametrize("ext, subtype", [("wav", "PCM_16"), ("flac", "PCM_16"), ("ogg", "VORBIS")])
def test_decode_reads_libsndfile_formats(tmp_path, ext, subtype):
    path = write(tmp_path / f"a.{ext}", tone(1.0, sr=22050), 22050, subtype)
    x, sr = audio.decode(path)
    assert sr == 22050 and x.shape[1] == 1 and abs(len(x) - 22050) < 200


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
@pytest.mark.parametrize("ext, via_ffmpeg", [("mp3", False), ("m4a", True)])  # libsndfile >= 1.1 reads mp3
def test_decode_compressed_formats(tmp_path, ext, via_ffmpeg):
    wav = write(tmp_path / "a.wav", tone(1.0, sr=44100), 44100)
    out = tmp_path / f"a.{ext}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), str(out)], check=True)
    x, sr = audio.decode(out)
    assert (sr == 16000) == via_ffmpeg and 0.95 < len(x) / sr < 1.1
    assert audio.check_clip(x, sr, LIMITS) is None


def test_decode_segment(tmp_path):
    path = write(tmp_path / "long.wav", tone(3.0), 16000)
    x, sr = audio.decode(path, start_s=1.0, end_s=1.5)
    assert len(x) == 8000


def test_decode_errors_have_reasons(tmp_path):
    with pytest.raises(audio.AudioProblem) as e:
        audio.decode(tmp_path / "nope.wav")
    assert e.value.reason == "missing_file"
    junk = tmp_path / "junk.wav"
    junk.write_text("this is not audio")
    with pytest.raises(audio.AudioProblem) as e:
        audio.decode(junk)
    assert e.value.reason == "unreadable" and "junk.wav" in e.value.message
