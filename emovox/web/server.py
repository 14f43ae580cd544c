"""The HTTP API of ``emovox serve``: OpenAI-style speech with emotion controls, voice conversion, the model's
emotions and speakers. A thin client of :mod:`emovox.pipelines` (STYLE 15): it loads nothing itself;
:func:`create_app` takes the loaded pipelines, so tests inject tiny ones.

Endpoints (all JSON errors have the OpenAI shape ``{"error": {"message", "type", "param", "code"}}``):

- ``POST /v1/audio/speech``: ``{"input", "voice", "emotion", "intensity", "adv", "markup", "speed",
  "response_format", "stream", ...}`` -> audio; WAV and PCM stream sentence by sentence.
- ``POST /v1/audio/convert``: multipart ``file`` + ``emotion`` ... -> the recording in another emotion.
- ``GET /v1/emotions``, ``GET /v1/speakers``, ``GET /healthz``; the OpenAPI schema at ``/openapi.json``.

Every ``ValueError`` from the pipelines (bad emotion, unknown speaker, malformed markup, unreadable audio) is a
400 with its message; schema violations are 422; an over-large body 413; a full queue or a timeout 503 with
``Retry-After``. The server never opens a path taken from a request.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at run time, and they name the
# request model built inside create_app.

import asyncio
import contextlib
import hmac
import logging
import math
import re
import weakref
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.exceptions import HTTPException

from emovox import __version__
from emovox.web.codecs import FORMATS, STREAMABLE, decode_upload, encode, to_pcm16, wav_stream_header
from emovox.web.pool import ChunkChannel, Overloaded, WorkerPool

__all__ = ["ServerConfig", "SpeechRequest", "create_app"]

logger = logging.getLogger(__name__)

ResponseFormat = Literal["wav", "flac", "mp3", "pcm"]


@dataclass(frozen=True)
class ServerConfig:
    """Limits and defaults of one server (``emovox serve`` options of the same names)."""

    workers: int = 1  # synthesis threads
    queue_size: int = 8  # admitted requests waiting for a worker; more are refused with 503
    max_text_chars: int = 4096  # characters of `input` per request (the OpenAI limit)
    max_upload_bytes: int = 25 * 1024 * 1024  # bytes of a /v1/audio/convert request body
    max_audio_seconds: float = 60.0  # seconds of uploaded audio (the converter may allow fewer)
    timeout: float = 120.0  # seconds a request may wait for a worker plus its first (or next) chunk
    steps: int | None = None  # diffusion steps when a request gives none (None = the model's default)
    max_steps: int = 50  # the most diffusion steps a request may ask for
    api_key: str | None = None  # when set, /v1/* requires `Authorization: Bearer KEY` or `X-API-Key: KEY`

    def __post_init__(self) -> None:
        checks = [
            (self.workers >= 1, f"workers must be >= 1, got {self.workers}"),
            (self.queue_size >= 0, f"queue size must be >= 0, got {self.queue_size}"),
            (self.max_text_chars >= 1, f"max text chars must be >= 1, got {self.max_text_chars}"),
            (self.max_upload_bytes >= 1024, f"max upload bytes must be >= 1024, got {self.max_upload_bytes}"),
            (self.max_audio_seconds > 0, f"max audio seconds must be > 0, got {self.max_audio_seconds}"),
            (self.timeout > 0, f"timeout must be > 0, got {self.timeout}"),
            (0 <= self.max_steps <= 1000, f"max steps must be in 0-1000, got {self.max_steps}"),
            (self.steps is None or 0 <= self.steps <= self.max_steps,
             f"steps must be in 0-{self.max_steps} (max steps), got {self.steps}"),
            (self.api_key is None or len(self.api_key) >= 8, "the API key must have at least 8 characters"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def max_json_bytes(self) -> int:
        """Body limit of the JSON endpoints: room for ``max_text_chars`` characters even when every one is
        written as a 12-byte JSON escape (a surrogate pair), plus the other fields."""
        return 12 * self.max_text_chars + 16 * 1024


class SpeechRequest(BaseModel):
    """``POST /v1/audio/speech``: the OpenAI speech request plus emotion controls."""

    model_config = ConfigDict(extra="forbid")

    input: str = Field(min_length=1, max_length=4096, description="text or emotion markup to speak")
    model: str | None = Field(
        None, max_length=200, description="accepted for OpenAI compatibility and ignored: the server has one"
    )
    voice: str | None = Field(
        None, max_length=200, description="speaker name (GET /v1/speakers); default: the model's"
    )
    emotion: str | None = Field(
        None,
        max_length=500,
        description="emotion spec: 'angry', 'angry:0.8', 'sad:0.7+angry:0.3', '-happy', 'adv:0.8,0.4,-0.5', "
        "'va:0.6,0.3', 'auto' (from the words) (GET /v1/emotions); default neutral",
    )
    intensity: float | None = Field(
        None, ge=-2.0, le=2.0, description="multiplies the intensity of every emotion in a label spec"
    )
    adv: list[Annotated[float, Field(ge=-1.0, le=1.0)]] | None = Field(
        None,
        min_length=3,
        max_length=3,
        description="[arousal, dominance, valence], each in [-1, 1]: instead of `emotion`",
    )
    markup: bool | None = Field(
        None, description="parse `input` as emotion markup (true), as plain text (false), or when it starts "
        "with '<' (null)"
    )  # fmt: skip
    speed: float = Field(1.0, ge=0.25, le=4.0, description="speaking-rate factor")
    response_format: ResponseFormat = Field(
        "wav", description="wav and pcm (16-bit mono) stream; flac and mp3 are sent whole"
    )
    stream: bool = Field(True, description="send wav/pcm audio sentence by sentence as it is synthesised")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="makes diffusion sampling reproducible")
    steps: int | None = Field(
        None, ge=0, le=1000, description="diffusion steps (0 = off); default and maximum set by the server"
    )
    mix_mode: Literal["latent", "noise"] = Field(
        "latent",
        description="mixtures as one emotion vector, or EmoMix noise mixing in the diffusion decoder",
    )
    instructions: str | None = Field(
        None, max_length=4096, description="accepted for OpenAI compatibility and ignored: use `emotion`"
    )


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"the request body is larger than this endpoint's limit of {limit} bytes")


class BodyLimit:
    """ASGI middleware: a request body over its path's byte limit is a JSON 413, refused from its
    Content-Length before any byte is read, or as soon as a chunked body passes the limit."""

    def __init__(self, app, limits: dict[str, int], default: int):
        self.app, self.limits, self.default = app, limits, default

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limits.get(scope["path"], self.default)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            exc = BodyTooLarge(limit)
            response = _error(413, exc.detail, _KIND[413])
            return await response(scope, receive, send)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)


class Unavailable(Exception):
    """A feature this server cannot offer (HTTP 501), e.g. voice conversion without its module."""


class TimedOut(Exception):
    """The request waited longer than the server's timeout (HTTP 503 with Retry-After)."""


