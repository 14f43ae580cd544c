import pytest

from emovox.text.chunking import chunk_segments, chunk_text, phoneme_counter, split_sentences
from emovox.text.markup import Segment, parse_markup
from tests.conftest import shared_path


def test_sentence_split_respects_abbreviations_and_initials():
    text = "Dr. Smith met J. R. Tolkien. He said hi! Then e.g. left. “Wow.” she said. 你好。世界！"
    assert split_sentences(text) == [
        "Dr. Smith met J. R. Tolkien.", "He said hi!", "Then e.g. left.", "“Wow.” she said.", "你好。", "世界！",
    ]  # fmt: skip
    assert split_sentences("") == []


def test_long_sentence_splits_at_clauses_then_words():
    assert chunk_text("a, b, c, d, e, f, g, h", 6, measure=len) == ["a, b,", "c, d,", "e, f,", "g, h"]
    words = " ".join(f"w{i}" for i in range(30))
    chunks = chunk_text(words, 20, measure=len)
    assert all(len(c) <= 20 for c in chunks) and " ".join(chunks) == words


def test_overlong_word_kept_whole():
    assert chunk_text("short " + "x" * 50 + " tail", 10, measure=len) == ["short", "x" * 50, "tail"]


def test_segments_keep_spans_and_pauses():
    segs = parse_markup(
        '<speak>One. Two.<break time="200ms"/><emotion name="sad">Three. Four.</emotion></speak>'
    )
    out = chunk_segments(segs, 400, measure=len)
    assert [(s.text, s.emotion, s.break_ms) for s in out] == [
        ("One.", None, 0), ("Two.", None, 0), ("", None, 200), ("Three.", "sad", 0), ("Four.", "sad", 0),
    ]  # fmt: skip
    assert chunk_segments([Segment("")]) == [Segment("")]


def test_invalid_budget():
    with pytest.raises(ValueError):
        chunk_text("x", 0)


def test_5000_words_of_ljspeech_under_limit_without_loss():
    path = shared_path("text", "ljspeech_sentences.txt")
    lines = [ln.split("|", 1)[-1].strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    words = " ".join(lines).split()[:5000]
    assert len(words) == 5000
    limit = 150
    measure = phoneme_counter("en-us")
    chunks = chunk_text(" ".join(words), max_phonemes=limit, language="en-us")
    assert " ".join(chunks).split() == words  # nothing lost, nothing duplicated, order kept
    assert all(0 < measure(c) <= limit for c in chunks)
    assert len(chunks) > 5000 * 5 // limit  # it really had to split
