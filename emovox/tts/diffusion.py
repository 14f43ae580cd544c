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
- **Preconditioning** (``DiffusionConfig.residual_std``, see :func:`precondition`): EDM's skip, input and
  output scalings (Karras et al. 2022) written around the coarse mel, so the x0 prediction is the identity near
  ``t = 0`` and ``coarse + scaled network`` at depth. On the toy problem (600 steps) it cut the 4-step L1 from
  0.127 to 0.044 at ``residual_std`` 0.12; a value near the true residual std (0.61 there) lets the skip pass
  the sampler's noise through at the last step (0.33).
- **Noise scale** (``noise_scale``, Grad-TTS's temperature): the start noise's scale at inference; 1 samples
  the learned distribution, 0 starts from the un-noised coarse mel. A sampled detail is not the recording's
  detail, so the log-mel L1 to a recording rises with the noise scale while the band variance approaches the
  recording's: the knob trades one for the other.
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
    "Preconditioning",
    "diffusion_loss",
    "guided_prediction",
    "make_scheduler",
    "precondition",
    "restricted_scheduler",
    "sample",
]

SAMPLERS = ("dpm", "ddim", "unipc", "ddpm")
MIX_MODES = ("noise", "latent")
LOSSES = ("l1", "l2")
PRECOND_LOSSES = ("x0", "edm")
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
    noise_scale: float = 1.0  # inference start-noise scale: 1 = trained distribution, 0 = deterministic
    loss: str = "l1"  # masked regression loss on the prediction: l1 | l2
    min_snr_gamma: float = 0.0  # min-SNR-γ loss weights (Hang et al. 2023), 0 = off; ~5 helps epsilon / v
    residual_std: float = 0.0  # > 0: precondition around the coarse mel (EDM-style) with this std of
    # (mel - coarse) in the normalised space, see precondition(); needs prediction=sample; 0 = plain target
    precond_loss: str = "x0"  # preconditioned loss on: x0 (the mel, as plain x0 prediction: favours the
    # estimate at depth, the lowest L1) | edm (the network's unit-scale target: favours denoising near t = 0)

    @property
    def max_steps(self) -> int:
        """The most sampling steps: one per timestep of the span sampled, ``[0, K]`` (or the whole schedule)."""
        return self.k_shallow + 1 if self.k_shallow is not None else self.n_train_timesteps

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
        if not (math.isfinite(self.noise_scale) and self.noise_scale >= 0):
            raise ValueError(f"noise_scale must be finite and >= 0, got {self.noise_scale}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.min_snr_gamma < 0:
            raise ValueError(f"min_snr_gamma must be >= 0, got {self.min_snr_gamma}")
        if not (math.isfinite(self.residual_std) and self.residual_std >= 0):
            raise ValueError(f"residual_std must be finite and >= 0, got {self.residual_std}")
        if self.residual_std > 0 and self.prediction != "sample":
            raise ValueError("residual_std > 0 (preconditioning) needs prediction=sample")
        if self.precond_loss not in PRECOND_LOSSES:
            raise ValueError(f"precond_loss must be one of {PRECOND_LOSSES}, got {self.precond_loss!r}")


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


@dataclass(frozen=True)
class Preconditioning:
    """EDM-style preconditioning of an x0-predicting denoiser around the coarse mel (see :func:`precondition`).

    Shapes: coarse, offset ``[B, n_mels, T]``; c_in, c_skip, c_out ``[B, 1, 1]``.
    """

    coarse: torch.Tensor  # the normalised coarse mel c
    offset: torch.Tensor  # sqrt(alpha_bar) * c: where x_t sits when the mel equals the coarse one
    c_in: torch.Tensor
    c_skip: torch.Tensor
    c_out: torch.Tensor

    def net_input(self, x_t: torch.Tensor) -> torch.Tensor:
        """What the network sees: the noised residual ``x_t - offset`` scaled to unit variance."""
        return (x_t - self.offset) * self.c_in

    def output(self, net_out: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
        """The x0 prediction: ``c + c_skip (x_t - offset) + c_out F``."""
        return self.coarse + self.c_skip * (x_t - self.offset) + self.c_out * net_out


def precondition(
    scheduler: Any, t: torch.Tensor, coarse: torch.Tensor, residual_std: float
) -> Preconditioning:
    """Input/skip/output scalings of Karras et al. 2022 ("EDM", §5, table 1), written around the coarse mel.

    The network models the residual ``r = x0 - c`` between the mel and the normalised coarse mel ``c``. With
    ``x_t = a x0 + s eps`` (``a = sqrt(alpha_bar_t)``, ``s = sqrt(1 - alpha_bar_t)``) and a residual of std
    ``σ`` (``residual_std``), ``x_t - a c = a r + s eps`` has variance ``v = a²σ² + s²``, and

    - ``c_in = 1 / sqrt(v)``: the network input has unit variance at every step;
    - ``c_skip = a σ² / v``: ``c + c_skip (x_t - a c)`` is the best linear estimate of ``x0`` (Wiener), so a
      zero network is already a sensible denoiser, and the identity near ``t = 0``;
    - ``c_out = σ s / sqrt(v)``: the error that estimate leaves, so the network's target has unit scale.

    Near ``t = 0`` the output is ``x_t`` whatever the network does; at the shallow depth ``K`` it is mostly
    ``c + σ F``: the network spends its capacity on what FastSpeech2 got wrong, not on copying it.

    Shapes: t ``[B]`` (training-schedule steps); coarse ``[B, n_mels, T]``.
    """
    if residual_std <= 0:
        raise ValueError(f"residual_std must be > 0, got {residual_std}")
    alpha_bar = scheduler.alphas_cumprod.to(device=coarse.device, dtype=coarse.dtype)[t.long()]
    a = alpha_bar.sqrt()[:, None, None]
    s = (1 - alpha_bar).clamp_min(0).sqrt()[:, None, None]
    var = a.square() * residual_std**2 + s.square()
    return Preconditioning(
        coarse=coarse,
        offset=a * coarse,
        c_in=var.rsqrt(),
        c_skip=a * residual_std**2 / var,
        c_out=residual_std * s * var.rsqrt(),
    )


def _check_preconditioning(net: nn.Module, residual_std: float) -> None:
    if residual_std > 0 and _module(net).cfg.prediction != "sample":
        raise ValueError("residual_std > 0 (preconditioning) needs an x0 (sample) predicting denoiser")


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
    residual_std: float = 0.0,
    precond_loss: str = "x0",
) -> dict[str, torch.Tensor]:
    """The denoising loss of shallow diffusion (DiffSinger) with condition dropout for guidance.

    Draws ``t`` uniformly in ``[0, k_max]`` (the whole schedule when ``k_max`` is None), noises the normalised
    target with ``scheduler.add_noise``, replaces each item's ``z`` by the null emotion with probability
    ``net.cfg.cond_dropout``, and regresses the network's output on epsilon or v (``net.cfg.prediction``)
    with a masked L1 or L2 (``loss_type``). Detach ``coarse``/``cond`` first to train on a frozen FastSpeech2.
    With ``residual_std > 0`` the network is preconditioned around the coarse mel (:func:`precondition`); the
    loss is on the resulting x0 prediction (``precond_loss="x0"``) or, EDM's weighting, divided by ``c_out``
    (``"edm"``: the loss on the network's own unit-scale target).

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
    if precond_loss not in PRECOND_LOSSES:
        raise ValueError(f"precond_loss must be one of {PRECOND_LOSSES}, got {precond_loss!r}")
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
    _check_preconditioning(net, residual_std)
    if residual_std > 0:
        pre = precondition(scheduler, t, inner.normalise(coarse), residual_std)
        pred = pre.output(net(pre.net_input(x_t), t, cond, coarse, z, g, mask), x_t) * mask
    else:
        pred = net(x_t, t, cond, coarse, z, g, mask)
    err = (pred - target).abs() if loss_type == "l1" else (pred - target).square()
    if residual_std > 0 and precond_loss == "edm":  # the loss on the network's own (unit-scale) target F
        err = err / (pre.c_out if loss_type == "l1" else pre.c_out.square())
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
    noise_scale: float = 1.0,
    residual_std: float = 0.0,
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
        noise_scale: multiplies the start noise (the "temperature" of Grad-TTS, Popov et al. 2021, and the
            noise scale of Glow-TTS/VITS): 1 samples the learned distribution, < 1 trades detail for
            closeness to its mode, 0 is the deterministic ODE path from the un-noised coarse mel.
        residual_std: the denoiser's preconditioning (``DiffusionConfig.residual_std`` it was trained with).

    Returns:
        The refined log-mel, zero on padded frames.

    Shapes:
        coarse, output: ``[B, n_mels, T]``; cond ``[B, C, T]``; g ``[B, Dg]``; mask ``[B, 1, T]``;
        each z ``[B, Dz]``.
    """
    inner = _module(net)
    _check_prediction(net, scheduler)
    _check_preconditioning(net, residual_std)
    if not (math.isfinite(noise_scale) and noise_scale >= 0):
        raise ValueError(f"noise_scale must be finite and >= 0, got {noise_scale}")
    sched = restricted_scheduler(scheduler, k_shallow, n_steps, coarse.device)
    noise = _randn(tuple(coarse.shape), coarse, generator) * noise_scale
    if k_shallow is None:
        x = noise * sched.init_noise_sigma
    else:
        x = sched.add_noise(inner.normalise(coarse), noise, sched.timesteps[:1])
    step_kwargs = {"generator": generator} if "generator" in inspect.signature(sched.step).parameters else {}
    batch = coarse.shape[0]
    coarse_n = inner.normalise(coarse) if residual_std > 0 else None
    for t in sched.timesteps:
        t_batch = t.expand(batch)
        x_in = sched.scale_model_input(x, t)
        # Guidance and mixing combine outputs with weights summing to 1, so they commute with the affine
        # preconditioning: it wraps the combined prediction once.
        pre = precondition(sched, t_batch, coarse_n, residual_std) if coarse_n is not None else None
        out = guided_prediction(
            net, pre.net_input(x_in) if pre else x_in, t_batch, cond, coarse, g, mask, components,
            guidance_scale=guidance_scale, z_neutral=z_neutral, mix_mode=mix_mode,
        )  # fmt: skip
        if pre is not None:
            out = pre.output(out, x_in) * mask.to(out.dtype)
        x = sched.step(out, t, x, **step_kwargs).prev_sample
    return inner.denormalise(x) * mask.to(x.dtype)
