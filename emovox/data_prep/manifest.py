"""The manifest: one JSONL record per utterance, the same for every corpus.

A record is an :class:`Utterance` (fields as in DESIGN.md: ``utt_id, audio, text, speaker, gender, lang, emotion,
emotion_raw, intensity, adv, split, duration``). This module reads and writes manifests (atomically), validates
records with messages a person can act on, merges corpora, assigns deterministic train/dev/test splits, filters by
duration, prints a summary table and exports the Kaldi-style files that ESPnet/UDDETTS-style tools read.

Conventions: ``adv`` is (arousal, dominance, valence) in [-1, 1]; ``intensity`` is in [0, 1] and None where the
corpus has no intensity (and for neutral speech); ``gender`` is "M", "F" or None; ``split`` is "train", "dev",
"test" or None (not yet assigned); ``audio`` is an absolute path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from emovox.emotion.labels import CANONICAL
from emovox.fileio import atomic_path, atomic_write_text

__all__ = [
    "SPLITS",
    "ManifestError",
    "SkipLog",
    "Skipped",
    "Utterance",
    "assign_splits",
    "filter_by_duration",
    "merge_manifests",
    "read_manifest",
    "summary_table",
    "validate",
    "write_kaldi",
    "write_manifest",
]

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
GENDERS = ("M", "F")


class ManifestError(ValueError):
    """A manifest file or record is malformed."""


@dataclass
class Utterance:
    """One manifest record (see the module docstring for the conventions of each field)."""

    utt_id: str
    audio: str
    text: str | None
    speaker: str
    gender: str | None = None
    lang: str = "en"
    emotion: str | None = None
    emotion_raw: str | None = None
    intensity: float | None = None
    adv: tuple[float, float, float] | None = None
    split: str | None = None
    duration: float | None = None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["adv"] = list(self.adv) if self.adv is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Utterance:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ManifestError(
                f"unknown field(s) {', '.join(unknown)}; a record has {', '.join(sorted(names))}"
            )
        missing = [n for n in ("utt_id", "audio", "speaker") if n not in d]
        if missing:
            raise ManifestError(f"missing field(s) {', '.join(missing)}")
        d = dict(d)
        if d.get("adv") is not None:
            if not isinstance(d["adv"], (list, tuple)) or len(d["adv"]) != 3:
                raise ManifestError(f"adv must be [arousal, dominance, valence], got {d['adv']!r}")
            d["adv"] = tuple(float(x) for x in d["adv"])
        return cls(**d)


def validate(utt: Utterance) -> list[str]:
    """Everything wrong with one record, as readable sentences (empty when the record is valid)."""
    p: list[str] = []
    if not isinstance(utt.utt_id, str) or not utt.utt_id or any(c.isspace() for c in utt.utt_id):
        p.append(f"utt_id {utt.utt_id!r} must be a non-empty string without whitespace")
    if not isinstance(utt.audio, str) or not utt.audio:
        p.append("audio path is empty")
    if not isinstance(utt.speaker, str) or not utt.speaker or any(c.isspace() for c in utt.speaker):
        p.append(f"speaker {utt.speaker!r} must be a non-empty string without whitespace")
    if utt.text is not None and not isinstance(utt.text, str):
        p.append(f"text must be a string or null, got {type(utt.text).__name__}")
    if utt.gender not in (None, *GENDERS):
        p.append(f"gender {utt.gender!r} must be 'M', 'F' or null")
    if not isinstance(utt.lang, str) or not utt.lang:
        p.append("lang must be a language code such as 'en'")
    if utt.emotion is not None and utt.emotion not in CANONICAL:
        p.append(f"emotion {utt.emotion!r} is not canonical; canonical emotions: {', '.join(CANONICAL)}")
    if utt.intensity is not None and not (_finite(utt.intensity) and 0.0 <= utt.intensity <= 1.0):
        p.append(f"intensity {utt.intensity!r} must be in [0, 1] or null")
    if utt.adv is not None and (
        len(utt.adv) != 3 or not all(_finite(x) and -1.0 <= x <= 1.0 for x in utt.adv)
    ):
        p.append(f"adv {utt.adv!r} must be three numbers (arousal, dominance, valence) in [-1, 1]")
    if utt.split not in (None, *SPLITS):
        p.append(f"split {utt.split!r} must be one of {', '.join(SPLITS)} or null")
    if utt.duration is not None and not (_finite(utt.duration) and utt.duration >= 0):
        p.append(f"duration {utt.duration!r} must be a non-negative number of seconds or null")
    return p


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_records(utts: Sequence[Utterance], where: str = "manifest") -> None:
    """Raise :class:`ManifestError` listing invalid records and duplicate utt_ids (first 10 shown)."""
    errors = [f"{u.utt_id}: {msg}" for u in utts for msg in validate(u)]
    dupes = [k for k, n in Counter(u.utt_id for u in utts).items() if n > 1]
    errors += [f"{k}: utt_id appears more than once" for k in dupes]
    if errors:
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise ManifestError(f"{where} has {len(errors)} problem(s):\n  " + "\n  ".join(errors[:10]) + more)


# ---------------------------------------------------------------------------------------------------- skipped


@dataclass(frozen=True)
class Skipped:
    """An item a parser or stage left out, and why."""

    item: str
    reason: str


class SkipLog(list):
    """A list of :class:`Skipped`; parsers append to it instead of failing on one bad file."""

    def add(self, item: str | os.PathLike, reason: str) -> None:
        logger.debug("skipped %s: %s", item, reason)
        self.append(Skipped(str(item), reason))


# ---------------------------------------------------------------------------------------------------- JSONL I/O


def write_manifest(path: str | os.PathLike, utts: Iterable[Utterance], *, check: bool = True) -> Path:
    """Write a JSONL manifest atomically (a killed run leaves the old file or the new one, never half)."""
    utts = list(utts)
    if check:
        check_records(utts, where=str(path))
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for u in utts:
            fh.write(json.dumps(u.to_dict(), ensure_ascii=False) + "\n")
    return Path(path)


def read_manifest(path: str | os.PathLike, *, check: bool = True) -> list[Utterance]:
    """Read a JSONL manifest; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    utts = []
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ManifestError(
                    f"{path}:{lineno}: not UTF-8 text (is it a manifest.jsonl written by `emovox prep`?)"
                ) from None
            if not line.strip():
                continue
            try:
                utts.append(Utterance.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError, ValueError, RecursionError) as exc:
                raise ManifestError(f"{path}:{lineno}: {exc}") from exc
    if check:
        check_records(utts, where=str(path))
    return utts


