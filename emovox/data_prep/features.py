"""The feature store: a manifest's audio turned into what the trainers read, one file per utterance.

``build_store(manifest, out)`` writes::

    out/meta.json        configs (mel, features), stage versions, emovox version; checked when a run resumes
    out/items/<id>.npz   audio (int16, trimmed, loudness-normalised, 22.05 kHz mono), mel [80, T], energy [T],
                         phonemes (str) + tokens [N] (symbol-table ids), f0 [T] + voiced [T] where the pitch
                         stage is installed; plus an "info" JSON
    out/items.jsonl      the manifest records that were extracted (duration = trimmed length) + n_frames
    out/failed.tsv       utterances that could not be used (corrupt, empty, unsupported format), with the reason
    out/stats.json       per-speaker pitch/energy mean and std, global mel mean/std

Each item is written atomically (temporary file + rename) with a fixed zip timestamp, so files are byte-identical
across runs; an item whose ``.npz`` exists is never recomputed, so a killed run continues where it stopped.
Work is spread over processes with ``multiprocessing``; a bad file becomes a line in ``failed.tsv``, never an
exception. Stages are pluggable: pitch and phonemisation come from ``emovox.audio.pitch`` / ``emovox.text`` via
the dotted names in :class:`FeatureConfig`; when those are not importable the stage is recorded in meta.json as
unavailable and its arrays are absent.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import logging
import multiprocessing as mp
import os
import zipfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emovox import __version__
from emovox.audio.io import AudioError, load_audio
from emovox.audio.mel import MelConfig, n_frames
from emovox.data_prep.manifest import Utterance, read_manifest
from emovox.fileio import atomic_path, atomic_write_text

__all__ = [
    "FEATURE_VERSION",
    "FeatureConfig",
    "StoreError",
    "StoreReport",
    "build_store",
    "extract_item",
    "frontend_phonemes",
    "load_item",
]

logger = logging.getLogger(__name__)

FEATURE_VERSION = 1
"""Bumped whenever what an item contains or how it is computed changes; a store of another version is refused."""


@dataclass
class FeatureConfig:
    """How audio becomes features."""

    mel: MelConfig = field(default_factory=MelConfig)  # HiFi-GAN mel analysis (sets the sample rate)
    trim_db: float = 40.0  # frames quieter than the loudest by more than this are trimmed from both ends
    trim_margin_ms: float = 50.0  # silence kept before and after the trimmed speech
    loudness: str = "utterance"  # utterance: each to target_rms_dbfs; keep: the recording's own level
    target_rms_dbfs: float = -23.0  # loudness target (RMS over the trimmed speech, dB re full scale)
    peak_limit: float = 0.95  # the gain is lowered so that the peak stays below this
    max_seconds: float = 40.0  # longer files are refused (bounds memory)
    min_seconds: float = 0.1  # shorter files (after trimming) are refused
    pitch_fn: str = "emovox.data_prep.features:pitch_stage"  # (audio, sr, hop, n_frames) -> (f0 Hz, voiced)
    phonemize_fn: str = "emovox.data_prep.features:frontend_phonemes"  # (text, lang) -> (phonemes, ids)


class StoreError(ValueError):
    """A feature store cannot be created or resumed."""


# ---------------------------------------------------------------------------------------------------- stages


def resolve(dotted: str) -> tuple[Callable | None, str]:
    """Import ``module:function``; returns (callable, description) or (None, why it is unavailable)."""
    module_name, _, attr = dotted.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        return None, f"unavailable ({dotted}: {exc.__class__.__name__})"
    try:
        version = _frontend_version() if fn is frontend_phonemes else getattr(fn, "version", None)
    except ImportError as exc:
        return None, f"unavailable ({dotted}: {exc.__class__.__name__})"
    return fn, f"{dotted}" + (f" {version}" if version else "")


ESPEAK_LANGUAGE = {"en": "en-us", "zh": "cmn", "kk": "kk", "pl": "pl"}
"""Manifest language code -> espeak-ng voice, where they differ (others are passed through)."""
_FRONTENDS: dict = {}


def pitch_stage(audio: np.ndarray, sr: int, hop: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """F0 (Hz, 0 = unvoiced) and voicing on the mel grid with the Numba pYIN-family tracker."""
    from emovox.audio.pitch import PitchConfig, estimate_f0

    f0 = estimate_f0(audio, PitchConfig(sample_rate=sr, hop_length=hop)).f0
    f0 = np.pad(f0[:frames], (0, max(0, frames - f0.shape[0])))
    return f0.astype(np.float32), f0 > 0


def frontend_phonemes(text: str, lang: str) -> tuple[str, list[int]]:
    """The text front end (normalise -> espeak-ng phonemes -> token ids of the current symbol table)."""
    from emovox.text.frontend import TextFrontend

    voice = ESPEAK_LANGUAGE.get(lang.lower(), lang.lower())
    if voice not in _FRONTENDS:
        _FRONTENDS[voice] = TextFrontend(voice)
    out = _FRONTENDS[voice](text)
    return out.phonemes, out.ids


def _frontend_version() -> str:
    from emovox.text.symbols import default_symbol_table

    return f"emovox.text normalise + espeak-ng + symbol table {default_symbol_table().version}"


def trim_silence(audio: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Cut leading and trailing frames more than ``trim_db`` below the loudest frame (hop-sized RMS frames)."""
    hop = cfg.mel.hop_length
    n = audio.size // hop
    if n < 2:
        return audio
    rms = np.sqrt(np.mean(np.square(audio[: n * hop].reshape(n, hop), dtype=np.float64), axis=1) + 1e-12)
    db = 20 * np.log10(rms)
    loud = np.flatnonzero(db > db.max() - cfg.trim_db)
    margin = int(cfg.trim_margin_ms * 1e-3 * cfg.mel.sample_rate)
    start = max(0, loud[0] * hop - margin)
    end = min(audio.size, (loud[-1] + 1) * hop + margin)
    return audio[start:end]


