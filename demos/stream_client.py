"""Stream emotional speech from a running `emovox serve` and report the time to first audio.

Start a server, then stream a text into a WAV file as it is synthesised, sentence by sentence:

    emovox serve --steps 0 &
    python demos/stream_client.py "Where were you? I waited all night." --emotion angry:0.8 -o angry.wav
    python demos/stream_client.py -f chapter.txt --emotion va:0.6,0.3 --format pcm -o - | aplay -f S16_LE -r 22050

Only the Python standard library is used, so the client runs anywhere. With an API key on the server, pass
--api-key or set EMOVOX_API_KEY. The OpenAI Python SDK works the same way (`extra_body` carries the emotion):

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused-on-localhost")
    with client.audio.speech.with_streaming_response.create(
        model="emovox", voice="default", input="Hello!", response_format="wav",
        extra_body={"emotion": "happy:0.7"}) as response:
        response.stream_to_file("hello.wav")
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.request


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("text", nargs="?", help="text or emotion markup to speak (or use -f)")
    parser.add_argument("-f", "--file", help="read the text from this file")
    parser.add_argument(
        "--url", default="http://127.0.0.1:8000", help="server address (default: %(default)s)"
    )
    parser.add_argument("-e", "--emotion", default="neutral", help="emotion spec, e.g. angry:0.8, va:0.6,0.3")
    parser.add_argument("--voice", help="speaker name (GET /v1/speakers); default: the model's")
    parser.add_argument("--speed", type=float, default=1.0, help="speaking rate (0.25-4)")
    parser.add_argument("--format", choices=("wav", "pcm"), default="wav", help="streamed format")
    parser.add_argument("-o", "--output", default="stream.wav", help="output file, or '-' for stdout")
    parser.add_argument("--api-key", default=os.environ.get("EMOVOX_API_KEY"), help="the server's API key")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the server")
    args = parser.parse_args(argv)
    if (args.text is None) == (args.file is None):
        parser.error("give the text or --file, not both")
    return args


def stream_speech(url: str, payload: dict, out, api_key: str | None = None, timeout: float = 300.0) -> dict:
    """POST ``payload`` to /v1/audio/speech and copy the audio into the binary file ``out`` as it arrives.

    Returns timings in seconds: ``first_byte`` (headers and the first bytes), ``first_audio`` (the first
    audio samples, past a WAV header), ``total``, plus ``bytes`` and ``sample_rate``.
    """
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(
        f"{url.rstrip('/')}/v1/audio/speech",
        data=json.dumps(payload).encode(),
        headers=headers,
        method="POST",
    )
    header_bytes = 44 if payload.get("response_format", "wav") == "wav" else 0
    t0 = time.perf_counter()
    first_byte = first_audio = None
    n = 0
    with urllib.request.urlopen(request, timeout=timeout) as response:
        sample_rate = int(response.headers.get("X-Sample-Rate", "0"))
        while chunk := response.read1(65536):
            now = time.perf_counter() - t0
            first_byte = now if first_byte is None else first_byte
            n += len(chunk)
            if first_audio is None and n > header_bytes:
                first_audio = now
            out.write(chunk)
    return {"first_byte": first_byte, "first_audio": first_audio, "total": time.perf_counter() - t0,
            "bytes": n, "sample_rate": sample_rate}  # fmt: skip


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.file:
        with open(args.file, encoding="utf-8") as fh:
            text = fh.read()
    else:
        text = args.text
    payload = {"input": text, "emotion": args.emotion, "speed": args.speed, "response_format": args.format,
               "stream": True}  # fmt: skip
    if args.voice:
        payload["voice"] = args.voice
    out = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")  # noqa: SIM115
    try:
        stats = stream_speech(args.url, payload, out, args.api_key, args.timeout)
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):  # not our JSON error: show it as it is
            body = json.loads(body)["error"]["message"]
        print(f"server answered {exc.code}: {body}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"cannot reach {args.url}: {exc.reason} (is `emovox serve` running?)", file=sys.stderr)
        return 1
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    audio_bytes = stats["bytes"] - (44 if args.format == "wav" else 0)
    seconds = audio_bytes / 2 / stats["sample_rate"] if stats["sample_rate"] else float("nan")
    print(f"{seconds:.1f} s of audio; first audio after {stats['first_audio']:.2f} s, all after "
          f"{stats['total']:.2f} s -> {args.output}", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