# ---------------------------------------------------------------------------------------------------- merging


def merge_manifests(corpora: dict[str, Sequence[Utterance]]) -> list[Utterance]:
    """Concatenate several corpora into one manifest.

    An ``utt_id`` (or ``speaker``) that occurs in more than one corpus is prefixed with its corpus name
    (``ravdess_01``), so records stay unique and speakers of different corpora are never merged by accident.
    """
    utt_owner: dict[str, set[str]] = defaultdict(set)
    spk_owner: dict[str, set[str]] = defaultdict(set)
    for name, utts in corpora.items():
        for u in utts:
            utt_owner[u.utt_id].add(name)
            spk_owner[u.speaker].add(name)
    merged = []
    for name, utts in corpora.items():
        for u in utts:
            changes = {}
            if len(utt_owner[u.utt_id]) > 1:
                changes["utt_id"] = f"{name}_{u.utt_id}"
            if len(spk_owner[u.speaker]) > 1:
                changes["speaker"] = f"{name}_{u.speaker}"
            merged.append(dataclasses.replace(u, **changes) if changes else u)
    check_records(merged, where="merged manifest")
    return merged


# ---------------------------------------------------------------------------------------------------- splits


def _unit_hash(key: str, seed: str) -> float:
    """A deterministic number in [0, 1) from a string (stable across runs, machines and Python versions)."""
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_splits(
    utts: Sequence[Utterance],
    *,
    dev: float = 0.05,
    test: float = 0.05,
    by: str = "utterance",
    seed: str = "emovox",
    keep_official: bool = True,
) -> list[Utterance]:
    """Give every record a split, deterministically.

    Args:
        dev, test: fractions of utterances (``by="utterance"``) or of speakers (``by="speaker"``).
        by: ``"utterance"``: each record is placed by a hash of its utt_id, so adding records never moves the
            others. ``"speaker"``: held-out speakers; speakers are ranked by a hash of their id and the first
            ``ceil(test·n)`` go to test, the next ``ceil(dev·n)`` to dev (at least one speaker stays in train).
            ``"text"``: held-out sentences; every rendering of a text (any speaker, any emotion) is placed by a
            hash of the text, so a test sentence is never heard in training.
        keep_official: records that already have a split (a corpus's official partition) keep it.
    """
    if by not in ("utterance", "speaker", "text"):
        raise ValueError(f"split by must be 'utterance', 'speaker' or 'text', got {by!r}")
    if not (0 <= dev < 1 and 0 <= test < 1 and dev + test < 1):
        raise ValueError(f"dev ({dev}) and test ({test}) must be fractions with dev + test < 1")
    if by == "speaker":
        speakers = sorted({u.speaker for u in utts}, key=lambda s: _unit_hash(s, seed))
        n = len(speakers)
        n_test = min(math.ceil(test * n), max(n - 1, 0))
        n_dev = min(math.ceil(dev * n), max(n - 1 - n_test, 0))
        spk_split = {s: "test" for s in speakers[:n_test]}
        spk_split.update({s: "dev" for s in speakers[n_test : n_test + n_dev]})

        def pick(u: Utterance) -> str:
            return spk_split.get(u.speaker, "train")
    else:

        def pick(u: Utterance) -> str:
            h = _unit_hash(u.utt_id if by == "utterance" else (u.text or u.utt_id), seed)
            return "test" if h < test else "dev" if h < test + dev else "train"

    return [u if (keep_official and u.split) else dataclasses.replace(u, split=pick(u)) for u in utts]


