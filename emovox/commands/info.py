"""Print versions, where models and caches are, thread settings and whether a GPU is visible."""

from __future__ import annotations

import json
import os
import platform


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def collect() -> dict:
    import numpy
    import torch

    from emovox import __version__
    from emovox.checkpoint import git_hash
    from emovox.paths import cache_dir

    info: dict = {
        "emovox": __version__,
        "git": git_hash(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "mps_available": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
        "cache_dir": str(cache_dir()),
    }
    for mod in ("numba", "librosa", "soundfile", "soxr", "safetensors", "omegaconf"):
        try:
            info[mod] = __import__(mod).__version__
        except (ImportError, AttributeError):
            info[mod] = None
    try:
        from emovox.vocoder.pretrained import pretrained_sources

        info["pretrained_vocoders"] = {k: str(v) for k, v in pretrained_sources().items()}
    except ImportError:
        info["pretrained_vocoders"] = {}
    return info


def run(args):
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        width = max(map(len, info))
        for k, v in info.items():
            print(f"{k:<{width}}  {v}")
    return 0
