"""Training data of the acoustic model, read from a feature store written by ``emovox features``.

The store holds per-utterance mel, energy, F0/voicing (``items/<id>.npz``) and the manifest records
(``items.jsonl``). Tokens are computed here from the manifest text with the same text front end the
synthesiser uses at inference time, so training and synthesis can never disagree about normalisation or the
symbol table. Items are preloaded into memory (float16 mels) so data loading never starves the GPU.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["AcousticStoreData", "espeak_language", "open_acoustic_store"]

logger = logging.getLogger(__name__)

_LANG = {"en": "en-us", "zh": "cmn", "kk": "kk", "pl": "pl"}


def espeak_language(lang: str | None) -> str:
    """The espeak-ng voice for a manifest language code (``en`` -> ``en-us``)."""
    return _LANG.get((lang or "en").lower(), (lang or "en").lower())


@dataclass
class AcousticStoreData:
    dataset: list[dict[str, Any]]
    lengths: list[int]
    symbols: dict
    speakers: list[str]
    emotions: list[str]
    n_symbols: int
    language: str


def open_acoustic_store(
    store: str | os.PathLike, split: str | None = "train", max_frames: int = 1000, progress: bool = True
) -> AcousticStoreData:
    """Load the items of ``split`` (None = all) from a feature store, tokenised, in memory."""
    from tqdm.auto import tqdm

    from emovox.data_prep.features import load_item
    from emovox.emotion.labels import CANONICAL
    from emovox.text.frontend import TextFrontend

    store = Path(store)
    index = store / "items.jsonl"
    if not index.is_file():
        raise FileNotFoundError(
            f"{store} is not a feature store (no items.jsonl); run `emovox features` first"
        )
    records = [json.loads(line) for line in index.read_text(encoding="utf-8").splitlines() if line.strip()]
    if split:
        records = [r for r in records if (r.get("split") or "train") == split]
    skipped = [r for r in records if r.get("n_frames", 0) > max_frames or not r.get("text")]
    records = [r for r in records if r.get("n_frames", 0) <= max_frames and r.get("text")]
    if skipped:
        logger.info("skipped %d utterances (no text, or longer than %d frames)", len(skipped), max_frames)
    if not records:
        raise ValueError(f"{store}: no usable utterances in split '{split}'")
    speakers = sorted({r["speaker"] for r in records})
    emotions = [e for e in CANONICAL if any(r.get("emotion") == e for r in records)]
    languages = sorted({espeak_language(r.get("lang")) for r in records})
    if len(languages) > 1:
        logger.warning("several languages in one store (%s); each item uses its own", ", ".join(languages))
    frontends = {lang: TextFrontend(lang) for lang in languages}
    items, lengths = [], []
    for r in tqdm(records, desc="load store", unit="utt", disable=not progress):
        arrays = load_item(store, r["utt_id"], keys=("mel", "energy", "f0", "voiced"))
        f0 = np.where(arrays["voiced"], arrays["f0"], 0.0).astype(np.float32)
        ids = frontends[espeak_language(r.get("lang"))](r["text"]).ids
        items.append({
            "utt_id": r["utt_id"],
            "tokens": torch.tensor(ids, dtype=torch.long),
            "mel": torch.from_numpy(arrays["mel"].astype(np.float16)),
            "f0": torch.from_numpy(f0),
            "energy": torch.from_numpy(arrays["energy"].astype(np.float32)),
            "speaker": speakers.index(r["speaker"]),
            "emotion": r.get("emotion"),
            "adv": r.get("adv"),
        })  # fmt: skip
        lengths.append(int(arrays["mel"].shape[1]))
    table = next(iter(frontends.values())).tokenizer.table
    return AcousticStoreData(
        dataset=items,
        lengths=lengths,
        symbols=table.to_dict(),
        speakers=speakers,
        emotions=emotions,
        n_symbols=len(table),
        language=languages[0],
    )
