import json
import logging

import pytest

from emovox.text.phonemize import phonemize
from emovox.text.symbols import (
    PAUSE,
    PUNCTUATION,
    SYMBOL_TABLE_VERSION,
    UNK,
    SymbolTable,
    SymbolTableError,
    Tokenizer,
    default_symbol_table,
)


def test_round_trip_through_json():
    table = default_symbol_table()
    again = SymbolTable.from_dict(json.loads(json.dumps(table.to_dict(), ensure_ascii=False)))
    assert again == table and again.digest() == table.digest() and again.version == SYMBOL_TABLE_VERSION


def test_layout_is_versioned():
    table = default_symbol_table()
    assert table.symbols[:6] == ("<pad>", UNK, "<bos>", "<eos>", PAUSE, " ")
    assert all(p in table for p in PUNCTUATION)
    assert {"ˈ", "ˌ", "ː", "ə", "ʃ", "ŋ", "\u0303", "˥"} <= set(table.symbols)
    # Guard: editing the table without bumping SYMBOL_TABLE_VERSION breaks every trained checkpoint.
    assert (SYMBOL_TABLE_VERSION, len(table), table.digest()) == ("emovox-ipa-1", 523, "4bfdbc1b25001279")


def test_from_dict_rejects_bad_metadata():
    good = default_symbol_table().to_dict()
    with pytest.raises(SymbolTableError):
        SymbolTable.from_dict({"symbols": good["symbols"]})
    with pytest.raises(SymbolTableError, match="digest"):
        SymbolTable.from_dict({**good, "symbols": good["symbols"][:-1]})
    with pytest.raises(SymbolTableError, match="start with"):
        SymbolTable.from_dict({"version": "x", "symbols": ["a", "b"]})
    with pytest.raises(SymbolTableError, match="duplicate"):
        SymbolTable.from_dict({"version": "x", "symbols": [*good["symbols"][:6], "a", "a"]})


@pytest.mark.parametrize("lang", ["en-us", "de", "fr", "pl", "uk", "kk", "hi", "bn", "zh", "es"])
def test_espeak_output_has_no_unknown_symbols(lang, caplog):
    tok = Tokenizer()
    text = {"zh": "你好，世界。", "hi": "नमस्ते, आप कैसे हैं?", "bn": "আমার সোনার বাংলা", "uk": "Добрий день",
            "kk": "Сәлем, қалың қалай?"}.get(lang, "Hello, world! Mañana, bœuf, Straße, żółć.")  # fmt: skip
    ids = tok.encode(phonemize(text, lang))
    assert tok.table.unk_id not in ids and not tok.unknown_counts


def test_encode_decode_round_trip():
    tok = Tokenizer()
    phon = phonemize("Bonjour, ça va? Très bien!", "fr")
    ids = tok.encode(phon)
    assert ids[0] == tok.table.bos_id and ids[-1] == tok.table.eos_id
    assert tok.decode(ids) == phon
    assert tok.encode_symbols([PAUSE]) == [tok.table.pause_id]


def test_unknown_symbols_counted_and_logged_once(caplog):
    tok = Tokenizer()
    with caplog.at_level(logging.WARNING, logger="emovox.text.symbols"):
        ids = tok.encode("a☃b☃", source="snowman text", bos_eos=False)
        tok.encode("☃", source="again")
    assert ids == [tok.table.id("a"), tok.table.unk_id, tok.table.id("b"), tok.table.unk_id]
    assert tok.unknown_counts["☃"] == 3
    logged = [r for r in caplog.records if "☃" in r.getMessage()]
    assert len(logged) == 1 and "snowman text" in logged[0].getMessage()


def test_decode_rejects_out_of_range():
    with pytest.raises(SymbolTableError):
        Tokenizer().decode([10_000])


def test_spoken_marks_sounds_only():
    table = default_symbol_table()
    ids = [
        table.bos_id,
        table.id("h"),
        table.id("ə"),
        table.id(" "),
        table.id("ˈ"),
        table.id("l"),
        table.id("."),
    ]
    ids += [table.pause_id, table.eos_id, len(table), -1]
    assert table.spoken(ids) == [False, True, True, False, True, True, False, False, False, False, False]