def scaled_spec(parse: Callable[[str], Any], emotion: str | None, intensity: float | None,
                adv: list[float] | None) -> str:  # fmt: skip
    """The spec string of a request's ``emotion`` / ``intensity`` / ``adv`` fields (``parse`` parses a spec
    against the model's emotions). ``intensity`` multiplies each component's intensity of a label spec."""
    if adv is not None:
        if emotion is not None or intensity is not None:
            raise ValueError("give either 'adv' or 'emotion' (with 'intensity'), not both")
        if not all(math.isfinite(x) and -1.0 <= x <= 1.0 for x in adv):
            raise ValueError(f"adv values must be finite and in [-1, 1], got {adv}")
        return "adv:" + ",".join(f"{x:.6g}" for x in adv)
    if emotion is not None and not emotion.strip():
        raise ValueError("empty emotion spec; give a name such as 'happy', 'sad:0.5', or 'va:0.6,0.3'")
    spec = "neutral" if emotion is None else emotion
    if intensity is None:
        return spec
    if spec.strip().lower() == "auto":  # the text's own emotion, scaled: the pipeline checks the range
        return f"auto:{intensity:.6g}"
    parsed = parse(spec)
    if parsed.kind != "label":
        raise ValueError(
            f"'intensity' scales emotion labels; '{spec}' is a point in ADV space, give it directly"
        )
    components = tuple(replace(c, intensity=c.intensity * intensity) for c in parsed.components)
    if any(abs(c.intensity) > 2.0 for c in components):
        raise ValueError(f"'{spec}' at intensity {intensity:g} gives an intensity outside [-2, 2]")
    return str(replace(parsed, components=components))


def _header_spec(parse: Callable[[str], Any], spec: str) -> str:
    """The spec for the X-Emotion response header: canonical when it parses, printable ASCII always (a header
    cannot carry a newline or a non-Latin-1 character)."""
    with contextlib.suppress(ValueError):  # e.g. 'auto', which the pipeline resolves itself
        spec = str(parse(spec))
    return "".join(ch if " " <= ch <= "~" else "?" for ch in spec.strip())[:200]


