"""Hostile input to the HTTP API: every request below gets a 4xx with a message, never a 5xx, nothing outside
the model is read, and the server keeps answering afterwards."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from emovox.web.server import ServerConfig, create_app
from tests.server_fakes import FakeConverter, tiny_tts

SPEECH, CONVERT = "/v1/audio/speech", "/v1/audio/convert"
CONFIG = ServerConfig(max_text_chars=2000, max_upload_bytes=256 * 1024, max_audio_seconds=10.0)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(tiny_tts(tmp_path_factory.mktemp("voice")), FakeConverter(), config=CONFIG)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
        # the server is still up and still speaks
        assert c.get("/healthz").json()["busy"] == 0
        ok = c.post(SPEECH, json={"input": "Still here.", "stream": False})
        assert ok.status_code == 200 and ok.content[:4] == b"RIFF"


def message(r, status: int | tuple[int, ...]) -> str:
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    error = r.json()["error"]
    assert error["message"] and error["code"] == r.status_code
    return error["message"]


# ------------------------------------------------------------------------------------------ sizes and bytes


def test_huge_json_body_is_413_before_parsing(client):
    r = client.post(SPEECH, content=b'{"input": "' + b"a" * (CONFIG.max_json_bytes + 10) + b'"}',
                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert "limit" in message(r, 413)


def test_huge_chunked_body_without_length_is_413(client):
    def body():
        yield b'{"input": "'
        for _ in range(100):
            yield b"a" * 4096
        yield b'"}'

    r = client.post(SPEECH, content=body(), headers={"Content-Type": "application/json"})
    assert "limit" in message(r, 413)


def test_text_over_the_limit_is_422(client):
    assert "2000" in message(client.post(SPEECH, json={"input": "word " * 401}), 422)


def test_invalid_utf8_is_400(client):
    r = client.post(
        SPEECH, content=b'{"input": "caf\xe9 \xff\xfe"}', headers={"Content-Type": "application/json"}
    )
    assert "UTF-8" in message(r, 400)


@pytest.mark.parametrize(
    "text",
    ["\x00\x00\x00", "Hello\x00world.", "\U0001f600" * 50, "\u202e\u200b" * 100,
     "a" * 2000, "Hello.\r\n\t\x0b\x0c" * 10, "١٢٣ ٤٥٦", "ｈｅｌｌｏ"],
)  # fmt: skip
def test_odd_text_is_spoken_or_refused_never_500(client, text):
    r = client.post(SPEECH, json={"input": text, "stream": False})
    assert r.status_code in (200, 400, 422), (r.status_code, r.text[:300])
    if r.status_code != 200:
        assert r.json()["error"]["message"]


@pytest.mark.parametrize("emotion", ["happy\n", " sad ", "HAPPY\r\nX-Evil: 1", "happy\t"])
def test_response_headers_carry_no_control_characters(client, emotion):
    r = client.post(SPEECH, json={"input": "Hi.", "emotion": emotion, "stream": False})
    assert r.status_code in (200, 400), (r.status_code, r.text[:300])
    if r.status_code == 200:
        assert r.headers["x-emotion"] in ("happy", "sad") and "x-evil" not in r.headers


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\udfff\\ud800", b"\\u0000"])
def test_lone_surrogates_and_nul_escapes_in_json(client, escape):
    body = b'{"input": "Hi ' + escape + b' there.", "stream": false}'
    r = client.post(SPEECH, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code in (200, 400, 422), (r.status_code, r.text[:300])


@pytest.mark.parametrize(
    "body,content_type",
    [
        (b"input=hello", "application/x-www-form-urlencoded"),
        (b"hello", "text/plain"),
        (b'{"input": "hi"}', "application/xml"),
        (b'{"input": "hi"}', None),
        (b"", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'"just a string"', "application/json"),
        (b'{"input": "hi",', "application/json"),
        (b'{"input": ["a", "b"]}', "application/json"),
        (b'{"input": {"$ne": null}}', "application/json"),
        (b'{"input": "hi", "speed": "NaN"}', "application/json"),
        (b'{"input": "hi", "speed": 1e999}', "application/json"),
        (b'{"input": "hi", "seed": 1e30}', "application/json"),
        (b'{"input": "hi", "steps": 99999999999999999999999}', "application/json"),
        (b"[" * 100_000, "application/json"),
    ],
)
def test_wrong_content_types_and_malformed_json_are_4xx(client, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    message(client.post(SPEECH, content=body, headers=headers), (400, 413, 422))


def test_multipart_on_speech_and_json_on_convert_are_422(client):
    message(client.post(SPEECH, files={"input": ("a.txt", b"hello")}), 422)
    message(client.post(CONVERT, json={"file": "/etc/passwd", "emotion": "sad"}), 422)


def test_wrong_methods_and_paths(client):
    message(client.get(SPEECH), 405)
    message(client.get("/v1/../../etc/passwd"), 404)
    message(client.delete("/healthz"), 405)


# ------------------------------------------------------------------------------------------ markup bombs

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<speak>&lol4;</speak>"""
XXE = """<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY x SYSTEM "file:///etc/passwd">]><speak>&x;</speak>"""
QUADRATIC = '<!DOCTYPE s [<!ENTITY a "' + "x" * 1000 + '">]><speak>' + "&a;" * 200 + "</speak>"
EXTERNAL_DTD = '<?xml version="1.0"?><!DOCTYPE speak SYSTEM "http://127.0.0.1:1/evil.dtd"><speak>hi</speak>'


