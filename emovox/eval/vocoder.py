"""Copy-synthesis quality of vocoders against a reference vocoder, on real recordings (``emovox eval vocoder``).

Each clip's mel is vocoded by every vocoder; the result is compared with the recording: log-mel L1 (the HiFi-GAN
paper's mel error, natural-log mels) and, when the ``pesq`` package is installed, wide-band PESQ at 16 kHz. The
real-time factor is the median over clips, all vocoders timed in the same run. The verdict for each candidate is
whether it stays within the shipping bound against the reference: log-mel L1 at most ``max_l1_increase`` worse
(relative) and PESQ at most ``max_pesq_drop`` lower.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["VocoderScore", "compare_vocoders", "render_markdown", "to_json", "verdicts"]

MAX_L1_INCREASE = 0.02
MAX_PESQ_DROP = 0.05


@dataclass
class VocoderScore:
    """Means over the clips (PESQ ``None`` without the ``pesq`` package) and the median real-time factor."""

    name: str
    log_mel_l1: float
    pesq: float | None
    rtf: float
    clips: int


def _pesq(reference: np.ndarray, audio: np.ndarray, sample_rate: int) -> float:
    from pesq import pesq

    from emovox.audio.io import resample

    ref, deg = resample(reference, sample_rate, 16000), resample(audio, sample_rate, 16000)
    n = min(len(ref), len(deg))
    return float(pesq(16000, ref[:n], deg[:n], "wb"))


def compare_vocoders(
    vocoders: dict[str, Any],
    clips: Sequence[str | Path],
    *,
    with_pesq: bool | None = None,
    progress: bool = True,
) -> list[VocoderScore]:
    """Score every :class:`emovox.pipelines.Vocoder` of ``vocoders`` (name -> vocoder, the first one being the
    reference) on the recordings ``clips``; all must share one mel configuration."""
    from tqdm import tqdm

    from emovox.audio.io import load_audio
    from emovox.audio.mel import mel_spectrogram_long
    from emovox.vocoder.inference import log_mel_l1

    if not vocoders:
        raise ValueError("no vocoder to evaluate")
    if not clips:
        raise ValueError("no clips to evaluate on")
    cfg = next(iter(vocoders.values())).mel_config
    if any(v.mel_config != cfg for v in vocoders.values()):
        raise ValueError("the vocoders read different mels; compare vocoders of one mel configuration")
    if with_pesq is None:
        with_pesq = importlib.util.find_spec("pesq") is not None
    l1: dict[str, list[float]] = {name: [] for name in vocoders}
    pq: dict[str, list[float]] = {name: [] for name in vocoders}
    rtf: dict[str, list[float]] = {name: [] for name in vocoders}
    for clip in tqdm(clips, desc="copy synthesis", unit="clip", disable=not progress):
        audio, _ = load_audio(clip, cfg.sample_rate)
        mel = mel_spectrogram_long(audio, cfg)
        for name, vocoder in vocoders.items():
            t0 = time.perf_counter()
            out = vocoder(mel)
            rtf[name].append((time.perf_counter() - t0) / (len(out) / cfg.sample_rate))
            n = min(len(out), len(audio))
            l1[name].append(log_mel_l1(audio[:n], out[:n], cfg))
            if with_pesq:
                pq[name].append(_pesq(audio[:n], out[:n], cfg.sample_rate))
    return [
        VocoderScore(
            name=name,
            log_mel_l1=float(np.mean(l1[name])),
            pesq=float(np.mean(pq[name])) if with_pesq else None,
            rtf=float(statistics.median(rtf[name])),
            clips=len(clips),
        )
        for name in vocoders
    ]


def verdicts(
    scores: list[VocoderScore], max_l1_increase: float = MAX_L1_INCREASE, max_pesq_drop: float = MAX_PESQ_DROP
) -> list[dict[str, Any]]:
    """Each candidate (every score after the first) against the reference (the first)."""
    ref = scores[0]
    out = []
    for s in scores[1:]:
        l1_change = s.log_mel_l1 / ref.log_mel_l1 - 1.0
        pesq_change = None if s.pesq is None or ref.pesq is None else s.pesq - ref.pesq
        within = l1_change <= max_l1_increase and (pesq_change is None or pesq_change >= -max_pesq_drop)
        out.append(
            {
                "name": s.name,
                "log_mel_l1_change": l1_change,
                "pesq_change": pesq_change,
                "time_ratio": s.rtf / ref.rtf,
                "within_bound": within,
            }
        )
    return out


def render_markdown(scores: list[VocoderScore], checks: list[dict[str, Any]]) -> str:
    ref = scores[0]
    lines = [
        f"Copy synthesis of {ref.clips} clips; reference: {ref.name}.",
        "",
        "| vocoder | log-mel L1 | PESQ-WB | RTF (median) | vs reference |",
        "|---|---|---|---|---|",
    ]
    by_name = {c["name"]: c for c in checks}
    for s in scores:
        pesq = "–" if s.pesq is None else f"{s.pesq:.3f}"
        check = by_name.get(s.name)
        if check is None:
            verdict = "reference"
        else:
            pesq_part = "" if check["pesq_change"] is None else f", PESQ {check['pesq_change']:+.3f}"
            verdict = (
                f"L1 {100 * check['log_mel_l1_change']:+.1f} %{pesq_part}, time ×{check['time_ratio']:.2f}: "
                + ("within the bound" if check["within_bound"] else "**outside the bound**")
            )
        lines.append(f"| {s.name} | {s.log_mel_l1:.4f} | {pesq} | {s.rtf:.4f} | {verdict} |")
    lines += [
        "",
        f"Bound: log-mel L1 at most {100 * MAX_L1_INCREASE:.0f} % worse and PESQ at most {MAX_PESQ_DROP} lower "
        "than the reference.",
    ]
    if ref.pesq is None:
        lines.append("PESQ was not measured: pip install pesq (in the `eval` extra).")
    return "\n".join(lines) + "\n"


def to_json(scores: list[VocoderScore], checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"scores": [asdict(s) for s in scores], "checks": checks}
