"""A MOS proxy with Distill-MOS (``distillmos``): predicted mean opinion score, 1–5, of a clip.

Distill-MOS (Stahl & Gamper, "Distillation and Pruning for Scalable Self-Supervised Representation-Based Speech
Quality Assessment", ICASSP 2025) is a small convolutional transformer distilled from an XLS-R-based quality
predictor; ``distillmos`` ships its weights inside the wheel, so nothing is downloaded. Its model takes 16 kHz
mono audio and returns one score per clip.

Installing it: ``distillmos`` and its dependency ``xls-r-sqa`` both declare torchaudio, which has no build for
the torch emovox uses, so they are not in the ``eval`` extra. The model itself never calls torchaudio (only
distillmos's file-list CLI does, and ``xls_r_sqa``'s end-to-end XLS-R model, which distillmos does not import):
install both without their dependencies, ``pip install --no-deps distillmos xls-r-sqa`` (:data:`INSTALL_HINT`).
distillmos still has a top-level ``import torchaudio``; :func:`_import_distillmos` satisfies it with a
placeholder that raises if anything uses it, and removes the placeholder again.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import sys
import types
from collections.abc import Sequence

import numpy as np

__all__ = ["INSTALL_HINT", "MOS_RATE", "load_mos_model", "predict_mos", "unavailable_reason"]

MOS_RATE = 16000
INSTALL_HINT = (
    "pip install --no-deps distillmos xls-r-sqa (their metadata requires torchaudio, which they do not use)"
)


def unavailable_reason() -> str | None:
    """Why the MOS proxy cannot run here (None when it can)."""
    try:
        _import_distillmos()
    except ImportError as exc:
        return str(exc)
    return None


class _NoTorchaudio(types.ModuleType):
    """Stands in for torchaudio while distillmos is imported; fails loudly if distillmos ever uses it."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(f"torchaudio.{name}: emovox runs distillmos without torchaudio; {INSTALL_HINT}")


def _import_distillmos():
    if "distillmos" in sys.modules:
        return sys.modules["distillmos"]
    for name in ("distillmos", "xls_r_sqa"):
        if importlib.util.find_spec(name) is None:
            raise ImportError(f"{name} is not installed; {INSTALL_HINT}")
    placeholder = importlib.util.find_spec("torchaudio") is None
    if placeholder:
        sys.modules["torchaudio"] = _NoTorchaudio("torchaudio")
    try:
        import distillmos
    except ImportError as exc:
        raise ImportError(f"distillmos does not import ({exc}); {INSTALL_HINT}") from exc
    finally:
        if placeholder:
            del sys.modules["torchaudio"]  # others keep seeing torchaudio as absent
    return distillmos


@functools.lru_cache(maxsize=1)
def load_mos_model():
    """The Distill-MOS model in eval mode (loaded once per process; about a second)."""
    distillmos = _import_distillmos()
    with contextlib.redirect_stdout(None):  # it prints where it loaded its weights from
        model = distillmos.ConvTransformerSQAModel()
    return model.eval()


def predict_mos(audios: Sequence[np.ndarray], sample_rate: int) -> list[float]:
    """One predicted MOS (1–5) per clip ``[T]`` at ``sample_rate``.

    Each clip is scored on its own (the model pads or crops to 7.68 s windows and peak-normalises, so batching
    clips of different lengths would change their scores). Raises ImportError with the install command when
    distillmos is missing, ValueError for a clip that is not finite mono audio.
    """
    import torch

    from emovox.audio.io import resample

    model = load_mos_model()
    scores = []
    with torch.inference_mode():
        for audio in audios:
            x = np.asarray(audio, dtype=np.float32)
            if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
                raise ValueError(f"MOS needs finite mono audio [T]; got shape {x.shape}")
            x = resample(x, int(sample_rate), MOS_RATE)
            scores.append(float(model(torch.from_numpy(np.ascontiguousarray(x))[None]).reshape(-1)[0]))
    return scores