def _error(status: int, message: str, kind: str, param: str | None = None, headers=None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
    return JSONResponse(body, status_code=status, headers=headers)


_KIND = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
         405: "invalid_request_error", 413: "request_too_large", 422: "invalid_request_error",
         501: "not_implemented", 503: "overloaded"}  # fmt: skip


def _install_error_handlers(app: FastAPI, config: ServerConfig) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        message = str(exc.detail)
        if message == "There was an error parsing the body":
            message += " (send UTF-8 JSON with Content-Type: application/json)"
        return _error(exc.status_code, message, _KIND.get(exc.status_code, "error"), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems, params = [], []
        for err in exc.errors()[:5]:
            loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "header")]
            params.append(".".join(loc))
            problems.append(f"{'.'.join(loc) or 'body'}: {err.get('msg', 'invalid')}")
        return _error(
            422,
            "; ".join(problems) or "invalid request",
            "invalid_request_error",
            params[0] if params else None,
        )

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, exc: ValueError):
        return _error(400, str(exc) or type(exc).__name__, "invalid_request_error")

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded):
        return _error(503, str(exc), "overloaded", headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(TimedOut)
    async def timed_out(request: Request, exc: TimedOut):
        return _error(503, str(exc), "timeout", headers={"Retry-After": str(exc.args[1])})

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable):
        return _error(501, str(exc), "not_implemented")


def _auth_dependency(api_key: str):
    bearer = HTTPBearer(auto_error=False, description="the server's API key as a bearer token")
    header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the server's API key")

    async def check(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        key: Annotated[str | None, Depends(header)],
    ) -> None:
        given = credentials.credentials if credentials is not None else key
        if given is None or not hmac.compare_digest(given.encode(), api_key.encode()):
            raise HTTPException(
                401,
                "missing or wrong API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


_AUDIO_RESPONSES = {
    200: {"content": {media: {} for media, _ in FORMATS.values()}, "description": "the audio"},
    **{code: {"description": text} for code, text in [
        (400, "invalid controls"), (401, "missing API key"), (413, "body too large"),
        (422, "request does not match the schema"), (503, "busy or timed out; see Retry-After")]},
}  # fmt: skip


def _swagger_ui_files() -> Path | None:
    """The Swagger UI (5 or newer) files of the ``swagger-ui-bundle-v2`` wheel (the web extra), or None without it:
    then ``/docs`` is FastAPI's default page, which loads Swagger UI from a CDN (blank offline)."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    path = Path(str(swagger_ui_path))
    version = re.fullmatch(r"swagger-ui-(\d+)\..*", path.name)
    if version is None or int(version.group(1)) < 5:  # Swagger UI 4 cannot read FastAPI's OpenAPI 3.1 schema
        return None
    return path if (path / "swagger-ui-bundle.js").is_file() and (path / "swagger-ui.css").is_file() else None


def _offline_docs(app: FastAPI, files: Path) -> None:
    """``/docs`` served from the installed Swagger UI files, so it works with no network."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs-static", StaticFiles(directory=files), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/docs-static/swagger-ui-bundle.js",
            swagger_css_url="/docs-static/swagger-ui.css",
            swagger_favicon_url="/docs-static/favicon-32x32.png",
        )


