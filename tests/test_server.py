"""The HTTP API (emovox.web.server) with a tiny model: endpoints, formats, streaming, controls, errors, auth,
conversion, the bounded pool and `emovox serve`'s options."""

from __future__ import annotations

import io
import re
import struct
import threading
import time

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from emovox.cli import main as cli
from emovox.web.codecs import decode_upload, encode, wav_stream_header
from emovox.web.pool import Cancelled, ChunkChannel, Overloaded, WorkerPool
from emovox.web.server import ServerConfig, create_app
from tests.server_fakes import BlockingTTS, FakeConverter, tiny_tts

SPEECH = "/v1/audio/speech"
KEY = "sesame-0123456789"


@pytest.fixture(scope="module")
def tts(tmp_path_factory):
    return tiny_tts(tmp_path_factory.mktemp("voice"))


@pytest.fixture(scope="module")
def client(tts):
    with TestClient(create_app(tts, FakeConverter())) as c:
        yield c


def wav_bytes(seconds=1.0, sr=16000, channels=1, fmt="WAV", subtype="PCM_16", level=0.3):
    t = np.arange(int(seconds * sr)) / sr
    audio = (level * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    audio = np.repeat(audio[:, None], channels, axis=1) if channels > 1 else audio
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def read_stream_wav(data: bytes) -> tuple[int, np.ndarray]:
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt " and data[36:40] == b"data"
    assert struct.unpack("<I", data[4:8])[0] == 0xFFFFFFFF == struct.unpack("<I", data[40:44])[0]
    channels, sr = struct.unpack("<HI", data[22:28])
    assert channels == 1 and struct.unpack("<H", data[34:36])[0] == 16
    return sr, np.frombuffer(data[44:], dtype="<i2")


def test_health_speakers_emotions(client):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["workers"] == 1 and health["busy"] == 0
    assert client.get("/v1/speakers").json() == {"speakers": ["alice", "bob"], "default": "alice"}
    emotions = client.get("/v1/emotions").json()
    assert emotions["emotions"] == ["neutral", "happy", "sad", "angry"]
    assert set(emotions["adv_range"]) == {"arousal", "dominance", "valence"}
    assert "sad:0.7+angry:0.3" in emotions["spec_examples"]
    assert emotions["conversion"] == {
        "emotions": list(FakeConverter.emotions),
        "methods": list(FakeConverter.methods),
    }


def test_speech_whole_wav_matches_the_pipeline(client, tts):
    r = client.post(SPEECH, json={"input": "Hello there.", "voice": "bob", "emotion": "angry:0.8",
                                  "stream": False, "model": "tts-1"})  # fmt: skip
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert r.headers["x-sample-rate"] == "22050" and r.headers["x-emotion"] == "angry:0.8"
    audio, sr = sf.read(io.BytesIO(r.content), dtype="float32")
    expected, _ = tts.synthesize("Hello there.", "angry:0.8", speaker="bob")
    assert sr == 22050 and audio.size == expected.size
    np.testing.assert_allclose(audio, expected, atol=1.5 / 32767)


def test_an_openai_sdk_request_works_unchanged(client):
    """What `client.audio.speech.with_streaming_response.create(model=..., voice=..., input=...,
    extra_body={"emotion": ...})` sends: a JSON body, an unused bearer key on a keyless server, Accept."""
    headers = {"Authorization": "Bearer unused-on-localhost", "Accept": "application/octet-stream"}
    body = {"input": "Hello!", "model": "gpt-4o-mini-tts", "voice": "alice", "emotion": "happy:0.7"}
    r = client.post(SPEECH, json=body, headers=headers)
    assert r.status_code == 200 and r.content[:4] == b"RIFF" and r.headers["x-emotion"] == "happy:0.7"


def test_streamed_wav_and_pcm_carry_the_same_samples(client):
    text = "First sentence here. A second one follows. And a third."
    r = client.post(SPEECH, json={"input": text, "emotion": "sad"})
    assert r.status_code == 200 and "content-length" not in r.headers  # chunked
    sr, samples = read_stream_wav(r.content)
    assert sr == 22050 and samples.size > 22050 // 2
    pcm = client.post(SPEECH, json={"input": text, "emotion": "sad", "response_format": "pcm"})
    assert pcm.headers["content-type"] == "audio/pcm"
    np.testing.assert_array_equal(np.frombuffer(pcm.content, "<i2"), samples)
    whole = client.post(SPEECH, json={"input": text, "emotion": "sad", "stream": False})
    np.testing.assert_array_equal(sf.read(io.BytesIO(whole.content), dtype="int16")[0], samples)


@pytest.mark.parametrize("fmt,media", [("flac", "audio/flac"), ("mp3", "audio/mpeg")])
def test_flac_and_mp3_are_whole_files(client, fmt, media):
    r = client.post(SPEECH, json={"input": "Good morning.", "response_format": fmt})
    assert r.status_code == 200 and r.headers["content-type"] == media
    audio, sr = sf.read(io.BytesIO(r.content))
    assert sr == 22050 and audio.size > 1000


def test_stream_iterates_chunks_as_they_come(client):
    with client.stream("POST", SPEECH, json={"input": "One. Two. Three.", "response_format": "pcm"}) as r:
        assert r.status_code == 200
        parts = [p for p in r.iter_bytes() if p]
    assert len(parts) >= 1 and sum(map(len, parts)) % 2 == 0


@pytest.mark.parametrize(
    "fields,spec",
    [
        ({"emotion": "angry", "intensity": 0.5}, "angry:0.5"),
        ({"emotion": "happy:0.6", "intensity": 0.5}, "happy:0.3"),
        ({"emotion": "-happy", "intensity": 0.5}, "happy:-0.5"),
        ({"emotion": "sad:0.7+angry:0.3", "intensity": 1.5}, "sad:0.7@1.5+angry:0.3@1.5"),
        ({"adv": [0.8, 0.4, -0.5]}, "adv:0.8,0.4,-0.5"),
        ({"emotion": "va:0.6,0.3"}, "va:0.6,0.3"),
        ({}, "neutral"),
    ],
)
def test_emotion_intensity_and_adv_fields(client, tts, fields, spec):
    r = client.post(SPEECH, json={"input": "It is done.", "stream": False, "seed": 3, **fields})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["x-emotion"] == spec
    direct, _ = tts.synthesize("It is done.", spec, seed=3)
    assert sf.read(io.BytesIO(r.content))[0].size == direct.size


def test_emotion_auto_from_the_words(client, tts):
    if not hasattr(tts, "auto_spec"):
        pytest.skip("this emovox has no emotion='auto' yet")
    text = "This is the best day of my life! My dog died last week."
    r = client.post(SPEECH, json={"input": text, "emotion": "auto", "intensity": 0.5, "stream": False})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["x-emotion"] == "auto:0.5"
    direct, _ = tts.synthesize(text, "auto:0.5")
    assert sf.info(io.BytesIO(r.content)).frames == direct.size
    bad = client.post(SPEECH, json={"input": text, "emotion": "auto", "intensity": -1.0})
    assert bad.status_code == 400 and bad.json()["error"]["message"]


def test_markup_and_speed(client):
    plain = client.post(SPEECH, json={"input": "Fine. It is over.", "stream": False})
    marked = client.post(SPEECH, json={"stream": False, "input":
                         '<speak>Fine. <break time="500ms"/><emotion name="sad">It is over.</emotion></speak>'})  # fmt: skip
    n_plain = sf.info(io.BytesIO(plain.content)).frames
    assert sf.info(io.BytesIO(marked.content)).frames >= n_plain + 0.5 * 22050 - 2048
    literal = client.post(SPEECH, json={"input": "<3 you", "markup": False, "stream": False})
    assert literal.status_code == 200
    fast = client.post(SPEECH, json={"input": "Fine. It is over.", "speed": 2.0, "stream": False})
    assert sf.info(io.BytesIO(fast.content)).frames < n_plain


def test_leading_break_is_held_back_with_the_first_words(client):
    r = client.post(
        SPEECH, json={"input": '<speak><break time="200ms"/>Hello.</speak>', "response_format": "pcm"}
    )
    assert r.status_code == 200 and len(r.content) > 2 * int(0.2 * 22050)
    only_break = client.post(SPEECH, json={"input": '<speak><break time="200ms"/></speak>'})
    assert only_break.status_code == 400 and "nothing to say" in only_break.json()["error"]["message"]


@pytest.mark.parametrize(
    "fields,status,match",
    [
        ({"emotion": "sulky"}, 400, "neutral, happy, sad, angry"),
        ({"emotion": ""}, 400, "empty emotion spec"),
        ({"emotion": "happy:7"}, 400, "intensity|range|between"),
        ({"voice": "carol"}, 400, "alice, bob"),
        ({"adv": [0.1, 0.2, 0.3], "emotion": "sad"}, 400, "either"),
        ({"adv": [0.1, 0.2, 1.5]}, 422, "adv"),
        ({"adv": [0.1, 0.2]}, 422, "adv"),
        ({"emotion": "va:0.6,0.3", "intensity": 0.5}, 400, "ADV space"),
        ({"emotion": "angry:1.5", "intensity": 2.0}, 400, "outside"),
        ({"steps": 51}, 400, "at most 50"),
        ({"speed": 0.1}, 422, "speed"),
        ({"response_format": "opus"}, 422, "response_format"),
        ({"input": ""}, 422, "input"),
        ({"input": "x" * 4097}, 422, "4096"),
        ({"input": "!!! ..."}, 400, "nothing to say"),
        ({"input": '<speak><emotion name="sulky">x</emotion></speak>'}, 400, "line 1"),
        ({"input": "<speak>unclosed"}, 400, "line 1"),
        ({"emtion": "sad"}, 422, "emtion"),
        ({"seed": -1}, 422, "seed"),
    ],
)
def test_bad_requests_are_4xx_with_a_message(client, fields, status, match):
    r = client.post(SPEECH, json={"input": "Hello there.", **fields})
    assert r.status_code == status, r.text[:300]
    error = r.json()["error"]
    assert error["code"] == status and error["type"] == "invalid_request_error"
    assert re.search(match, error["message"]), error["message"]


def test_api_key(tts):
    app = create_app(tts, config=ServerConfig(api_key=KEY))
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        denied = c.post(SPEECH, json={"input": "Hi."})
        assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
        assert "API key" in denied.json()["error"]["message"]
        assert c.get("/v1/speakers", headers={"Authorization": "Bearer wrong-key-000"}).status_code == 401
        assert c.get("/v1/speakers", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        ok = c.post(SPEECH, json={"input": "Hi."}, headers={"X-API-Key": KEY})
        assert ok.status_code == 200 and ok.content[:4] == b"RIFF"
        schema = c.get("/openapi.json").json()
        assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_convert_with_a_converter(client):
    files = {"file": ("clip.flac", wav_bytes(1.0, sr=16000, channels=2, fmt="FLAC"), "audio/flac")}
    r = client.post("/v1/audio/convert", files=files,
                    data={"emotion": "sad", "intensity": "0.5", "method": "direction", "seed": "7"})  # fmt: skip
    assert r.status_code == 200, r.text[:300]
    assert r.headers["x-emotion"] == "sad:0.5" and r.headers["x-sample-rate"] == "16000"
    audio, sr = sf.read(io.BytesIO(r.content))
    assert sr == 16000 and audio.size == 16000 and 0.1 < np.abs(audio).max() < 0.2  # half of 0.3
    bad = client.post("/v1/audio/convert", files=files, data={"method": "magic"})
    assert bad.status_code == 400 and "direction, diffusion" in bad.json()["error"]["message"]
    silent = {"file": ("s.wav", wav_bytes(1.0, level=0.0), "audio/wav")}
    assert (
        client.post("/v1/audio/convert", files=silent).json()["error"]["message"] == "the recording is silent"
    )
    long = {"file": ("l.wav", wav_bytes(21.0, sr=8000), "audio/wav")}
    too_long = client.post("/v1/audio/convert", files=long)
    assert too_long.status_code == 400 and "20 s" in too_long.json()["error"]["message"]


def test_convert_without_the_module_is_501(tts):
    def missing():
        raise ModuleNotFoundError("No module named 'emovox.conversion'")

    files = {"file": ("clip.wav", wav_bytes(), "audio/wav")}
    for app in (create_app(tts), create_app(tts, load_converter=missing)):
        with TestClient(app) as c:
            r = c.post("/v1/audio/convert", files=files)
            assert r.status_code == 501 and "not" in r.json()["error"]["message"]
            assert c.get("/v1/emotions").json()["conversion"] is None


def test_converter_is_loaded_once_lazily(tts):
    loads = []

    def load():
        loads.append(1)
        return FakeConverter()

    with TestClient(create_app(tts, load_converter=load)) as c:
        assert not loads
        for _ in range(2):
            assert (
                c.post("/v1/audio/convert", files={"file": ("a.wav", wav_bytes(), "audio/wav")}).status_code
                == 200
            )
    assert loads == [1]


def test_full_pool_answers_503_with_retry_after(tts):
    slow = BlockingTTS(tts)
    app = create_app(slow, config=ServerConfig(workers=1, queue_size=0))
    with TestClient(app) as c:
        results = {}
        first = threading.Thread(target=lambda: results.update(a=c.post(SPEECH, json={"input": "Hi."})))
        first.start()
        assert slow.started.acquire(timeout=20)
        assert c.get("/healthz").json()["busy"] == 1
        busy = c.post(SPEECH, json={"input": "Hi."})
        assert busy.status_code == 503 and int(busy.headers["retry-after"]) >= 1
        assert "busy" in busy.json()["error"]["message"]
        slow.release.set()
        first.join(20)
        assert results["a"].status_code == 200
        wait_idle(c)  # the worker returns its slot just after handing over the last chunk
        assert c.post(SPEECH, json={"input": "Hi."}).status_code == 200


def wait_idle(client, seconds=20.0):
    deadline = time.monotonic() + seconds
    while client.get("/healthz").json()["busy"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.get("/healthz").json()["busy"] == 0


def test_slow_synthesis_times_out_with_503(tts):
    slow = BlockingTTS(tts)
    app = create_app(slow, config=ServerConfig(timeout=0.3))
    with TestClient(app) as c:
        r = c.post(SPEECH, json={"input": "Hi."})
        assert r.status_code == 503 and "0.3 s" in r.json()["error"]["message"] and "retry-after" in r.headers
        slow.release.set()
        wait_idle(c)  # the abandoned job stopped and freed its worker


def test_worker_pool_admits_workers_plus_queue():
    pool = WorkerPool(workers=1, queue_size=1)
    gate = threading.Event()
    futures = [pool.submit(gate.wait, 10) for _ in range(2)]
    with pytest.raises(Overloaded) as exc:
        pool.submit(gate.wait, 10)
    assert exc.value.retry_after >= 1 and pool.stats() == {
        "workers": 1,
        "queue_size": 1,
        "busy": 1,
        "queued": 1,
    }
    gate.set()
    for f in futures:
        f.result(10)
    assert pool.submit(lambda: 5).result(10) == 5
    pool.shutdown()


def test_channel_stops_a_producer_whose_consumer_left():
    import asyncio

    async def scenario():
        channel = ChunkChannel(asyncio.get_running_loop(), maxsize=1, stall_seconds=0.5)
        produced = []

        def items():
            for i in range(100):
                produced.append(i)
                yield i

        task = asyncio.get_running_loop().run_in_executor(None, channel.produce, items)
        assert await channel.get(5) == 0
        await asyncio.wait_for(task, 10)  # nobody reads: the producer gives up after stall_seconds
        assert len(produced) < 5
        with pytest.raises(Cancelled):
            channel.put(1)

    asyncio.run(scenario())


def test_codecs_roundtrip_and_stream_header():
    audio = (0.5 * np.sin(np.linspace(0, 100, 4000))).astype(np.float32)
    for fmt in ("wav", "flac"):
        decoded, sr = decode_upload(encode(audio, 16000, fmt), max_seconds=1.0)
        assert sr == 16000 and np.abs(decoded - audio).max() < 1e-4
    assert len(wav_stream_header(22050)) == 44 and encode(audio, 16000, "pcm") == encode(audio, 16000, "pcm")


def test_serve_help_and_public_host_needs_a_key(capsys, monkeypatch):
    with pytest.raises(SystemExit):
        cli(["serve", "--help"])
    text = capsys.readouterr().out
    for option in ["--host", "--port", "--model", "--vocoder", "--workers", "--queue-size", "--max-text-chars",
                   "--api-key", "--steps", "--threads", "--timeout", "/v1/audio/speech", "EMOVOX_API_KEY"]:  # fmt: skip
        assert option in text, option
    monkeypatch.delenv("EMOVOX_API_KEY", raising=False)
    assert cli(["serve", "--host", "0.0.0.0", "--port", "0"]) == 1
    assert "API key" in capsys.readouterr().err


def test_serve_options_make_the_config(monkeypatch):
    import argparse

    from emovox.commands import serve

    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    monkeypatch.setenv("EMOVOX_API_KEY", KEY)
    cfg = serve.server_config(
        parser.parse_args(["--host", "0.0.0.0", "--workers", "2", "--max-upload-mb", "1"])
    )
    assert cfg.api_key == KEY and cfg.workers == 2 and cfg.max_upload_bytes == 1024 * 1024
    monkeypatch.delenv("EMOVOX_API_KEY")
    assert serve.server_config(parser.parse_args(["--host", "::1"])).api_key is None
    assert (
        serve.is_loopback("localhost")
        and serve.is_loopback("127.0.0.2")
        and not serve.is_loopback("10.0.0.1")
    )
    with pytest.raises(ValueError, match="workers"):
        serve.server_config(parser.parse_args(["--workers", "0"]))
    with pytest.raises(ValueError, match="steps"):
        serve.server_config(parser.parse_args(["--steps", "60"]))


def test_docs_work_offline(tts):
    """/docs is served from the installed Swagger UI files, never a CDN, and stays open with an API key."""
    pytest.importorskip("swagger_ui_bundle")
    with TestClient(create_app(tts, FakeConverter(), config=ServerConfig(api_key=KEY))) as c:
        page = c.get("/docs")
        assert page.status_code == 200 and "/docs-static/swagger-ui-bundle.js" in page.text
        assert "cdn" not in page.text.lower() and "/openapi.json" in page.text
        js = c.get("/docs-static/swagger-ui-bundle.js")
        assert js.status_code == 200 and len(js.content) > 100_000
        assert c.get("/docs-static/swagger-ui.css").status_code == 200
        assert c.get("/docs-static/../server.py").status_code == 404
        assert "/docs" not in c.get("/openapi.json").json()["paths"]