LOUDNESS_MODES = ("utterance", "keep")


def normalise_loudness(audio: np.ndarray, cfg: FeatureConfig) -> tuple[np.ndarray, float]:
    """Scale to ``target_rms_dbfs`` (capped so the peak stays under ``peak_limit``); returns (audio, gain dB).

    With ``cfg.loudness == "keep"`` the audio keeps its level (gain 0 dB): a corpus whose levels carry emotion
    (e.g. emosynth, where every voice's neutral speech sits at one level and angry is louder) must not be
    normalised per utterance, or the acoustic model never sees loudness follow emotion."""
    if cfg.loudness not in LOUDNESS_MODES:
        raise ValueError(f"unknown loudness mode '{cfg.loudness}'; use one of {', '.join(LOUDNESS_MODES)}")
    if cfg.loudness == "keep":
        return audio, 0.0
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    peak = float(np.abs(audio).max())
    if rms <= 0 or peak <= 0:
        return audio, 0.0
    gain = min(10 ** (cfg.target_rms_dbfs / 20) / rms, cfg.peak_limit / peak)
    return (audio * gain).astype(np.float32), float(20 * np.log10(gain))


_MEL_MODULE = None


def mel_and_energy(audio: np.ndarray, cfg: MelConfig) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel ``[n_mels, T]`` (HiFi-GAN definition) and frame energy ``[T]`` (L2 norm of the linear magnitude,
    as in FastSpeech 2) from one STFT."""
    import torch

    from emovox.audio.mel import MelSpectrogram

    global _MEL_MODULE
    if _MEL_MODULE is None or _MEL_MODULE.cfg != cfg:
        _MEL_MODULE = MelSpectrogram(cfg)
    with torch.no_grad():
        y = torch.from_numpy(audio).unsqueeze(0)
        mag = _MEL_MODULE.magnitude(y)
        mel = torch.log(torch.clamp(torch.matmul(_MEL_MODULE.mel_basis, mag), min=cfg.log_floor))
        energy = torch.linalg.vector_norm(mag, dim=1)
    return mel[0].numpy(), energy[0].numpy()


# ---------------------------------------------------------------------------------------------------- one item


def extract_item(
    utt: Utterance, cfg: FeatureConfig, pitch_fn=None, phonemize_fn=None
) -> dict[str, np.ndarray]:
    """All arrays of one utterance. Raises AudioError (a ValueError) for an unusable file."""
    sr = cfg.mel.sample_rate
    if Path(utt.audio).suffix.lower() in (".webm", ".m4a", ".opus"):
        raise AudioError(
            f"{utt.audio}: {Path(utt.audio).suffix} is not supported by libsndfile; convert it to WAV"
        )
    audio, info = load_audio(utt.audio, sr, max_seconds=cfg.max_seconds)
    if info.is_silent:
        raise AudioError(f"{utt.audio}: silent (RMS {info.rms_dbfs:.1f} dBFS)")
    audio = trim_silence(audio, cfg)
    if audio.size < cfg.min_seconds * sr or n_frames(audio.size, cfg.mel) < 1:
        raise AudioError(f"{utt.audio}: shorter than {cfg.min_seconds:g} s after trimming")
    audio, gain_db = normalise_loudness(audio, cfg)
    mel, energy = mel_and_energy(audio, cfg.mel)
    arrays = {"audio": np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16), "mel": mel, "energy": energy}
    if pitch_fn is not None:
        f0, voiced = pitch_fn(audio, sr, cfg.mel.hop_length, mel.shape[1])
        arrays["f0"] = np.asarray(f0, dtype=np.float32)
        arrays["voiced"] = np.asarray(voiced, dtype=bool)
    if phonemize_fn is not None and utt.text:
        phonemes, ids = phonemize_fn(utt.text, utt.lang)
        arrays["phonemes"] = np.array(phonemes)
        if ids is not None:
            arrays["tokens"] = np.asarray(ids, dtype=np.int32)
    item_info = {
        "utt_id": utt.utt_id,
        "speaker": utt.speaker,
        "n_frames": int(mel.shape[1]),
        "duration": round(audio.size / sr, 4),
        "gain_db": round(gain_db, 3),
        "downmixed": info.downmixed,
        "resampled_from": info.orig_sample_rate if info.resampled else None,
        "warnings": info.warnings,
        "moments": _item_moments(arrays),
    }
    arrays["info"] = np.array(json.dumps(item_info, sort_keys=True))
    return arrays


def _item_moments(arrays: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """(count, sum, sum of squares) of energy, log-F0 of voiced frames and mel, for the store statistics."""
    out = {"energy": [0.0, 0.0, 0.0], "mel": [0.0, 0.0, 0.0]}
    _accumulate(out["energy"], arrays["energy"].astype(np.float64))
    _accumulate(out["mel"], arrays["mel"].astype(np.float64))
    if "f0" in arrays and arrays["voiced"].any():
        out["log_f0"] = [0.0, 0.0, 0.0]
        _accumulate(out["log_f0"], np.log(arrays["f0"][arrays["voiced"]].astype(np.float64)))
    return out


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``.npz`` np.load reads, with fixed member timestamps so the bytes depend on the arrays only."""
    with atomic_path(path, suffix=".npz") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            arr = np.asarray(arrays[name])
            np.lib.format.write_array(
                buf, arr if arr.flags.c_contiguous else arr.copy(order="C"), allow_pickle=False
            )
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue())


