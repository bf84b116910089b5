"""The BentoML service: settings and model resolution, upload checks, the guard, the prosody facts, then a real
``bentoml serve`` of a tiny promoted model (API contract, a table of bad inputs, authentication, concurrency and
batching), the web page in headless Chromium, and a built Bento that serves.

The served model is the tiny Qwen2-Audio fitted for 40 steps to one reply (:data:`FITTED_REPLY`), so the answers
are well formed and the contract can be checked number by number; the server requires a token, as in production.
"""

from __future__ import annotations

import concurrent.futures
import doctest
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest

from emotionthinker.annotate.facts import caption
from emotionthinker.config import AudioLimits
from emotionthinker.prosody.calibrate import level_of
from serving import analysis, guard, inputs
from serving.guard import Guard
from serving.settings import Settings, SettingsError, resolve_model_tag, tag_from_bento
from tests.serving_fixtures import (
    FITTED_REPLY,
    REPO,
    SR,
    THRESHOLDS,
    build_model,
    promote,
    serving,
    speech_like,
    wav_bytes,
)

TOKEN = "serving-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RATIONALE = FITTED_REPLY.split("<think>")[1].split("</think>")[0]


def test_doctests_of_the_serving_helpers():
    for module in (inputs, analysis, guard):
        result = doctest.testmod(module)
        assert result.attempted >= 3 and result.failed == 0, module.__name__


# -- settings and which model -----------------------------------------------------------------------------------------
def test_settings_defaults_and_overrides():
    s = Settings.from_env({})
    assert (s.api_token, s.max_upload_bytes, s.batching, s.max_batch_size, s.max_duration_s) == (
        None, 10 * 1024 * 1024, True, 8, None)  # fmt: skip
    s = Settings.from_env({"EMOTIONTHINKER_MAX_UPLOAD_MB": "0.5", "EMOTIONTHINKER_BATCHING": "off",
                           "EMOTIONTHINKER_API_TOKEN": "x" * 20, "EMOTIONTHINKER_MAX_DURATION_S": "12"})  # fmt: skip
    assert (s.max_upload_bytes, s.batching, s.api_token, s.max_duration_s) == (524288, False, "x" * 20, 12.0)


@pytest.mark.parametrize(
    "env, needle",
    [
        ({"EMOTIONTHINKER_MAX_UPLOAD_MB": "lots"}, "EMOTIONTHINKER_MAX_UPLOAD_MB='lots' is not a number"),
        ({"EMOTIONTHINKER_MAX_BATCH_SIZE": "1"}, "out of range; use a value from 2 to 256"),
        ({"EMOTIONTHINKER_BATCHING": "maybe"}, "use 1/true/on or 0/false/off"),
        ({"EMOTIONTHINKER_API_TOKEN": "short"}, "at least 16 random characters"),
    ],
)
def test_settings_errors_name_the_variable_and_the_fix(env, needle):
    with pytest.raises(SettingsError, match="EMOTIONTHINKER_") as e:
        Settings.from_env(env)
    assert needle in str(e.value)


def test_the_served_tag_comes_from_the_env_then_the_bento_then_the_registry(tmp_path, monkeypatch):
    home = tmp_path / "bentoml"
    monkeypatch.setenv("BENTOML_HOME", str(home))
    here = tmp_path / "repo" / "serving" / "service.py"
    with pytest.raises(SettingsError, match="no model is promoted as 'emotionthinker'.*dvc repro promote"):
        resolve_model_tag(Settings(), here)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    tag = promote(home, folder)
    assert resolve_model_tag(Settings(), here) == tag
    assert resolve_model_tag(Settings(model_tag="emotionthinker:pinned"), here) == "emotionthinker:pinned"
    with pytest.raises(SettingsError, match="give name:version"):
        resolve_model_tag(Settings(model_tag="emotionthinker"), here)
    # inside a built Bento (<bento>/src/serving/service.py), its own bento.yaml wins over the promotion pointer
    bento = tmp_path / "bento"
    (bento / "src" / "serving").mkdir(parents=True)
    (bento / "bento.yaml").write_text(
        "models: []\nservices:\n- name: emotionthinker\n  models:\n  - tag: emotionthinker:built\n    module: ''\n"
    )
    assert tag_from_bento(bento / "bento.yaml") == "emotionthinker:built"
    assert resolve_model_tag(Settings(), bento / "src" / "serving" / "service.py") == "emotionthinker:built"
    assert tag_from_bento(tmp_path / "missing.yaml") is None


