"""Shallow diffusion on top of FastSpeech2: schedulers, the training loss and the sampler.

The denoiser (:class:`emovox.tts.models.denoiser.Denoiser`) only predicts; everything about noise schedules
lives here and uses diffusers schedulers, created per request (STYLE.md rule 3), so the sampler and its step
count change without a new checkpoint.

- **Shallow diffusion** (DiffSinger, Liu et al. 2022, §3.2): training noises the ground-truth mel to a step
  ``t <= K``; inference noises the coarse FastSpeech2 mel to step ``K`` and denoises from there. The sampling
  scheduler is restricted to ``[0, K]`` by rebuilding it on the first ``K + 1`` betas of the training
  schedule, so ``n_steps`` solver steps span exactly ``K … 0`` whatever the solver. ``K = None`` is
  full-depth diffusion from pure noise.
- **Classifier-free guidance** (Ho & Salimans 2022) as an intensity control (EmoDiff, Guo et al. 2023):
  ``pred = pred(z_neutral) + s * (pred(z) - pred(z_neutral))``; ``z_neutral = None`` is the learned null
  emotion (the dropped condition of training); ``s = 0`` is neutral, ``s = 1`` conditional, ``s > 1`` stronger.
- **EmoMix noise mixing** (Tang et al. 2023): at every step the model output is the weighted sum of the
  predictions under each component's ``z``; guidance applies to the mixed prediction. All predictions of one
  step run in a single batched forward.
- **Prediction target**: x0 ("sample") by default, as in ProDiff (Huang et al. 2022), which found it the
  parameterisation that survives few-step sampling; on the toy problem of ``tests/diffusion_toy.py`` at
  K = 500 and 600 CPU training steps, x0 prediction cut the L1 to the target from 0.386 (coarse) to 0.129
  with 4 DPM-Solver++ steps while epsilon (1.95) and v (0.58) made it worse. epsilon and v stay available
  (with ``min_snr_gamma`` weighting) for long trainings.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from emovox.tts.models.denoiser import PREDICTIONS, Denoiser

__all__ = [
    "LOSSES",
    "MIX_MODES",
    "SAMPLERS",
    "DiffusionConfig",
    "diffusion_loss",
    "guided_prediction",
    "make_scheduler",
    "restricted_scheduler",
    "sample",
]

SAMPLERS = ("dpm", "ddim", "unipc", "ddpm")
MIX_MODES = ("noise", "latent")
LOSSES = ("l1", "l2")
Component = tuple[torch.Tensor | None, float]


@dataclass
class DiffusionConfig:
    """Noise schedule, shallow depth, prediction target, default sampler and loss of the diffusion decoder."""

    n_train_timesteps: int = 1000  # steps of the training (DDPM) schedule
    beta_schedule: str = "linear"  # diffusers beta schedule: linear | scaled_linear | squaredcos_cap_v2
    beta_start: float = 1e-4  # first beta (linear / scaled_linear)
    beta_end: float = 0.02  # last beta (linear / scaled_linear)
    k_shallow: int | None = 500  # shallow depth K (DiffSinger): train t <= K, start there; null = full depth
    prediction: str = "sample"  # network target: sample (x0) | epsilon | v_prediction; = the denoiser's
    sampler: str = "dpm"  # default sampler: dpm (DPM-Solver++ 2M) | ddim | unipc | ddpm
    n_steps: int = 4  # default number of sampling steps
    loss: str = "l1"  # masked regression loss on the prediction: l1 | l2
    min_snr_gamma: float = 0.0  # min-SNR-γ loss weights (Hang et al. 2023), 0 = off; ~5 helps epsilon / v

    def __post_init__(self) -> None:
        if self.n_train_timesteps < 2:
            raise ValueError(f"n_train_timesteps must be >= 2, got {self.n_train_timesteps}")
        if self.k_shallow is not None and not 1 <= self.k_shallow < self.n_train_timesteps:
            raise ValueError(
                f"k_shallow must be in [1, {self.n_train_timesteps - 1}] or null, got {self.k_shallow}"
            )
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {self.prediction!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {self.n_steps}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.min_snr_gamma < 0:
            raise ValueError(f"min_snr_gamma must be >= 0, got {self.min_snr_gamma}")


def make_scheduler(name: str, train_cfg: DiffusionConfig) -> Any:
    """A fresh diffusers scheduler on the training betas: "ddpm" (training, or ancestral sampling), "ddim",
    "dpm" (DPM-Solver++ multistep, 2nd order) or "unipc". All end at the clean sample (final alpha 1),
    except DDIM when ``round(T / n) > T // n`` (T = the schedule's timesteps, n = steps): its fixed stride
    ``T // n`` then makes the last step land on t = 0, leaving noise of std sqrt(1 - alpha_bar_0) = 1 %."""
    try:
        import diffusers
    except ImportError:
        raise ImportError("the diffusion decoder needs diffusers: pip install 'emovox[diffusion]'") from None

    common = dict(
        num_train_timesteps=train_cfg.n_train_timesteps,
        beta_start=train_cfg.beta_start,
        beta_end=train_cfg.beta_end,
        beta_schedule=train_cfg.beta_schedule,
        prediction_type=train_cfg.prediction,
        timestep_spacing="trailing",  # the first step is the deepest one (K), Lin et al. 2024
    )
    if name == "ddpm":
        return diffusers.DDPMScheduler(clip_sample=False, **common)
    if name == "ddim":
        return diffusers.DDIMScheduler(clip_sample=False, set_alpha_to_one=True, **common)
    if name == "dpm":
        return diffusers.DPMSolverMultistepScheduler(
            algorithm_type="dpmsolver++", solver_order=2, final_sigmas_type="zero", **common
        )
    if name == "unipc":
        return diffusers.UniPCMultistepScheduler(solver_order=2, final_sigmas_type="zero", **common)
    raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")


