"""Reading a feature store in training: a torch ``Dataset``, a padding collate and a length-bucketing sampler.

The dataset lists ``STORE/items.jsonl`` (optionally one split) and loads one ``.npz`` per item; it can preload
everything into memory (``preload=True``), which is what keeps a GPU fed on small corpora. Emotion names and
speakers are mapped to integer ids from sorted lists that the caller can pass (so that a checkpoint's tables are
reused); unknown emotion or ADV are -1 / NaN with a mask.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from emovox.data_prep.features import load_item

__all__ = ["FeatureBatch", "FeatureDataset", "LengthBucketSampler", "collate_features"]


class FeatureDataset(Dataset):
    """Items of a feature store.

    Args:
        store: folder written by ``emovox features``.
        split: keep only records of this split (None: all).
        speakers, emotions: id tables; default: sorted names found in the store.
        preload: load every item into memory once.
    """

    def __init__(
        self,
        store: str | os.PathLike,
        split: str | None = None,
        *,
        speakers: Sequence[str] | None = None,
        emotions: Sequence[str] | None = None,
        preload: bool = False,
    ) -> None:
        self.store = Path(store)
        index = self.store / "items.jsonl"
        if not index.is_file():
            raise FileNotFoundError(
                f"{index} not found: is {self.store} a feature store written by 'emovox features'?"
            )
        with open(index, encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
        self.records = [r for r in records if split is None or r["split"] == split]
        self.speakers = list(speakers) if speakers is not None else sorted({r["speaker"] for r in records})
        self.emotions = (
            list(emotions)
            if emotions is not None
            else sorted({r["emotion"] for r in records if r["emotion"]})
        )
        self._spk = {s: i for i, s in enumerate(self.speakers)}
        self._emo = {e: i for i, e in enumerate(self.emotions)}
        self._cache = [self._load(i) for i in range(len(self.records))] if preload else None

    def __len__(self) -> int:
        return len(self.records)

    @property
    def lengths(self) -> list[int]:
        """Mel frames of each item (for bucketing)."""
        return [r["n_frames"] for r in self.records]

    def _load(self, i: int) -> dict:
        r = self.records[i]
        arrays = load_item(self.store, r["utt_id"])
        item = {
            "utt_id": r["utt_id"],
            "mel": torch.from_numpy(arrays["mel"]),
            "energy": torch.from_numpy(arrays["energy"]),
            "speaker": self._spk.get(r["speaker"], -1),
            "emotion": self._emo.get(r["emotion"], -1) if r["emotion"] else -1,
            "intensity": r["intensity"] if r["intensity"] is not None else math.nan,
            "adv": torch.tensor(r["adv"] if r["adv"] is not None else [math.nan] * 3, dtype=torch.float32),
        }
        if "f0" in arrays:
            item["f0"] = torch.from_numpy(arrays["f0"])
            item["voiced"] = torch.from_numpy(arrays["voiced"])
        return item

    def __getitem__(self, i: int) -> dict:
        return self._cache[i] if self._cache is not None else self._load(i)


@dataclass
class FeatureBatch:
    """A padded batch. Shapes: ``mel [B, n_mels, T]``, ``mel_mask [B, T]`` (True on frames), ``energy/f0/voiced
    [B, T]``, ``mel_lengths, speaker, emotion [B]`` (emotion -1 = unlabelled), ``intensity [B]`` and ``adv
    [B, 3]`` (NaN = unknown)."""

    utt_ids: list[str]
    mel: torch.Tensor
    mel_lengths: torch.Tensor
    mel_mask: torch.Tensor
    energy: torch.Tensor
    speaker: torch.Tensor
    emotion: torch.Tensor
    intensity: torch.Tensor
    adv: torch.Tensor
    f0: torch.Tensor | None = None
    voiced: torch.Tensor | None = None


def _pad(seqs: list[torch.Tensor], length: int) -> torch.Tensor:
    out = seqs[0].new_zeros((len(seqs), *seqs[0].shape[:-1], length))
    for i, s in enumerate(seqs):
        out[i, ..., : s.shape[-1]] = s
    return out


def collate_features(items: list[dict]) -> FeatureBatch:
    """Pad a list of dataset items (zeros after each item's length) into a :class:`FeatureBatch`."""
    lengths = torch.tensor([it["mel"].shape[-1] for it in items], dtype=torch.long)
    t = int(lengths.max())
    has_f0 = all("f0" in it for it in items)
    return FeatureBatch(
        utt_ids=[it["utt_id"] for it in items],
        mel=_pad([it["mel"] for it in items], t),
        mel_lengths=lengths,
        mel_mask=torch.arange(t)[None, :] < lengths[:, None],
        energy=_pad([it["energy"] for it in items], t),
        speaker=torch.tensor([it["speaker"] for it in items], dtype=torch.long),
        emotion=torch.tensor([it["emotion"] for it in items], dtype=torch.long),
        intensity=torch.tensor([it["intensity"] for it in items], dtype=torch.float32),
        adv=torch.stack([it["adv"] for it in items]),
        f0=_pad([it["f0"] for it in items], t) if has_f0 else None,
        voiced=_pad([it["voiced"] for it in items], t) if has_f0 else None,
    )


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of similar length, bounded by ``max_frames`` padded frames (or ``batch_size`` items).

    Items are shuffled, cut into pools of ``bucket_size`` batches, sorted by length inside each pool and cut into
    batches; batch order is shuffled again. Deterministic for a given ``seed`` and :meth:`set_epoch`.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int = 16,
        *,
        max_frames: int | None = None,
        bucket_size: int = 50,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.lengths = list(lengths)
        self.batch_size, self.max_frames, self.bucket_size = batch_size, max_frames, bucket_size
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 100003 + self.epoch)
        order = list(range(len(self.lengths)))
        if self.shuffle:
            rng.shuffle(order)
        pool = self.batch_size * self.bucket_size
        batches: list[list[int]] = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=lambda i: self.lengths[i])
            batch: list[int] = []
            for i in chunk:
                longest = max([self.lengths[j] for j in batch] + [self.lengths[i]])
                too_many = len(batch) >= self.batch_size
                too_long = (
                    self.max_frames is not None and batch and longest * (len(batch) + 1) > self.max_frames
                )
                if batch and (too_many or too_long):
                    batches.append(batch)
                    batch = []
                batch.append(i)
            if batch and not (self.drop_last and len(batch) < self.batch_size):
                batches.append(batch)
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())


def store_lengths(store: str | os.PathLike) -> np.ndarray:
    """Mel frames of every item of a store, in items.jsonl order."""
    with open(Path(store) / "items.jsonl", encoding="utf-8") as fh:
        return np.array([json.loads(line)["n_frames"] for line in fh if line.strip()], dtype=np.int64)