# -- uploads ----------------------------------------------------------------------------------------------------------
LIMITS = AudioLimits(max_duration_s=4.0)


def _bytes(samples, fmt="WAV", subtype=None, sr=SR):
    return wav_bytes(samples, sr, fmt, subtype)


def _corrupt_wav():
    junk = np.random.default_rng(0).integers(0, 256, 400, dtype=np.uint8).tobytes()
    return b"RIFF\x24\x10\x00\x00WAVE" + junk


def _nan_wav():
    x = speech_like(1.0)
    x[100:200] = np.nan
    return _bytes(x, subtype="FLOAT")


def _clipped():
    t = np.arange(SR) / SR
    return _bytes(np.sign(np.sin(2 * np.pi * 150 * t)).astype(np.float32), subtype="FLOAT")


BAD_UPLOADS = {
    # name: (bytes, status, reason, words the message must contain)
    "not_audio": (lambda: b"%PDF-1.7\n" + b"x" * 500, 415, "not_audio", "not a wav, flac, mp3 or ogg"),
    "empty": (lambda: b"", 422, "empty", "empty (0 bytes)"),
    "corrupt_wav": (_corrupt_wav, 422, "unreadable", "starts like a wav file but cannot be decoded"),
    "corrupt_flac": (lambda: b"fLaC" + bytes(range(256)) * 4, 422, "unreadable", "flac file but cannot be decoded"),
    "silent": (lambda: _bytes(np.zeros(SR, dtype=np.float32)), 422, "silent", "dBFS"),
    "too_short": (lambda: _bytes(speech_like(0.1)), 422, "too_short", "at least 0.3 s"),
    "too_long": (lambda: _bytes(speech_like(6.0)), 422, "too_long", "at most 4 s"),
    "clipped": (_clipped, 422, "clipped", "at full scale"),
    "nan_samples": (_nan_wav, 422, "non_finite", "NaN/inf samples"),
}


@pytest.mark.parametrize("name", sorted(BAD_UPLOADS))
def test_read_clip_refuses_bad_uploads_with_a_4xx_that_names_the_problem(name):
    make, status, reason, words = BAD_UPLOADS[name]
    with pytest.raises(inputs.InputError) as e:
        inputs.read_clip(inputs.Upload(make()), LIMITS)
    assert (e.value.status, e.value.reason) == (status, reason)
    assert words in e.value.message and "Fix:" in e.value.message and e.value.message.startswith("audio: ")
    assert "/tmp" not in e.value.message  # no server paths in what the client reads


def test_a_huge_duration_is_refused_from_the_header_before_decoding(monkeypatch):
    decoded = []

    def decode(*args, **kwargs):
        decoded.append(args)
        raise AssertionError("decoded a clip the header says is too long")

    monkeypatch.setattr(inputs.audio, "decode", decode)
    flac = _bytes(np.zeros(SR * 60, dtype=np.float32), fmt="FLAC")  # a minute of silence: tiny as flac
    assert len(flac) < 100_000
    with pytest.raises(inputs.InputError) as e:
        inputs.read_clip(inputs.Upload(flac), LIMITS)
    assert e.value.reason == "too_long" and "60.00 s of audio" in e.value.message and decoded == []