def create_app(
    tts: Any,
    converter: Any | None = None,
    *,
    config: ServerConfig | None = None,
    load_converter: Callable[[], Any] | None = None,
) -> FastAPI:
    """The FastAPI application.

    Args:
        tts: a loaded :class:`emovox.pipelines.EmotionalTTS` (or an object with its ``stream``,
            ``parse_emotion``, ``describe``, ``speakers``, ``sample_rate``).
        converter: a loaded voice converter (``convert``, ``emotions``, ``methods``, ``sample_rate``,
            ``MAX_SECONDS``), or None.
        config: limits and defaults.
        load_converter: called once, on the first conversion request, when ``converter`` is None; an
            ``ImportError`` or ``FileNotFoundError`` it raises makes conversion answer 501.
    """
    config = config or ServerConfig()
    pool = WorkerPool(config.workers, config.queue_size)
    channels: weakref.WeakSet[ChunkChannel] = weakref.WeakSet()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        # Stop the streams still running; the pool itself stays usable, for an app may be started again
        # (each test client runs the lifespan); its idle threads cost nothing and end with the process.
        for channel in list(channels):
            channel.cancel()

    swagger = _swagger_ui_files()
    app = FastAPI(
        title="emovox",
        version=__version__,
        summary="Emotional text-to-speech and emotional voice conversion",
        lifespan=lifespan,
        docs_url=None if swagger else "/docs",
    )
    if swagger:
        _offline_docs(app, swagger)
    app.add_middleware(BodyLimit, limits={"/v1/audio/convert": config.max_upload_bytes},
                       default=config.max_json_bytes)  # fmt: skip
    app.state.pool = pool
    _install_error_handlers(app, config)
    secured = [Depends(_auth_dependency(config.api_key))] if config.api_key else []
    request_model = create_model(
        "SpeechRequest",
        __base__=SpeechRequest,
        input=(str, Field(min_length=1, max_length=config.max_text_chars,
                          description=SpeechRequest.model_fields["input"].description)),
    )  # fmt: skip
    state = {"converter": converter, "converter_error": None}
    converter_lock = asyncio.Lock()

    @app.get("/healthz", tags=["server"])
    async def healthz() -> dict[str, Any]:
        """Liveness and load: always open, even with an API key."""
        return {"status": "ok", "version": __version__, **pool.stats()}

    @app.get("/v1/speakers", tags=["model"], dependencies=secured)
    async def speakers() -> dict[str, Any]:
        """The voices this model speaks with (the `voice` of a speech request)."""
        return {"speakers": list(tts.speakers), "default": tts.default_speaker}

    @app.get("/v1/emotions", tags=["model"], dependencies=secured)
    async def emotions() -> dict[str, Any]:
        """The model's emotions and ADV ranges, the spec grammar, and what conversion offers."""
        info = {k: v for k, v in tts.describe().items() if k not in ("speakers", "default_speaker")}
        conv = state["converter"]
        info["spec_examples"] = ["angry", "angry:0.8", "sad:0.7+angry:0.3", "-happy", "adv:0.8,0.4,-0.5",
                                 "va:0.6,0.3", "auto", "auto+sad:0.3"]  # fmt: skip
        info["conversion"] = (
            {"emotions": list(conv.emotions), "methods": list(conv.methods)} if conv is not None else None
        )
        return info

    @app.post(
        "/v1/audio/speech",
        tags=["audio"],
        dependencies=secured,
        response_class=Response,
        responses=_AUDIO_RESPONSES,
    )
    async def speech(body: request_model) -> Response:  # type: ignore[valid-type]
        """Synthesise `input` with an emotion. WAV and PCM are streamed sentence by sentence (WAV with an
        unknown-length header) unless `stream` is false; FLAC and MP3 come whole."""
        spec = scaled_spec(tts.parse_emotion, body.emotion, body.intensity, body.adv)
        steps = config.steps if body.steps is None else body.steps
        if steps is not None and steps > config.max_steps:
            raise ValueError(f"steps must be at most {config.max_steps} on this server, got {steps}")
        options = dict(speaker=body.voice, speed=body.speed, markup=body.markup, seed=body.seed, steps=steps,
                       mix_mode=body.mix_mode)  # fmt: skip

        def chunks() -> Iterator[np.ndarray]:
            return tts.stream(body.input, spec, **options)

        channel = ChunkChannel(asyncio.get_running_loop(), stall_seconds=config.timeout)
        channels.add(channel)
        head, done = await _first_audio(channel, pool, chunks, config.timeout)
        sr = int(tts.sample_rate)
        media = FORMATS[body.response_format][0]
        headers = {"X-Sample-Rate": str(sr), "X-Emotion": _header_spec(tts.parse_emotion, spec)}
        if done or not (body.stream and body.response_format in STREAMABLE):
            rest = [] if done else await _drain(channel, config.timeout, pool)
            audio = np.concatenate(head + rest) if head or rest else np.zeros(0, np.float32)
            return Response(encode(audio, sr, body.response_format), media_type=media, headers=headers)
        prefix = wav_stream_header(sr) if body.response_format == "wav" else b""
        return StreamingResponse(
            _stream_body(channel, head, prefix, config.timeout), media_type=media, headers=headers
        )

    async def get_converter() -> Any:
        async with converter_lock:
            if state["converter"] is None and state["converter_error"] is None:
                if load_converter is None:
                    state["converter_error"] = "voice conversion is not configured on this server"
                else:
                    try:
                        state["converter"] = await asyncio.to_thread(load_converter)
                    except (ImportError, FileNotFoundError) as exc:
                        logger.warning("voice conversion is unavailable: %s", exc)
                        state["converter_error"] = f"voice conversion is not available in this emovox ({exc})"
        if state["converter"] is None:
            raise Unavailable(state["converter_error"])
        return state["converter"]

    @app.post(
        "/v1/audio/convert",
        tags=["audio"],
        dependencies=secured,
        response_class=Response,
        responses={**_AUDIO_RESPONSES, 501: {"description": "voice conversion is not available"}},
    )
    async def convert(
        file: Annotated[UploadFile, File(description="the recording: WAV, FLAC, OGG, MP3 ...")],
        emotion: Annotated[str, Form(max_length=500, description="target emotion spec")] = "neutral",
        intensity: Annotated[float | None, Form(ge=-2.0, le=2.0, description="scales a label spec")] = None,
        method: Annotated[str | None, Form(max_length=100, description="conversion method")] = None,
        keep_timing: Annotated[bool, Form(description="keep the original durations")] = False,
        seed: Annotated[int | None, Form(ge=0, le=2**63 - 1)] = None,
        response_format: Annotated[ResponseFormat, Form()] = "wav",
    ) -> Response:
        """Change the emotion of an uploaded recording, keeping its words and speaker."""
        conv = await get_converter()
        from emovox.emotion.spec import parse_emotion_spec

        def parse(text: str):
            return parse_emotion_spec(text, known=list(conv.emotions))

        spec = scaled_spec(parse, emotion, intensity, None)  # the converter checks the spec itself
        if method is not None and method not in conv.methods:
            raise ValueError(f"unknown method {method!r}; this converter has: {', '.join(conv.methods)}")
        data = await file.read()
        max_seconds = min(config.max_audio_seconds, float(getattr(conv, "MAX_SECONDS", math.inf)))

        def job() -> tuple[np.ndarray, int]:
            audio, sr = decode_upload(data, max_seconds)
            return conv.convert(audio, sr, spec, method=method, keep_timing=keep_timing, seed=seed)

        future = pool.submit(job)
        try:
            out, sr = await asyncio.wait_for(asyncio.wrap_future(future), config.timeout)
        except asyncio.TimeoutError:
            raise TimedOut(
                f"conversion took longer than this server's {config.timeout:g} s limit", pool.retry_after()
            ) from None
        media = FORMATS[response_format][0]
        return Response(encode(out, int(sr), response_format), media_type=media,
                        headers={"X-Sample-Rate": str(int(sr)), "X-Emotion": _header_spec(parse, spec)})  # fmt: skip

    return app


