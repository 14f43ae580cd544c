import json

from emovox.cli import main


def test_phonemize_plain(capsys):
    assert main(["phonemize", "Dr. Smith paid $5.50."]) == 0
    out = capsys.readouterr().out
    assert "doctor Smith paid five dollars and fifty cents." in out
    assert "dˈɑːktɚ smˈɪθ" in out and "tokens:" in out


def test_phonemize_markup_json(capsys):
    text = '<speak>Hi <emotion name="sad">there</emotion><break time="200ms"/></speak>'
    assert main(["phonemize", text, "--markup", "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["emotion"] for r in records] == [None, "sad", None]
    assert records[2]["break_ms"] == 200 and records[1]["phonemes"] == "ðˈɛɹ"


def test_phonemize_errors_are_messages(capsys):
    assert main(["phonemize", "x", "--lang", "en-xx"]) == 1
    assert "unknown language 'en-xx'" in capsys.readouterr().err
    assert main(["phonemize", "<emotion name='hapy'>x</emotion>", "--markup"]) == 1
    assert "line 1, column 1" in capsys.readouterr().err


def test_list_languages(capsys):
    assert main(["phonemize", "--list-languages"]) == 0
    assert "en-us" in capsys.readouterr().out.split()