def _module(net: nn.Module) -> Denoiser:
    """The denoiser inside a DistributedDataParallel wrapper (or the net itself)."""
    return getattr(net, "module", net)


def _check_prediction(net: nn.Module, scheduler: Any) -> None:
    if _module(net).cfg.prediction != scheduler.config.prediction_type:
        raise ValueError(
            f"the denoiser predicts {_module(net).cfg.prediction!r} but the scheduler expects "
            f"{scheduler.config.prediction_type!r}: set DiffusionConfig.prediction to match"
        )


def _randn(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Gaussian noise drawn on the generator's device (for determinism) and moved to ``like``'s."""
    device = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def _masked_mean(err: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (err * mask).sum() / (mask.sum() * err.shape[1]).clamp_min(1.0)


def diffusion_loss(
    net: nn.Module,
    x0: torch.Tensor,
    cond: torch.Tensor | None,
    coarse: torch.Tensor,
    z: torch.Tensor | None,
    g: torch.Tensor | None,
    mask: torch.Tensor,
    scheduler: Any,
    k_max: int | None,
    generator: torch.Generator | None = None,
    *,
    loss_type: str = "l1",
    min_snr_gamma: float = 0.0,
) -> dict[str, torch.Tensor]:
    """The denoising loss of shallow diffusion (DiffSinger) with condition dropout for guidance.

    Draws ``t`` uniformly in ``[0, k_max]`` (the whole schedule when ``k_max`` is None), noises the normalised
    target with ``scheduler.add_noise``, replaces each item's ``z`` by the null emotion with probability
    ``net.cfg.cond_dropout``, and regresses the network's output on epsilon or v (``net.cfg.prediction``)
    with a masked L1 or L2 (``loss_type``). Detach ``coarse``/``cond`` first to train on a frozen FastSpeech2.

    Args:
        net: a :class:`Denoiser` (or a DDP wrapper of one).
        x0: the ground-truth log-mel; coarse: the FastSpeech2 log-mel; cond: its decoder hidden sequence.
        z: emotion vectors (None = train the unconditional model only); g: speaker embeddings.
        scheduler: a DDPM scheduler from ``make_scheduler("ddpm", cfg)``.

    Returns:
        ``{"diff/loss": scalar}``.

    Shapes:
        x0, coarse: ``[B, n_mels, T]``; cond: ``[B, C, T]``; z: ``[B, Dz]``; g: ``[B, Dg]``; mask: ``[B, 1, T]``.
    """
    inner = _module(net)
    _check_prediction(net, scheduler)
    if loss_type not in LOSSES:
        raise ValueError(f"loss_type must be one of {LOSSES}, got {loss_type!r}")
    n_train = scheduler.config.num_train_timesteps
    high = n_train if k_max is None else k_max + 1
    if not 1 <= high <= n_train:
        raise ValueError(f"k_max must be in [0, {n_train - 1}] or None, got {k_max}")
    batch = x0.shape[0]
    mask = mask.to(x0.dtype)
    x0_n = inner.normalise(x0)
    gen_device = generator.device if generator is not None else x0.device
    t = torch.randint(0, high, (batch,), generator=generator, device=gen_device).to(x0.device)
    noise = _randn(tuple(x0.shape), x0_n, generator)
    x_t = scheduler.add_noise(x0_n, noise, t)
    target = _target(scheduler, inner.cfg.prediction, x0_n, noise, t)
    if z is not None and inner.cfg.cond_dropout > 0:
        drop = (
            torch.rand((batch,), generator=generator, device=gen_device).to(x0.device)
            < inner.cfg.cond_dropout
        )
        z = torch.where(drop[:, None], inner.null_z(batch).to(z.dtype), z)
    pred = net(x_t, t, cond, coarse, z, g, mask)
    err = (pred - target).abs() if loss_type == "l1" else (pred - target).square()
    if min_snr_gamma > 0:
        weight = _min_snr_weight(scheduler, t, inner.cfg.prediction, min_snr_gamma).to(err.dtype)
        err = err * (weight.sqrt() if loss_type == "l1" else weight)[:, None, None]
    return {"diff/loss": _masked_mean(err, mask)}


def _min_snr_weight(scheduler: Any, t: torch.Tensor, prediction: str, gamma: float) -> torch.Tensor:
    """Min-SNR-γ loss weights (Hang et al. 2023, eq. 7): the error in x0 units, capped at SNR = γ.

    ``min(SNR, γ) / SNR`` for epsilon, ``min(SNR, γ) / (SNR + 1)`` for v. Without it the high-SNR (small t)
    steps, where the noise is nearly unpredictable, dominate the loss and slow training down.
    """
    alpha_bar = scheduler.alphas_cumprod.to(t.device)[t]
    snr = alpha_bar / (1 - alpha_bar)
    capped = snr.clamp(max=gamma)
    if prediction == "epsilon":
        return capped / snr
    return capped / (snr + 1) if prediction == "v_prediction" else capped


def _target(
    scheduler: Any, prediction: str, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    if prediction == "epsilon":
        return noise
    return scheduler.get_velocity(x0, noise, t) if prediction == "v_prediction" else x0


def _normalised_components(components: list[Component]) -> list[Component]:
    """Validate, drop zero weights and normalise the weights to sum 1."""
    if not components:
        raise ValueError("at least one emotion component (z, weight) is needed")
    weights = [float(w) for _, w in components]
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError(f"mixing weights must be finite and >= 0, got {weights}")
    total = sum(weights)
    if total <= 0:
        raise ValueError("mixing weights must not all be zero")
    return [(z, w / total) for (z, _), w in zip(components, weights) if w > 0]


def _repeat(x: torch.Tensor | None, n: int) -> torch.Tensor | None:
    return None if x is None or n == 1 else x.repeat(n, *([1] * (x.ndim - 1)))


def guided_prediction(
    net: nn.Module,
    x_t: torch.Tensor,
    t: torch.Tensor,
    cond: torch.Tensor | None,
    coarse: torch.Tensor,
    g: torch.Tensor | None,
    mask: torch.Tensor,
    components: list[Component],
    guidance_scale: float = 1.0,
    z_neutral: torch.Tensor | None = None,
    mix_mode: str = "noise",
) -> torch.Tensor:
    """One step's model output under emotion mixing and guidance, from one batched forward.

    ``noise`` mode (EmoMix): ``m = Σ w_i · net(z_i)``; ``latent`` mode: ``m = net(Σ w_i · z_i)``; weights are
    normalised to sum 1 and a component's ``z = None`` is the null emotion. With guidance scale ``s``:
    ``out = net(z_neutral) + s · (m − net(z_neutral))`` (the neutral pass is skipped when ``s == 1``).

    Shapes: x_t, coarse, output ``[B, n_mels, T]``; t ``[B]``; each z and z_neutral ``[B, Dz]``.
    """
    if mix_mode not in MIX_MODES:
        raise ValueError(f"mix_mode must be one of {MIX_MODES}, got {mix_mode!r}")
    inner = _module(net)
    batch = x_t.shape[0]
    comps = _normalised_components(components)
    zs = [inner.null_z(batch) if z is None else z for z, _ in comps]
    weights = [w for _, w in comps]
    if mix_mode == "latent" and len(zs) > 1:
        zs, weights = [sum(w * z for z, w in zip(zs, weights))], [1.0]
    guided = guidance_scale != 1.0
    if guided:
        zs.append(inner.null_z(batch) if z_neutral is None else z_neutral)
    n = len(zs)
    if n == 1:
        preds = [net(x_t, t, cond, coarse, zs[0], g, mask)]
    else:
        z_all = torch.cat([z.to(x_t.dtype).expand(batch, -1) for z in zs])
        out = net(
            _repeat(x_t, n),
            _repeat(t, n),
            _repeat(cond, n),
            _repeat(coarse, n),
            z_all,
            _repeat(g, n),
            _repeat(mask, n),
        )
        preds = list(out.chunk(n))
    mixed = preds[0] * weights[0] if len(weights) > 1 else preds[0]
    for p, w in zip(preds[1 : len(weights)], weights[1:]):
        mixed = mixed + w * p
    if not guided:
        return mixed
    neutral = preds[-1]
    return neutral + guidance_scale * (mixed - neutral)


def restricted_scheduler(scheduler: Any, k_shallow: int | None, n_steps: int, device: torch.device) -> Any:
    """A fresh copy of ``scheduler`` whose ``n_steps`` timesteps span ``[0, k_shallow]`` (or the whole schedule).

    Rebuilding the scheduler on the first ``K + 1`` training betas keeps ``alphas_cumprod[t]`` identical for
    every ``t <= K`` while letting each solver space its steps and finish at the clean sample as it does
    over a full schedule; the caller's scheduler is never modified.
    """
    n_train = scheduler.config.num_train_timesteps
    if k_shallow is None:
        fresh = type(scheduler).from_config(scheduler.config)
    else:
        if not 1 <= k_shallow < n_train:
            raise ValueError(f"k_shallow must be in [1, {n_train - 1}] or None, got {k_shallow}")
        betas = scheduler.betas[: k_shallow + 1].tolist()
        fresh = type(scheduler).from_config(
            scheduler.config, num_train_timesteps=k_shallow + 1, trained_betas=betas
        )
    span = fresh.config.num_train_timesteps
    if not 1 <= n_steps <= span:
        raise ValueError(f"n_steps must be in [1, {span}] for this diffusion depth, got {n_steps}")
    fresh.set_timesteps(n_steps, device=device)
    return fresh


@torch.inference_mode()
def sample(
    net: nn.Module,
    scheduler: Any,
    coarse: torch.Tensor,
    cond: torch.Tensor | None,
    g: torch.Tensor | None,
    mask: torch.Tensor,
    components: list[Component],
    *,
    n_steps: int,
    k_shallow: int | None,
    guidance_scale: float = 1.0,
    z_neutral: torch.Tensor | None = None,
    mix_mode: str = "noise",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Refine the coarse mel by (shallow) diffusion, with emotion mixing and guidance at every step.

    Args:
        net: the :class:`Denoiser` (in eval mode).
        scheduler: any scheduler from :func:`make_scheduler` (the sampler); it is copied, not modified.
        coarse: the FastSpeech2 log-mel; cond: its decoder hidden sequence; g: speaker embeddings.
        mask: 1 for valid frames.
        components: ``[(z, weight), ...]``; one component is plain conditional sampling; ``z = None`` is the
            null emotion.
        n_steps: solver steps; k_shallow: start depth K (the coarse mel noised to K), None = from pure noise.
        guidance_scale, z_neutral, mix_mode: see :func:`guided_prediction`.
        generator: makes the start noise (and DDPM's noise) deterministic.

    Returns:
        The refined log-mel, zero on padded frames.

    Shapes:
        coarse, output: ``[B, n_mels, T]``; cond ``[B, C, T]``; g ``[B, Dg]``; mask ``[B, 1, T]``;
        each z ``[B, Dz]``.
    """
    inner = _module(net)
    _check_prediction(net, scheduler)
    sched = restricted_scheduler(scheduler, k_shallow, n_steps, coarse.device)
    noise = _randn(tuple(coarse.shape), coarse, generator)
    if k_shallow is None:
        x = noise * sched.init_noise_sigma
    else:
        x = sched.add_noise(inner.normalise(coarse), noise, sched.timesteps[:1])
    step_kwargs = {"generator": generator} if "generator" in inspect.signature(sched.step).parameters else {}
    batch = coarse.shape[0]
    for t in sched.timesteps:
        t_batch = t.expand(batch)
        out = guided_prediction(
            net, sched.scale_model_input(x, t), t_batch, cond, coarse, g, mask, components,
            guidance_scale=guidance_scale, z_neutral=z_neutral, mix_mode=mix_mode,
        )  # fmt: skip
        x = sched.step(out, t, x, **step_kwargs).prev_sample
    return inner.denormalise(x) * mask.to(x.dtype)
