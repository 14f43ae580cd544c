"""A toy shallow-diffusion problem: restore the fine harmonic detail that a blur removed from a mel.

target = smooth random spectral envelope (slowly varying in time) + a harmonic comb along frequency whose
period follows a piecewise-constant "pitch" and whose depth depends on the emotion vector z (emotion lives in
the detail); coarse = the target blurred along frequency and time (the comb is gone, as in an L1-trained
FastSpeech2 mel); cond = a one-hot of the quantised pitch per frame (what FastSpeech2's pitch embedding puts
in its hidden sequence). A denoiser can only lower the L1 to the target by reading the period from cond and
the depth from z.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from emovox.eval import spectral

PERIODS = (5.0, 6.0, 7.0, 8.0, 9.0, 10.0)  # comb periods in mel bins: the "pitch" classes
EMOTION_DIM = 4


@dataclass
class ToyBatch:
    target: torch.Tensor  # [B, n_mels, T] log-mel
    coarse: torch.Tensor  # [B, n_mels, T] blurred target
    cond: torch.Tensor  # [B, len(PERIODS), T] one-hot pitch class
    z: torch.Tensor  # [B, EMOTION_DIM]
    mask: torch.Tensor  # [B, 1, T]


def _blur(x: torch.Tensor, sigma_f: float, sigma_t: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[B, F, T]`` with replicate padding."""

    def kernel(sigma: float) -> torch.Tensor:
        r = int(3 * sigma + 0.5)
        k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
        return k / k.sum()

    kf, kt = kernel(sigma_f), kernel(sigma_t)
    b, f, t = x.shape
    y = x.permute(0, 2, 1).reshape(b * t, 1, f)
    y = F.conv1d(F.pad(y, (len(kf) // 2,) * 2, mode="replicate"), kf[None, None])
    y = y.reshape(b, t, f).permute(0, 2, 1).reshape(b * f, 1, t)
    y = F.conv1d(F.pad(y, (len(kt) // 2,) * 2, mode="replicate"), kt[None, None])
    return y.reshape(b, f, t)


def make_batch(batch: int, frames: int, generator: torch.Generator, n_mels: int = 80) -> ToyBatch:
    f = torch.arange(n_mels, dtype=torch.float32)[None, :, None]
    tt = torch.linspace(0, 1, frames)[None, None, :]
    # Envelope: a spectral tilt plus two random cosines along frequency, drifting slowly in time.
    coef = torch.randn(batch, 5, 1, 1, generator=generator)
    envelope = (
        -5.0 - 2.0 * f / n_mels + 0.8 * coef[:, 0] * torch.cos(torch.pi * f / n_mels * (1 + coef[:, 1].abs()))
    )
    envelope = envelope + 0.5 * coef[:, 2] * torch.cos(2 * torch.pi * f / n_mels * 3) * (
        1 + 0.5 * coef[:, 3] * tt
    )
    # Pitch: three segments per utterance, each with a random period class.
    classes = torch.randint(0, len(PERIODS), (batch, 3), generator=generator)
    seg = torch.clamp((torch.arange(frames) * 3) // frames, max=2)
    cls_t = classes[:, seg]  # [B, T]
    period = torch.tensor(PERIODS)[cls_t][:, None, :]  # [B, 1, T]
    z = torch.randn(batch, EMOTION_DIM, generator=generator)
    depth = (0.7 + 0.4 * torch.tanh(z[:, :1]))[:, :, None]  # [B, 1, 1]
    comb = depth * torch.cos(2 * torch.pi * f / period)
    target = envelope + comb
    coarse = _blur(target, sigma_f=3.0, sigma_t=1.0)
    cond = F.one_hot(cls_t, len(PERIODS)).permute(0, 2, 1).float()
    return ToyBatch(target, coarse, cond, z, torch.ones(batch, 1, frames))


def band_variance_ratio(mel: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over mel bands of var(mel) / var(target), each band's variance over all frames of all utterances
    pooled (the global variance of Toda & Tokuda 2007, which over-smoothed mels lack). Pooled, because a toy
    utterance's envelope is nearly constant in time: per utterance, some bands have almost no variance."""
    pooled = lambda x: x.permute(1, 0, 2).reshape(1, x.shape[1], -1)  # noqa: E731
    return float(spectral.band_variance_ratio(pooled(mel), pooled(target)))


def comb_depth(mel: torch.Tensor, batch: ToyBatch) -> torch.Tensor:
    """Per-utterance depth of the harmonic comb in ``mel`` (least-squares projection of mel − coarse on the
    unit comb of each frame's period), ``[B]``; the target's is its true depth."""
    f = torch.arange(mel.shape[1], dtype=torch.float32)[None, :, None]
    period = torch.tensor(PERIODS)[batch.cond.argmax(dim=1)][:, None, :]
    unit = torch.cos(2 * torch.pi * f / period)
    detail = mel - batch.coarse
    return (detail * unit).sum(dim=(1, 2)) / (unit * unit).sum(dim=(1, 2))


def train_toy(
    steps: int,
    *,
    k_shallow: int = 500,
    prediction: str = "sample",
    channels: int = 48,
    n_layers: int = 8,
    lr: float = 2e-3,
    batch: int = 16,
    frames: int = 32,
    seed: int = 0,
    residual_std: float = 0.0,
    precond_loss: str = "x0",
):
    """Train a tiny denoiser on the toy problem with Adam; returns (denoiser in eval mode, DiffusionConfig).
    ``residual_std > 0`` preconditions it around the coarse mel (see ``emovox.tts.diffusion.precondition``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: extra threads only contend on a shared machine
    try:
        return _train(
            steps,
            k_shallow,
            prediction,
            channels,
            n_layers,
            lr,
            batch,
            frames,
            seed,
            residual_std,
            precond_loss,
        )
    finally:
        torch.set_num_threads(threads)


def _train(
    steps, k_shallow, prediction, channels, n_layers, lr, batch, frames, seed, residual_std, precond_loss
):
    from emovox.tts.diffusion import DiffusionConfig, diffusion_loss, make_scheduler
    from emovox.tts.models.denoiser import Denoiser, DenoiserConfig

    torch.manual_seed(seed)
    train_cfg = DiffusionConfig(
        prediction=prediction, k_shallow=k_shallow, residual_std=residual_std, precond_loss=precond_loss
    )
    net = Denoiser(
        DenoiserConfig(
            residual_channels=channels,
            n_layers=n_layers,
            dilation_cycle=4,
            cond_channels=len(PERIODS),
            emotion_dim=EMOTION_DIM,
            speaker_dim=0,
            prediction=prediction,
        )
    )
    gen = torch.Generator().manual_seed(seed + 1)
    stats = make_batch(256, frames, gen).target
    net.set_mel_stats(stats.mean(dim=(0, 2)), stats.std(dim=(0, 2)))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    ddpm = make_scheduler("ddpm", train_cfg)
    for _ in range(steps):
        b = make_batch(batch, frames, gen)
        losses = diffusion_loss(
            net, b.target, b.cond, b.coarse, b.z, None, b.mask, ddpm, k_shallow, gen,
            residual_std=residual_std, precond_loss=precond_loss,
        )  # fmt: skip
        opt.zero_grad()
        losses["diff/loss"].backward()
        opt.step()
    return net.eval(), train_cfg