@pytest.mark.parametrize("fmt, subtype", [("WAV", "PCM_16"), ("FLAC", None), ("OGG", "VORBIS"), ("MP3", None)])
def test_read_clip_accepts_the_four_formats_and_normalises(fmt, subtype):
    x = speech_like(1.5, sr=44100)
    stereo = np.stack([x, 0.5 * x], axis=1)
    clip = inputs.read_clip(inputs.Upload(_bytes(stereo, fmt, subtype, sr=44100)), LIMITS)
    assert clip.format == {"WAV": "wav", "FLAC": "flac", "OGG": "ogg", "MP3": "mp3"}[fmt]
    assert (clip.source_sr, clip.channels) == (44100, 2)
    assert clip.samples.dtype == np.float32 and clip.samples.ndim == 1
    assert abs(clip.duration_s - 1.5) < 0.06  # mp3 adds encoder padding
    assert abs(float(clip.samples.mean())) < 1e-4  # DC removed, as every stage reads clips


def test_limits_follow_the_model_window():
    assert inputs.limits_for(None, 4.0).max_duration_s == 4.0
    with pytest.raises(ValueError, match="EMOTIONTHINKER_MAX_DURATION_S"):
        inputs.limits_for(0.2, 4.0)


# -- analysis helpers -------------------------------------------------------------------------------------------------
def test_prosody_facts_use_the_thresholds_and_the_corpus_group():
    x = speech_like(1.5, 330, 270)  # a high voice: estimated female, median ~300 Hz
    _, facts, pooled = analysis.measure(x, SR, THRESHOLDS)
    median = pooled["values"]["f0_median_hz"]
    assert 270 < median < 330 and pooled["levels"]["gender"] == "female"
    assert pooled["calibration"] == {"pitch": "pooled", "energy": "pooled", "speed": "pooled"}
    assert pooled["levels"]["pitch"] == level_of(median, [140.0, 210.0], ("low", "medium", "high")) == "high"
    _, _, grouped = analysis.measure(x, SR, THRESHOLDS, corpus="lab")
    assert grouped["calibration"]["pitch"] == "lab|female"
    assert grouped["levels"]["pitch"] == level_of(median, [300.0, 400.0], ("low", "medium", "high"))
    assert grouped["levels"]["pitch"] != "high"
    _, _, bare = analysis.measure(x, SR, None)  # a model promoted without thresholds: values, no levels
    assert bare["levels"]["pitch"] is None and bare["values"]["f0_median_hz"] == median
    assert "pitch" in caption(facts) and facts.intonation == "falling"


def test_cited_cues_are_located_and_checked_against_the_measurement():
    from emotionthinker.annotate.facts import Facts

    facts = Facts("u", None, None, None, "male", None, "low", "high", None, None, "voiced")
    cues = analysis.cited_cues("A low pitch, a soft voice and a slow pace.", facts)
    assert [(c["attribute"], c["value"], c["measured"], c["agrees"]) for c in cues] == [
        ("pitch", "low", "low", True), ("energy", "low", "high", False), ("speed", "low", None, None)]  # fmt: skip
    text = "A low pitch, a soft voice and a slow pace."
    assert [text[c["start"] : c["end"]] for c in cues] == ["low pitch", "soft", "slow"]
    assert analysis.cited_cues(None, facts) == []


def test_contour_and_waveform_for_the_page():
    x = speech_like(1.2, 200, 150)
    c = analysis.f0_contour(x, SR)
    voiced = [f for f in c["f0_hz"] if f is not None]
    assert len(c["times_s"]) == len(c["f0_hz"]) and len(voiced) > 50
    assert 180 < np.median(voiced[:10]) < 215 and 140 < np.median(voiced[-10:]) < 165  # the glide, start to end
    w = analysis.waveform(x, SR, bins=100)
    assert len(w["min"]) == len(w["max"]) == 100 and w["duration_s"] == 1.2
    assert all(lo <= hi for lo, hi in zip(w["min"], w["max"], strict=True)) and max(w["max"]) > 0.1


