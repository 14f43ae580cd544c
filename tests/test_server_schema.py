"""Schemathesis against the HTTP API's own OpenAPI schema (in process, through ASGI, with the tiny model and a
fake converter): valid and invalid requests generated from the schema never get a 5xx. Bounded: a fixed number
of examples per operation, derandomised, ~20 s on one core."""

from __future__ import annotations

import tempfile
from functools import cached_property
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from emovox.web.server import ServerConfig, create_app
from tests.server_fakes import FakeConverter, tiny_tts

# Small limits keep generated inputs (texts, uploads) and therefore synthesis short.
CONFIG = ServerConfig(max_text_chars=200, max_upload_bytes=64 * 1024, max_audio_seconds=2.0, max_steps=2)


class LazyTTS:
    """Builds the tiny model on first use: the schema is loaded when pytest collects this module, and the
    schema needs no model."""

    @cached_property
    def _tts(self):
        return tiny_tts(Path(tempfile.mkdtemp(prefix="emovox-schema-")))

    def __getattr__(self, name):
        return getattr(self._tts, name)


schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(LazyTTS(), FakeConverter(), config=CONFIG)
)


# One test per operation, named by its label: schemathesis's own ``schema.parametrize()`` gives every
# operation the same test id, and pytest-xdist, which schedules tests by id, then runs only one of them.
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


def test_every_operation_is_fuzzed():
    assert {op.label for op in OPERATIONS} >= {
        "POST /v1/audio/speech",
        "POST /v1/audio/convert",
        "GET /v1/emotions",
    }


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_server_errors(operation):
    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def check(case):
        response = case.call_and_validate(checks=[not_a_server_error])
        if response.status_code >= 400:  # every refusal explains itself in the OpenAI error shape
            assert response.json()["error"]["message"]

    check()


def test_schema_documents_the_controls():
    raw = schema.raw_schema
    speech = raw["components"]["schemas"]["SpeechRequest"]["properties"]
    for field in [
        "input",
        "voice",
        "emotion",
        "intensity",
        "adv",
        "markup",
        "speed",
        "response_format",
        "stream",
    ]:
        assert field in speech, field
    assert speech["input"]["maxLength"] == 200
    assert set(speech["response_format"]["enum"]) == {"wav", "flac", "mp3", "pcm"}
    assert "/v1/audio/convert" in raw["paths"] and "/v1/emotions" in raw["paths"]
