"""Text front end speed: sentences/s for normalise + phonemise + tokenise, cold and warm clause cache, one core.

Peers measured in the same run: the bare espeak-ng call on the raw sentence (the floor any espeak front end
pays) and, when installed, the `phonemizer` package's espeak backend. Medians over repeats; the machine is
shared and noisy, so compare ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

DEFAULT_SENTENCES = (
    Path(os.environ.get("EMOVOX_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
    / "text"
    / "ljspeech_sentences.txt"
)
_FALLBACK = [
    "Dr. Smith paid $5.50 for 3 apples on March 3rd, 2021.",
    "The meeting starts at 10:30 am in room 204, doesn't it?",
    "Growth was 3.5% in the 1990s; it's 12 km to St. Paul's.",
    "Printing, in the only sense with which we are at present concerned, differs from most arts.",
]


def add_arguments(parser):
    parser.add_argument("--sentences", type=Path, default=None, help="text file, one sentence per line "
                        "(LJSpeech 'id|text' lines accepted); default: shared ljspeech_sentences.txt if present")  # fmt: skip
    parser.add_argument("-n", type=int, default=2000, help="number of sentences (default 2000)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per measurement; medians reported")
    parser.add_argument("--lang", default="en-us", help="language (default en-us)")
    parser.add_argument("--all-cores", action="store_true", help="do not pin the process to one core")


def _load(path: Path | None, n: int) -> tuple[list[str], str]:
    path = path or (DEFAULT_SENTENCES if DEFAULT_SENTENCES.exists() else None)
    if path is None:
        return (_FALLBACK * (n // len(_FALLBACK) + 1))[
            :n
        ], "built-in sentences (ljspeech_sentences.txt absent)"
    lines = [ln.split("|", 1)[-1].strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln][:n]
    if not lines:
        raise ValueError(f"no sentences in {path}")
    return lines, str(path.resolve())


def _rate(fn, sentences: list[str], repeats: int, setup=None) -> float:
    rates = []
    for _ in range(repeats):
        if setup:
            setup()
        t0 = time.perf_counter()
        for s in sentences:
            fn(s)
        rates.append(len(sentences) / (time.perf_counter() - t0))
    return statistics.median(rates)


def _word_vs_clause(frontend, sentences: list[str]) -> None:
    """Why the cache is per clause: how often word-by-word phonemes differ from espeak's in-context ones."""
    from emovox.text.phonemize import Phonemizer

    clause = Phonemizer(frontend.language, cache_size=0)
    differ = 0
    for s in sentences:
        words = frontend.normalizer(s).replace(",", " ").replace(".", " ").split()
        if " ".join(clause.phonemize(w) for w in words) != clause.phonemize(" ".join(words)):
            differ += 1
    print(f"per-word phonemes differ from in-context ones in {differ}/{len(sentences)} sentences")


def run(args) -> int:
    from emovox.text.frontend import TextFrontend
    from emovox.text.phonemize import _espeak, resolve_language

    if not args.all_cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    sentences, source = _load(args.sentences, args.n)
    voice = resolve_language(args.lang)
    frontend = TextFrontend(args.lang)
    frontend(sentences[0])  # load the voice once: not part of any measurement
    lib = _espeak()
    rows = [
        (
            "espeak-ng bare call (floor, no normalisation)",
            _rate(lambda s: lib.text_to_phonemes(voice, s), sentences, args.repeats),
        )
    ]
    rows.append(("normalise only", _rate(frontend.normalizer, sentences, args.repeats)))
    rows.append(
        (
            "tokenise only",
            _rate(frontend.tokenizer.encode, [frontend(s).phonemes for s in sentences], args.repeats),
        )
    )
    rows.append(
        (
            "emovox front end, cold cache",
            _rate(frontend, sentences, args.repeats, setup=frontend.phonemizer.clear_cache),
        )
    )
    frontend(sentences[0])
    for s in sentences:
        frontend(s)
    rows.append(("emovox front end, warm cache", _rate(frontend, sentences, args.repeats)))
    try:
        from phonemizer.backend import EspeakBackend

        backend = EspeakBackend(args.lang, preserve_punctuation=True, with_stress=True)
        rows.append(
            (
                "phonemizer EspeakBackend (peer)",
                _rate(lambda s: backend.phonemize([s]), sentences, args.repeats),
            )
        )
    except ImportError:
        pass
    floor = rows[0][1]
    cores = "all cores" if args.all_cores else "1 core"
    print(
        f"text front end, {len(sentences)} sentences from {source}, {args.lang}, {cores}, median of {args.repeats}"
    )
    print(f"{'measurement':50} {'sentences/s':>12} {'vs floor':>9}")
    for name, rate in rows:
        print(f"{name:50} {rate:12.0f} {rate / floor:8.2f}x")
    print("(shared, noisy machine: compare ratios within this run)")
    _word_vs_clause(frontend, sentences[:500])
    return 0