def test_batch_groups_and_the_pcm_wire_format():
    assert analysis.group_by_duration([2.0, 2.1, 2.2, 1.9], [16] * 4) == [[0, 1, 2, 3]]
    assert analysis.group_by_duration([1.0, 4.0, 1.1], [16, 16, 32]) == [[0], [2], [1]]
    x = speech_like(0.5)
    assert np.array_equal(analysis.decode_pcm(analysis.encode_pcm(x), len(x)), x)  # exact: same samples served
    with pytest.raises(ValueError, match="at most 10 are accepted"):
        analysis.decode_pcm(analysis.encode_pcm(x), 10)
    with pytest.raises(ValueError, match="not valid base64"):
        analysis.decode_pcm("@@@", 10)
    with pytest.raises(ValueError, match="NaN"):
        analysis.decode_pcm(analysis.encode_pcm(np.array([np.nan], dtype=np.float32)), 10)


# -- the guard, on a stand-in app -------------------------------------------------------------------------------------
async def _echo(scope, receive, send):
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def _guarded(**kw):
    import asyncio

    app = Guard(_echo, limits={"/analyze": 1000}, default_limit=50, **kw)

    def call(method, path, **req):
        async def go():
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                return await c.request(method, path, **req)

        return asyncio.run(go())

    return call


def test_guard_token_open_paths_and_body_limits():
    call = _guarded(token=TOKEN)
    files = {"audio": ("a.wav", b"RIFF" + b"0" * 100)}
    assert call("POST", "/analyze", files=files).status_code == 401
    r = call("POST", "/analyze", files=files, headers={"Authorization": "Bearer wrong-token-0123456789"})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert "EMOTIONTHINKER_API_TOKEN" in r.json()["error"]
    ok = call("POST", "/analyze", files=files, headers=AUTH)
    assert ok.status_code == 200 and int(ok.text) > 100  # the body reached the app, replayed whole
    for path in ("/healthz", "/livez", "/readyz", "/ui", "/ui/app.js"):
        assert call("GET", path).status_code == 200, path
    assert call("GET", "/metrics").status_code == 401 and call("GET", "/ui-not").status_code == 401
    big = call("POST", "/analyze", files={"audio": ("a.wav", b"0" * 2000)}, headers=AUTH)
    assert big.status_code == 413 and "accepts at most 1000 bytes" in big.json()["error"]

    async def chunks():  # no content-length: the limit is counted while reading
        for _ in range(10):
            yield b"0" * 10

    streamed = call("POST", "/generate_batch", content=chunks(), headers={**AUTH, "content-type": "application/json"})
    assert streamed.status_code == 413 and "more than" in streamed.json()["error"]