def load_item(store: str | os.PathLike, utt_id: str, keys: Sequence[str] | None = None) -> dict:
    """Arrays of one stored utterance (``info`` decoded to a dict)."""
    with np.load(Path(store) / "items" / f"{utt_id}.npz", allow_pickle=False) as z:
        out = {k: z[k] for k in (keys or z.files)}
    if "info" in out:
        out["info"] = json.loads(str(out["info"].reshape(-1)[0]))
    return out


def item_path(store: Path, utt_id: str) -> Path:
    return store / "items" / f"{utt_id}.npz"


# ---------------------------------------------------------------------------------------------------- workers

_WORKER: dict = {}


def _init_worker(cfg: FeatureConfig, store: str) -> None:
    import torch

    torch.set_num_threads(1)
    pitch_fn, _ = resolve(cfg.pitch_fn)
    phon_fn, _ = resolve(cfg.phonemize_fn)
    _WORKER.update(cfg=cfg, store=Path(store), pitch=pitch_fn, phon=phon_fn)


def _work(utt: Utterance) -> tuple[str, str | None]:
    """Extract and write one item in a worker; returns (utt_id, error or None)."""
    try:
        arrays = extract_item(utt, _WORKER["cfg"], _WORKER["pitch"], _WORKER["phon"])
    except (AudioError, ValueError, OSError, RuntimeError) as exc:
        return utt.utt_id, str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    write_npz(item_path(_WORKER["store"], utt.utt_id), arrays)
    return utt.utt_id, None


# ---------------------------------------------------------------------------------------------------- the store


@dataclass
class StoreReport:
    done: int  # items in the store after this run
    computed: int  # items extracted by this run
    failed: list[tuple[str, str]]  # (utt_id, reason)
    meta: dict
    downmixed: list[str]


def _meta(cfg: FeatureConfig) -> dict:
    return {
        "format": "emovox-feature-store",
        "feature_version": FEATURE_VERSION,
        "emovox_version": __version__,
        "mel": dataclasses.asdict(cfg.mel),
        "features": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "mel"},
        "stages": {
            "audio": "trimmed, loudness-normalised, int16",
            "mel": "emovox.audio.mel (HiFi-GAN)",
            "energy": "L2 norm of the STFT magnitude per frame",
            "pitch": resolve(cfg.pitch_fn)[1],
            "phonemes": resolve(cfg.phonemize_fn)[1],
        },
    }


