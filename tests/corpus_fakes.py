"""Miniature fake trees of every supported corpus, in each release's real layout (folder and file names,
transcript files and their encodings, label tables), for parser tests and the recipes' end-to-end runs.

``wav`` writes a short sine (enough for a parser); the ``make_*`` builders write speech-like clips (a harmonic
complex with syllable-rate envelope, F0 and level set by the emotion) long enough to extract features and train a
tiny model on, at each corpus's native sample rate. Every builder returns the folder to pass as ``--root``.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

from emovox.emotion.labels import adv_anchor


def wav(path: Path, seconds: float = 0.05, sr: int = 16000, channels: int = 1) -> Path:
    """A short 220 Hz sine (enough for a parser)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.1 * np.sin(2 * np.pi * 220 * t)
    sf.write(path, np.stack([x] * channels, axis=1) if channels > 1 else x, sr)
    return path


def esd_speaker(root: Path, spk: str, lines: list[str], encoding: str, flat: bool = False, clip=wav):
    """One ESD speaker: ``<spk>/<spk>.txt`` in ``encoding`` and ``<spk>/<Emotion>/<split>/<utt>.wav``."""
    d = root / spk
    d.mkdir(parents=True)
    (d / f"{spk}.txt").write_bytes("\n".join(lines).encode(encoding))
    for line in lines:
        m = re.match(r"(\d{4}_\d{6})", line)
        if not m:
            continue
        n = int(m.group(1)[5:])
        emo = ["Neutral", "Angry", "Happy", "Sad", "Surprise"][(n - 1) // 350]
        sub = (
            ""
            if flat
            else ("evaluation" if n % 350 in range(1, 21) else "test" if n % 350 <= 50 else "train")
        )
        path = d / emo / sub / f"{m.group(1)}.wav"
        clip(path, emotion=emo.lower(), speaker=spk) if clip is not wav else wav(path)


# --------------------------------------------------------------------------------------------- speech-like clips


def speech(
    path: Path, emotion: str | None = "neutral", speaker: str = "a", sr: int = 16000, seconds: float = 1.0
) -> Path:
    """A speech-like clip: voiced syllables at ~4 Hz with pauses; F0, rate and level rise with the emotion's
    arousal (Russell & Mehrabian anchors), F0 depends on the speaker. Deterministic for a given path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(zlib.crc32(str(path.name).encode()))
    arousal = adv_anchor(emotion)[0] if emotion else 0.0
    f0 = (110.0 if zlib.crc32(speaker.encode()) % 2 else 200.0) * 2 ** (0.6 * arousal)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    contour = f0 * (1 + 0.08 * np.sin(2 * np.pi * 1.5 * t) + 0.01 * rng.standard_normal())
    phase = 2 * np.pi * np.cumsum(contour) / sr
    k = np.arange(1, int(4000 // f0) + 1)
    formant = 500 + 300 * np.sin(2 * np.pi * 2.0 * t + rng.uniform(0, 6))
    amp = np.exp(-(((k[:, None] * contour[None, :] - formant[None, :]) / 300.0) ** 2)) + 0.05
    x = (amp * np.sin(k[:, None] * phase[None, :])).sum(0)
    syllables = np.clip(np.sin(2 * np.pi * (4 + arousal) * t), 0, None) ** 0.5
    edge = np.minimum(1.0, np.minimum(t, seconds - t) / 0.1)  # lead-in/out silence, no clicks
    x = x * syllables * edge
    x = (0.2 + 0.1 * arousal) * x / max(1e-6, np.abs(x).max())
    x = x + 1e-4 * rng.standard_normal(n)
    sf.write(path, x.astype(np.float32), sr, subtype="PCM_16")
    return path


# --------------------------------------------------------------------------------------------- corpus trees

EN_SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
]


def make_ravdess(root: Path, actors=(1, 2), emotions=("01", "03", "04", "05")) -> Path:
    """``Actor_NN/03-01-EE-II-SS-RR-NN.wav`` at 48 kHz: both statements, normal and strong takes."""
    for a in actors:
        for e in emotions:
            for intensity in ("01",) if e == "01" else ("01", "02"):
                for statement in ("01", "02"):
                    name = f"03-01-{e}-{intensity}-{statement}-01-{a:02d}.wav"
                    emo = {"01": "neutral", "03": "happy", "04": "sad", "05": "angry"}.get(e, "neutral")
                    speech(root / f"Actor_{a:02d}" / name, emo, f"{a:02d}", sr=48000)
    return root


def make_cremad(root: Path, actors=("1001", "1002")) -> Path:
    """``AudioWAV/AAAA_SSS_EEE_LL.wav`` (16 kHz) and ``VideoDemographics.csv``."""
    codes = {"NEU": "neutral", "HAP": "happy", "SAD": "sad", "ANG": "angry"}
    for actor in actors:
        for i, sent in enumerate(("IEO", "TIE", "IOM")):
            for code, emo in codes.items():
                level = "XX" if code == "NEU" else ("HI", "MD", "LO")[i]
                speech(root / "AudioWAV" / f"{actor}_{sent}_{code}_{level}.wav", emo, actor)
    (root / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
        "1002,21,Female,Caucasian,Not Hispanic\n"
    )
    return root


ZH_SENTENCES = [
    "打远一看，它们的确很是美丽。",
    "我们今天去公园散步吧。",
    "这本书非常有意思。",
    "明天会下雨吗？",
]
ESD_EMOTIONS = {"Neutral": "中立", "Angry": "生气", "Happy": "快乐", "Sad": "伤心", "Surprise": "惊喜"}


def make_esd(root: Path, lang: str = "en", emotions=("Neutral", "Angry", "Happy", "Sad")) -> Path:
    """``Emotion Speech Dataset/<spk>/<spk>.txt`` + ``<Emotion>/{train,evaluation,test}/<spk>_<nnnnnn>.wav``
    (16 kHz): English speakers 0011/0012 (utf-8, utf-16) or Mandarin 0001/0002 (gb2312); sentence 2 in
    evaluation, 30 in test, 60 and 61 in train, parallel across emotions."""
    base = root / "Emotion Speech Dataset"
    speakers = {"en": [("0011", "utf-8"), ("0012", "utf-16")], "zh": [("0001", "gb2312"), ("0002", "gb2312")]}
    texts = EN_SENTENCES if lang == "en" else ZH_SENTENCES
    for spk, encoding in speakers[lang]:
        lines = []
        for emo in emotions:
            block = ["Neutral", "Angry", "Happy", "Sad", "Surprise"].index(emo) * 350
            for j, n in enumerate((2, 30, 60, 61)):
                raw = emo if lang == "en" else ESD_EMOTIONS[emo]
                lines.append(f"{spk}_{block + n:06d}\t{texts[j]}\t{raw}")
        esd_speaker(base, spk, lines, encoding, clip=lambda p, emotion, speaker: speech(p, emotion, speaker))
    return root


ARCTIC = {
    "arctic_a0001": "Author of the danger trail, Philip Steels, etc.",
    "arctic_a0002": "Not at this particular case, Tom, apologized Whittemore.",
    "arctic_a0003": "For the twentieth time that evening the two men shook hands.",
}


def make_emovdb(root: Path) -> Path:
    """``cmuarctic.data`` + ``<spk>/<Emotion>/<prefix>_1-28_<nnnn>.wav`` (the EmoV-DB_sorted layout, 16 kHz)."""
    (root / "cmuarctic.data").parent.mkdir(parents=True, exist_ok=True)
    (root / "cmuarctic.data").write_text("".join(f'( {k} "{v}" )\n' for k, v in ARCTIC.items()))
    folders = {"Neutral": ("neutral", "neutral"), "Amused": ("amused", "amused"), "Angry": ("anger", "angry"),
               "Sleepy": ("sleepiness", "sleepy")}  # fmt: skip
    for spk in ("bea", "josh"):
        for folder, (prefix, emo) in folders.items():
            for n in (1, 2, 3):
                speech(root / spk / folder / f"{prefix}_1-28_{n:04d}.wav", emo, spk)
    return root


def make_tess(root: Path) -> Path:
    """``<OAF|YAF>_<emotion>/<spk>_<word>_<emotion>.wav`` (24,414 Hz, as released)."""
    for spk in ("OAF", "YAF"):
        for folder, suffix, emo in (("neutral", "neutral", "neutral"), ("happy", "happy", "happy"),
                                    ("Sad", "sad", "sad"), ("angry", "angry", "angry")):  # fmt: skip
            for word in ("back", "bar", "base"):
                speech(
                    root / f"{spk}_{folder}" / f"{spk}_{word}_{suffix}.wav", emo, spk, sr=24414, seconds=0.8
                )
    return root


def make_emns(root: Path) -> Path:
    """``metadata.csv`` (pipe-delimited, with the release's header) and ``raw_webm/<name>.wav`` (clips converted
    from the WebM the release ships: libsndfile cannot read WebM)."""
    header = "id|utterance|description|emotion|date_created|status|gender|age|level|audio_recording|user_id"
    rows = [header]
    k = 0
    for emo in ("Neutral", "Happy", "Sad", "Angry"):
        for i, text in enumerate(EN_SENTENCES[:3]):
            k += 1
            name = f"clip{k:03d}"
            rows.append(
                f"{k}|{text}|description|{emo}|2022-08-01|accepted|Female|25|{3 + 2 * i}|wavs/{name}.webm|7"
            )
            speech(root / "raw_webm" / f"{name}.wav", emo.lower(), "7", sr=48000)
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root


def make_iemocap(root: Path) -> Path:
    """``IEMOCAP_full_release/Session1/dialog/{EmoEvaluation,transcriptions}/*.txt`` and
    ``sentences/wav/<dialog>/<turn>.wav`` (16 kHz): categorical labels and [V, A, D] per turn."""
    s1 = root / "IEMOCAP_full_release" / "Session1"
    ev, tr = s1 / "dialog" / "EmoEvaluation", s1 / "dialog" / "transcriptions"
    ev.mkdir(parents=True)
    tr.mkdir(parents=True)
    labels = [("neu", "neutral", "[3.0000, 3.0000, 3.0000]"), ("hap", "happy", "[4.5000, 3.5000, 3.0000]"),
              ("sad", "sad", "[1.5000, 2.0000, 2.0000]"), ("ang", "angry", "[1.5000, 4.5000, 4.0000]")]  # fmt: skip
    for dialog in ("Ses01F_impro01", "Ses01M_impro02"):
        eva, trs = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n"], []
        for i, (code, emo, vad) in enumerate(labels * 2):
            for who in ("F", "M"):
                turn = f"{dialog}_{who}{i:03d}"
                start = 10.0 * i + (0 if who == "F" else 5)
                eva.append(f"\n[{start:.4f} - {start + 1:.4f}]\t{turn}\t{code}\t{vad}\n")
                trs.append(f"{turn} [{start:08.4f}-{start + 1:08.4f}]: {EN_SENTENCES[i % 4]}\n")
                speech(s1 / "sentences" / "wav" / dialog / f"{turn}.wav", emo, who)
        (ev / f"{dialog}.txt").write_text("".join(eva))
        (tr / f"{dialog}.txt").write_text("".join(trs))
    return root


def make_msppodcast(root: Path) -> Path:
    """``Labels/labels_consensus.csv`` (EmoClass, EmoAct/Val/Dom on 1-7, speaker, split), ``Audios/*.wav`` and
    ``Transcripts/*.txt`` (16 kHz)."""
    rows = ["FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set"]
    classes = [("N", "neutral", 4.0, 4.0, 4.0), ("H", "happy", 5.5, 6.0, 4.5), ("S", "sad", 2.5, 2.0, 3.0),
               ("A", "angry", 6.5, 1.5, 6.0), ("X", None, 5.0, 3.0, 4.0)]  # fmt: skip
    k = 0
    for spk, gender in (("127", "Female"), ("12", "Male")):
        for split in ("Train", "Train", "Development", "Test1"):
            for code, emo, act, val, dom in classes:
                k += 1
                name = f"MSP-PODCAST_{int(spk):04d}_{k:04d}"
                rows.append(f"{name}.wav,{code},{act},{val},{dom},{spk},{gender},{split}")
                speech(root / "Audios" / f"{name}.wav", emo, spk)
                (root / "Transcripts").mkdir(parents=True, exist_ok=True)
                (root / "Transcripts" / f"{name}.txt").write_text(EN_SENTENCES[k % 4] + "\n")
    (root / "Labels").mkdir(parents=True, exist_ok=True)
    (root / "Labels" / "labels_consensus.csv").write_text("\n".join(rows) + "\n")
    return root


KK_SENTENCES = ["Сәлем, әлем!", "Бүгін ауа райы жақсы.", "Мен кітап оқимын."]


def make_kazemotts(root: Path) -> Path:
    """``<speaker>/{train,eval}/<speaker>_<emotion>_<n>.{wav,txt}`` (22,050 Hz; Kazakh transcripts)."""
    for spk in ("1263201035", "805570882"):
        for emo in ("neutral", "happy", "sad", "angry"):
            for n, text in enumerate(KK_SENTENCES):
                split = "eval" if n == 0 else "train"
                stem = root / spk / split / f"{spk}_{emo}_{n}"
                speech(stem.with_suffix(".wav"), emo, spk, sr=22050)
                stem.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
    return root


PL_SENTENCES = ["Dwa koty i pies.", "Dzisiaj jest ładna pogoda.", "Idę do sklepu po chleb."]


def make_nemo(root: Path) -> Path:
    """``data.tsv`` (file_id, emotion, raw_text, normalized_text, speaker_id, gender, age) and ``samples/*.wav``
    (24 kHz; Polish)."""
    rows = ["file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage"]
    for spk, gender in (("SB0", "male"), ("WR0", "female")):
        for raw, emo in (
            ("neutral", "neutral"),
            ("happiness", "happy"),
            ("sadness", "sad"),
            ("anger", "angry"),
        ):
            for n, text in enumerate(PL_SENTENCES):
                name = f"{spk}_{raw}_{n}"
                rows.append(f"{name}.wav\t{raw}\t{text}\t{text.lower()}\t{spk}\t{gender}\t24")
                speech(root / "samples" / f"{name}.wav", emo, spk, sr=24000)
    (root / "data.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def make_custom(root: Path) -> Path:
    """A user's own table: ``metadata.csv`` with a header (path, transcript, spk, label, intensity, arousal,
    dominance, valence) next to ``clips/`` (44.1 kHz); some rows with ADV only."""
    rows = ["path,transcript,spk,label,intensity,arousal,dominance,valence"]
    for spk in ("anna", "ben"):
        for i, text in enumerate(EN_SENTENCES[:3]):
            for emo in ("neutral", "happy", "sad", "angry"):
                name = f"clips/{spk}_{emo}_{i}.wav"
                speech(root / name, emo, spk, sr=44100)
                a, d, v = adv_anchor(emo)
                intensity = "" if emo == "neutral" else "0.8"
                rows.append(f'{name},"{text}",{spk},{emo},{intensity},{a:.2f},{d:.2f},{v:.2f}')
            name = f"clips/{spk}_adv_{i}.wav"
            speech(root / name, None, spk, sr=44100)
            rows.append(f'{name},"{text}",{spk},,,0.5,0.2,-0.3')
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root


MAKERS = {
    "ravdess": make_ravdess,
    "cremad": make_cremad,
    "esd": make_esd,
    "emovdb": make_emovdb,
    "tess": make_tess,
    "emns": make_emns,
    "iemocap": make_iemocap,
    "msppodcast": make_msppodcast,
    "kazemotts": make_kazemotts,
    "nemo": make_nemo,
    "custom": make_custom,
}
"""corpus name -> builder(root) of its miniature tree."""