def test_guard_refuses_audio_sent_as_text_or_url():
    call = _guarded()  # no token: authentication off
    r = call("POST", "/analyze", files={"audio": (None, "https://example.com/clip.wav")})
    assert r.status_code == 400 and r.json()["reason"] == "not_a_file" and "URLs are not fetched" in r.json()["error"]
    r = call("POST", "/analyze", data={"audio": "https://example.com/clip.wav"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["error"]
    r = call("POST", "/analyze", json={"audio": "AAAA"})
    assert r.status_code == 415 and r.json()["reason"] == "not_multipart"


# -- a real server ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A private BentoML store with the fitted tiny model promoted (window 4 s, 32 new tokens by default)."""
    root = tmp_path_factory.mktemp("serving")
    model = build_model(root / "tiny", max_audio_s=3.0, fit_steps=40)
    home = root / "bentoml"
    return SimpleNamespace(root=root, home=home, model=model, tag=promote(home, model, max_new_tokens=32))


@pytest.fixture(scope="module")
def server(store):
    with serving(store.home, log=store.root / "serve.log", api_token=TOKEN, max_upload_mb="1") as served:
        with httpx.Client(base_url=served.url, headers=AUTH, timeout=60) as client:
            yield SimpleNamespace(url=served.url, pid=served.pid, client=client, log=store.root / "serve.log")


def _wav(seconds=1.5, f0=(220.0, 160.0), **kw) -> bytes:
    return wav_bytes(speech_like(seconds, *f0, **kw))


def _analyze(server, clip: bytes, name="clip.wav", **options):
    data = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items()}
    return server.client.post("/analyze", files={"audio": (name, clip, "audio/wav")}, data=data)


def test_analyze_returns_the_contract_from_the_shared_inference_path(server, store, tmp_path):
    from emotionthinker import audio
    from emotionthinker.evaluation.inference import analyse_batch
    from emotionthinker.labels import DEFAULT_LABELS
    from emotionthinker.model import load

    clip = _wav()
    r = _analyze(server, clip)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"emotion", "rationale", "raw_output", "well_formed", "prosody", "caption", "cues",
                         "timings_ms", "model_tag", "labels", "duration_s", "max_new_tokens"}  # fmt: skip
    assert body["model_tag"] == store.tag and body["labels"] == list(DEFAULT_LABELS)
    assert (body["emotion"], body["rationale"], body["well_formed"]) == ("sad", RATIONALE, True)
    assert body["raw_output"] == FITTED_REPLY and body["max_new_tokens"] == 32 and body["duration_s"] == 1.5
    # the same answer as evaluation's analyse_batch on the clip as every stage reads it
    path = tmp_path / "clip.wav"
    path.write_bytes(clip)
    model, processor = load(store.model)
    local = analyse_batch(model, processor, [audio.load(path)], DEFAULT_LABELS, 32)[0]
    assert local.text == body["raw_output"] and local.new_tokens == body["new_tokens"]
    # the prosody facts are the library's, with the promoted thresholds (pooled cuts: no corpus given)
    _, facts, prosody = analysis.measure(audio.load(path), SR, THRESHOLDS)
    assert body["prosody"] == json.loads(json.dumps(prosody)) and body["caption"] == caption(facts)
    values, levels = body["prosody"]["values"], body["prosody"]["levels"]
    assert 150 < values["f0_median_hz"] < 230
    assert levels["pitch"] == level_of(values["f0_median_hz"], [140.0, 210.0], ("low", "medium", "high"))
    assert levels["energy"] == level_of(values["active_level_dbfs"], [-30.0, -20.0], ("low", "medium", "high"))
    # the three cues of the rationale, each checked against the measured level
    assert [(c["attribute"], c["value"], c["phrase"]) for c in body["cues"]] == [
        ("pitch", "low", "low pitch"), ("energy", "low", "soft"), ("speed", "low", "slow")]  # fmt: skip
    for cue in body["cues"]:
        assert cue["measured"] == levels[cue["attribute"]] and cue["agrees"] == (levels[cue["attribute"]] == "low")
    t = body["timings_ms"]
    assert all(t[k] > 0 for k in ("decode_ms", "prosody_ms", "generate_ms", "model_ms", "total_ms"))
    assert t["total_ms"] >= t["decode_ms"] + max(t["prosody_ms"], t["generate_ms"]) - 1
    assert (body["features"], body["contour"], body["waveform"]) == (None, None, None)  # only when asked


def test_analyze_options(server):
    clip = _wav(1.5, (330.0, 270.0))
    full = _analyze(server, clip, features=True, contour=True, waveform=True, corpus="lab").json()
    assert full["features"]["f0_median_hz"] == full["prosody"]["values"]["f0_median_hz"]
    assert full["features"]["corpus"] == "lab" and "jitter_pct" in full["features"]
    assert len(full["contour"]["times_s"]) == len(full["contour"]["f0_hz"]) > 100
    assert len(full["waveform"]["min"]) == 800 and full["waveform"]["duration_s"] == 1.5
    # corpus=lab selects the lab|female pitch cuts (300/400 Hz) instead of the pooled ones (140/210 Hz)
    pooled = _analyze(server, clip).json()
    assert pooled["prosody"]["levels"]["pitch"] == "high" and pooled["prosody"]["calibration"]["pitch"] == "pooled"
    assert full["prosody"]["calibration"]["pitch"] == "lab|female" and full["prosody"]["levels"]["pitch"] != "high"
    short = _analyze(server, clip, max_new_tokens=4).json()
    assert short["max_new_tokens"] == 4 and FITTED_REPLY.startswith(short["raw_output"])
    assert len(short["raw_output"]) < len(FITTED_REPLY) and not short["well_formed"] and short["emotion"] is None
    stressed = _analyze(server, _wav(2.0), transcript="I lost it all again", language="en").json()
    assert stressed["prosody"]["status"] == "ok" and isinstance(stressed["prosody"]["stressed_words"], list)