def _check_meta(out: Path, meta: dict) -> None:
    path = out / "meta.json"
    if path.is_file():
        old = json.loads(path.read_text())
        keys = ("format", "feature_version", "mel", "features", "stages")
        if any(old.get(k) != meta.get(k) for k in keys):
            raise StoreError(
                f"{out} was built with another configuration or feature version; use a new --out"
            )
    else:
        atomic_write_text(path, json.dumps(meta, indent=2, sort_keys=True) + "\n")


def build_store(
    manifest: str | os.PathLike | Sequence[Utterance],
    out: str | os.PathLike,
    cfg: FeatureConfig | None = None,
    *,
    workers: int = 1,
    progress: bool = False,
    limit: int | None = None,
) -> StoreReport:
    """Extract features for every record of ``manifest`` into the store ``out`` (resumable; see module doc)."""
    import torch  # noqa: F401  (imported before forking so that workers share it instead of importing it again)
    from tqdm import tqdm

    cfg = cfg or FeatureConfig()
    utts = read_manifest(manifest) if isinstance(manifest, (str, os.PathLike)) else list(manifest)
    utts = utts[:limit] if limit else utts
    out = Path(out)
    (out / "items").mkdir(parents=True, exist_ok=True)
    meta = _meta(cfg)
    _check_meta(out, meta)
    for stale in (out / "items").glob(".*"):  # temporary files of a killed run (atomic writes never finished)
        stale.unlink(missing_ok=True)
    todo = [u for u in utts if not item_path(out, u.utt_id).is_file()]
    failed: dict[str, str] = {}
    bar = tqdm(
        total=len(utts), initial=len(utts) - len(todo), desc="features", unit="file", disable=not progress
    )
    if workers <= 1:
        _init_worker(cfg, str(out))
        results = map(_work, todo)
        for uid, err in results:
            if err:
                failed[uid] = err
            bar.update()
    else:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ctx.Pool(workers, initializer=_init_worker, initargs=(cfg, str(out))) as pool:
            for uid, err in pool.imap_unordered(_work, todo, chunksize=4):
                if err:
                    failed[uid] = err
                bar.update()
    bar.close()
    return _finish(out, utts, failed, meta, computed=len(todo) - len(failed))


def _finish(
    out: Path, utts: Sequence[Utterance], failed: dict[str, str], meta: dict, computed: int
) -> StoreReport:
    """Write items.jsonl, failed.tsv and stats.json from what is on disk (deterministic order)."""
    records, downmixed = [], []
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0, 0.0]))
    mel_acc = [0.0, 0.0, 0.0]
    for u in utts:
        if not item_path(out, u.utt_id).is_file():
            continue
        info = load_item(out, u.utt_id, keys=("info",))["info"]
        if info["downmixed"]:
            downmixed.append(u.utt_id)
        records.append(json.dumps({**dataclasses.replace(u, duration=info["duration"]).to_dict(),
                                   "n_frames": info["n_frames"]}, ensure_ascii=False))  # fmt: skip
        for key, (n, s1, s2) in info["moments"].items():
            acc = mel_acc if key == "mel" else sums[u.speaker][key]
            acc[0], acc[1], acc[2] = acc[0] + n, acc[1] + s1, acc[2] + s2
    atomic_write_text(out / "items.jsonl", "".join(r + "\n" for r in records))
    failed_rows = [(u.utt_id, failed[u.utt_id]) for u in utts if u.utt_id in failed]
    atomic_write_text(out / "failed.tsv", "".join(f"{uid}\t{why}\n" for uid, why in failed_rows))
    stats = {
        "speakers": {spk: {k: _moments(v) for k, v in sorted(d.items())} for spk, d in sorted(sums.items())},
        "mel": _moments(mel_acc),
    }
    atomic_write_text(out / "stats.json", json.dumps(stats, indent=2, sort_keys=True) + "\n")
    return StoreReport(len(records), computed, failed_rows, meta, downmixed)


def _accumulate(acc: list[float], x: np.ndarray) -> None:
    acc[0] += x.size
    acc[1] += float(x.sum())
    acc[2] += float(np.square(x).sum())


def _moments(acc: list[float]) -> dict:
    n, s, ss = acc
    if n == 0:
        return {"n": 0, "mean": None, "std": None}
    mean = s / n
    return {"n": int(n), "mean": round(mean, 6), "std": round(float(np.sqrt(max(ss / n - mean**2, 0.0))), 6)}
