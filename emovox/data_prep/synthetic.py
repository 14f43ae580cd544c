"""A synthetic emotional speech corpus that anyone can rebuild offline, with exact labels and ADV values.

Open TTS voices from Debian (festival, flite, espeak-ng) speak sentences from a text file; each neutral utterance
is analysed once with WORLD and rendered several times with rule-based emotional prosody
(:mod:`emovox.data_prep.prosody_rules`, :mod:`emovox.data_prep.world_prosody`): the neutral rendering itself
(resynthesised, so neutral and emotional speech share the vocoder), categorical emotions at random intensities,
and points in arousal/dominance/valence space with no category.

Layout of a corpus folder::

    corpus.json               settings it was built with (a resumed build must match them)
    records/<group>.json      one per finished (voice, sentence) group: its utterances; written last, atomically
    wavs/<voice>/<utt>.wav    22,050 Hz mono 16-bit
    metadata.csv              audio|text|speaker|emotion|intensity|a|d|v   (the generic manifest; a,d,v in [-1,1])
    prosody.jsonl             per utterance: the requested emotion/ADV and every applied prosody parameter

The plan is an endless, seed-determined sequence of groups; the corpus is its shortest prefix holding at least
the requested hours, so the same seed gives the same corpus whatever the number of workers or interruptions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from emovox.audio.io import SAMPLE_RATE, load_audio, save_wav
from emovox.audio.level import active_rms_db, soft_limit
from emovox.data_prep.prosody_rules import RULES_VERSION, ProsodyParams, category_prosody, dimensional_prosody
from emovox.data_prep.world_prosody import analyse, render
from emovox.emotion.labels import adv_anchor
from emovox.fileio import atomic_write_text

__all__ = [
    "MANIFEST_HEADER",
    "VOICES",
    "Group",
    "Rendering",
    "SynthCorpusConfig",
    "Voice",
    "VoiceError",
    "build_corpus",
    "detect_voices",
    "plan_groups",
    "read_sentences",
    "render_group",
    "synthesize_neutral",
    "write_manifest",
]

logger = logging.getLogger(__name__)

MANIFEST_HEADER = "audio|text|speaker|emotion|intensity|a|d|v"


class VoiceError(ValueError):
    """A requested TTS voice is unknown or not installed."""


# --------------------------------------------------------------------------------------------------- voices
@dataclass(frozen=True)
class Voice:
    """One open TTS voice, called as a subprocess."""

    name: str  # speaker id in the corpus
    engine: str  # festival | flite | espeak-ng
    voice_id: str  # festival voice function, flite -voice name, or espeak-ng voice
    package: str  # Debian package that provides it
    source_speaker: str  # the recorded person (two engines may share one)
    description: str
    f0_ceil: float = 350.0  # WORLD F0 search ceiling for this voice's neutral speech, Hz (lower = faster)
    component: str = "main"  # Debian component (main, contrib, non-free)


VOICES: dict[str, Voice] = {
    v.name: v
    for v in (
        Voice("slt_hts", "festival", "voice_cmu_us_slt_arctic_hts", "festvox-us-slt-hts", "slt",
              "US English female, HTS statistical (most natural of the free voices)", 500.0),
        Voice("kal", "festival", "voice_kal_diphone", "festvox-kallpc16k", "kal", "US English male, diphone"),
        Voice("ked", "festival", "voice_ked_diphone", "festvox-kdlpc16k", "ked", "US English male, diphone"),
        Voice("flite_slt", "flite", "slt", "flite", "slt", "US English female, flite clustergen", 500.0),
        Voice("flite_rms", "flite", "rms", "flite", "rms", "US English male, flite clustergen"),
        Voice("flite_awb", "flite", "awb", "flite", "awb", "Scottish English male, flite clustergen"),
        Voice("flite_kal", "flite", "kal16", "flite", "kal", "US English male, flite diphone (same as kal)"),
        Voice("espeak_m", "espeak-ng", "en-us", "espeak-ng", "espeak_m", "espeak-ng US male (formant, robotic)"),
        Voice("espeak_f", "espeak-ng", "en-us+f3", "espeak-ng", "espeak_f", "espeak-ng US female variant (robotic)", 500.0),
    )
}  # fmt: skip
"""Voices from Debian main. RHVoice, mbrola and pico need contrib/non-free and are not wired in yet."""

_FESTIVAL_VOICE_DIRS = {
    "voice_cmu_us_slt_arctic_hts": "us/cmu_us_slt_arctic_hts",
    "voice_kal_diphone": "english/kal_diphone",
    "voice_ked_diphone": "english/ked_diphone",
}


def _flite_voices() -> set[str]:
    if shutil.which("flite") is None:
        return set()
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, timeout=30).stdout
    return set(out.split(":", 1)[-1].split())


def _installed(voice: Voice, flite_voices: set[str]) -> bool:
    if voice.engine == "festival":
        rel = _FESTIVAL_VOICE_DIRS[voice.voice_id]
        return shutil.which("text2wave") is not None and Path("/usr/share/festival/voices", rel).is_dir()
    if voice.engine == "flite":
        return voice.voice_id in flite_voices
    return shutil.which("espeak-ng") is not None


def detect_voices(names: Sequence[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """Which voices are installed. Returns ``(installed, missing)``; ``missing`` maps a name to the apt command
    that adds it."""
    names = list(VOICES) if names is None else list(names)
    unknown = [n for n in names if n not in VOICES]
    if unknown:
        raise VoiceError(f"unknown voice(s) {', '.join(unknown)}; known voices: {', '.join(VOICES)}")
    flite_voices = _flite_voices()
    installed, missing = [], {}
    for name in names:
        voice = VOICES[name]
        if _installed(voice, flite_voices):
            installed.append(name)
        else:
            missing[name] = f"sudo apt-get install {voice.package}"
    return installed, missing


def synthesize_neutral(voice: Voice, text: str, workdir: Path) -> np.ndarray:
    """Speak ``text`` with ``voice``; returns float32 mono at 22,050 Hz ``[T]``."""
    wav = workdir / "tts.wav"
    wav.unlink(missing_ok=True)
    if voice.engine == "festival":
        cmd = ["text2wave", "-eval", f"({voice.voice_id})", "-o", str(wav)]
    elif voice.engine == "flite":
        cmd = ["flite", "-voice", voice.voice_id, "-f", "/dev/stdin", "-o", str(wav)]
    else:
        cmd = ["espeak-ng", "-v", voice.voice_id, "-w", str(wav)]
    proc = subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=300, cwd=workdir)
    if proc.returncode != 0 or not wav.is_file():
        raise VoiceError(f"{voice.engine} failed for voice {voice.name}: {proc.stderr.strip()[:300]}")
    audio, _ = load_audio(wav, SAMPLE_RATE)
    return audio


def _trim(audio: np.ndarray, sample_rate: int, margin_s: float = 0.08, floor_db: float = -45.0) -> np.ndarray:
    """Cut leading/trailing silence, keeping ``margin_s`` of it."""
    hop = int(0.01 * sample_rate)
    n = audio.shape[0] // hop
    if n == 0:
        return audio
    db = 10.0 * np.log10(np.maximum(np.mean(np.square(audio[: n * hop].reshape(n, hop)), axis=1), 1e-20))
    active = np.flatnonzero(db >= db.max() + floor_db)
    margin = int(margin_s * sample_rate)
    start = max(0, active[0] * hop - margin)
    end = min(audio.shape[0], (active[-1] + 1) * hop + margin)
    return audio[start:end]


# --------------------------------------------------------------------------------------------------- plan
@dataclass
class SynthCorpusConfig:
    """How a synthetic corpus is planned and rendered."""

    voices: list[str] = field(
        default_factory=lambda: ["slt_hts", "flite_rms", "flite_awb", "kal"]
    )  # voice names
    sentences: str = ""  # text file: one sentence per line, or id|text lines
    hours: float = 6.0  # target hours of audio (the corpus is the shortest plan prefix reaching it)
    seed: int = 0  # everything random derives from it
    per_sentence: int = (
        4  # renderings per (voice, sentence): neutral + this−1 others; 0 = every emotion + 2 ADV
    )
    emotions: list[str] = field(
        default_factory=lambda: ["happy", "sad", "angry", "fear", "surprise", "disgust", "calm", "sleepy"]
    )  # categorical emotions besides neutral
    adv_per_deck: int = 2  # ADV-only renderings per deck of the emotions (the deck balances the labels)
    intensity_min: float = 0.3  # categorical intensity ~ U(min, max)
    intensity_max: float = 1.3  # (1 = the rule table's value; > 1 extrapolates)
    category_exaggeration: float = 1.0  # global factor on the categorical rules
    adv_exaggeration: float = 1.25  # global factor on Schröder's dimensional rules
    min_chars: int = 15  # sentences shorter than this are skipped
    max_chars: int = 180  # ... and longer than this
    f0_method: str = "harvest"  # WORLD F0 estimator: harvest (robust) or dio (faster)
    rules: str = "calibrated"  # categorical rules: calibrated, tuned, literature or a rules table file
    level_dbfs: float = -32.0  # active-speech RMS of each neutral rendering; emotions are relative to it
    limit_threshold: float = 0.7  # samples above are soft-limited (tanh knee): loud emotions keep their level
    limit_ceiling: float = 0.98  # ... towards this ceiling; the RMS lost is recorded (never a gain change)

    def plan_key(self) -> dict:
        """The settings that determine the corpus content (hours only decide where it stops)."""
        d = asdict(self)
        d.pop("hours")
        d["rules_version"] = RULES_VERSION
        return d


@dataclass(frozen=True)
class Rendering:
    """One utterance to render from a group's neutral analysis."""

    kind: str  # neutral | category | adv
    emotion: str | None
    intensity: float | None
    adv: tuple[float, float, float]  # (arousal, dominance, valence) recorded for the utterance