@pytest.mark.parametrize("fmt, subtype", [("FLAC", None), ("OGG", "VORBIS"), ("MP3", None)])
def test_analyze_accepts_flac_ogg_and_mp3(server, fmt, subtype):
    r = _analyze(server, wav_bytes(speech_like(1.5), SR, fmt, subtype), name="../../etc/passwd")
    assert r.status_code == 200 and r.json()["emotion"] == "sad" and abs(r.json()["duration_s"] - 1.5) < 0.06


SERVER_BAD = {
    # name: (request kwargs for client.post("/analyze"), status, reason or None, words in the message)
    "too_large": (lambda: {"files": {"audio": ("a.wav", _wav(40.0))}}, 413, "too_large", "at most 1.00 MB"),
    "missing_audio": (lambda: {"files": {"note": (None, "hello")}}, 400, "bad_form", "audio: missing"),
    "file_under_another_name": (lambda: {"files": {"audio": ("a.wav", _wav()), "other": ("b.bin", b"\xa4\x00")}},
                                400, "bad_form", "other: unexpected file part"),  # fmt: skip
    "binary_option": (lambda: {"files": {"audio": ("a.wav", _wav()), "corpus": (None, b"\xff\xfe")}}, 400,
                      "bad_form", "corpus: the option is not UTF-8"),  # fmt: skip
    "two_clips": (lambda: {"files": [("audio", ("a.wav", _wav())), ("audio", ("b.wav", _wav()))]}, 400,
                  "bad_form", "2 file parts"),  # fmt: skip
    "audio_as_text": (lambda: {"files": {"audio": (None, "http://10.0.0.1/x.wav")}}, 400, "not_a_file", "file part"),
    "json_body": (lambda: {"json": {"audio": "UklGRg=="}}, 415, "not_multipart", "multipart/form-data"),
    "max_new_tokens_0": (lambda: {"files": {"audio": ("a.wav", _wav())}, "data": {"max_new_tokens": "0"}}, 400,
                         None, "max_new_tokens"),  # fmt: skip
    "max_new_tokens_huge": (lambda: {"files": {"audio": ("a.wav", _wav())}, "data": {"max_new_tokens": "99999"}},
                            400, None, "max_new_tokens"),  # fmt: skip
    **{k: (lambda make=make: {"files": {"audio": ("a.wav", make())}}, status, reason, words)
       for k, (make, status, reason, words) in BAD_UPLOADS.items()},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SERVER_BAD))
def test_bad_requests_get_a_4xx_naming_the_problem_and_the_service_keeps_serving(server, name):
    make, status, reason, words = SERVER_BAD[name]
    r = server.client.post("/analyze", **make())
    assert r.status_code == status, r.text
    body = r.json()
    body = body[0] if isinstance(body, list) else body
    text = json.dumps(body)
    assert words in text, text
    if reason:
        assert body["reason"] == reason and body["error"].split(":")[0] in (body["input"], "request body", "/analyze")
    assert "emotion" not in body  # never an answer next to an error
    good = _analyze(server, _wav())
    assert good.status_code == 200 and good.json()["emotion"] == "sad"


def test_authentication_and_probes(server):
    clip = {"audio": ("a.wav", _wav())}
    assert httpx.post(server.url + "/analyze", files=clip).status_code == 401
    wrong = httpx.post(server.url + "/analyze", files=clip, headers={"Authorization": "Bearer " + "0" * 30})
    assert wrong.status_code == 401 and wrong.json()["reason"] == "unauthorized"
    job = {"jobs": [{"pcm": analysis.encode_pcm(speech_like(1.0)), "max_new_tokens": 3}]}
    assert httpx.post(server.url + "/generate_batch", json=job).status_code == 401
    for path in ("/healthz", "/livez", "/readyz"):
        assert httpx.get(server.url + path).status_code == 200, path
    page = httpx.get(server.url + "/ui/")
    assert page.status_code == 200 and "<title>EmotionThinker</title>" in page.text
    assert httpx.get(server.url + "/ui/app.js").status_code == 200


