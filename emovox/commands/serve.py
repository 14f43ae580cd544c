"""Serve the HTTP API (FastAPI + uvicorn): OpenAI-style speech with emotion controls, and voice conversion.

Endpoints:
  POST /v1/audio/speech   {"input": "...", "voice": SPEAKER, "emotion": "angry:0.8", "response_format": "wav"}
                          OpenAI's speech request plus emotion, intensity, adv, markup, stream, seed, steps;
                          wav and pcm stream sentence by sentence, flac and mp3 come whole
  POST /v1/audio/convert  multipart: file=@clip.wav emotion=sad ... -> the clip in another emotion
  GET  /v1/emotions, /v1/speakers, /healthz; the schema at /openapi.json, interactive docs at /docs

Synthesis runs on --workers threads; up to --queue-size more requests wait, and the next ones are answered
503 with Retry-After. Keep workers x threads at or below the CPU cores.

Off localhost an API key is required (--api-key or the EMOVOX_API_KEY environment variable); clients send
'Authorization: Bearer KEY' or 'X-API-Key: KEY'. /healthz stays open.

example:
  emovox serve --port 8000 --workers 2 --threads 1
  curl -s localhost:8000/v1/audio/speech -H 'Content-Type: application/json' \\
       -d '{"input": "Where were you?", "emotion": "angry:0.8"}' -o out.wav
"""

from __future__ import annotations

import ipaddress
import os

API_KEY_ENV = "EMOVOX_API_KEY"


def add_arguments(parser):
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; anything but loopback needs an API key)")  # fmt: skip
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    parser.add_argument("--model", help="acoustic model checkpoint (default: the built-in voice)")
    parser.add_argument(
        "--vocoder", default="universal", help="universal | ljspeech | PATH (default universal)"
    )
    parser.add_argument("--vc-model", metavar="PATH",
                        help="voice-conversion checkpoint for /v1/audio/convert (default: the built-in one)")  # fmt: skip
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--workers", type=int, default=1,
                        help="synthesis threads working at once (default 1)")  # fmt: skip
    parser.add_argument("--queue-size", type=int, default=8,
                        help="requests that may wait for a worker; more get 503 + Retry-After (default 8)")  # fmt: skip
    parser.add_argument("--max-text-chars", type=int, default=4096,
                        help="longest 'input' accepted, in characters (default 4096, as OpenAI)")  # fmt: skip
    parser.add_argument("--max-upload-mb", type=float, default=25.0,
                        help="largest /v1/audio/convert request body in MiB (default 25)")  # fmt: skip
    parser.add_argument("--max-audio-seconds", type=float, default=60.0,
                        help="longest uploaded recording in seconds (default 60; the converter may allow less)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds a request may wait for a worker and then for each audio chunk; past it "
                             "the answer is 503 (default 120)")  # fmt: skip
    parser.add_argument("--steps", type=int,
                        help="diffusion steps when a request gives none (default: the model's; 0 = off, fastest)")  # fmt: skip
    parser.add_argument("--max-steps", type=int, default=50,
                        help="the most diffusion steps a request may ask for (default 50)")  # fmt: skip
    parser.add_argument(
        "--api-key", help=f"require this key on /v1/* (default: ${API_KEY_ENV}; none on localhost)"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads per process (default: torch's choice)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"),
                        help="uvicorn's log level (default info)")  # fmt: skip


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_config(args):
    """The :class:`~emovox.web.server.ServerConfig` of the command-line options; refuses a public address
    without an API key."""
    from emovox.web.server import ServerConfig

    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    if api_key is None and not is_loopback(args.host):
        raise ValueError(
            f"--host {args.host} is reachable from other machines: set an API key with --api-key or "
            f"${API_KEY_ENV} (clients send 'Authorization: Bearer KEY')"
        )
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be between 0 and 65535, got {args.port}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    return ServerConfig(
        workers=args.workers,
        queue_size=args.queue_size,
        max_text_chars=args.max_text_chars,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_audio_seconds=args.max_audio_seconds,
        timeout=args.timeout,
        steps=args.steps,
        max_steps=args.max_steps,
        api_key=api_key,
    )


def run(args):
    import torch
    import uvicorn

    from emovox.pipelines import EmotionalTTS
    from emovox.web.server import create_app

    config = server_config(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    tts = EmotionalTTS.load(args.model, vocoder=args.vocoder, device=args.device)

    def load_converter():
        from emovox.conversion import VoiceConversion

        return VoiceConversion.load(args.vc_model, vocoder=args.vocoder, device=args.device)

    app = create_app(tts, config=config, load_converter=load_converter)
    print(f"emovox serve: http://{args.host}:{args.port} (docs at /docs; {config.workers} workers, "
          f"queue {config.queue_size}, auth {'on' if config.api_key else 'off'})", flush=True)  # fmt: skip
    # Connections beyond what the pool can admit are refused by uvicorn itself (503) before any parsing.
    limit = 4 * (config.workers + config.queue_size) + 64
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, limit_concurrency=limit,
                timeout_keep_alive=5, timeout_graceful_shutdown=5)  # fmt: skip
    return 0