@dataclass(frozen=True)
class Group:
    """One voice speaking one sentence, rendered several ways."""

    index: int
    group_id: str
    voice: str
    sentence_id: str
    text: str
    renderings: tuple[Rendering, ...]
    seed: int


def read_sentences(
    path: str | os.PathLike, min_chars: int = 1, max_chars: int = 10_000
) -> list[tuple[str, str]]:
    """``(id, text)`` pairs from a file of ``id|text`` lines or plain sentences (ids ``s000001``…)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"sentence file not found: {path}")
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        sid, sep, text = line.partition("|")
        if not sep:
            sid, text = f"s{lineno:06d}", line
        text = text.split("|")[0].strip()  # LJSpeech-style id|raw|normalised: take the first text column
        sid = "".join(c if c.isalnum() or c in "-_" else "_" for c in sid.strip())
        if min_chars <= len(text) <= max_chars:
            out.append((sid, text))
    if not out:
        raise ValueError(f"{path}: no sentences between {min_chars} and {max_chars} characters")
    return out


def _clip_adv(adv) -> tuple[float, float, float]:
    return tuple(round(float(np.clip(x, -1.0, 1.0)), 4) for x in adv)


def _draw(slot: str, rng: np.random.Generator, cfg: SynthCorpusConfig) -> Rendering:
    if slot == "adv":
        return Rendering("adv", None, None, _clip_adv(rng.uniform(-1.0, 1.0, size=3)))
    intensity = round(float(rng.uniform(cfg.intensity_min, cfg.intensity_max)), 3)
    adv = _clip_adv(np.asarray(adv_anchor(slot)) * intensity)
    return Rendering("category", slot, intensity, adv)


def plan_groups(
    sentences: Sequence[tuple[str, str]], cfg: SynthCorpusConfig, voices: Sequence[str] | None = None
) -> Iterator[Group]:
    """The seed-determined sequence of groups: sentences shuffled, voices in turn, emotions from shuffled decks.

    Every sentence is used once; the sequence ends when the sentences do."""
    voices = list(cfg.voices if voices is None else voices)
    rng = np.random.default_rng([cfg.seed, 1])
    order = rng.permutation(len(sentences))
    deck_slots = [*cfg.emotions, *(["adv"] * cfg.adv_per_deck)]
    pending: list[str] = []
    for index, s_idx in enumerate(order):
        sid, text = sentences[int(s_idx)]
        voice = voices[index % len(voices)]
        group_rng = np.random.default_rng([cfg.seed, 2, index])
        if cfg.per_sentence <= 0:
            slots = [*cfg.emotions, "adv", "adv"]
        else:
            while len(pending) < cfg.per_sentence - 1:
                pending.extend(rng.permutation(deck_slots).tolist())
            slots, pending = pending[: cfg.per_sentence - 1], pending[cfg.per_sentence - 1 :]
        renderings = (
            Rendering("neutral", "neutral", None, (0.0, 0.0, 0.0)),
            *(_draw(s, group_rng, cfg) for s in slots),
        )
        yield Group(
            index,
            f"{index:06d}_{voice}_{sid}",
            voice,
            sid,
            text,
            renderings,
            seed=int(group_rng.integers(2**31)),
        )


# --------------------------------------------------------------------------------------------------- render
def _prosody(r: Rendering, cfg: SynthCorpusConfig) -> ProsodyParams:
    if r.kind == "adv":
        a, d, v = r.adv
        return dimensional_prosody(a, d, v, exaggeration=cfg.adv_exaggeration)
    return category_prosody(
        r.emotion or "neutral", r.intensity or 0.0, exaggeration=cfg.category_exaggeration, rules=cfg.rules
    )


def _utt_id(group: Group, k: int, r: Rendering) -> str:
    return f"{group.voice}_{group.sentence_id}_{k}_{r.emotion or 'adv'}"


def render_group(group: Group, out_dir: str | os.PathLike, cfg: SynthCorpusConfig) -> list[dict]:
    """Synthesize, analyse and render one group; write its wavs, then its record (the group's done-marker)."""
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="emosynth-") as tmp:
        neutral = _trim(synthesize_neutral(VOICES[group.voice], group.text, Path(tmp)), SAMPLE_RATE)
    analysis = analyse(neutral, SAMPLE_RATE, f0_method=cfg.f0_method, f0_ceil=VOICES[group.voice].f0_ceil)
    rng = np.random.default_rng(group.seed)
    scale = None
    records = []
    for k, r in enumerate(group.renderings):
        params = _prosody(r, cfg)
        audio = render(analysis, params, rng)
        if scale is None:  # the neutral rendering comes first and sets the group's level
            scale = 10.0 ** ((cfg.level_dbfs - active_rms_db(audio, SAMPLE_RATE)) / 20.0)
        audio, limited_db = soft_limit(audio * scale, cfg.limit_threshold, cfg.limit_ceiling)
        utt = _utt_id(group, k, r)
        rel = f"wavs/{group.voice}/{utt}.wav"
        save_wav(out_dir / rel, audio.astype(np.float32), SAMPLE_RATE)
        records.append(_record(group, utt, rel, r, params, audio.shape[0] / SAMPLE_RATE, limited_db))
    atomic_write_text(out_dir / "records" / f"{group.group_id}.json", json.dumps(records, indent=1))
    return records