def test_the_generation_step_validates_its_own_input(server):
    job = {"pcm": analysis.encode_pcm(speech_like(1.0)), "max_new_tokens": 3}
    ok = server.client.post("/generate_batch", json={"jobs": [job]})
    assert ok.status_code == 200 and len(ok.json()) == 1 and ok.json()[0]["new_tokens"] <= 4
    bad = server.client.post("/generate_batch", json={"jobs": [{**job, "pcm": "not base64!"}]})
    assert bad.status_code == 400 and "base64" in bad.text
    nan = server.client.post("/generate_batch", json={"jobs": [{**job, "pcm": analysis.encode_pcm(
        np.array([np.nan] * 10, dtype=np.float32))}]})  # fmt: skip
    assert nan.status_code == 400 and "NaN" in nan.text


def test_concurrent_clients_are_batched_and_get_the_same_answers(server):
    four = [
        _wav(s, (f, f * 0.75), seed=i) for i, (s, f) in enumerate([(1.4, 180), (1.5, 200), (1.6, 240), (1.5, 150)])
    ]
    clips = four * 2
    alone = [_analyze(server, c).json() for c in clips[:4]]

    def one(clip):
        r = _analyze(server, clip)
        return r.status_code, r.json()

    results = []
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for _ in range(4):  # the dispatcher batches once it has timed a few calls
            results += list(pool.map(one, clips))
    assert [s for s, _ in results] == [200] * 32
    sizes = [b["batch_size"] for _, b in results]
    assert max(sizes) > 1, sizes
    for i, (_, b) in enumerate(results):  # batching changes the grouping, not the answer
        ref = alone[i % 4]
        assert (b["raw_output"], b["emotion"], b["prosody"]) == (ref["raw_output"], ref["emotion"], ref["prosody"])


# -- the page, in headless Chromium -----------------------------------------------------------------------------------
CHROME_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--window-size=1280,1700")  # fmt: skip


@pytest.fixture
def browser(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("the browser test needs the Debian packages chromium and chromium-driver (make system-deps)")
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="the browser test needs selenium (pip install .[dev])"
    )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (*CHROME_ARGS, f"--user-data-dir={tmp_path / 'chrome-profile'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _painted(driver, canvas_id: str, rgb: tuple[int, int, int] | None = None) -> int:
    """Pixels drawn on a canvas (any colour, or close to ``rgb``)."""
    return driver.execute_script(
        """const c = document.getElementById(arguments[0]); const rgb = arguments[1];
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i + 3] === 0) continue;
          const near = (k) => Math.abs(d[i + k] - rgb[k]) < 30;
          if (!rgb || (near(0) && near(1) && near(2))) n++;
        }
        return n;""",
        canvas_id,
        list(rgb) if rgb else None,
    )


def test_the_page_uploads_a_clip_and_draws_waveform_contour_and_cited_cues(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    clip = tmp_path / "speech.wav"
    clip.write_bytes(_wav(2.0, (230.0, 150.0)))
    browser.get(server.url + "/ui/")
    assert browser.title == "EmotionThinker"
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "file").send_keys(str(clip))
    browser.find_element(By.ID, "analyze").click()
    state = lambda d: d.find_element(By.ID, "status").get_attribute("data-state")  # noqa: E731
    WebDriverWait(browser, 60).until(lambda d: state(d) in ("done", "error"))
    assert state(browser) == "done", browser.find_element(By.ID, "status").text
    WebDriverWait(browser, 10).until(lambda d: _painted(d, "pitch") > 0)
    assert browser.find_element(By.ID, "emotion").text.lower() == "sad"
    assert browser.find_element(By.ID, "rationale").text == RATIONALE
    marks = browser.find_elements(By.CSS_SELECTOR, "#rationale mark.cue")
    assert [m.text for m in marks] == ["low pitch", "soft", "slow"]
    items = browser.find_elements(By.CSS_SELECTOR, "#cues li")
    assert [i.get_attribute("data-attribute") for i in items] == ["pitch", "energy", "speed"]
    assert _painted(browser, "wave", (31, 111, 235)) > 500  # the waveform, in its blue
    assert _painted(browser, "pitch", (9, 105, 218)) > 200  # the F0 contour
    cue_pixels = _painted(browser, "pitch", (26, 127, 55)) + _painted(browser, "pitch", (207, 34, 46))
    assert cue_pixels > 200  # the cited cues, green where the measurement agrees, red where not
    assert "generation" in browser.find_element(By.ID, "timings").text
    shot = tmp_path / "emotionthinker-ui.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("EMOTIONTHINKER_SCREENSHOT_DIR"):
        out = Path(os.environ["EMOTIONTHINKER_SCREENSHOT_DIR"])
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, out / shot.name)
    # a bad file: the page shows the service's message, not a blank result
    bad = tmp_path / "notes.txt"
    bad.write_text("not audio at all")
    browser.find_element(By.ID, "file").send_keys(str(bad))
    browser.find_element(By.ID, "analyze").click()
    WebDriverWait(browser, 30).until(lambda d: state(d) == "error")
    assert browser.find_element(By.ID, "status").text.startswith("415: audio: the upload")


