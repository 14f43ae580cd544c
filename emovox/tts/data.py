"""Training data of the acoustic model, read from a feature store written by ``emovox features``.

The store holds per-utterance mel, energy, F0/voicing and token ids (``items/<id>.npz``) and the manifest
records (``items.jsonl``). Token ids come from the same text front end the synthesiser uses; a store made with
another symbol table is refused, and items without stored tokens are tokenised here. Items are preloaded into memory (float16 mels) so data loading never starves the GPU.
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


def espeak_language(lang: str | None) -> str:
    """The espeak-ng voice for a manifest language code (``en`` -> ``en-us``)."""
    from emovox.data_prep.features import ESPEAK_LANGUAGE

    code = (lang or "en").lower()
    return ESPEAK_LANGUAGE.get(code, code)


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
    from emovox.text.symbols import default_symbol_table

    store = Path(store)
    table = default_symbol_table()
    meta_path = store / "meta.json"
    stage = (
        json.loads(meta_path.read_text()).get("stages", {}).get("phonemes", "") if meta_path.is_file() else ""
    )
    if stage and table.version not in stage:
        raise ValueError(
            f"{store} was tokenised with another symbol table ({stage!r}); this emovox uses {table.version}: "
            "rebuild the store with `emovox features`"
        )
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
    frontends: dict = {}
    items, lengths = [], []
    for r in tqdm(records, desc="load store", unit="utt", disable=not progress):
        arrays = load_item(store, r["utt_id"])
        f0 = np.where(arrays["voiced"], arrays["f0"], 0.0).astype(np.float32)
        if "tokens" in arrays:
            ids = arrays["tokens"].astype(np.int64).tolist()
        else:  # an older store without token ids: tokenise with the synthesiser's front end
            from emovox.text.frontend import TextFrontend

            lang = espeak_language(r.get("lang"))
            frontend = frontends.setdefault(lang, TextFrontend(lang, table))
            ids = frontend(r["text"]).ids
        items.append({
            "utt_id": r["utt_id"],
            "tokens": torch.tensor(ids, dtype=torch.long),
            "mel": torch.from_numpy(arrays["mel"].astype(np.float16)),
            "f0": torch.from_numpy(f0),
            "energy": torch.from_numpy(arrays["energy"].astype(np.float32)),
            "speaker": speakers.index(r["speaker"]),
            "emotion": r.get("emotion"),
            "adv": r.get("adv"),
            "intensity": r.get("intensity"),
        })  # fmt: skip
        lengths.append(int(arrays["mel"].shape[1]))
    return AcousticStoreData(
        dataset=items,
        lengths=lengths,
        symbols=table.to_dict(),
        speakers=speakers,
        emotions=emotions,
        n_symbols=len(table),
        language=languages[0],
    )
