"""The HiFi-GAN generator (Kong, Kim & Bae, "HiFi-GAN", NeurIPS 2020), V1/V2/V3 configurations.

Module names and layer order follow the official release (``conv_pre``, ``ups``, ``resblocks``, ``conv_post``)
so that the official pretrained weights map onto this module one to one. Training uses weight normalisation
(``torch.nn.utils.parametrizations.weight_norm``); :meth:`Generator.remove_weight_norm` folds it into plain
weights for inference, where :meth:`Generator.infer` runs the same network with in-place activations and
residual sums (no autograd, fewer temporaries).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

__all__ = [
    "LRELU_SLOPE",
    "PRESETS",
    "Generator",
    "GeneratorConfig",
    "get_padding",
    "preset",
    "select_resblocks",
]

LRELU_SLOPE = 0.1  # slope of every leaky ReLU inside the network (the final one uses torch's default 0.01)


@dataclass
class GeneratorConfig:
    """HiFi-GAN generator hyper-parameters (defaults: V1, the official "universal"/LJSpeech configuration)."""

    n_mels: int = 80  # input mel channels
    upsample_rates: list[int] = field(default_factory=lambda: [8, 8, 2, 2])  # product = hop length
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [16, 16, 4, 4])  # one per upsampling
    upsample_initial_channel: int = 512  # channels after conv_pre, halved at every upsampling
    resblock: str = "1"  # "1": two dilated convs per stage (V1/V2), "2": one (V3)
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])  # one resblock per kernel
    resblock_dilation_sizes: list[list[int]] = field(
        default_factory=lambda: [[1, 3, 5], [1, 3, 5], [1, 3, 5]]
    )  # dilations per resblock

    def __post_init__(self) -> None:
        if self.resblock not in ("1", "2"):
            raise ValueError(f"generator.resblock must be '1' or '2', got {self.resblock!r}")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes) or not self.upsample_rates:
            raise ValueError(
                "generator.upsample_rates and upsample_kernel_sizes need the same, non-zero length"
            )
        for u, k in zip(self.upsample_rates, self.upsample_kernel_sizes):
            if u < 1 or k < u or (k - u) % 2:
                raise ValueError(
                    f"generator: upsample kernel {k} must be >= rate {u} with (kernel - rate) even, "
                    "or the output is not exactly rate x longer"
                )
        if (
            len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes)
            or not self.resblock_kernel_sizes
        ):
            raise ValueError(
                "generator.resblock_kernel_sizes and resblock_dilation_sizes need the same length"
            )
        n_dil = 3 if self.resblock == "1" else 2
        if any(len(d) != n_dil for d in self.resblock_dilation_sizes):
            raise ValueError(f"generator: resblock type {self.resblock} needs {n_dil} dilations per resblock")
        if any(k % 2 == 0 for k in self.resblock_kernel_sizes):
            raise ValueError("generator.resblock_kernel_sizes must be odd (same-length convolutions)")
        if self.upsample_initial_channel < 2 ** len(self.upsample_rates):
            raise ValueError(
                f"generator.upsample_initial_channel must be at least 2**len(upsample_rates) = "
                f"{2 ** len(self.upsample_rates)}, got {self.upsample_initial_channel}"
            )
        if self.upsample_initial_channel % (2 ** len(self.upsample_rates)):
            raise ValueError("generator.upsample_initial_channel must be divisible by 2**len(upsample_rates)")

    @property
    def hop_length(self) -> int:
        """Output samples per mel frame."""
        n = 1
        for u in self.upsample_rates:
            n *= u
        return n


# The official configurations (config_v1.json, config_v2.json, config_v3.json of the HiFi-GAN release).
PRESETS: dict[str, dict] = {
    "v1": {},
    "v2": {"upsample_initial_channel": 128},
    "v3": {
        "upsample_rates": [8, 8, 4],
        "upsample_kernel_sizes": [16, 16, 8],
        "upsample_initial_channel": 256,
        "resblock": "2",
        "resblock_kernel_sizes": [3, 5, 7],
        "resblock_dilation_sizes": [[1, 2], [2, 6], [3, 12]],
    },
}


def preset(name: str) -> GeneratorConfig:
    """``GeneratorConfig`` of an official configuration: ``"v1"``, ``"v2"`` or ``"v3"``."""
    key = name.lower()
    if key not in PRESETS:
        raise ValueError(f"unknown HiFi-GAN preset {name!r}; choose one of {sorted(PRESETS)}")
    return GeneratorConfig(**PRESETS[key])


def _resblock_pairs(cfg: GeneratorConfig) -> list[tuple[int, list[int]]]:
    return [(k, list(d)) for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes)]


def select_resblocks(
    state: dict[str, torch.Tensor], source: GeneratorConfig, target: GeneratorConfig
) -> dict[str, torch.Tensor]:
    """The weights of ``source`` (a generator state dict) for ``target``, a generator that keeps only some of its
    resblocks: every other setting equal, and each of ``target``'s (kernel, dilations) pairs one of ``source``'s,
    in the same order. A pruned student starts from its teacher this way (e.g. the universal V1 with only its
    kernel-3 resblocks: a quarter of the work). Raises ``ValueError`` naming what differs otherwise."""
    src_pairs, dst_pairs = _resblock_pairs(source), _resblock_pairs(target)
    others = [
        f
        for f in ("n_mels", "upsample_rates", "upsample_kernel_sizes", "upsample_initial_channel", "resblock")
        if getattr(source, f) != getattr(target, f)
    ]
    if others:
        raise ValueError(
            f"a pruned generator keeps every setting but its resblocks; {', '.join(others)} differ"
        )
    index = [src_pairs.index(p) if p in src_pairs else -1 for p in dst_pairs]
    if -1 in index or index != sorted(set(index)):
        raise ValueError(
            f"resblocks (kernel, dilations) {dst_pairs} are not an ordered subset of the source's {src_pairs}"
        )
    n_src, n_dst, out = len(src_pairs), len(dst_pairs), {}
    for key, value in state.items():
        if not key.startswith("resblocks."):
            out[key] = value
            continue
        _, num, rest = key.split(".", 2)
        stage, j = divmod(int(num), n_src)
        if j in index:
            out[f"resblocks.{stage * n_dst + index.index(j)}.{rest}"] = value
    return out


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps the length of a stride-1 dilated convolution."""
    return (kernel_size * dilation - dilation) // 2


