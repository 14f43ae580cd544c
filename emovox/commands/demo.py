"""The Gradio web demo: text to speech, voice conversion and emotion markup in the browser.

Tabs: "Text to speech" (an emotion label with intensity, a mixture, a valence/arousal point with dominance, the
text's own emotion, or a reference clip; plots of the output's mel, F0 and energy and of the request in the
valence/arousal plane), "Voice conversion" (upload or record; before/after F0) and "Markup" (a script with an
emotion per sentence or span, previewed as an emotion timeline).

It serves on 127.0.0.1 (this machine only) unless --host says otherwise, works offline, and needs the web extra:
  pip install 'emovox[web]'
Reachable from other machines (--host other than loopback, or --share on), it asks for a login: set one with
--auth USER:PASSWORD or the EMOVOX_DEMO_AUTH environment variable (the variable keeps it out of `ps`).
examples:
  emovox demo                       # the built-in voice at http://127.0.0.1:7860
  emovox demo --model exp/acoustic/model.safetensors --port 8080
  EMOVOX_DEMO_AUTH=me:long-secret emovox demo --host 0.0.0.0 --concurrency 2
"""

from __future__ import annotations

import os

AUTH_ENV = "EMOVOX_DEMO_AUTH"


def parse_auth(text: str | None) -> tuple[str, str] | None:
    """``USER:PASSWORD`` -> ``(user, password)``; None for None. The password needs at least 8 characters."""
    if text is None:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user.strip():
        raise ValueError("--auth takes USER:PASSWORD")
    if len(password) < 8:
        raise ValueError("the demo password must have at least 8 characters")
    return user.strip(), password


def add_arguments(parser):
    parser.add_argument("--model", help="acoustic model checkpoint (default: the built-in voice)")
    parser.add_argument(
        "--vocoder", default="universal", help="universal | ljspeech | PATH (default universal)"
    )
    parser.add_argument(
        "--port", type=int, default=7860, help="port to serve on (default 7860; 0 = any free one)"
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 serves the local network)")  # fmt: skip
    parser.add_argument("--share", choices=("off", "on"), default="off",
                        help="'on' asks Gradio for a public *.gradio.live link (needs the internet; default off)")  # fmt: skip
    parser.add_argument("--conversion-model", metavar="PATH",
                        help="voice-conversion model (default: the built-in one)")  # fmt: skip
    parser.add_argument("--no-conversion", action="store_true", help="leave the voice-conversion tab off")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="requests synthesised at the same time (default 1; others wait in the queue)")  # fmt: skip
    parser.add_argument(
        "--max-chars", type=int, default=1000, help="longest text one request takes (default 1000)"
    )
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="longest recording the conversion tab takes (default 60)")  # fmt: skip
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--auth", metavar="USER:PASSWORD",
                        help=f"ask for this login (default ${AUTH_ENV}; required off loopback and with --share on)")  # fmt: skip


def run(args):
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be between 0 and 65535, got {args.port}")
    if args.concurrency < 1:
        raise ValueError(f"--concurrency must be at least 1, got {args.concurrency}")
    if args.max_chars < 1 or not args.max_seconds > 0:
        raise ValueError("--max-chars and --max-seconds must be positive")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    from emovox.commands.serve import is_loopback

    auth = parse_auth(args.auth or os.environ.get(AUTH_ENV) or None)
    if auth is None and (args.share == "on" or not is_loopback(args.host)):
        where = (
            "--share on publishes it on the internet"
            if args.share == "on"
            else f"--host {args.host} is reachable from other machines"
        )
        raise ValueError(f"{where}: set a login with --auth USER:PASSWORD or ${AUTH_ENV}")
    try:
        import gradio  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ValueError(
            f"the demo needs the web extra ({exc.name} is missing): pip install 'emovox[web]'"
        ) from None
    import torch

    from emovox.web.demo import build_demo, launch

    if args.threads:
        torch.set_num_threads(args.threads)
    blocks = build_demo(
        args.model,
        vocoder=args.vocoder,
        device=args.device,
        conversion=not args.no_conversion,
        conversion_model=args.conversion_model,
        concurrency=args.concurrency,
        max_text_chars=args.max_chars,
        max_audio_seconds=args.max_seconds,
    )
    launch(blocks, host=args.host, port=args.port or None, share=args.share == "on", auth=auth)
    return 0