def test_the_sample_prediction_of_make_run_prints_the_answer_and_its_cues(store, tmp_path, capsys):
    from serving import local

    clip = tmp_path / "clip.wav"
    clip.write_bytes(_wav())
    assert local.main(["--clip", str(clip), "--store", str(store.home)]) == 0
    out = capsys.readouterr().out
    assert "emotion    sad" in out and f"rationale  {RATIONALE}" in out and f"model      {store.tag}" in out
    assert out.count("  cue '") == 3 and "cue 'low pitch' (pitch low)" in out
    # no promoted model: the server's own message, and a non-zero exit
    assert local.main(["--clip", str(clip), "--store", str(tmp_path / "empty")]) == 1
    assert "no model is promoted as 'emotionthinker'" in capsys.readouterr().err


# -- a built Bento ----------------------------------------------------------------------------------------------------
def test_bentoml_build_works_offline_and_the_bento_serves_the_model_it_was_built_with(tmp_path):
    started = time.monotonic()
    home = tmp_path / "bentoml"
    built_with = promote(home, build_model(tmp_path / "a", max_audio_s=3.0), max_new_tokens=4)
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True", "PYTHONPATH": str(REPO)}
    env = {k: v for k, v in env.items() if not k.startswith("EMOTIONTHINKER_")}
    out = subprocess.run([sys.executable, "-m", "bentoml", "build", "--output", "tag"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    bento_tag = out.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    assert bento_tag.startswith("emotionthinker:")
    bento_dir = home / "bentos" / "emotionthinker" / bento_tag.split(":")[1]
    assert tag_from_bento(bento_dir / "bento.yaml") == built_with
    assert (bento_dir / "src" / "serving" / "ui" / "index.html").is_file()
    assert (bento_dir / "src" / "emotionthinker" / "evaluation" / "inference.py").is_file()
    # a newer promotion does not change what the built Bento serves
    newer = promote(home, build_model(tmp_path / "b", max_audio_s=3.0), max_new_tokens=4)
    assert newer != built_with
    with serving(home, target=bento_tag, log=tmp_path / "bento.log", cwd=tmp_path) as served:
        r = httpx.post(served.url + "/analyze", files={"audio": ("a.wav", _wav())}, timeout=60)
        assert r.status_code == 200 and r.json()["model_tag"] == built_with and r.json()["max_new_tokens"] == 4
    assert time.monotonic() - started < 120