def filter_by_duration(
    utts: Sequence[Utterance],
    min_seconds: float | None = None,
    max_seconds: float | None = None,
    skipped: SkipLog | None = None,
) -> list[Utterance]:
    """Keep records whose duration lies in [min_seconds, max_seconds]; the others are logged in ``skipped``.

    Records of unknown duration are kept (features extraction measures them).
    """
    kept = []
    for u in utts:
        d = u.duration
        if d is not None and min_seconds is not None and d < min_seconds:
            if skipped is not None:
                skipped.add(u.audio, f"shorter than {min_seconds:g} s ({d:.2f} s)")
        elif d is not None and max_seconds is not None and d > max_seconds:
            if skipped is not None:
                skipped.add(u.audio, f"longer than {max_seconds:g} s ({d:.2f} s)")
        else:
            kept.append(u)
    return kept


# ---------------------------------------------------------------------------------------------------- summary


def summary_table(utts: Sequence[Utterance], skipped: Sequence[Skipped] = (), max_examples: int = 3) -> str:
    """Hours per speaker x emotion (rows: speakers, columns: emotions), totals, splits and skipped files by reason."""
    hours: dict[tuple[str, str], float] = defaultdict(float)
    counts: Counter = Counter()
    for u in utts:
        emo = u.emotion or "-"
        hours[(u.speaker, emo)] += (u.duration or 0.0) / 3600.0
        counts[(u.speaker, emo)] += 1
    speakers = sorted({s for s, _ in hours})
    emotions = sorted({e for _, e in hours}, key=lambda e: (e == "-", e))
    width = max([7, *(len(s) for s in speakers)])
    col = max([9, *(len(e) + 1 for e in emotions)])
    lines = [f"{len(utts)} utterances, {sum(hours.values()):.3f} h, {len(speakers)} speakers", ""]
    lines.append("hours".ljust(width) + "".join(e.rjust(col) for e in emotions) + "total".rjust(col))
    for s in speakers:
        row = [hours.get((s, e), 0.0) for e in emotions]
        lines.append(s.ljust(width) + "".join(f"{h:{col}.3f}" for h in row) + f"{sum(row):{col}.3f}")
    totals = [sum(hours.get((s, e), 0.0) for s in speakers) for e in emotions]
    lines.append("total".ljust(width) + "".join(f"{h:{col}.3f}" for h in totals) + f"{sum(totals):{col}.3f}")
    unknown = sum(1 for u in utts if u.duration is None)
    if unknown:
        lines.append(f"({unknown} utterances of unknown duration count as 0 h)")
    splits = Counter(u.split or "unassigned" for u in utts)
    lines += ["", "splits: " + ", ".join(f"{k} {v}" for k, v in sorted(splits.items()))]
    with_adv = sum(1 for u in utts if u.adv is not None)
    with_label = sum(1 for u in utts if u.emotion is not None)
    lines.append(f"labels: {with_label} with an emotion, {with_adv} with ADV")
    if skipped:
        by_reason: dict[str, list[str]] = defaultdict(list)
        for s in skipped:
            by_reason[s.reason].append(s.item)
        lines += ["", f"skipped {len(skipped)}:"]
        for reason, items in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
            ex = ", ".join(Path(i).name for i in items[:max_examples])
            lines.append(f"  {len(items):6d}  {reason}  (e.g. {ex})")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- Kaldi


