"""Show what the text front end makes of a text: normalised words, IPA phonemes and token ids.

examples:
  emovox phonemize "Dr. Smith paid $5.50 on March 3rd."
  emovox phonemize "Guten Tag, wie geht's?" --lang de
  emovox phonemize '<speak>Hi <emotion name="sad">there</emotion></speak>' --markup
"""

from __future__ import annotations

import json


def add_arguments(parser):
    parser.add_argument("text", nargs="?", help="text (or markup with --markup); '-' reads standard input")
    parser.add_argument("--lang", default="en-us", help="espeak-ng language code (default: en-us)")
    parser.add_argument("--markup", action="store_true", help="parse the emotion markup (SSML subset)")
    parser.add_argument("--json", action="store_true", help="one JSON object per segment")
    parser.add_argument("--list-languages", action="store_true", help="print the language codes and exit")


def run(args) -> int:
    import sys

    from emovox.emotion.spec import parse_emotion_spec
    from emovox.text.frontend import TextFrontend
    from emovox.text.markup import Segment, parse_markup
    from emovox.text.phonemize import available_languages

    if args.list_languages:
        print(" ".join(available_languages()))
        return 0
    if args.text is None:
        raise ValueError("give a text to phonemize (or '-' to read standard input)")
    text = sys.stdin.read() if args.text == "-" else args.text
    segments = parse_markup(text, validate_emotion=parse_emotion_spec) if args.markup else [Segment(text)]
    frontend = TextFrontend(args.lang)
    for i, seg in enumerate(segments):
        out = frontend(seg.text) if seg.text else None
        record = {
            "segment": i,
            "emotion": seg.emotion,
            "break_ms": seg.break_ms,
            "rate": seg.rate,
            "pitch": seg.pitch,
            "volume": seg.volume,
            "text": seg.text,
            "normalized": out.normalized if out else "",
            "phonemes": out.phonemes if out else "",
            "tokens": out.ids if out else [frontend.tokenizer.table.pause_id],
        }
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
            continue
        if args.markup:
            attrs = (
                f"emotion={seg.emotion or '-'} rate={seg.rate:g} pitch={seg.pitch:+g}st volume={seg.volume:g}"
            )
            print(f"[{i}] pause {seg.break_ms} ms" if seg.is_pause else f"[{i}] {attrs}")
            if seg.is_pause:
                continue
        print(f"normalized: {record['normalized']}")
        print(f"phonemes:   {record['phonemes']}")
        print(f"tokens:     {' '.join(map(str, record['tokens']))}")
    unknown = frontend.tokenizer.unknown_counts
    if unknown:
        print(f"unknown symbols (encoded as <unk>): {dict(unknown)}", file=sys.stderr)
    return 0
