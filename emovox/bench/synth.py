"""Synthesis speed: real-time factor (RTF = compute seconds / audio seconds) of the acoustic model and the pipeline,
and, with a trained model and held-out recordings, the diffusion decoder's quality per step count.

1. **Acoustic model**: ``AcousticModel.infer`` on one real sentence through the text front end, cut to
   ``--phonemes`` tokens, at each thread count; when coqui-tts is installed, coqui's ``ForwardTTS`` with its
   FastSpeech2 defaults (``inference`` under ``torch.inference_mode``, random weights) on the same token ids in
   the same run, and the ratio of the two RTFs.
2. **Pipeline**: text -> front end (phoneme cache off) -> acoustic model -> vocoder (the universal HiFi-GAN),
   its RTF and each stage's share of the time.
3. **Diffusion** (``--steps 1,2,4,8,16``): FastSpeech2 + shallow-diffusion sampling (DPM-Solver++ by default)
   + vocoder per step count, the overhead over FastSpeech2 + vocoder, and the log-mel L1 between the N-step
   and the largest-step output (the solver converging, not quality).
4. **Diffusion quality** (``--model M --store S --steps ...``): for ``--utterances`` held-out recordings of the
   store's ``--split``, the acoustic model runs teacher-forced on the recording (its mel is frame-aligned
   with the reference), the diffusion decoder refines that mel with the pipeline's sampler for each step
   count, and the table gives the masked log-mel L1 to the recording, the band-variance ratio
   output / recording (:mod:`emovox.eval.spectral`) and the share of the largest step count's L1 gain; then
   the smallest step count meeting the targets (overhead <= 50 %, gain share >= 90 %).

Without ``--model`` the weights are random (speed does not depend on training) and sections 1-3 use the
default-voice size; so that the audio length is realistic, the duration predictors (ours and coqui's) get an
output bias of ``log(1 + --frames-per-phoneme)`` and a weight scaled down, giving about that many frames per
phoneme. With ``--model`` sections 1-3 time the trained model (its own durations) and its diffusion decoder.
The audio seconds each model produces are printed and each RTF uses its own. Implementations alternate within
every repeat (order rotated) and medians are reported. The machine may be shared and noisy: compare the ratios
of one run, not absolute numbers across runs.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import math
import statistics
import sys
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emovox.emotion.encoder import EmotionEncoderConfig
from emovox.tts.models.fastspeech2 import AcousticModel, AcousticModelConfig

TEXT = "On a cold winter morning, the old fisherman walked slowly down to the harbour to check his boat."
QUICK_TEXT = "Where were you last night?"
HOP = 256
SAMPLE_RATE = 22050


def add_arguments(parser) -> None:
    parser.add_argument("--text", default=TEXT, help="sentence to synthesise (repeated if it is too short)")
    parser.add_argument("--phonemes", type=int, default=100, help="token ids fed to the models (default 100)")
    parser.add_argument("--threads", default="1,2", help="comma-separated torch thread counts (default 1,2)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per implementation (median)")
    parser.add_argument("--frames-per-phoneme", type=float, default=5.5, help="mean duration the random "
                        "duration predictors are biased to (default 5.5 frames)")  # fmt: skip
    parser.add_argument("--vocoder", default="universal", help="vocoder for the pipeline: universal, ljspeech, "
                        "a checkpoint, or 'random-v1'/'random-v3' (random weights, no files)")  # fmt: skip
    parser.add_argument("--pipeline-repeats", type=int, default=3, help="timed runs of the whole pipeline "
                        "(the vocoder dominates; default 3)")  # fmt: skip
    parser.add_argument("--steps", default="", help="diffusion step counts, e.g. 1,2,4,8,16 (default: none)")
    parser.add_argument("--sampler", default="dpm", help="diffusion sampler for --steps (default dpm)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["acoustic", "pipeline"],
                        help="sections to leave out (the diffusion table runs only with --steps)")  # fmt: skip
    parser.add_argument("--no-coqui", action="store_true", help="skip coqui-tts even when it is installed")
    parser.add_argument("--quick", action="store_true", help="tiny model, short text, 1 thread, 1 repeat, "
                        "random V3 vocoder: checks that everything runs (numbers meaningless)")  # fmt: skip
    parser.add_argument("--model", default=None, help="a trained acoustic checkpoint ('default' = the built-in "
                        "voice): sections 1-3 time it instead of random weights")  # fmt: skip
    parser.add_argument("--store", default=None, help="a feature store of recordings: with --model and --steps, "
                        "adds the diffusion quality table on held-out utterances")  # fmt: skip
    parser.add_argument("--split", default="test", help="store split for the quality table (default test)")
    parser.add_argument(
        "--utterances", type=int, default=16, help="utterances in the quality table (default 16)"
    )
    parser.add_argument("--seed", type=int, default=0, help="diffusion noise seed (default 0)")
    parser.add_argument("--noise-scale", type=float, default=None, help="diffusion start-noise scale "
                        "(default: the model's; 1 = sample, 0 = deterministic)")  # fmt: skip


# --------------------------------------------------------------------------------------------- models


def default_voice_config(n_symbols: int = 523) -> AcousticModelConfig:
    """The size of the built-in default voice."""
    return AcousticModelConfig(
        n_symbols=n_symbols, n_speakers=7, n_emotions=9, hidden=160, ffn_channels=384, ffn_kernel=5,
        encoder_layers=4, decoder_layers=3, predictor_channels=160,
        emotion=EmotionEncoderConfig(channels=128),
    )  # fmt: skip


def tiny_config(n_symbols: int = 523) -> AcousticModelConfig:
    return AcousticModelConfig(
        n_symbols=n_symbols, n_speakers=2, n_emotions=3, hidden=16, n_heads=2, ffn_channels=16,
        encoder_layers=1, decoder_layers=1, predictor_channels=16, aligner_channels=8,
        emotion=EmotionEncoderConfig(channels=8, n_layers=1, z_dim=8),
    )  # fmt: skip


def bias_durations(proj: nn.Module, frames_per_phoneme: float) -> None:
    """Make a random log-duration output layer predict about ``frames_per_phoneme`` frames per token.

    Both FastSpeech2s decode ``round(exp(log_d) - 1)``; the weight is shrunk so the per-token spread is small.
    """
    with torch.no_grad():
        proj.weight.mul_(0.05)
        proj.bias.fill_(math.log1p(frames_per_phoneme))


def build_acoustic(cfg: AcousticModelConfig, frames_per_phoneme: float, seed: int = 0) -> AcousticModel:
    torch.manual_seed(seed)
    model = AcousticModel(cfg).eval()
    bias_durations(model.duration_predictor.proj, frames_per_phoneme)
    return model


@dataclass
class AcousticInputs:
    tokens: torch.Tensor  # [1, N]
    x_lengths: torch.Tensor  # [1]
    speaker: torch.Tensor  # [1]
    z: torch.Tensor  # [1, z_dim]


def sentence_ids(text: str, n_phonemes: int, frontend=None) -> list[int]:
    """``n_phonemes`` token ids of ``text`` through the text front end (BOS ... EOS; text repeated if short).

    ``frontend``: a :class:`~emovox.text.frontend.TextFrontend` (a trained model's); None = English with the
    default symbol table.
    """
    from emovox.text.frontend import TextFrontend

    if n_phonemes < 3:
        raise ValueError(f"--phonemes must be at least 3, got {n_phonemes}")
    frontend = frontend or TextFrontend("en-us")
    ids = frontend(text).ids
    while len(ids) < n_phonemes:
        ids = ids[:-1] + frontend(text, bos_eos=False).ids + ids[-1:]
    return [*ids[: n_phonemes - 1], ids[-1]]


def acoustic_inputs(ids: list[int], z_dim: int) -> AcousticInputs:
    gen = torch.Generator().manual_seed(1)
    return AcousticInputs(
        tokens=torch.tensor([ids], dtype=torch.long),
        x_lengths=torch.tensor([len(ids)]),
        speaker=torch.zeros(1, dtype=torch.long),
        z=torch.randn(1, z_dim, generator=gen) * 0.5,
    )


def ours_runner(model: AcousticModel, inputs: AcousticInputs) -> Callable[[], int]:
    """A callable running one ``infer``; it returns the mel frames produced."""

    def run() -> int:
        out = model.infer(inputs.tokens, inputs.x_lengths, inputs.speaker, inputs.z)
        return int(out.mel_lengths[0])

    return run


@dataclass
class Subject:
    """What sections 1-3 time: an acoustic model, its text front end and inputs, its diffusion decoder."""

    model: AcousticModel
    frontend: Any  # TextFrontend with the model's symbol table, phoneme cache off
    inputs: AcousticInputs
    denoiser: nn.Module | None = None  # None with random weights: section 3 builds a random one
    diffusion: Any = None  # the decoder's DiffusionConfig
    label: str = "random weights"
    speakers: tuple[str, ...] = ("default",)  # the model's speaker names, by index

    @property
    def trained(self) -> bool:
        return self.label != "random weights"


def random_subject(
    cfg: AcousticModelConfig, frames_per_phoneme: float, text: str, n_phonemes: int
) -> Subject:
    from emovox.text.frontend import TextFrontend

    model = build_acoustic(cfg, frames_per_phoneme)
    frontend = TextFrontend("en-us", cache_size=0)
    inputs = acoustic_inputs(sentence_ids(text, n_phonemes, frontend), cfg.emotion.z_dim)
    return Subject(model, frontend, inputs)


def trained_subject(path: str, vocoder, text: str, n_phonemes: int) -> Subject:
    """A trained acoustic checkpoint (``default`` = the built-in voice) loaded as the pipeline loads it; its
    inputs use speaker 0 and the bank's neutral ``z`` (zeros when the checkpoint has no bank)."""
    from emovox.pipelines import EmotionalTTS
    from emovox.text.frontend import TextFrontend
    from emovox.text.symbols import SymbolTable

    tts = EmotionalTTS.load(path, vocoder=vocoder)
    frontend = TextFrontend(tts.language, SymbolTable.from_dict(tts.meta["symbols"]), cache_size=0)
    ids = sentence_ids(text, n_phonemes, frontend)
    z_dim = tts.model.cfg.emotion.z_dim
    z = tts.emotion_vector("neutral", 0)[None] if tts.bank is not None else torch.zeros(1, z_dim)
    inputs = AcousticInputs(
        torch.tensor([ids]), torch.tensor([len(ids)]), torch.zeros(1, dtype=torch.long), z
    )
    step = tts.meta.get("step")
    label = f"trained model {path}" + (f" (step {step})" if step is not None else "")
    diffusion = tts.diffusion if tts.denoiser is not None else None
    return Subject(tts.model, frontend, inputs, tts.denoiser, diffusion, label, tuple(tts.speakers))


# --------------------------------------------------------------------------------------------- coqui


def _shell(name: str, path: Path | None = None) -> types.ModuleType:
    module = types.ModuleType(name)
    if path is not None:
        module.__path__ = [str(path)]
    return module


def _coqui_stand_ins(root: Path) -> dict[str, types.ModuleType]:
    """Modules put in place while coqui's ForwardTTS is imported.

    ``TTS/__init__`` refuses to import without torchaudio/torchcodec and ``BaseTTS`` pulls in coqui's trainer,
    coqpit, datasets and audio processor — none of which inference touches. So the packages are empty shells
    whose ``__path__`` points at the real folders (the real layer modules load from there), and ``BaseTTS`` is
    replaced by the few members ``ForwardTTS.__init__``/``inference`` use for a single-speaker model.
    """
    mods = {name: _shell(name, root / sub) for name, sub in [
        ("TTS", "."), ("TTS.tts", "tts"), ("TTS.tts.models", "tts/models"), ("TTS.tts.layers", "tts/layers"),
        ("TTS.tts.configs", "tts/configs"), ("TTS.config", "config"),
    ]}  # fmt: skip

    class Coqpit:  # dataclass base of coqui's configs; ForwardTTSArgs needs nothing from it at inference
        pass

    coqpit = _shell("coqpit")
    coqpit.Coqpit = Coqpit
    coqpit.check_argument = lambda *a, **k: None
    trainer = _shell("trainer")
    trainer.Trainer = trainer.TrainerConfig = trainer.TrainerModel = object
    shared = _shell("TTS.config.shared_configs")

    class ModelArgs(Coqpit):
        pass

    shared.ModelArgs = ModelArgs

    class BaseTTS(nn.Module):
        def __init__(self, config, ap=None, tokenizer=None, speaker_manager=None):
            super().__init__()
            self.config = self.args = config
            self.speaker_manager = None

        def init_multispeaker(self) -> None:
            self.embedded_speaker_dim = 0

        def _get_speaker_conditioning(self, aux_input, *args, **kwargs):
            return None

    base = _shell("TTS.tts.models.base_tts")
    base.BaseTTS = BaseTTS
    mods.update({"coqpit": coqpit, "trainer": trainer, "TTS.config.shared_configs": shared,
                 "TTS.tts.models.base_tts": base})  # fmt: skip
    return mods


def load_coqui_forward_tts() -> tuple[type, type] | None:
    """``(ForwardTTS, ForwardTTSArgs)`` of the installed coqui-tts, or None when it is not installed.

    Only coqui's real model code runs (encoder, predictors, length regulator, decoder and ``inference``);
    see :func:`_coqui_stand_ins`. Every module added to ``sys.modules`` for the import is removed again.
    """
    spec = importlib.util.find_spec("TTS")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    if not (root / "tts" / "models" / "forward_tts.py").is_file():
        return None
    before = set(sys.modules)
    saved = {k: sys.modules[k] for k in list(sys.modules) if k == "TTS" or k.startswith("TTS.")}
    for k in saved:
        del sys.modules[k]
    sys.modules.update(_coqui_stand_ins(root))
    try:
        args_mod = importlib.import_module("TTS.tts.configs.forward_tts_config")
        model_mod = importlib.import_module("TTS.tts.models.forward_tts")
        return model_mod.ForwardTTS, args_mod.ForwardTTSArgs
    finally:
        for k in set(sys.modules) - before:
            if k in ("TTS", "coqpit", "trainer") or k.startswith(("TTS.", "coqpit.", "trainer.")):
                del sys.modules[k]
        sys.modules.update(saved)


def build_coqui(classes: tuple[type, type], n_symbols: int, frames_per_phoneme: float, seed: int = 0):
    """coqui FastSpeech2 (``FastSpeech2Config``'s model args: pitch and energy on, coqui's default sizes)."""
    forward_tts, forward_args = classes
    torch.manual_seed(seed)
    model = forward_tts(forward_args(num_chars=n_symbols, use_pitch=True, use_energy=True)).eval()
    bias_durations(model.duration_predictor.proj, frames_per_phoneme)
    return model


def coqui_runner(model: nn.Module, inputs: AcousticInputs) -> Callable[[], int]:
    def run() -> int:
        with torch.inference_mode():
            out = model.inference(inputs.tokens)
        return int(out["model_outputs"].shape[1])

    return run


# --------------------------------------------------------------------------------------------- timing


@contextmanager
def num_threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def measure(impls: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of every implementation, alternating (rotated order) within each repeat; one warm-up."""
    names = list(impls)
    for name in names:
        impls[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            impls[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def rtf_rows(times: dict[str, list[float]], frames: dict[str, int]) -> dict[str, tuple[float, float, float]]:
    """``{name: (median s, median RTF, min RTF)}`` with each implementation's own audio length."""
    rows = {}
    for name, ts in times.items():
        seconds = frames[name] * HOP / SAMPLE_RATE
        med = statistics.median(ts)
        rows[name] = (med, med / seconds, min(ts) / seconds)
    return rows


# --------------------------------------------------------------------------------------------- sections


def acoustic_section(model, coqui, inputs: AcousticInputs, threads: list[int], repeats: int) -> None:
    impls = {"emovox FastSpeech2": ours_runner(model, inputs)}
    if coqui is not None:
        impls["coqui FastSpeech2"] = coqui_runner(coqui, inputs)
    frames = {name: run() for name, run in impls.items()}
    print(f"1. Acoustic model, {inputs.tokens.shape[1]} phonemes, median of {repeats}")
    training_only = n_params(model.aligner) + n_params(model.emotion_encoder)
    used = {"emovox FastSpeech2": (n_params(model), f", {(n_params(model) - training_only) / 1e6:.2f} M used by "
                                   "infer (no aligner, no reference encoder)")}  # fmt: skip
    if coqui is not None:
        used["coqui FastSpeech2"] = (n_params(coqui), "")
    for name, n in frames.items():
        total, note = used[name]
        print(f"   {name}: {total / 1e6:.2f} M parameters{note}; {n} frames = {n * HOP / SAMPLE_RATE:.2f} s")
    header = f"   {'model':<20} {'threads':>7} {'median s':>9} {'RTF':>7} {'min RTF':>8} {'x coqui':>8}"
    print(header + "\n   " + "-" * (len(header) - 3))
    for n in threads:
        with num_threads(n):
            rows = rtf_rows(measure(impls, repeats), frames)
        peer = rows.get("coqui FastSpeech2")
        for name, (med, rtf, rtf_min) in rows.items():
            ratio = f"{rtf / peer[1]:8.3f}" if peer else f"{'-':>8}"
            print(f"   {name:<20} {n:>7} {med:>9.4f} {rtf:>7.4f} {rtf_min:>8.4f} {ratio}")
    print()


def load_vocoder(name: str):
    from emovox.audio.mel import MelConfig
    from emovox.pipelines import Vocoder
    from emovox.vocoder.models.hifigan import Generator, preset

    if name.startswith("random-"):
        torch.manual_seed(0)
        generator = Generator(preset(name.removeprefix("random-"))).remove_weight_norm().eval()
        return Vocoder(generator, MelConfig())
    return Vocoder.load(name)


def pipeline_section(subject: Subject, text: str, vocoder, vocoder_name: str, threads: list[int],
                     repeats: int) -> None:  # fmt: skip
    """text -> front end (no phoneme cache) -> acoustic model -> vocoder, timed per stage."""
    model, frontend, z = subject.model, subject.frontend, subject.inputs.z
    speaker = torch.zeros(1, dtype=torch.long)

    def stages() -> tuple[list[float], int]:
        t0 = time.perf_counter()
        ids = frontend(text).ids
        t1 = time.perf_counter()
        out = model.infer(torch.tensor([ids]), torch.tensor([len(ids)]), speaker, z)
        t2 = time.perf_counter()
        audio = vocoder(out.mel)
        t3 = time.perf_counter()
        return [t1 - t0, t2 - t1, t3 - t2], audio.shape[-1]

    _, n_samples = stages()
    seconds = n_samples / vocoder.sample_rate
    n_ids = len(frontend(text).ids)
    print(f"2. Pipeline: text ({len(text)} characters, {n_ids} phonemes) -> front end -> acoustic -> "
          f"vocoder '{vocoder_name}'; {seconds:.2f} s of audio, median of {repeats}")  # fmt: skip
    names = ["front end", "acoustic", "vocoder"]
    header = f"   {'threads':>7} {'total RTF':>9} " + " ".join(
        f"{n + ' RTF':>13} {'share':>6}" for n in names
    )
    print(header + "\n   " + "-" * (len(header) - 3))
    for n in threads:
        with num_threads(n):
            stages()
            per_stage = list(zip(*(stages()[0] for _ in range(repeats))))
        medians = [statistics.median(ts) for ts in per_stage]
        total = statistics.median(sum(ts) for ts in zip(*per_stage))
        cols = " ".join(f"{m / seconds:>13.4f} {100 * m / sum(medians):>5.1f}%" for m in medians)
        print(f"   {n:>7} {total / seconds:>9.4f} {cols}")
    print()


def import_diffusion():
    """``(emovox.tts.diffusion, emovox.tts.models.denoiser)``, or None when the diffusion decoder is absent."""
    try:
        return importlib.import_module("emovox.tts.diffusion"), importlib.import_module(
            "emovox.tts.models.denoiser"
        )
    except ImportError:
        return None


def log_mel_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean absolute log-mel difference over valid frames; ``a, b [1, n_mels, T]``, ``mask [1, 1, T]``."""
    from emovox.eval.spectral import log_mel_l1 as per_utterance

    return float(per_utterance(a, b, mask).mean())


def random_denoiser(model: AcousticModel, tiny: bool):
    """A denoiser of the default size (``tiny``: 2 layers of 8 channels) with random weights, and its config."""
    diffusion, denoiser = import_diffusion()
    train_cfg = diffusion.DiffusionConfig()
    torch.manual_seed(0)
    size = {"residual_channels": 8, "n_layers": 2} if tiny else {}
    net = denoiser.Denoiser(denoiser.DenoiserConfig(
        cond_channels=model.cfg.hidden, emotion_dim=model.cfg.emotion.z_dim, speaker_dim=model.cfg.hidden,
        prediction=train_cfg.prediction, **size,
    )).eval()  # fmt: skip
    # A trained denoiser's output layer is not zero (its initialisation): give it random weights so that the
    # samplers have something to integrate.
    nn.init.normal_(net.output_proj.weight, std=net.cfg.residual_channels**-0.5)
    return net, train_cfg


def diffusion_section(subject: Subject, steps: list[int], sampler: str, vocoder, threads: list[int],
                      repeats: int, tiny: bool = False, seed: int = 0) -> dict[int, dict[int, float]]:  # fmt: skip
    """FastSpeech2 + diffusion (N steps) + vocoder RTF per N, and the log-mel L1 of N steps vs the most steps.

    Returns ``{threads: {steps: diffusion time / (FastSpeech2 + vocoder time)}}`` (medians).
    """
    if import_diffusion() is None:
        print("3. Diffusion decoder: unavailable in this installation (emovox.tts.diffusion is missing)\n")
        return {}
    if subject.trained and subject.denoiser is None:
        print("3. Diffusion decoder: this model has none (trained without diffusion)\n")
        return {}
    from emovox.tts.diffusion import make_scheduler, sample

    model, inputs = subject.model, subject.inputs
    net, train_cfg = (
        (subject.denoiser, subject.diffusion) if subject.trained else random_denoiser(model, tiny)
    )
    coarse_out = model.infer(inputs.tokens, inputs.x_lengths, inputs.speaker, inputs.z)
    g = model.speaker_embedding(inputs.speaker).detach()
    mask = coarse_out.y_mask.unsqueeze(1).to(coarse_out.mel.dtype)

    def refine(n: int) -> torch.Tensor:
        return sample(
            net, make_scheduler(sampler, train_cfg), coarse_out.mel, coarse_out.decoder_hidden.transpose(1, 2),
            g, mask, [(inputs.z, 1.0)], n_steps=n, k_shallow=train_cfg.k_shallow,
            generator=torch.Generator().manual_seed(seed), noise_scale=train_cfg.noise_scale,
            residual_std=train_cfg.residual_std,
        )  # fmt: skip

    impls: dict[str, Callable[[], object]] = {"acoustic": ours_runner(model, inputs)}
    impls.update({f"diffusion {n}": (lambda n=n: refine(n)) for n in steps})
    impls["vocoder"] = lambda: vocoder(coarse_out.mel)
    seconds = int(coarse_out.mel_lengths[0]) * HOP / SAMPLE_RATE
    ref = refine(max(steps))
    coarse_dist = log_mel_l1(coarse_out.mel, ref, mask)
    print(f"3. Diffusion decoder ({n_params(net) / 1e6:.2f} M parameters, sampler {sampler}, K={train_cfg.k_shallow}) "
          f"on {seconds:.2f} s; median of {repeats}; stages timed apart, alternating")  # fmt: skip
    if subject.trained:
        print(
            "   The log-mel L1 to the most-steps output shows the solver converging, not quality (section 4)."
        )
    else:
        print(
            "   RANDOM WEIGHTS: the log-mel L1 to the most-steps output only shows the solver converging; the"
        )
        print("   quality curve needs a trained model (--model M --store S).")
    print("   'of coarse' = L1(N) / L1(FastSpeech2 mel, most steps).")
    header = (f"   {'steps':>5} {'threads':>7} {'total RTF':>9} {'diffusion RTF':>13} {'+ vs FS2+voc':>12} "
              f"{'log-mel L1':>10} {'of coarse':>9}")  # fmt: skip
    print(header + "\n   " + "-" * (len(header) - 3))
    dists = {n: log_mel_l1(refine(n), ref, mask) for n in steps}
    overheads: dict[int, dict[int, float]] = {}
    for t in threads:
        with num_threads(t):
            med = {k: statistics.median(v) for k, v in measure(impls, repeats).items()}
        base = med["acoustic"] + med["vocoder"]
        overheads[t] = {n: med[f"diffusion {n}"] / base for n in steps}
        print(
            f"   {0:>5} {t:>7} {base / seconds:>9.4f} {0:>13.4f} {0:>11.1f}% {coarse_dist:>10.4f} {1:>9.3f}"
        )
        for n in steps:
            d = med[f"diffusion {n}"]
            print(f"   {n:>5} {t:>7} {(base + d) / seconds:>9.4f} {d / seconds:>13.4f} {100 * d / base:>11.1f}% "
                  f"{dists[n]:>10.4f} {dists[n] / max(coarse_dist, 1e-12):>9.3f}")  # fmt: skip
    print()
    return overheads


# --------------------------------------------------------------------------------------------- quality

MAX_OVERHEAD = 0.5  # target: N DPM-Solver steps add at most 50 % to the FastSpeech2 + vocoder RTF
MIN_GAIN_SHARE = 0.9  # ... and lose less than 10 % of the largest step count's quality gain


@dataclass
class QualityRow:
    steps: int  # 0 = the FastSpeech2 mel alone
    l1: float  # mean over utterances of the masked log-mel L1 to the recording
    variance_ratio: float  # mean over bands and utterances of var_t(output) / var_t(recording)
    delta_ratio: float  # the same on frame-to-frame differences: fine temporal detail (> 1: added noise)
    gain_share: float  # (L1_fs2 - L1_N) / (L1_fs2 - L1_max); NaN when the largest step count gains nothing


@dataclass
class QualityResult:
    rows: list[QualityRow]  # steps 0 first, then the requested step counts ascending
    utt_ids: list[str]
    seconds: float  # audio seconds of the references


def held_out_items(data, n: int, model_speakers: list[str]) -> list[dict[str, Any]]:
    """``n`` items spread evenly over the store's split, their speaker index remapped to the model's list."""
    if n < 1:
        raise ValueError(f"--utterances must be at least 1, got {n}")
    dataset = data.dataset
    picks = sorted({round(i * (len(dataset) - 1) / max(1, n - 1)) for i in range(min(n, len(dataset)))})
    items = []
    for i in picks:
        name = data.speakers[dataset[i]["speaker"]]
        if name not in model_speakers:
            raise ValueError(
                f"speaker '{name}' of the store is not one of the model's ({', '.join(model_speakers)})"
            )
        items.append({**dataset[i], "speaker": model_speakers.index(name)})
    return items


@torch.no_grad()
def diffusion_quality(model: AcousticModel, denoiser: nn.Module, diffusion_cfg, items: list[dict[str, Any]],
                      steps: list[int], sampler: str = "dpm", seed: int = 0) -> QualityResult:  # fmt: skip
    """The quality curve of the diffusion decoder against recordings, per step count.

    Each item runs teacher-forced (``AcousticModel.forward`` with monotonic alignment search on its recording,
    eval mode), so the FastSpeech2 mel is frame-aligned with the recorded mel; the decoder then refines it
    with :func:`emovox.tts.diffusion.sample` as :meth:`EmotionalTTS._refine` does (the item's own ``z`` from
    the reference encoder, its speaker embedding, noise seeded by ``seed`` + item index for every step count).
    """
    from emovox.audio.kernels import maximum_path
    from emovox.eval.spectral import band_variance_ratio, delta_variance_ratio, log_mel_l1
    from emovox.tts.diffusion import make_scheduler, sample
    from emovox.tts.training import collate_items

    if not steps or any(n < 1 for n in steps):
        raise ValueError(f"step counts must be positive, got {steps}")
    model.eval()
    denoiser.eval()
    counts = [0, *sorted(set(steps))]
    l1: dict[int, list[float]] = {n: [] for n in counts}
    var: dict[int, list[float]] = {n: [] for n in counts}
    dvar: dict[int, list[float]] = {n: [] for n in counts}
    frames = 0
    for i, item in enumerate(items):
        batch = collate_items([item], [])
        out = model(batch, maximum_path)
        mask = out.y_mask.unsqueeze(1).to(out.mel.dtype)
        g = model.speaker_embedding(batch.speaker)
        mels = {0: out.mel}
        for n in counts[1:]:
            mels[n] = sample(
                denoiser, make_scheduler(sampler, diffusion_cfg), out.mel, out.decoder_hidden.transpose(1, 2),
                g, mask, [(out.emotion.z, 1.0)], n_steps=n, k_shallow=diffusion_cfg.k_shallow,
                mix_mode="noise", generator=torch.Generator().manual_seed(seed + i),
                noise_scale=diffusion_cfg.noise_scale, residual_std=diffusion_cfg.residual_std,
            )  # fmt: skip
        for n, mel in mels.items():
            l1[n].append(float(log_mel_l1(mel, batch.mel, mask)[0]))
            var[n].append(float(band_variance_ratio(mel, batch.mel, mask)[0]))
            dvar[n].append(float(delta_variance_ratio(mel, batch.mel, mask)[0]))
        frames += int(batch.y_lengths[0])
    mean = {n: statistics.fmean(l1[n]) for n in counts}
    gain = mean[0] - mean[counts[-1]]
    share = {n: (mean[0] - mean[n]) / gain if gain > 0 else math.nan for n in counts}
    rows = [
        QualityRow(n, mean[n], statistics.fmean(var[n]), statistics.fmean(dvar[n]), share[n]) for n in counts
    ]
    return QualityResult(
        rows, [str(it.get("utt_id", i)) for i, it in enumerate(items)], frames * HOP / SAMPLE_RATE
    )


def smallest_meeting_targets(overheads: dict[int, float], result: QualityResult) -> int | None:
    """The smallest step count whose time overhead is <= 50 % and whose gain share is >= 90 % (None: none)."""
    for row in result.rows[1:]:
        share_ok = math.isfinite(row.gain_share) and row.gain_share >= MIN_GAIN_SHARE
        if share_ok and overheads.get(row.steps, math.inf) <= MAX_OVERHEAD:
            return row.steps
    return None


def quality_section(result: QualityResult, store: str, split: str, sampler: str, diffusion_cfg, seed: int,
                    overheads: dict[int, dict[int, float]]) -> None:  # fmt: skip
    largest = result.rows[-1].steps
    print(f"4. Diffusion quality: {len(result.utt_ids)} utterances of {store} (split '{split}', "
          f"{result.seconds:.1f} s), teacher-forced on the recording; sampler {sampler}, K={diffusion_cfg.k_shallow}, "
          f"noise scale {diffusion_cfg.noise_scale:g}, seed {seed}")  # fmt: skip
    print(
        "   L1 = masked log-mel L1 to the recording; var ratio = mean over bands and utterances of the band"
    )
    print(
        "   variance over time, output / recording (1 = the recording's detail); Δ var = the same on frame-to-"
    )
    print("   frame differences (fine detail; above 1 = noise); gain share =")
    print(f"   (L1_FS2 - L1_N) / (L1_FS2 - L1_{largest}), the share of the {largest}-step L1 gain.")
    header = f"   {'steps':>9} {'log-mel L1':>10} {'var ratio':>9} {'Δ var':>6} {'gain share':>10}"
    print(header + "\n   " + "-" * (len(header) - 3))
    for row in result.rows:
        name = "0 (FS2)" if row.steps == 0 else str(row.steps)
        share = "-" if row.steps == 0 else f"{100 * row.gain_share:.1f}%"
        print(f"   {name:>9} {row.l1:>10.4f} {row.variance_ratio:>9.3g} {row.delta_ratio:>6.3g} {share:>10}")
    if not math.isfinite(result.rows[-1].gain_share):
        print(f"   The decoder does not lower the L1 at {largest} steps: there is no quality gain to share.")
    for t, per_steps in overheads.items():
        best = smallest_meeting_targets(per_steps, result)
        verdict = (
            f"{best} step{'s' if best > 1 else ''}"
            if best is not None
            else "none of the step counts measured"
        )
        print(f"   Diffusion targets at {t} thread{'s' if t > 1 else ''} (overhead <= {MAX_OVERHEAD:.0%} of FS2+vocoder, "
              f"gain share >= {MIN_GAIN_SHARE:.0%}): smallest meeting both = {verdict}")  # fmt: skip
    print()


# --------------------------------------------------------------------------------------------- entry


def _int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{option} takes comma-separated integers, got {text!r}") from None
    if any(v < 1 for v in values):
        raise ValueError(f"{option} values must be positive, got {text!r}")
    return values


def _open_store(args, steps: list[int]):
    """The store's split for the quality table, or None without --store; checks the options that go with it."""
    if not args.store:
        return None
    if not args.model:
        raise ValueError("--store needs --model: the quality table measures a trained diffusion decoder")
    if not steps:
        raise ValueError(
            "--store needs --steps: the step counts of the quality table, e.g. --steps 1,2,4,8,16"
        )
    if args.utterances < 1:
        raise ValueError(f"--utterances must be at least 1, got {args.utterances}")
    from emovox.tts.data import open_acoustic_store

    return open_acoustic_store(args.store, split=args.split, progress=False)


def run(args) -> int:
    threads = [1] if args.quick else _int_list(args.threads, "--threads")
    steps = _int_list(args.steps, "--steps")
    repeats = 1 if args.quick else args.repeats
    if not threads or repeats < 1 or args.frames_per_phoneme <= 0:
        raise ValueError("--threads, --repeats and --frames-per-phoneme must be positive")
    store = _open_store(args, steps)
    if args.noise_scale is not None and not args.model:
        raise ValueError("--noise-scale needs --model: it sets a trained diffusion decoder's start noise")
    text = QUICK_TEXT if args.quick and args.text == TEXT else args.text
    n_phonemes = min(args.phonemes, 16) if args.quick else args.phonemes
    vocoder_name = "random-v3" if args.quick and args.vocoder == "universal" else args.vocoder
    vocoder = load_vocoder(vocoder_name)
    if args.model:
        subject = trained_subject(args.model, vocoder, text, n_phonemes)
        if store is not None and subject.denoiser is None:
            raise ValueError(f"{args.model} has no diffusion decoder: the quality table needs one")
        if args.noise_scale is not None and subject.diffusion is not None:  # validated by DiffusionConfig
            subject.diffusion = dataclasses.replace(subject.diffusion, noise_scale=args.noise_scale)
    else:
        subject = random_subject(tiny_config() if args.quick else default_voice_config(),
                                 args.frames_per_phoneme, text, n_phonemes)  # fmt: skip

    coqui = None
    if not (args.no_coqui or args.quick or "acoustic" in args.skip):
        classes = load_coqui_forward_tts()
        if classes is None:
            print("coqui-tts not installed: no peer measured (pip install --no-deps coqui-tts to compare)")
        else:
            coqui = build_coqui(classes, subject.model.cfg.n_symbols, args.frames_per_phoneme)
    lengths = "" if subject.trained else f", ~{args.frames_per_phoneme} frames per phoneme"
    print(f"emovox bench synth: torch {torch.__version__}, {subject.label}{lengths}"
          f"{' (QUICK: numbers meaningless)' if args.quick else ''}")  # fmt: skip
    print("(shared machine: numbers are noisy; compare the ratios within one run)\n")
    if "acoustic" not in args.skip:
        acoustic_section(subject.model, coqui, subject.inputs, threads, repeats)
    if "pipeline" not in args.skip:
        pipeline_section(subject, text, vocoder, vocoder_name, threads, min(repeats, args.pipeline_repeats))
    overheads = {}
    if steps:
        overheads = diffusion_section(subject, steps, args.sampler, vocoder, threads, repeats, tiny=args.quick,
                                      seed=args.seed)  # fmt: skip
    if store is not None:
        items = held_out_items(store, args.utterances, list(subject.speakers))
        result = diffusion_quality(subject.model, subject.denoiser, subject.diffusion, items, steps, args.sampler,
                                   args.seed)  # fmt: skip
        quality_section(result, args.store, args.split, args.sampler, subject.diffusion, args.seed, overheads)
    return 0