def write_kaldi(directory: str | os.PathLike, utts: Sequence[Utterance]) -> Path:
    """Write a Kaldi data directory: ``wav.scp, text, utt2spk, spk2utt, utt2emo, utt2ADV, utt2dur``.

    Kaldi wants utterance ids that start with the speaker id (so that sorting by utterance also sorts by
    speaker): ids that do not are written as ``<speaker>-<utt_id>``. Files are sorted by id. Records without
    text, emotion or ADV are left out of ``text``, ``utt2emo`` and ``utt2ADV``; ``utt2ADV`` lines are
    ``id arousal dominance valence``. Paths with whitespace cannot be expressed in ``wav.scp`` and are refused.
    """
    directory = Path(directory)
    utts = [
        u if u.utt_id.startswith(u.speaker) else dataclasses.replace(u, utt_id=f"{u.speaker}-{u.utt_id}")
        for u in utts
    ]
    utts = sorted(utts, key=lambda u: u.utt_id)
    bad = [u.audio for u in utts if any(c.isspace() for c in u.audio)]
    if bad:
        raise ManifestError(
            f"Kaldi wav.scp cannot hold paths with whitespace, e.g. {bad[0]!r}; rename or link them"
        )
    spk2utt: dict[str, list[str]] = defaultdict(list)
    for u in utts:
        spk2utt[u.speaker].append(u.utt_id)
    files = {
        "wav.scp": [f"{u.utt_id} {u.audio}" for u in utts],
        "text": [f"{u.utt_id} {' '.join(u.text.split())}" for u in utts if u.text],
        "utt2spk": [f"{u.utt_id} {u.speaker}" for u in utts],
        "spk2utt": [f"{s} {' '.join(ids)}" for s, ids in sorted(spk2utt.items())],
        "utt2emo": [f"{u.utt_id} {u.emotion}" for u in utts if u.emotion],
        "utt2ADV": [f"{u.utt_id} {u.adv[0]:.4f} {u.adv[1]:.4f} {u.adv[2]:.4f}" for u in utts if u.adv],
        "utt2dur": [f"{u.utt_id} {u.duration:.3f}" for u in utts if u.duration is not None],
    }
    for name, lines in files.items():
        atomic_write_text(directory / name, "".join(line + "\n" for line in lines))
    return directory