def _record(group, utt, rel, r: Rendering, params: ProsodyParams, duration, limited_db) -> dict:
    return {
        "utt_id": utt,
        "audio": rel,
        "text": group.text,
        "speaker": group.voice,
        "source_speaker": VOICES[group.voice].source_speaker,
        "sentence_id": group.sentence_id,
        "group": group.group_id,
        "kind": r.kind,
        "emotion": r.emotion,
        "intensity": r.intensity,
        "adv": list(r.adv),
        "duration": round(duration, 4),
        "prosody": params.as_dict(),
        "peak_limited_db": round(float(limited_db), 3),
    }


# --------------------------------------------------------------------------------------------------- build
def _check_settings(out_dir: Path, cfg: SynthCorpusConfig) -> None:
    meta = out_dir / "corpus.json"
    key = cfg.plan_key()
    if meta.is_file():
        old = json.loads(meta.read_text())
        if old.get("plan") != key:
            diff = sorted(k for k in key if old.get("plan", {}).get(k) != key[k])
            raise ValueError(
                f"{out_dir} was built with other settings ({', '.join(diff)} differ); use a new --out folder "
                "or the same settings to resume"
            )
    atomic_write_text(meta, json.dumps({"plan": key, "hours": cfg.hours}, indent=1))


def _load_record(out_dir: Path, group: Group) -> list[dict] | None:
    path = out_dir / "records" / f"{group.group_id}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def _plan_digest(cfg: SynthCorpusConfig) -> str:
    return hashlib.sha256(json.dumps(cfg.plan_key(), sort_keys=True).encode()).hexdigest()[:12]


