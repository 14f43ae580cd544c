"""Corpus parsers on miniature trees that mimic each real layout (names, encodings, quirks), plus real clips."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from emovox.data_prep.corpora import CORPORA, CorpusError, get_corpus
from emovox.data_prep.manifest import SkipLog, validate
from tests.corpus_fakes import esd_speaker as _esd_speaker
from tests.corpus_fakes import wav


def parse(name: str, root, **options):
    skipped = SkipLog()
    utts = list(CORPORA[name].list_utterances(root, skipped, **options))
    for u in utts:
        assert validate(u) == [], (u, validate(u))
    return {u.utt_id: u for u in utts}, skipped


def reasons(skipped: SkipLog) -> dict[str, str]:
    return {Path(s.item).name: s.reason for s in skipped}


def test_registry_lists_every_corpus():
    assert set(CORPORA) == {
        "cremad", "emns", "emovdb", "esd", "generic", "iemocap", "kazemotts",
        "ljspeech", "msppodcast", "nemo", "ravdess", "tess",
    }  # fmt: skip
    assert get_corpus("CREMA-D") is CORPORA["cremad"]
    with pytest.raises(CorpusError, match="known: cremad"):
        get_corpus("nope")


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="root folder not found"):
        list(CORPORA["ravdess"].list_utterances(tmp_path / "absent"))


# ------------------------------------------------------------------------------------------------ RAVDESS


def test_ravdess_fake_tree(tmp_path):
    wav(tmp_path / "Actor_01" / "03-01-05-02-02-01-01.wav")  # angry, strong, "dogs", actor 1
    wav(tmp_path / "Actor_01" / "03-01-01-01-01-01-01.wav")  # neutral
    wav(tmp_path / "Actor_12" / "03-02-03-01-01-02-12.wav")  # song, happy
    wav(tmp_path / "Actor_12" / "notes.wav")
    utts, skipped = parse("ravdess", tmp_path)
    assert sorted(utts) == ["03-01-01-01-01-01-01", "03-01-05-02-02-01-01"]
    u = utts["03-01-05-02-02-01-01"]
    assert (u.emotion, u.emotion_raw, u.intensity, u.speaker, u.gender, u.text, u.lang) == (
        "angry", "angry", 1.0, "01", "M", "Dogs are sitting by the door", "en",
    )  # fmt: skip
    assert utts["03-01-01-01-01-01-01"].intensity is None
    r = reasons(skipped)
    assert "song" in r["03-02-03-01-01-02-12.wav"] and "MM-VV" in r["notes.wav"]
    utts, _ = parse("ravdess", tmp_path, include_song=True)
    song = utts["03-02-03-01-01-02-12"]
    assert (song.emotion, song.gender, song.intensity, song.emotion_raw) == (
        "happy",
        "F",
        0.5,
        "happy (song)",
    )


def test_ravdess_real_clips(ravdess_mini):
    utts, skipped = parse("ravdess", ravdess_mini)
    assert len(utts) == 240 and not skipped
    names = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fear",
             "07": "disgust", "08": "surprise"}  # fmt: skip
    for uid, u in utts.items():
        f = uid.split("-")
        assert Path(u.audio).parent.name == f"Actor_{f[6]}"
        assert u.emotion == names[f[2]]
        assert u.intensity == (None if f[2] == "01" else {"01": 0.5, "02": 1.0}[f[3]])
        assert u.speaker == f[6] and u.gender == ("M" if int(f[6]) % 2 else "F")
        assert u.text == {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}[f[4]]
    assert {u.speaker for u in utts.values()} == {"01", "02", "03", "04"}


# ------------------------------------------------------------------------------------------------ CREMA-D


def test_cremad_fake_tree(tmp_path):
    audio = tmp_path / "AudioWAV"
    wav(audio / "1001_IEO_ANG_HI.wav")
    wav(audio / "1002_TSI_NEU_XX.wav")
    wav(audio / "1003_WSI_SAD_LO.wav")
    wav(audio / "1076_MTI_SAD_XX.wav")  # the known bad file
    (audio / "1004_DFA_HAP_MD.wav").write_bytes(b"RIFF" + b"\0" * 40)  # header only
    wav(audio / "1005_XYZ_HAP_MD.wav")
    (tmp_path / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n"
    )
    utts, skipped = parse("cremad", tmp_path)
    assert sorted(utts) == ["1001_IEO_ANG_HI", "1002_TSI_NEU_XX", "1003_WSI_SAD_LO"]
    a = utts["1001_IEO_ANG_HI"]
    assert (a.text, a.emotion, a.intensity, a.gender, a.speaker, a.emotion_raw) == (
        "It's eleven o'clock.", "angry", 1.0, "M", "1001", "ANG_HI",
    )  # fmt: skip
    assert utts["1002_TSI_NEU_XX"].intensity is None and utts["1002_TSI_NEU_XX"].gender == "F"
    assert (
        utts["1003_WSI_SAD_LO"].intensity == pytest.approx(1 / 3) and utts["1003_WSI_SAD_LO"].gender is None
    )
    r = reasons(skipped)
    assert "known empty" in r["1076_MTI_SAD_XX.wav"] and "header only" in r["1004_DFA_HAP_MD.wav"]
    assert "unknown sentence" in r["1005_XYZ_HAP_MD.wav"]


def test_cremad_real_clips(cremad_mini):
    utts, skipped = parse("cremad", cremad_mini)
    assert len(utts) == 12 and not skipped
    codes = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
    for uid, u in utts.items():
        actor, sent, emo, level = uid.split("_")
        assert (u.speaker, u.emotion, u.text) == (actor, codes[emo], "Don't forget a jacket.")
        assert sent == "DFA" and level == "XX" and u.intensity is None
        assert sf.info(u.audio).samplerate == 16000


# ------------------------------------------------------------------------------------------------ ESD


def test_esd_layouts_and_encodings(tmp_path):
    root = tmp_path / "Emotion Speech Dataset"  # the extra level of the release
    _esd_speaker(
        root,
        "0001",
        ["0001_000001\t打远一看，它们的确很是美丽，\t中立", "0001_000400\t我生气了。\t生气"],
        "gb2312",
    )
    _esd_speaker(root, "0011", ["0011_000002\tThe nine the eggs, I keep.\tNeutral", "0011_000760\tHappy line.\tHappy",
                                "0011_000731 this line has no tabs"], "utf-8")  # fmt: skip
    _esd_speaker(root, "0012", ["0012_001100\tSad words here.\tSad"], "utf-16")
    _esd_speaker(root, "0016", ["0016_001500\tCafé au lait, naïve.\tSurprise"], "latin-1", flat=True)
    utts, skipped = parse("esd", tmp_path)
    assert set(utts) == {
        "0001_000001",
        "0001_000400",
        "0011_000002",
        "0011_000760",
        "0012_001100",
        "0016_001500",
    }
    zh = utts["0001_000001"]
    assert (zh.text, zh.lang, zh.gender, zh.emotion, zh.split) == (
        "打远一看，它们的确很是美丽，",
        "zh",
        "F",
        "neutral",
        "dev",
    )
    assert utts["0001_000400"].emotion == "angry" and utts["0001_000400"].split == "test"
    en = utts["0011_000760"]
    assert (en.lang, en.gender, en.emotion, en.emotion_raw, en.split, en.speaker) == (
        "en", "M", "happy", "Happy", "train", "0011",
    )  # fmt: skip
    assert utts["0012_001100"].text == "Sad words here." and utts["0012_001100"].emotion == "sad"
    flat = utts["0016_001500"]
    assert (flat.text, flat.split, flat.emotion, flat.gender) == (
        "Café au lait, naïve.",
        None,
        "surprise",
        "F",
    )
    r = {s.item.rsplit("/", 1)[-1]: s.reason for s in skipped}
    assert "does not parse" in r["0011.txt:3"]
    assert "no transcript line" in r["0011_000731.wav"]


# ------------------------------------------------------------------------------------------------ EmoV-DB


def test_emovdb_sorted_layout(tmp_path):
    (tmp_path / "cmuarctic.data").write_text(
        '( arctic_a0001 "Author of the danger trail, Philip Steels, etc." )\n'
        '( arctic_a0002 "Not at this particular case, Tom, apologized Whittemore." )\n'
        '( arctic_b0001 "Will we ever forget it." )\n'
    )
    wav(tmp_path / "bea" / "Amused" / "amused_1-15_0001.wav")
    wav(tmp_path / "bea" / "Angry" / "anger_1-28_0002.wav")
    for emo, prefix in (("Amused", "amused"), ("Neutral", "neutral"), ("Sleepy", "sleepiness")):
        wav(tmp_path / "josh" / emo / f"{prefix}_1-28_0001.wav")
    wav(tmp_path / "sam" / "Disgusted" / "disgust_1-28_0099.wav")  # sentence not in the prompt list
    utts, skipped = parse("emovdb", tmp_path)
    assert len(utts) == 5
    a = utts["bea_amused_1-15_0001"]
    assert (a.text, a.emotion, a.emotion_raw, a.gender, a.speaker) == (
        "Author of the danger trail, Philip Steels, etc.", "amused", "amused", "F", "bea",
    )  # fmt: skip
    assert utts["bea_anger_1-28_0002"].emotion == "angry"
    josh = {u.emotion for u in utts.values() if u.speaker == "josh"}
    assert josh == {"amused", "neutral", "sleepy"} and utts["josh_sleepiness_1-28_0001"].gender == "M"
    assert "arctic_a0099 not in" in reasons(skipped)["disgust_1-28_0099.wav"]
    (tmp_path / "cmuarctic.data").unlink()
    with pytest.raises(CorpusError, match="cmuarctic.data"):
        parse("emovdb", tmp_path)


# ------------------------------------------------------------------------------------------------ TESS


def test_tess_names(tmp_path):
    wav(tmp_path / "OAF_Pleasant_surprise" / "OAF_back_ps.wav")
    wav(tmp_path / "YAF_angry" / "YAF_dog_angry.wav")
    wav(tmp_path / "YAF_fear" / "YAF_bite_fear.wav")
    wav(tmp_path / "YAF_fear" / "YAF_bite.wav")
    utts, skipped = parse("tess", tmp_path)
    ps = utts["OAF_back_ps"]
    assert (ps.emotion, ps.emotion_raw, ps.text, ps.speaker, ps.gender) == (
        "surprise", "ps", "Say the word back", "OAF", "F",
    )  # fmt: skip
    assert utts["YAF_dog_angry"].emotion == "angry" and utts["YAF_bite_fear"].emotion == "fear"
    assert list(reasons(skipped)) == ["YAF_bite.wav"]


# ------------------------------------------------------------------------------------------------ EMNS


def test_emns_metadata(tmp_path):
    header = "id|utterance|description|emotion|date_created|status|gender|age|level|audio_recording|user_id"
    rows = [
        "1|I can't believe it!|Shouted, emphasis on believe|Angry|2022-08-01|accepted|Female|25|8|wavs/aa11.webm|7",
        "2|Hello there.|Calm greeting|Neutral|2022-08-01|accepted|Female|25|2|wavs/bb22.webm|7",
        "3|What a day.|Dry|Sarcastic|2022-08-01|accepted|Female|25|5|wavs/cc33.webm|7",
        "4|Gone.|Lost|Sad|2022-08-01|accepted|Female|25|5|wavs/missing.webm|7",
    ]
    (tmp_path / "metadata.csv").write_text("\n".join([header, *rows]) + "\n")
    (tmp_path / "raw_webm").mkdir()
    (tmp_path / "raw_webm" / "aa11.webm").write_bytes(b"\x1aE\xdf\xa3 fake webm")
    (tmp_path / "raw_webm" / "bb22.webm").write_bytes(b"\x1aE\xdf\xa3 fake webm")
    wav(tmp_path / "raw_webm" / "bb22.wav")  # a converted copy is preferred
    (tmp_path / "raw_webm" / "cc33.webm").write_bytes(b"\x1aE\xdf\xa3 fake webm")
    utts, skipped = parse("emns", tmp_path)
    a = utts["aa11"]
    assert (a.emotion, a.intensity, a.text, a.gender, a.speaker, a.audio.endswith(".webm")) == (
        "angry", 0.8, "I can't believe it!", "F", "7", True,
    )  # fmt: skip
    assert utts["bb22"].audio.endswith("bb22.wav") and utts["bb22"].intensity is None
    assert utts["cc33"].emotion == "sarcastic" and utts["cc33"].intensity == 0.5
    assert reasons(skipped) == {"missing.webm": "audio file missing"}


# ------------------------------------------------------------------------------------------------ IEMOCAP


def test_iemocap_session(tmp_path):
    s1 = tmp_path / "IEMOCAP_full_release" / "Session1"
    ev = s1 / "dialog" / "EmoEvaluation"
    ev.mkdir(parents=True)
    (ev / "Ses01F_impro01.txt").write_text(
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 3.0000, 3.0000]\n"
        "C-E2:\tNeutral;\t()\nA-E3:\tval 3; act 2; dom  2;\t()\n\n"
        "[10.0100 - 11.3925]\tSes01F_impro01_M001\tfru\t[1.0000, 5.0000, 4.0000]\n\n"
        "[12.0000 - 13.0000]\tSes01F_impro01_M002\txxx\t[2.0000, 3.0000, 3.0000]\n"
    )
    (ev / "Ses01M_script01_1.txt").write_text(
        "[1.0 - 2.0]\tSes01M_script01_1_F003\tang\t[1.5000, 4.0000, 4.5000]\n"
    )
    (ev / "Attribute").mkdir()  # sub-folders of per-annotator files are not read
    tr = s1 / "dialog" / "transcriptions"
    tr.mkdir(parents=True)
    (tr / "Ses01F_impro01.txt").write_text(
        "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\nSes01F_impro01_M001 [010.0100-011.3925]: Do you have your forms?\n"
    )
    for utt in ("Ses01F_impro01_F000", "Ses01F_impro01_M001", "Ses01F_impro01_M002"):
        wav(s1 / "sentences" / "wav" / "Ses01F_impro01" / f"{utt}.wav")
    wav(s1 / "sentences" / "wav" / "Ses01M_script01_1" / "Ses01M_script01_1_F003.wav")
    utts, skipped = parse("iemocap", tmp_path)
    f0 = utts["Ses01F_impro01_F000"]
    assert (f0.text, f0.emotion, f0.adv, f0.speaker, f0.gender) == (
        "Excuse me.",
        "neutral",
        (0.0, 0.0, -0.25),
        "Ses01F",
        "F",
    )
    m1 = utts["Ses01F_impro01_M001"]  # V=1, A=5, D=4 -> (A, D, V) = (1, 0.5, -1)
    assert (m1.emotion, m1.adv, m1.speaker, m1.gender) == ("frustrated", (1.0, 0.5, -1.0), "Ses01M", "M")
    xxx = utts["Ses01F_impro01_M002"]
    assert (xxx.emotion, xxx.emotion_raw, xxx.adv, xxx.text) == (None, "xxx", (0.0, 0.0, -0.5), None)
    assert utts["Ses01M_script01_1_F003"].emotion == "angry"
    utts, _ = parse("iemocap", tmp_path, scripted=False)
    assert "Ses01M_script01_1_F003" not in utts and len(utts) == 3 and not skipped


# ------------------------------------------------------------------------------------------------ MSP-Podcast


@pytest.mark.parametrize("label_file", ["labels_consensus.csv", "labels_concensus.csv"])
def test_msppodcast_labels(tmp_path, label_file):
    (tmp_path / "Labels").mkdir()
    (tmp_path / "Labels" / label_file).write_text(
        "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
        "MSP-PODCAST_0001_0008.wav,N,4.0,4.0,4.0,127,Female,Development\n"
        "MSP-PODCAST_0002_0033.wav,A,7.0,1.0,5.5,Unknown,Unknown,Test1\n"
        "MSP-PODCAST_0003_0001.wav,X,2.2,5.8,3.0,12,Male,Train\n"
    )
    for n in ("0001_0008", "0002_0033", "0003_0001"):
        wav(tmp_path / "Audios" / f"MSP-PODCAST_{n}.wav")
    (tmp_path / "Transcripts").mkdir()
    (tmp_path / "Transcripts" / "MSP-PODCAST_0001_0008.txt").write_text("so that is what we\ndid\n")
    utts, skipped = parse("msppodcast", tmp_path)
    a = utts["MSP-PODCAST_0001_0008"]
    assert (a.emotion, a.adv, a.split, a.speaker, a.gender, a.text) == (
        "neutral", (0.0, 0.0, 0.0), "dev", "127", "F", "so that is what we did",
    )  # fmt: skip
    b = utts["MSP-PODCAST_0002_0033"]
    assert (b.emotion, b.split, b.speaker, b.gender) == ("angry", "test", "podcast0002", None)
    assert b.adv == pytest.approx((1.0, 0.5, -1.0))
    c = utts["MSP-PODCAST_0003_0001"]
    assert (
        c.emotion is None and c.emotion_raw == "X" and c.split == "train" and c.adv[0] == pytest.approx(-0.6)
    )


# ------------------------------------------------------------------------------------------------ KazEmoTTS, nEMO


def test_kazemotts_layout(tmp_path):
    for split, name, text in (
        ("train", "1263201035_angry_4986", "Сәлем, әлем!"),
        ("eval", "805570882_fear_12", "Жоқ."),
    ):
        wav(tmp_path / name.split("_")[0] / split / f"{name}.wav")
        (tmp_path / name.split("_")[0] / split / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
    wav(tmp_path / "399172782" / "train" / "399172782_sad_7.wav")  # no transcript
    utts, skipped = parse("kazemotts", tmp_path, genders={"1263201035": "F"})
    a = utts["1263201035_angry_4986"]
    assert (a.text, a.emotion, a.split, a.lang, a.speaker, a.gender) == (
        "Сәлем, әлем!", "angry", "train", "kk", "1263201035", "F",
    )  # fmt: skip
    b = utts["805570882_fear_12"]
    assert (b.emotion, b.split, b.gender) == ("fear", "dev", None)
    assert "no transcript" in reasons(skipped)["399172782_sad_7.wav"]


def test_nemo_tsv(tmp_path):
    (tmp_path / "data.tsv").write_text(
        "file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage\n"
        'SB0_anger_10.wav\tanger\tDwa "koty" i pies.\tdwa koty i pies\tSB0\tmale\t24\n'
        "WR0_surprised_1.wav\tsurprised\tCo?\tco\tWR0\tfemale\t23\n"
        "WR0_bored_2.wav\tbored\tNo.\tno\tWR0\tfemale\t23\n",
        encoding="utf-8",
    )
    for n in ("SB0_anger_10", "WR0_surprised_1", "WR0_bored_2"):
        wav(tmp_path / "samples" / f"{n}.wav")
    utts, skipped = parse("nemo", tmp_path)
    a = utts["SB0_anger_10"]
    assert (a.text, a.emotion, a.speaker, a.gender, a.lang) == (
        'Dwa "koty" i pies.',
        "angry",
        "SB0",
        "M",
        "pl",
    )
    assert utts["WR0_surprised_1"].emotion == "surprise" and utts["WR0_surprised_1"].gender == "F"
    assert "unknown emotion 'bored'" in skipped[0].reason


# ------------------------------------------------------------------------------------------------ generic, LJSpeech


def test_generic_with_header_and_positional(tmp_path):
    wav(tmp_path / "clips" / "a.wav")
    wav(tmp_path / "clips" / "b.wav")
    wav(tmp_path / "clips" / "c.wav")
    (tmp_path / "table.csv").write_text(
        "path,transcript,spk,label,intensity,arousal,dominance,valence\n"
        "clips/a.wav,Hello there,anna,Joy,0.7,0.5,0.1,0.8\n"
        "clips/b.wav,,anna,,,,,\n"
        "clips/c.wav,Too much,bob,angry,1.5,,,\n"
    )
    utts, skipped = parse("generic", tmp_path / "table.csv")
    a = utts["a"]
    assert (a.text, a.speaker, a.emotion, a.emotion_raw, a.intensity, a.adv) == (
        "Hello there", "anna", "happy", "Joy", 0.7, (0.5, 0.1, 0.8),
    )  # fmt: skip
    assert utts["b"].text is None and utts["b"].emotion is None and utts["b"].adv is None
    assert "outside [0, 1]" in skipped[0].reason
    (tmp_path / "metadata.csv").write_text(f"{tmp_path}/clips/a.wav|Hi|carl|sad\nclips/b.wav|Yo\n")
    utts, skipped = parse("generic", tmp_path)
    assert utts["a"].speaker == "carl" and utts["a"].emotion == "sad" and utts["b"].speaker == "speaker"


def test_ljspeech_mini(ljspeech_mini):
    utts, skipped = parse("ljspeech", ljspeech_mini)
    assert len(utts) == 32 and not skipped
    u = utts["LJ001-0002"]
    assert (u.text, u.speaker, u.gender, u.emotion) == ("in being comparatively modern.", "LJ", "F", None)
    assert all(Path(x.audio).is_file() for x in utts.values())


def test_ljspeech_three_columns_and_quotes(tmp_path):
    wav(tmp_path / "wavs" / "LJ050-0001.wav")
    (tmp_path / "metadata.csv").write_text('LJ050-0001|He said "1st and|He said "first and\n')
    utts, _ = parse("ljspeech", tmp_path)
    assert utts["LJ050-0001"].text == 'He said "first and'