async def _first_audio(
    channel: ChunkChannel, pool: WorkerPool, chunks: Callable[[], Iterator[np.ndarray]], timeout: float
) -> tuple[list[np.ndarray], bool]:
    """Start synthesis and wait for its first non-silent chunk, so bad input still gets an HTTP error status
    (the pipeline validates lazily). Returns the chunks so far and whether synthesis already finished."""
    pool.submit(channel.produce, chunks)
    head: list[np.ndarray] = []
    try:
        while True:
            item = await _next(channel, timeout, pool)
            if item is ChunkChannel.END:
                return head, True
            head.append(item)
            if np.any(item):  # leading <break/> silences are held back with the first words
                return head, False
    except BaseException:
        channel.cancel()
        raise


async def _next(channel: ChunkChannel, timeout: float, pool: WorkerPool) -> Any:
    try:
        item = await channel.get(timeout)
    except asyncio.TimeoutError:
        raise TimedOut(
            f"no audio within this server's {timeout:g} s limit (busy, or the text is too long to send "
            "unstreamed)",
            pool.retry_after(),
        ) from None
    if isinstance(item, BaseException):
        raise item
    return item


async def _drain(channel: ChunkChannel, timeout: float, pool: WorkerPool) -> list[np.ndarray]:
    out = []
    try:
        while (item := await _next(channel, timeout, pool)) is not ChunkChannel.END:
            out.append(item)
    finally:
        channel.cancel()
    return out


async def _stream_body(channel: ChunkChannel, head: list[np.ndarray], prefix: bytes, timeout: float):
    """The chunked response body; a failure after the first chunk ends the stream early (logged)."""
    try:
        yield prefix + b"".join(to_pcm16(c) for c in head)
        while True:
            try:
                item = await channel.get(timeout)
            except asyncio.TimeoutError:
                logger.warning("stream stopped: no chunk within %g s", timeout)
                raise
            if item is ChunkChannel.END:
                return
            if isinstance(item, BaseException):
                logger.warning("stream stopped by an error after it began: %s", item)
                raise item
            yield to_pcm16(item)
    finally:
        channel.cancel()