def build_corpus(
    cfg: SynthCorpusConfig, out_dir: str | os.PathLike, *, workers: int = 1, progress: bool = True
) -> dict:
    """Build (or resume) a corpus in ``out_dir``. Returns a summary dict (hours, utterances, voices, ...)."""
    installed, missing = detect_voices(cfg.voices)
    if missing:
        lines = "\n".join(f"  {name}: {cmd}" for name, cmd in missing.items())
        raise VoiceError(f"voices not installed:\n{lines}\n(installed: {', '.join(installed) or 'none'})")
    if cfg.hours <= 0:
        raise ValueError(f"hours must be positive, got {cfg.hours}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_settings(out_dir, cfg)
    sentences = read_sentences(cfg.sentences, cfg.min_chars, cfg.max_chars)
    groups = plan_groups(sentences, cfg)
    done = _run_groups(groups, out_dir, cfg, workers, progress)
    summary = write_manifest(out_dir, done, intensity_max=max(cfg.intensity_max, 1e-6))
    summary["plan"] = _plan_digest(cfg)
    if summary["hours"] < cfg.hours:
        logger.warning("sentences exhausted: built %.2f h of the %.2f h asked", summary["hours"], cfg.hours)
    return summary


def _progress_bar(total_s: float, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=round(total_s), unit="s", desc="audio", disable=not enabled, dynamic_ncols=True)


class _Prefix:
    """The finished groups in plan order, and how much audio the contiguous finished prefix holds."""

    def __init__(self, target_s: float, bar):
        self.target_s, self.bar = target_s, bar
        self.results: dict[int, list[dict]] = {}
        self.seconds, self.length = 0.0, 0

    def add(self, index: int, records: list[dict]) -> None:
        self.results[index] = records
        while self.length in self.results and not self.full:
            self.seconds += sum(r["duration"] for r in self.results[self.length])
            self.length += 1
            self.bar.update(round(min(self.seconds, self.target_s)) - self.bar.n)

    @property
    def full(self) -> bool:
        return self.seconds >= self.target_s

    def groups(self) -> list[list[dict]]:
        return [self.results[i] for i in range(self.length)]


def _render_or_skip(group: Group, out_dir: Path, cfg: SynthCorpusConfig) -> list[dict]:
    """:func:`render_group`, but a sentence a voice cannot speak is recorded as an empty group and skipped."""
    try:
        return render_group(group, out_dir, cfg)
    except ValueError as exc:  # VoiceError, AudioError: deterministic per (voice, sentence)
        logger.warning("skipping %s: %s", group.group_id, exc)
        atomic_write_text(out_dir / "records" / f"{group.group_id}.json", "[]")
        return []


def _run_groups(groups: Iterator[Group], out_dir: Path, cfg: SynthCorpusConfig, workers: int, progress: bool):
    """Render groups in plan order until the finished prefix holds ``cfg.hours``; returns that prefix's records."""
    bar = _progress_bar(cfg.hours * 3600.0, progress)
    prefix = _Prefix(cfg.hours * 3600.0, bar)
    in_flight: dict[Future, Group] = {}
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        while True:
            while not prefix.full and len(in_flight) < 2 * workers:
                group = next(groups, None)
                if group is None:
                    break
                cached = _load_record(out_dir, group)
                if cached is not None:
                    prefix.add(group.index, cached)
                elif pool is None:
                    prefix.add(group.index, _render_or_skip(group, out_dir, cfg))
                else:
                    in_flight[pool.submit(_render_or_skip, group, out_dir, cfg)] = group
            if not in_flight:
                break
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for fut in finished:
                prefix.add(in_flight.pop(fut).index, fut.result())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return prefix.groups()


def write_manifest(
    out_dir: str | os.PathLike, groups: Sequence[list[dict]], intensity_max: float = 1.0
) -> dict:
    """Write ``metadata.csv`` and ``prosody.jsonl`` for the given groups' records; return a summary.

    The manifest's intensity is the requested one divided by ``intensity_max`` (the strongest rendering → 1), as
    manifests hold intensities in [0, 1]; ``prosody.jsonl`` keeps the requested value (1 = the rule table's)."""
    out_dir = Path(out_dir)
    lines, prosody = [MANIFEST_HEADER], []
    for records in groups:
        for r in records:
            emotion = r["emotion"] or ""
            intensity = "" if r["intensity"] is None else f"{min(r['intensity'] / intensity_max, 1.0):.3f}"
            a, d, v = (f"{x:.4f}" for x in r["adv"])
            text = r["text"].replace("|", " ")
            lines.append("|".join([r["audio"], text, r["speaker"], emotion, intensity, a, d, v]))
            prosody.append(json.dumps(r, sort_keys=True))
    atomic_write_text(out_dir / "metadata.csv", "\n".join(lines) + "\n")
    atomic_write_text(out_dir / "prosody.jsonl", "\n".join(prosody) + ("\n" if prosody else ""))
    flat = [r for records in groups for r in records]
    hours = sum(r["duration"] for r in flat) / 3600.0
    emotions: dict[str, int] = {}
    for r in flat:
        emotions[r["emotion"] or "adv"] = emotions.get(r["emotion"] or "adv", 0) + 1
    return {
        "hours": round(hours, 4),
        "utterances": len(flat),
        "groups": len(groups),
        "speakers": sorted({r["speaker"] for r in flat}),
        "emotions": emotions,
        "peak_limited": sum(1 for r in flat if r["peak_limited_db"] < -0.1),
    }