@pytest.mark.parametrize(
    "markup",
    [
        BILLION_LAUGHS,
        XXE,
        QUADRATIC[:1990],
        EXTERNAL_DTD,
        '<emotion name="sad">' * 90 + "deep" + "</emotion>" * 90,  # nesting, within the text limit
        "<speak>" + "<prosody rate='2'>" * 100 + "x" + "</prosody>" * 100 + "</speak>",
        "<speak>" + "<b>" * 600 + "</speak>",
        '<speak><break time="99999999999999999999s"/></speak>',
        '<speak><emotion name="../../etc/passwd">x</emotion></speak>',
        '<speak><emotion adv="nan,nan,nan">x</emotion></speak>',
        "<speak xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='/etc/passwd'/></speak>",
    ],
)
def test_markup_bombs_and_entities_are_4xx(client, markup):
    r = client.post(SPEECH, json={"input": markup, "markup": True})
    text = message(r, (400, 422))
    assert "root:" not in text  # nothing of /etc/passwd leaks into a message
    if "<!DOCTYPE" in markup:
        assert "DTD" in text or "entit" in text.lower(), text


def test_deep_nesting_over_the_text_limit_never_reaches_the_parser(client):
    r = client.post(SPEECH, json={"input": "<speak>" + "<emotion name='sad'>" * 5000 + "</speak>"})
    message(r, (413, 422))


# ------------------------------------------------------------------------------------------ path-like voices


@pytest.mark.parametrize(
    "voice",
    ["../../etc/passwd", "/etc/passwd", "..\\..\\windows\\win.ini", "file:///etc/passwd", "%2e%2e%2fetc",
     "alice/../../etc/passwd", "alice\x00", "~root/.ssh/id_rsa", "http://127.0.0.1:1/x", "0", ""],
)  # fmt: skip
def test_path_like_voices_are_unknown_speakers(client, voice, monkeypatch):
    import builtins

    opened = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    r = client.post(SPEECH, json={"input": "Hello.", "voice": voice})
    text = message(r, (400, 404))
    assert "unknown speaker" in text and "alice, bob" in text
    assert not [p for p in opened if "passwd" in p or "win.ini" in p or "id_rsa" in p]


# ------------------------------------------------------------------------------------------ uploads


def wav(seconds: float, sr: int = 16000, channels: int = 1, subtype: str = "PCM_16", fill=0.3) -> bytes:
    audio = np.full((int(seconds * sr), channels), fill, dtype=np.float32)
    audio[::2] *= -1
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def wav_header(sample_rate=16000, channels=1, bits=16, data_bytes=0xFFFFFFF0) -> bytes:
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes & 0xFFFFFFFF) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * channels * bits // 8,
                        channels * bits // 8, bits) + b"data" + struct.pack("<I", data_bytes))  # fmt: skip


def nan_wav() -> bytes:
    buf = io.BytesIO()
    sf.write(
        buf,
        np.array([0.1, np.nan, np.inf, 0.2] * 4000, dtype=np.float32),
        16000,
        format="WAV",
        subtype="FLOAT",
    )
    return buf.getvalue()


@pytest.mark.parametrize(
    "name,data,match",
    [
        ("empty.wav", b"", "empty"),
        ("garbage.wav", bytes(range(256)) * 40, "cannot be read"),
        ("text.wav", b"hello, I am not audio at all\n" * 100, "cannot be read"),
        ("truncated.wav", wav(1.0)[:30], "cannot be read|no samples"),
        ("header-only.wav", wav_header(), "no samples|cannot be read"),
        ("lying-length.wav", wav_header() + b"\x01\x00" * 4000, ""),  # header claims hours, data is short
        ("many-channels.wav", wav_header(channels=1000, data_bytes=2000) + b"\x00" * 2000, "channels|cannot"),
        ("1hz.wav", wav_header(sample_rate=1, data_bytes=2000) + b"\x00\x01" * 1000, "sample rate|cannot"),
        ("too-long.wav", wav(11.0, sr=8000), "10 s"),
        ("nan.wav", nan_wav(), "NaN|infinite"),
        ("silent.wav", wav(1.0, fill=0.0), "silent"),
        ("../../etc/passwd", wav(1.0), ""),  # a hostile file name is only a name
    ],
)
def test_malformed_uploads_are_4xx(client, name, data, match):
    r = client.post(CONVERT, files={"file": (name, data, "audio/wav")}, data={"emotion": "sad"})
    if not match:  # valid audio under a hostile name or header: converted, or refused with a message
        assert r.status_code in (200, 400), (r.status_code, r.text[:300])
        return
    import re

    assert re.search(match, message(r, 400))


def test_huge_upload_is_413(client):
    r = client.post(
        CONVERT, files={"file": ("big.wav", b"\x00" * (CONFIG.max_upload_bytes + 1), "audio/wav")}
    )
    assert "limit" in message(r, 413)


def test_upload_without_a_file_and_odd_form_fields(client):
    message(client.post(CONVERT, data={"emotion": "sad"}), 422)
    files = {"file": ("a.wav", wav(0.5), "audio/wav")}
    message(client.post(CONVERT, files=files, data={"emotion": "x" * 10_000}), (413, 422))
    message(client.post(CONVERT, files=files, data={"emotion": "../../etc/passwd"}), 400)
    message(client.post(CONVERT, files=files, data={"intensity": "nan"}), 422)
    message(client.post(CONVERT, files=files, data={"response_format": "exe"}), 422)
    several = client.post(CONVERT, files=[("file", ("a.wav", wav(0.5), "audio/wav"))] * 3)
    assert several.status_code in (200, 400, 422)


def test_many_bad_requests_leave_the_pool_idle(client):
    for _ in range(30):
        client.post(SPEECH, json={"input": "Hi.", "voice": "../x"})
        client.post(CONVERT, files={"file": ("g.wav", b"junk", "audio/wav")})
    assert client.get("/healthz").json() | {"busy": 0, "queued": 0} == client.get("/healthz").json()
