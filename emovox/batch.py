"""Emotional speech as data, and long or multi-voice texts: batch tables, grids, dialogue scripts, timestamps.

- **Batch** (:func:`read_batch`, :func:`run_batch`): a CSV or JSONL table with the columns ``text, emotion,
  speaker, intensity, seed, id`` (all but ``text`` optional) becomes one WAV per row in ``OUT/wavs/`` and a
  manifest ``OUT/metadata.csv`` in the format ``emovox prep generic`` reads
  (``audio|text|speaker|emotion|intensity|a|d|v`` plus ``spec|seed|id``). Rows that are bad (empty text, a spec
  the model cannot use, an unknown speaker) are reported and skipped; the batch goes on. Every WAV is written
  atomically (temporary file + rename) and recorded in ``OUT/done.jsonl`` after it is complete, so a killed run
  leaves no partial file and a rerun skips the rows already written.
- **Grid** (:func:`grid_rows`): sentences × emotions × intensities × speakers, as batch rows.
- **Dialogue scripts** (:func:`read_script`): one utterance per line, ``speaker|emotion|text``, spoken in one
  file with a pause between turns.
- **Timestamps** (:func:`write_timestamps`): each sentence's start, end, text and emotion (and the chapter, for
  books with "Chapter …" headings) as JSON or SRT beside the audio.

Labels in the manifest are the *requested* emotion: ``emotion`` is the dominant label of a label spec (empty
for ADV/VA points and polarity flips), ``intensity`` its α mapped from [0, 2] to the manifest's [0, 1] (α/2:
1 = as in the training data → 0.5), and ``a, d, v`` the requested point, ``Σ wᵢ·αᵢ·anchorᵢ`` for labels (the
canonical anchors of :mod:`emovox.emotion.labels`), clipped to [-1, 1].
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import hashlib
import io
import json
import logging
import math
import multiprocessing
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emovox.emotion.labels import CANONICAL
from emovox.emotion.spec import MAX_INTENSITY, EmotionComponent, EmotionSpec
from emovox.fileio import atomic_path, atomic_write_text
from emovox.pipelines import EmotionalTTS, SegmentInfo

__all__ = [
    "BATCH_COLUMNS",
    "BatchResult",
    "BatchRow",
    "Failure",
    "Turn",
    "find_chapters",
    "grid_rows",
    "parse_emotion_list",
    "parse_intensities",
    "parse_speakers",
    "read_batch",
    "read_script",
    "read_sentences",
    "run_batch",
    "speak_turns",
    "write_timestamps",
]

logger = logging.getLogger(__name__)

BATCH_COLUMNS = ("text", "emotion", "speaker", "intensity", "seed", "id")
MANIFEST_COLUMNS = ("audio", "text", "speaker", "emotion", "intensity", "a", "d", "v", "spec", "seed", "id")
MANIFEST_NAME, DONE_NAME, FAILURES_NAME = "metadata.csv", "done.jsonl", "failures.tsv"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _read_utf8(path: str | os.PathLike, what: str) -> str:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not valid UTF-8 (byte {exc.start}): {exc.reason}") from None


# ------------------------------------------------------------------------------------------------ batch rows


@dataclass(frozen=True)
class BatchRow:
    """One requested utterance as read (values unchecked; :func:`run_batch` validates each row on its own)."""

    line: int  # line of the file (CSV: counting the header), for messages
    text: Any = None
    emotion: Any = None
    speaker: Any = None
    intensity: Any = None
    seed: Any = None
    id: Any = None
    error: str | None = None  # the row could not be read at all (bad JSON, unknown keys)


@dataclass(frozen=True)
class Failure:
    line: int  # the row's line in the batch file; for a grid, the sentence's number
    id: str | None
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}" + (f" (id {self.id})" if self.id else "") + f": {self.reason}"


def read_batch(path: str | os.PathLike) -> list[BatchRow]:
    """Rows of a ``.csv`` (comma-separated, quoted as Excel writes it, header required) or ``.jsonl`` table.

    A file that cannot be a batch (missing, not UTF-8, no ``text`` column, unknown columns) is a ValueError; a
    JSONL line that is not an object with known keys becomes a row with ``error`` set."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".csv", ".jsonl"):
        raise ValueError(f"--batch {path}: use a .csv or .jsonl file (columns {', '.join(BATCH_COLUMNS)})")
    text = _read_utf8(path, "batch file")
    if ext == ".csv":
        return _read_csv(text, path)
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append(BatchRow(lineno, error=f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(record, dict):
            rows.append(BatchRow(lineno, error=f"a line must be a JSON object, not {type(record).__name__}"))
            continue
        unknown = sorted(set(record) - set(BATCH_COLUMNS))
        if unknown:
            rows.append(
                BatchRow(lineno, error=f"unknown key(s) {', '.join(unknown)}; use {', '.join(BATCH_COLUMNS)}")
            )
            continue
        rows.append(BatchRow(lineno, **record))
    if not rows:
        raise ValueError(f"{path} has no rows")
    return rows


def _read_csv(text: str, path: Path) -> list[BatchRow]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ValueError(f"{path} is empty") from None
    unknown = [h for h in header if h not in BATCH_COLUMNS]
    if unknown or "text" not in header or len(set(header)) < len(header):
        raise ValueError(
            f"{path}: the header must name the columns ({', '.join(BATCH_COLUMNS)}; only text is required), "
            f"each once; got {', '.join(header)}"
        )
    rows = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        line = reader.line_num
        if len(cells) > len(header):
            rows.append(BatchRow(line, error=f"{len(cells)} cells but the header has {len(header)} columns"))
            continue
        values = {k: (v if v.strip() else None) for k, v in zip(header, cells)}
        rows.append(BatchRow(line, **values))
    if not rows:
        raise ValueError(f"{path} has a header but no rows")
    return rows


# ------------------------------------------------------------------------------------------------ grids


def read_sentences(path: str | os.PathLike) -> list[str]:
    """Non-empty lines of a text file, ``#`` comments skipped."""
    lines = [ln.strip() for ln in _read_utf8(path, "sentence file").splitlines()]
    sentences = [ln for ln in lines if ln and not ln.startswith("#")]
    if not sentences:
        raise ValueError(f"{path} has no sentences (one per line)")
    return sentences


def parse_emotion_list(text: str, tts: EmotionalTTS) -> list[str]:
    """``happy,sad,angry`` / ``all`` (the model's emotions) / specs with commas (``adv:0.8,0.4,-0.5``)."""
    if text.strip().lower() == "all":
        if not tts.emotions:
            raise ValueError("--emotions all: this model has no emotion bank")
        return list(tts.emotions)
    specs: list[str] = []
    for piece in (p.strip() for p in text.split(",")):
        if (
            specs
            and re.fullmatch(r"[-+]?(?:\d+\.?\d*|\.\d+)", piece)
            and specs[-1].split(":")[0] in ("adv", "va")
        ):
            specs[-1] += f",{piece}"  # a coordinate of an adv/va spec
        elif piece:
            specs.append(piece)
        else:
            raise ValueError(f"--emotions {text!r} has an empty item; e.g. --emotions happy,sad,angry")
    for spec in specs:
        tts.check_emotion(spec)
    if len(set(specs)) < len(specs):
        raise ValueError(f"--emotions {text!r} names an emotion twice")
    return specs


def parse_intensities(text: str) -> list[float]:
    """``0.5,1,1.5`` -> [0.5, 1.0, 1.5]; each in [0, 2]."""
    values = []
    for piece in (p.strip() for p in text.split(",")):
        try:
            value = float(piece)
        except ValueError:
            raise ValueError(
                f"--intensities: {piece!r} is not a number (e.g. --intensities 0.5,1,1.5)"
            ) from None
        if not (math.isfinite(value) and 0.0 <= value <= MAX_INTENSITY):
            raise ValueError(f"--intensities: {piece} is outside [0, {MAX_INTENSITY:g}]")
        values.append(value)
    if len(set(values)) < len(values):
        raise ValueError(f"--intensities {text!r} repeats a value")
    return values


def parse_speakers(text: str | None, tts: EmotionalTTS) -> list[str]:
    """``all`` / ``alice,bob`` / None (the model's default speaker)."""
    if text is None:
        return [tts.default_speaker]
    if text.strip().lower() == "all":
        return list(tts.speakers)
    names = [p.strip() for p in text.split(",")]
    for name in names:
        tts.speaker_index(name)
    if len(set(names)) < len(names):
        raise ValueError(f"--speakers {text!r} names a speaker twice")
    return names


def grid_rows(
    sentences: Sequence[str], emotions: Sequence[str], intensities: Sequence[float], speakers: Sequence[str]
) -> list[BatchRow]:
    """Every sentence × emotion × intensity × speaker as a batch row with a readable id
    (``s0003_happy_x1.5_alice``). Neutral has no intensity: it gets one row per sentence and speaker."""
    rows = []
    for i, sentence in enumerate(sentences, 1):
        for emotion in emotions:
            levels = [1.0] if emotion.strip().lower() == "neutral" else intensities
            for alpha in levels:
                for speaker in speakers:
                    tag = re.sub(r"[^A-Za-z0-9.-]+", "-", emotion).strip("-")[:40] or "emotion"
                    ident = f"s{i:04d}_{tag}_x{alpha:g}_{re.sub(r'[^A-Za-z0-9.-]+', '-', speaker)}"
                    rows.append(BatchRow(i, sentence, emotion, speaker, alpha, None, ident))
    return rows


# ------------------------------------------------------------------------------------------------ jobs


@dataclass(frozen=True)
class _Job:
    line: int
    id: str
    text: str
    spec: str  # concrete (auto resolved, intensity applied)
    speaker: str
    seed: int | None
    key: str  # fingerprint of everything that shapes the audio
    manifest: dict[str, str]


def _number(value: Any, what: str, kind: type) -> Any:
    """A cell (a string from CSV, a JSON value) as an int or float; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{what} must be a number, not {value!r}")
    try:
        if kind is int:
            number = float(value) if isinstance(value, float) else int(str(value).strip())
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            return int(number)
        return float(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not {'an integer' if kind is int else 'a number'}") from None


def scale_spec(spec: EmotionSpec, factor: float) -> EmotionSpec:
    """Intensity applied to a spec: label intensities times ``factor`` (within ±2), ADV/VA coordinates times
    ``factor`` (within [-1, 1]) — the same scaling around neutral in the emotion space."""
    if factor == 1.0:
        return spec
    if spec.kind == "label":
        parts = tuple(EmotionComponent(c.name, c.weight, c.intensity * factor) for c in spec.components)
        bad = [c for c in parts if abs(c.intensity) > MAX_INTENSITY]
        if bad:
            raise ValueError(
                f"intensity {factor:g} takes {bad[0].name} to {bad[0].intensity:g}, outside ±{MAX_INTENSITY:g}"
            )
        return EmotionSpec("label", parts)
    adv = tuple(x * factor for x in spec.adv)
    if any(abs(x) > 1.0 for x in adv):
        raise ValueError(f"intensity {factor:g} takes {spec} outside [-1, 1]")
    return EmotionSpec(spec.kind, adv=adv)


def manifest_labels(spec: EmotionSpec) -> dict[str, str]:
    """The manifest's ``emotion, intensity, a, d, v`` for a requested spec (see the module docstring)."""
    out = {"emotion": "", "intensity": "", "a": "", "d": "", "v": ""}
    if spec.kind != "label":
        adv = spec.adv
    else:
        if not all(c.name in CANONICAL for c in spec.components):
            return out  # an emotion without an anchor: no ADV
        adv = tuple(
            sum(c.weight * c.intensity * CANONICAL[c.name].adv[i] for c in spec.components) for i in range(3)
        )
        top = max(spec.components, key=lambda c: c.weight)
        if top.intensity > 0:
            out["emotion"] = top.name
            if top.name != "neutral":
                out["intensity"] = f"{min(top.intensity, MAX_INTENSITY) / MAX_INTENSITY:.4g}"
    out |= {k: f"{max(-1.0, min(1.0, x)):.4g}" for k, x in zip("adv", adv)}
    return out


def _prepare(row: BatchRow, tts: EmotionalTTS, defaults: dict[str, Any], render_key: str) -> _Job:
    """Validate one row and resolve its spec; ValueError says what is wrong with it."""
    if row.error:
        raise ValueError(row.error)
    ident = f"{row.line:06d}" if row.id is None else str(row.id).strip()
    if not _ID.match(ident):
        raise ValueError(f"id {ident!r} must be 1-128 letters, digits, '.', '_' or '-' (it names the file)")
    if not isinstance(row.text, str) or not row.text.strip():
        raise ValueError("empty text")
    text = row.text.strip()
    speaker = defaults.get("speaker") if row.speaker is None else str(row.speaker).strip()
    speaker = tts.speakers[tts.speaker_index(speaker)]
    seed = _number(row.seed, "seed", int)
    seed = defaults.get("seed") if seed is None else seed
    if seed is not None and not 0 <= seed < 2**63:
        raise ValueError(f"seed must be between 0 and 2**63 - 1, got {seed}")
    intensity = _number(row.intensity, "intensity", float)
    if intensity is not None and not (math.isfinite(intensity) and 0.0 <= intensity <= MAX_INTENSITY):
        raise ValueError(f"intensity must be between 0 and {MAX_INTENSITY:g}, got {row.intensity}")
    emotion = defaults.get("emotion", "neutral") if row.emotion is None else str(row.emotion)
    if not emotion.strip():
        raise ValueError("empty emotion spec")
    if tts.auto_spec(emotion) is not None:  # one label per row: estimated on the whole text
        emotion = tts.estimate_emotion(text, emotion).spec
    spec = scale_spec(tts.parse_emotion(emotion), 1.0 if intensity is None else intensity)
    spec_text = str(spec)
    key = hashlib.sha1(json.dumps([text, spec_text, speaker, seed, render_key]).encode()).hexdigest()[:16]
    flat = " ".join(text.replace("|", " ").split())  # the manifest is pipe-separated, one line per row
    manifest = {"audio": f"wavs/{ident}.wav", "text": flat, "speaker": speaker, **manifest_labels(spec),
                "spec": spec_text, "seed": "" if seed is None else str(seed), "id": ident}  # fmt: skip
    return _Job(row.line, ident, text, spec_text, speaker, seed, key, manifest)


# ------------------------------------------------------------------------------------------------ rendering

# One loaded pipeline per worker process, set by the pool's initializer (a process pool cannot pass it).
_WORKER: dict[str, Any] = {}


def _init_worker(model: str | None, vocoder: str, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _WORKER["tts"] = EmotionalTTS.load(model, vocoder=vocoder)


def _render(tts: EmotionalTTS, job: _Job, options: dict[str, Any], out_dir: Path) -> float:
    """Synthesise one job into ``OUT/wavs/ID.wav`` atomically; returns its duration in seconds."""
    import soundfile as sf

    audio, sr = tts.synthesize(job.text, job.spec, speaker=job.speaker, seed=job.seed, **options)
    with atomic_path(out_dir / job.manifest["audio"], suffix=".part") as tmp:
        sf.write(tmp, np.clip(audio, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
    return audio.size / sr


def _render_in_worker(job: _Job, options: dict[str, Any], out_dir: Path) -> float:
    return _render(_WORKER["tts"], job, options, out_dir)


@dataclass
class BatchResult:
    rows: int
    written: list[str] = field(default_factory=list)  # ids rendered by this run
    skipped: list[str] = field(default_factory=list)  # ids already written by an earlier run
    failures: list[Failure] = field(default_factory=list)
    audio_seconds: float = 0.0  # audio rendered by this run
    wall_seconds: float = 0.0
    workers: int = 1
    out_dir: Path | None = None

    @property
    def realtime_factor(self) -> float:
        """Seconds of audio rendered per second of wall time (× real time)."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else float("nan")

    def summary(self, max_failures: int = 20) -> str:
        lines = [
            f"batch: {self.rows} rows: {len(self.written)} written, {len(self.skipped)} already written "
            f"(skipped), {len(self.failures)} failed",
            f"audio: {self.audio_seconds:.1f} s in {self.wall_seconds:.1f} s = {self.realtime_factor:.2f}x real "
            f"time ({self.workers} worker{'s' if self.workers > 1 else ''})",
        ]
        if self.out_dir is not None:
            lines.append(
                f"manifest: {self.out_dir / MANIFEST_NAME} (emovox prep generic --root {self.out_dir})"
            )
        if self.failures:
            lines.append(
                f"failures (all in {self.out_dir / FAILURES_NAME}):" if self.out_dir else "failures:"
            )
            lines += [f"  {f}" for f in self.failures[:max_failures]]
            if len(self.failures) > max_failures:
                lines.append(f"  … and {len(self.failures) - max_failures} more")
        return "\n".join(lines)


def _read_done(path: Path) -> dict[str, str]:
    """id -> key of the rows a previous run finished; a line cut by a kill is ignored."""
    done: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
                done[str(record["id"])] = str(record["key"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return done


def _remove_stale_temporaries(wavs: Path) -> None:
    """Temporary files of writes a kill interrupted (``.ID.wav.XXXX.part``, written by :func:`_render`)."""
    for tmp in wavs.glob(".*.wav.*.part"):
        tmp.unlink(missing_ok=True)


def run_batch(
    tts: EmotionalTTS,
    rows: Sequence[BatchRow],
    out_dir: str | os.PathLike,
    *,
    defaults: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    workers: int = 1,
    threads: int | None = None,
    model: str | None = None,
    vocoder: str = "universal",
    progress: bool = True,
) -> BatchResult:
    """Render every row to ``OUT/wavs/ID.wav`` and write the manifest; resumable (see the module docstring).

    Args:
        tts: the loaded pipeline (validates rows, resolves ``auto``; renders when ``workers == 1``).
        rows: from :func:`read_batch` or :func:`grid_rows`.
        defaults: ``emotion``, ``speaker``, ``seed`` for rows that leave them empty.
        options: synthesis options for every row (``steps``, ``speed``, ``loudness``, ``mix_mode`` …).
        workers: processes rendering in parallel (each loads ``model``/``vocoder`` once, with ``threads``
            torch threads, default 1).
    """
    from tqdm import tqdm

    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise ValueError(f"--workers must be an integer between 1 and 64, got {workers!r}")
    t0 = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out-dir {out} is a file; give a folder")
    wavs = out / "wavs"
    wavs.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(wavs)
    defaults, options = dict(defaults or {}), dict(options or {})
    render_key = json.dumps(sorted(options.items()), default=str)
    result = BatchResult(rows=len(rows), workers=workers, out_dir=out)
    jobs: list[_Job] = []
    seen: set[str] = set()
    for row in rows:
        try:
            job = _prepare(row, tts, defaults, render_key)
            if job.id in seen:
                raise ValueError(f"id {job.id} appears more than once; ids name the files and must be unique")
        except ValueError as exc:
            result.failures.append(Failure(row.line, None if row.id is None else str(row.id), str(exc)))
            continue
        seen.add(job.id)
        jobs.append(job)
    done_path = out / DONE_NAME
    done = _read_done(done_path)
    finished: dict[str, _Job] = {}
    todo = []
    for job in jobs:
        if done.get(job.id) == job.key and (out / job.manifest["audio"]).is_file():
            result.skipped.append(job.id)
            finished[job.id] = job
        else:
            todo.append(job)
    bar = tqdm(
        total=len(jobs), initial=len(result.skipped), unit="row", disable=not progress, dynamic_ncols=True
    )
    with open(done_path, "a", encoding="utf-8") as log:

        def record(job: _Job, seconds: float) -> None:
            log.write(json.dumps({"id": job.id, "key": job.key, "seconds": round(seconds, 3)}) + "\n")
            log.flush()
            finished[job.id] = job
            result.written.append(job.id)
            result.audio_seconds += seconds
            elapsed = time.perf_counter() - t0
            bar.set_postfix_str(f"{result.audio_seconds / elapsed:.2f}x real time", refresh=False)
            bar.update(1)

        def fail(job: _Job, exc: BaseException) -> None:
            result.failures.append(Failure(job.line, job.id, str(exc)))
            bar.update(1)

        for job, outcome in _execute(tts, todo, options, out, workers, threads, model, vocoder):
            if isinstance(outcome, BaseException):
                fail(job, outcome)
            else:
                record(job, outcome)
    bar.close()
    _write_outputs(out, [job for job in jobs if job.id in finished], result.failures)
    result.failures.sort(key=lambda f: f.line)
    result.wall_seconds = time.perf_counter() - t0
    return result


def _execute(
    tts, jobs: list[_Job], options, out: Path, workers: int, threads, model, vocoder
) -> Iterator[tuple[_Job, float | BaseException]]:
    """(job, seconds) or (job, the ValueError/RuntimeError it raised) for every job, as they finish."""
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            try:
                yield job, _render(tts, job, options, out)
            except (ValueError, RuntimeError) as exc:
                yield job, exc
        return
    # spawn, not fork: forking a process that has started torch's thread pools can deadlock the children
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(model, vocoder, threads or 1)
    ) as pool:
        futures = {pool.submit(_render_in_worker, job, options, out): job for job in jobs}
        for future in cf.as_completed(futures):
            try:
                yield futures[future], future.result()
            except (ValueError, RuntimeError) as exc:
                yield futures[future], exc


def _write_outputs(out: Path, finished: list[_Job], failures: list[Failure]) -> None:
    buffer = io.StringIO()
    buffer.write("|".join(MANIFEST_COLUMNS) + "\n")
    for job in finished:
        buffer.write("|".join(job.manifest[c] for c in MANIFEST_COLUMNS) + "\n")
    atomic_write_text(out / MANIFEST_NAME, buffer.getvalue())
    failures_path = out / FAILURES_NAME
    if failures:
        lines = ["line\tid\treason"] + [
            f"{f.line}\t{f.id or ''}\t{' '.join(f.reason.split())}"
            for f in sorted(failures, key=lambda f: f.line)
        ]
        atomic_write_text(failures_path, "\n".join(lines) + "\n")
    else:
        failures_path.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------ scripts


@dataclass(frozen=True)
class Turn:
    """One utterance of a dialogue script (or a whole text: one turn, speaker None = the default)."""

    text: str
    emotion: str
    speaker: str | None = None
    line: int = 0


def read_script(path: str | os.PathLike, tts: EmotionalTTS, default_emotion: str = "neutral") -> list[Turn]:
    """``speaker|emotion|text`` lines (``#`` comments and blank lines skipped; an empty speaker or emotion takes
    the default). Every line is checked before anything is spoken: a bad one is a ValueError with its line."""
    turns = []
    for lineno, raw in enumerate(_read_utf8(path, "script").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split("|", 2)
        where = f"{path}:{lineno}"
        if len(parts) != 3:
            raise ValueError(f"{where}: expected 'speaker|emotion|text', got {line[:60]!r}")
        speaker, emotion, text = (p.strip() for p in parts)
        if not text:
            raise ValueError(f"{where}: the text is empty")
        try:
            speaker = tts.speakers[tts.speaker_index(speaker or None)]
            emotion = emotion or default_emotion
            tts.check_emotion(emotion)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        turns.append(Turn(text, emotion, speaker, lineno))
    if not turns:
        raise ValueError(f"{path} has no lines 'speaker|emotion|text'")
    return turns


def speak_turns(
    tts: EmotionalTTS,
    turns: Sequence[Turn],
    write: Callable[[np.ndarray], None],
    *,
    stream: bool = True,
    loudness: float | None = None,
    pause_ms: int = 0,
    on_segment: Callable[[SegmentInfo, Turn], None] | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Speak each turn in order into ``write`` (float32 chunks), with ``pause_ms`` of silence between turns.

    ``stream=True`` writes sentence by sentence (bounded memory); ``False`` renders each turn whole (needed for
    ``loudness``). Returns the timestamp entries: :meth:`SegmentInfo.to_dict` of every spoken chunk with times
    from the start of the file, plus ``speaker`` and ``turn`` (0-based) for multi-turn scripts."""
    if not isinstance(pause_ms, int) or not 0 <= pause_ms <= 10_000:
        raise ValueError(f"--pause must be between 0 and 10000 ms, got {pause_ms}")
    sr = tts.sample_rate
    position = 0
    entries: list[dict[str, Any]] = []
    for t, turn in enumerate(turns):
        if t and pause_ms:
            silence = np.zeros(int(sr * pause_ms / 1000), dtype=np.float32)
            write(silence)
            position += silence.size
        offset = position / sr
        if stream:
            pieces: Iterable[tuple[SegmentInfo, np.ndarray]] = (
                (seg.info(), seg.audio)
                for seg in tts.stream_segments(turn.text, turn.emotion, speaker=turn.speaker, **options)
            )
        else:
            rendering = tts.render(
                turn.text, turn.emotion, speaker=turn.speaker, loudness=loudness, **options
            )
            pieces = [(info, None) for info in rendering.segments]
            write(rendering.audio)
            position += rendering.audio.size
        for info, audio in pieces:
            if audio is not None:
                write(audio)
                position += audio.size
            if info.is_pause:
                continue
            if on_segment is not None:
                on_segment(info, turn)
            entry = info.to_dict()
            entry["index"] = len(entries)
            entry["start"] = round(offset + info.start, 3)
            entry["end"] = round(offset + info.end, 3)
            if len(turns) > 1 or turn.speaker is not None:
                entry |= {"speaker": turn.speaker or tts.default_speaker, "turn": t}
            entries.append(entry)
    return entries


# ------------------------------------------------------------------------------------------------ timestamps

_CHAPTER = re.compile(
    r"^[ \t]*((?:chapter|part|book|prologue|epilogue|act|scene)\b[^\n]{0,80}?)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)


def find_chapters(text: str) -> list[str]:
    """Headings of a book's chapters: lines that start with Chapter/Part/Book/Prologue/Epilogue/Act/Scene."""
    return [m.group(1) for m in _CHAPTER.finditer(text)]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def mark_chapters(entries: list[dict[str, Any]], titles: Sequence[str]) -> list[dict[str, Any]]:
    """Set each entry's ``chapter`` (index into the returned chapters) from the headings, found in order at the
    start of a spoken chunk; returns ``[{index, title, start, end}]``. Text before the first heading has none."""
    chapters: list[dict[str, Any]] = []
    pending = list(titles)
    for entry in entries:
        if pending and _norm(entry["text"]).startswith(_norm(pending[0])):
            chapters.append({"index": len(chapters), "title": pending.pop(0), "start": entry["start"]})
        if chapters:
            entry["chapter"] = len(chapters) - 1
    for i, chapter in enumerate(chapters):
        ends = [e["end"] for e in entries if e.get("chapter") == i]
        chapter["end"] = max(ends)
    return chapters


def _srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_timestamps(
    audio_path: str | os.PathLike,
    formats: Sequence[str],
    entries: list[dict[str, Any]],
    *,
    duration: float,
    sample_rate: int,
    chapters: list[dict[str, Any]] | None = None,
) -> list[Path]:
    """``AUDIO.json`` and/or ``AUDIO.srt`` beside the audio (atomically); returns the paths written."""
    audio_path = Path(audio_path)
    written = []
    for fmt in formats:
        path = audio_path.with_suffix(f".{fmt}")
        if fmt == "json":
            doc = {"audio": audio_path.name, "sample_rate": sample_rate, "duration": round(duration, 3),
                   "chapters": chapters or [], "segments": entries}  # fmt: skip
            atomic_write_text(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        elif fmt == "srt":
            blocks = []
            for n, e in enumerate(entries, 1):
                who = f"{e['speaker']}: " if "speaker" in e and "turn" in e else ""
                blocks.append(
                    f"{n}\n{_srt_time(e['start'])} --> {_srt_time(e['end'])}\n{who}[{e['emotion']}] {e['text']}\n"
                )
            atomic_write_text(path, "\n".join(blocks))
        else:
            raise ValueError(f"--timestamps: unknown format {fmt!r}; use json, srt or json,srt")
        written.append(path)
    return written