def _run_conv(conv: nn.Conv1d | nn.ConvTranspose1d, x: torch.Tensor) -> torch.Tensor:
    """Apply a 1-D (transposed) convolution to ``[B, C, T]``, or to ``[B, C, 1, T]`` as a 2-D one.

    The 4-D form lets oneDNN on CPU run on channels-last (NHWC) activations without reordering them to and from
    its blocked layout around every convolution (1-D convolutions have no channels-last memory format); the
    weight is passed as a ``[O, I, 1, K]`` view, without a copy.
    """
    if x.dim() == 3:
        return conv(x)
    w = conv.weight.unsqueeze(2)
    if isinstance(conv, nn.ConvTranspose1d):
        return F.conv_transpose2d(
            x, w, conv.bias, (1, conv.stride[0]), (0, conv.padding[0]), (0, conv.output_padding[0])
        )
    return F.conv2d(x, w, conv.bias, (1, conv.stride[0]), (0, conv.padding[0]), (1, conv.dilation[0]))


def _conv(channels: int, kernel_size: int, dilation: int) -> nn.Conv1d:
    return weight_norm(
        nn.Conv1d(
            channels, channels, kernel_size, dilation=dilation, padding=get_padding(kernel_size, dilation)
        )
    )


class ResBlock1(nn.Module):
    """Residual stack of (lrelu, dilated conv, lrelu, conv) + skip, once per dilation. ``[B, C, T] -> [B, C, T]``."""

    def __init__(self, channels: int, kernel_size: int, dilations: list[int]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(_conv(channels, kernel_size, d) for d in dilations)
        self.convs2 = nn.ModuleList(_conv(channels, kernel_size, 1) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            xt = c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
            x = x + xt
        return x

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        """Same as forward with in-place activations, on ``[B, C, T]`` or ``[B, C, 1, T]``; ``x`` is untouched."""
        out = None
        for c1, c2 in zip(self.convs1, self.convs2):
            src = x if out is None else out
            xt = _run_conv(c1, F.leaky_relu(src, LRELU_SLOPE))
            xt = _run_conv(c2, F.leaky_relu_(xt, LRELU_SLOPE))
            out = xt.add_(src)
        return out


class ResBlock2(nn.Module):
    """Residual stack of (lrelu, dilated conv) + skip, once per dilation. ``[B, C, T] -> [B, C, T]``."""

    def __init__(self, channels: int, kernel_size: int, dilations: list[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv(channels, kernel_size, d) for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c in self.convs:
            x = x + c(F.leaky_relu(x, LRELU_SLOPE))
        return x

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        """Same as forward without autograd bookkeeping; ``x`` is untouched."""
        out = None
        for c in self.convs:
            src = x if out is None else out
            out = _run_conv(c, F.leaky_relu(src, LRELU_SLOPE)).add_(src)
        return out


class Generator(nn.Module):
    """HiFi-GAN generator: log-mel ``[B, n_mels, T]`` -> waveform ``[B, 1, T * hop_length]`` in [-1, 1].

    Built from one :class:`GeneratorConfig`; pure (no I/O). Weight-normalised after construction; call
    :meth:`remove_weight_norm` once before inference. Initialisation is PyTorch's default: the official code's
    N(0, 0.01) is written to a weight its weight-norm hook recomputes, so the released models effectively
    started from the default too.
    """

    def __init__(self, cfg: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or GeneratorConfig()
        self.num_kernels = len(cfg.resblock_kernel_sizes)
        ch = cfg.upsample_initial_channel
        self.conv_pre = weight_norm(nn.Conv1d(cfg.n_mels, ch, 7, 1, padding=3))
        self.ups = nn.ModuleList()
        for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes)):
            self.ups.append(
                weight_norm(nn.ConvTranspose1d(ch >> i, ch >> (i + 1), k, u, padding=(k - u) // 2))
            )
        block = ResBlock1 if cfg.resblock == "1" else ResBlock2
        # Flat list, stage-major (stage i uses resblocks[i * num_kernels : (i + 1) * num_kernels]), as released.
        self.resblocks = nn.ModuleList(
            block(ch >> (i + 1), k, d)
            for i in range(len(self.ups))
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes)
        )
        self.conv_post = weight_norm(nn.Conv1d(ch >> len(self.ups), 1, 7, 1, padding=3))

    def _stage(self, i: int) -> list[nn.Module]:
        n = self.num_kernels
        return list(self.resblocks[i * n : (i + 1) * n])

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Args: mel ``[B, n_mels, T]`` log-mel. Returns: waveform ``[B, 1, T * hop_length]``."""
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self._stage(i)
            z = blocks[0](x)
            for block in blocks[1:]:
                z = z + block(x)
            x = z / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))  # default slope (0.01) here, as in the official generator
        return torch.tanh(x)

    @torch.inference_mode()
    def infer(self, mel: torch.Tensor, channels_last: bool | None = None) -> torch.Tensor:
        """Inference: the same function as :meth:`forward` computed with in-place ops, without autograd.

        Args:
            mel: ``[B, n_mels, T]`` log-mel, in the dtype of the weights.
            channels_last: run the convolutions as 2-D ones on channels-last activations (default: on CPU,
                where oneDNN is markedly faster that way; see ``emovox bench vocoder``).
        Returns: waveform ``[B, 1, T * hop_length]``.
        """
        if mel.dim() != 3 or mel.shape[1] != self.cfg.n_mels:
            raise ValueError(f"expected a mel [B, {self.cfg.n_mels}, T], got shape {tuple(mel.shape)}")
        if channels_last is None:
            channels_last = mel.device.type == "cpu"
        x = mel.unsqueeze(2).contiguous(memory_format=torch.channels_last) if channels_last else mel
        x = _run_conv(self.conv_pre, x.to(self.conv_pre.weight.dtype))
        for i, up in enumerate(self.ups):
            # Stages may differ in dtype (mixed precision: see to_mixed_precision).
            x = _run_conv(up, F.leaky_relu_(x.to(up.weight.dtype), LRELU_SLOPE))
            blocks = self._stage(i)
            z = blocks[0].infer(x)
            for block in blocks[1:]:
                z.add_(block.infer(x))
            x = z.mul_(1.0 / self.num_kernels)
        x = _run_conv(self.conv_post, F.leaky_relu_(x.to(self.conv_post.weight.dtype))).tanh_()
        return x.squeeze(2).contiguous() if channels_last else x

    def to_mixed_precision(self, dtype: torch.dtype = torch.bfloat16) -> Generator:
        """Run every upsampling stage but the last in ``dtype``; the input convolution, the last stage (at the
        full sample rate, about a tenth of the work) and the output convolution stay float32. With bfloat16 the
        universal V1 takes 0.63x the float32 time on a CPU with AVX-512 BF16 and its copy-synthesis log-mel error
        grows by 0.5 % (all-bfloat16: 0.59x, +19 %). For :meth:`infer`; returns self."""
        for i, up in enumerate(self.ups[:-1]):
            up.to(dtype)
            for block in self._stage(i):
                block.to(dtype)
        return self

    @property
    def has_weight_norm(self) -> bool:
        return parametrize.is_parametrized(self.conv_pre)

    def remove_weight_norm(self) -> Generator:
        """Fold every weight normalisation into a plain weight (same outputs, faster). Idempotent; returns self."""
        for module in self.modules():
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        return self
