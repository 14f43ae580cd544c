"""Synthesise a batch of lines through a running `emovox serve`, several at a time, retrying when it is busy.

The input has one request per line, ``EMOTION<TAB>TEXT`` (a line without a tab uses --emotion); blank lines
and lines starting with '#' are skipped. Each line becomes OUT_DIR/0001.wav, 0002.wav ... and a
``manifest.jsonl`` records the text, emotion, file, duration and latency of each:

    emovox serve --workers 2 --threads 1 --steps 0 &
    printf 'angry:0.8\\tWhere were you?\\nsad\\tIt is over.\\nva:0.6,0.3\\tWhat a day!\\n' > lines.tsv
    python demos/batch_client.py lines.tsv -o batch_out --concurrency 4

The server answers 503 with a Retry-After header when its queue is full; this client waits that long and
tries again (up to --retries times), so a batch larger than the queue still completes. Only the Python
standard library is used. With an API key on the server, pass --api-key or set EMOVOX_API_KEY.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("lines", help="text file: EMOTION<TAB>TEXT per line, or TEXT alone")
    parser.add_argument("-o", "--out-dir", default="batch_out", help="where the WAV files go")
    parser.add_argument(
        "--url", default="http://127.0.0.1:8000", help="server address (default: %(default)s)"
    )
    parser.add_argument("-e", "--emotion", default="neutral", help="emotion for lines without one")
    parser.add_argument("--voice", help="speaker name (GET /v1/speakers); default: the model's")
    parser.add_argument("--format", choices=("wav", "flac", "mp3"), default="wav", help="output format")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    parser.add_argument("--retries", type=int, default=20, help="retries of a busy (503) answer")
    parser.add_argument("--api-key", default=os.environ.get("EMOVOX_API_KEY"), help="the server's API key")
    return parser.parse_args(argv)


def read_lines(path: str, default_emotion: str) -> list[tuple[str, str]]:
    """``[(emotion, text)]`` of the batch file."""
    items = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        emotion, sep, text = raw.partition("\t")
        items.append((emotion.strip(), text.strip()) if sep else (default_emotion, raw.strip()))
    return items


def synthesize(url: str, payload: dict, api_key: str | None, retries: int) -> tuple[bytes, int]:
    """One request, waiting out 503 answers as Retry-After says. Returns (audio bytes, attempts)."""
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    body = json.dumps(payload).encode()
    for attempt in range(1, retries + 2):
        request = urllib.request.Request(f"{url.rstrip('/')}/v1/audio/speech", data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return response.read(), attempt
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or attempt > retries:
                message = exc.read().decode("utf-8", "replace")
                with contextlib.suppress(ValueError, KeyError, TypeError):  # else: report it as it is
                    message = json.loads(message)["error"]["message"]
                raise RuntimeError(f"HTTP {exc.code}: {message}") from None
            time.sleep(float(exc.headers.get("Retry-After", "1")))
    raise AssertionError("unreachable")


def main(argv=None) -> int:
    args = parse_args(argv)
    items = read_lines(args.lines, args.emotion)
    if not items:
        print(f"{args.lines} has no lines to speak", file=sys.stderr)
        return 1
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def job(index: int, emotion: str, text: str) -> dict:
        payload = {"input": text, "emotion": emotion, "response_format": args.format, "stream": False}
        if args.voice:
            payload["voice"] = args.voice
        t0 = time.perf_counter()
        record = {"index": index, "emotion": emotion, "text": text}
        try:
            audio, attempts = synthesize(args.url, payload, args.api_key, args.retries)
        except (RuntimeError, urllib.error.URLError) as exc:
            return record | {"error": str(exc)}
        path = out_dir / f"{index:04d}.{args.format}"
        path.write_bytes(audio)
        return record | {"file": str(path), "bytes": len(audio), "attempts": attempts,
                         "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max(1, args.concurrency)) as pool:
        futures = [pool.submit(job, i, e, t) for i, (e, t) in enumerate(items, 1)]
        records = [f.result() for f in futures]
    with open(out_dir / "manifest.jsonl", "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    failed = [r for r in records if "error" in r]
    for r in failed:
        print(f"line {r['index']} ({r['emotion']}): {r['error']}", file=sys.stderr)
    print(f"{len(records) - len(failed)}/{len(records)} lines in {time.perf_counter() - t0:.1f} s -> {out_dir}",
          file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
