"""The training recipes (``recipes/<name>/``): a registry of what each trains on and under which licence, and the
two steps of the recipes' stage runner that are more than one ``emovox`` command: pseudo-ADV labels for
label-only clips, and packaging a trained model as a directory ``emovox synth --model DIR`` loads.

The recipes themselves are shell (``recipes/_common/stages.sh``); nothing here trains a model.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["RECIPES", "Recipe", "get_recipe", "package_model", "pseudo_adv", "recipes_root"]

logger = logging.getLogger(__name__)

PACKAGE_FORMAT = "emovox-model-dir"
PACKAGE_VERSION = 1


@dataclass(frozen=True)
class Recipe:
    """One recipe: its folder under ``recipes/``, the corpus it trains on and what may be done with the result."""

    name: str  # folder under recipes/ and registry key
    corpus: str  # the corpus, as its authors name it
    parser: str  # `emovox prep` corpus name(s), space-separated for a mixture
    licence: str  # the corpus's licence (a trained model is derived from it)
    url: str  # where to get the data
    language: str  # manifest language code(s)
    labels: str  # what the corpus annotates: labels, ADV, or both
    status: str  # how far it has been run: smoke-tested, + real clips, trained
    path: str = ""  # recipes/<name>, relative to the repository root

    def __post_init__(self) -> None:
        if not self.path:
            object.__setattr__(self, "path", f"recipes/{self.name}")


_FAKE = (
    "smoke-tested"  # every stage runs in the recipe test on a miniature fake tree; not trained at full size
)
_REAL = "smoke-tested + real clips"  # also run through evaluation on 12 real actors (small config)

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("esd", "ESD (English and Mandarin)", "esd",
               "ESD licence agreement: non-commercial research use (sign and email it to obtain the data)",
               "https://hltsingapore.github.io/ESD/", "en, zh", "labels", _FAKE),
        Recipe("emovdb", "EmoV-DB", "emovdb",
               "EmoV-DB licence: non-commercial purposes only (research, teaching, personal experimentation)",
               "https://www.openslr.org/115/", "en", "labels", _FAKE),
        Recipe("cremad", "CREMA-D", "cremad",
               "Open Database License (ODbL) 1.0 + Database Contents License (DbCL) 1.0",
               "https://github.com/CheyneyComputerScience/CREMA-D", "en", "labels + intensity", _FAKE),
        Recipe("ravdess", "RAVDESS (speech)", "ravdess",
               "CC BY-NC-SA 4.0 (commercial licences sold separately)",
               "https://zenodo.org/record/1188976", "en", "labels + intensity", _REAL),
        Recipe("tess", "TESS", "tess", "CC BY-NC-ND 4.0",
               "https://doi.org/10.5683/SP2/E8H2MF", "en", "labels", _FAKE),
        Recipe("emns", "EMNS", "emns",
               "not verified here: read the terms on the dataset page before use",
               "https://www.openslr.org/136/", "en", "labels + level", _FAKE),
        Recipe("iemocap", "IEMOCAP", "iemocap",
               "USC SAIL release agreement: research use only, no redistribution",
               "https://sail.usc.edu/iemocap/", "en", "labels + ADV", _FAKE),
        Recipe("msppodcast", "MSP-Podcast", "msppodcast",
               "UT Dallas academic licence agreement (commercial licence for a fee)",
               "https://ecs.utdallas.edu/research/researchlabs/msp-lab/MSP-Podcast.html", "en", "labels + ADV",
               _FAKE),
        Recipe("kazemotts", "KazEmoTTS", "kazemotts",
               "not verified here: read the terms in the ISSAI repository before use",
               "https://github.com/IS2AI/KazEmoTTS", "kk", "labels", _FAKE),
        Recipe("nemo", "nEMO", "nemo", "CC BY-NC-SA 4.0",
               "https://huggingface.co/datasets/amu-cai/nEMO", "pl", "labels", _FAKE),
        Recipe("custom", "your own table (audio|text|speaker|emotion|intensity|a|d|v)", "generic",
               "yours: you must hold the rights to the recordings and voices",
               "recipes/custom/README.md", "any", "labels and/or ADV", _FAKE),
        Recipe("multi", "ESD (English) + EmoV-DB + CREMA-D + RAVDESS", "esd emovdb cremad ravdess",
               "the most restrictive of its parts: non-commercial research use (ESD, EmoV-DB, RAVDESS NC-SA)",
               "see each corpus's recipe", "en", "labels (+ pseudo-ADV)", _FAKE),
        Recipe("emosynth", "emosynth (synthetic corpus)", "generic",
               "built offline from free voices (festival/flite/espeak-ng) and public-domain text; no restriction "
               "from the data", "recipes/emosynth/README.md", "en", "labels + ADV",
               "trained (the default voice)"),
    )
}  # fmt: skip
"""Every recipe, by folder name."""


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe '{name}'; known: {', '.join(sorted(RECIPES))}") from None


def recipes_root() -> Path | None:
    """The ``recipes/`` folder of a source checkout (recipes are not installed with the package), or None."""
    root = Path(__file__).resolve().parents[1] / "recipes"
    return root if root.is_dir() else None


# ------------------------------------------------------------------------------------------------ pseudo-ADV


def pseudo_adv(
    store: str | os.PathLike, recogniser: str | os.PathLike, overwrite: bool = False
) -> dict[str, int]:
    """Give every item of a feature store that has no ADV the ADV the recogniser predicts from its audio.

    The store's ``items.jsonl`` is rewritten atomically; filled items get ``"adv_source": "pseudo"`` (items with
    annotated ADV keep it). Rerunning fills nothing new unless ``overwrite`` (which refreshes earlier pseudo
    labels). Returns counts: ``filled``, ``annotated`` (kept), ``total``.
    """
    import numpy as np

    from emovox.fileio import atomic_write_text
    from emovox.ser.infer import EmotionRecognizer

    store = Path(store)
    index = store / "items.jsonl"
    if not index.is_file():
        raise ValueError(f"{store} is not a feature store (no items.jsonl); run `emovox features` first")
    records = [json.loads(line) for line in index.read_text(encoding="utf-8").splitlines() if line.strip()]
    todo = [
        r for r in records
        if r.get("adv") is None or (overwrite and r.get("adv_source") == "pseudo")
    ]  # fmt: skip
    annotated = sum(1 for r in records if r.get("adv") is not None and r.get("adv_source") != "pseudo")
    if todo:
        rec = EmotionRecognizer.load(recogniser)
        sample_rate = _store_sample_rate(store)
        audio = [_store_audio(store, r["utt_id"]) for r in todo]
        speakers = [r.get("speaker") for r in todo] if rec.speaker_normalised else None
        results = rec.predict_batch(audio, sample_rate=sample_rate, speakers=speakers)
        for r, res in zip(todo, results):
            r["adv"] = [round(float(np.clip(v, -1.0, 1.0)), 4) for v in res.adv]
            r["adv_source"] = "pseudo"
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        atomic_write_text(index, text)
    counts = {"filled": len(todo), "annotated": annotated, "total": len(records)}
    logger.info("pseudo-ADV: %s", counts)
    return counts


def _store_sample_rate(store: Path) -> int:
    meta = json.loads((store / "meta.json").read_text(encoding="utf-8"))
    return int((meta.get("mel") or {}).get("sample_rate", 22050))


def _store_audio(store: Path, utt_id: str):
    import numpy as np

    with np.load(store / "items" / f"{utt_id}.npz", allow_pickle=False) as z:
        if "audio" not in z:
            raise ValueError(
                f"{store}: item {utt_id} has no audio array; rebuild the store with `emovox features`"
            )
        audio = z["audio"]
    return audio.astype(np.float32) / 32768.0 if audio.dtype == np.int16 else audio.astype(np.float32)


# ------------------------------------------------------------------------------------------------ packaging


def package_model(
    recipe: str,
    model: str | os.PathLike,
    out: str | os.PathLike,
    *,
    evc: str | os.PathLike | None = None,
    vocoder: str | os.PathLike | None = None,
    report: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Write a model directory: ``model.safetensors`` (the acoustic model with its emotion bank), optionally
    ``evc.safetensors`` and ``vocoder.safetensors``, ``report.json`` (the evaluation), and ``model.json``
    describing it all (recipe, corpus, licence, emotions, speakers, language, files).

    ``emovox synth --model DIR`` loads the directory; ``emovox convert --model DIR/evc.safetensors --acoustic
    DIR/model.safetensors`` converts with it. Each file is copied atomically and ``model.json`` is written
    last, so a directory with a ``model.json`` is complete.
    """
    from emovox.checkpoint import load_checkpoint
    from emovox.fileio import atomic_write_text

    info = get_recipe(recipe)
    ckpt = load_checkpoint(model, kind="acoustic")
    if "bank" not in ckpt.meta:
        raise ValueError(f"{model} has no emotion bank: run `emovox bank` on it before packaging")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.json").unlink(missing_ok=True)  # incomplete until rewritten
    files = {"acoustic": "model.safetensors"}
    _copy(model, out / files["acoustic"])
    for key, src, name in (("evc", evc, "evc.safetensors"), ("vocoder", vocoder, "vocoder.safetensors"),
                           ("report", report, "report.json")):  # fmt: skip
        if src is not None:
            _copy(src, out / name)
            files[key] = name
        else:
            (out / name).unlink(missing_ok=True)
    meta = ckpt.meta
    emotions = [e for e in meta.get("emotions", []) if e != "neutral"] or ["neutral"]
    usage = {"synth": f'emovox synth "Hello." -e {emotions[0]} --model {out}'}
    if vocoder is not None:
        usage["synth"] += f" --vocoder {out / 'vocoder.safetensors'}"
    if evc is not None:
        usage["convert"] = (f"emovox convert in.wav -e {emotions[0]} --model {out / 'evc.safetensors'} "
                            f"--acoustic {out / 'model.safetensors'} -o out.wav")  # fmt: skip
    description = {
        "format": PACKAGE_FORMAT,
        "format_version": PACKAGE_VERSION,
        "recipe": asdict(info),
        "emotions": list(meta.get("emotions", [])),
        "speakers": list(meta.get("speakers", [])),
        "language": meta.get("language"),
        "sample_rate": (meta.get("mel_config") or {}).get("sample_rate", 22050),
        "diffusion_decoder": "denoiser_config" in meta,
        "files": files,
        "emovox_version": meta.get("emovox_version"),
        "usage": usage,
    }
    atomic_write_text(out / "model.json", json.dumps(description, indent=1, ensure_ascii=False) + "\n")
    return description


def _copy(src: str | os.PathLike, dst: Path) -> None:
    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"{src} not found")
    tmp = dst.with_name(dst.name + ".part")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
