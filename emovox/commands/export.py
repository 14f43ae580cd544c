"""Export an acoustic model and a vocoder to ONNX, for ONNX Runtime (or any ONNX runtime).

Writes into DIR: acoustic_encoder.onnx and acoustic_decoder.onnx (FastSpeech2, cut at the length regulator,
whose data-dependent length is computed on the host), reference_encoder.onnx (reference clip -> emotion
vector), denoiser.onnx (one diffusion-decoder step; the sampler stays in Python), vocoder.onnx (HiFi-GAN) and
emovox_onnx.json + emovox_onnx.npz (symbols, speakers, emotion bank, mel config, versions, checksums). The
emotion vector z, the speaker, speed and pitch are graph inputs, so every emotion control keeps working.

After writing, the export is run with ONNX Runtime beside PyTorch on a test utterance and the largest
differences are printed and stored in emovox_onnx.json (--no-verify skips this).

Needs the packages onnx and onnxscript (torch's exporter), and onnxruntime to verify or to synthesise.

examples:
  emovox export onnx default voice-onnx/
  emovox export onnx runs/acoustic/model.safetensors out/ --vocoder runs/voc/model.safetensors
  emovox export onnx default voice-onnx/ --force          # replace an earlier export
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format", choices=["onnx"], metavar="FORMAT", help="export format: onnx")
    parser.add_argument(
        "model", metavar="MODEL", help="acoustic checkpoint or model folder ('default' = the built-in voice)"
    )
    parser.add_argument("directory", metavar="DIR", help="output folder (created; must be new or empty)")
    parser.add_argument(
        "--vocoder",
        default="universal",
        help="universal | ljspeech | a vocoder checkpoint (default universal)",
    )
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default 18)")
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the ONNX Runtime vs PyTorch comparison"
    )
    parser.add_argument("--force", action="store_true", help="replace an earlier export in DIR")


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def run(args: argparse.Namespace) -> int:
    from emovox.export.onnx import DEFAULT_OPSET, export_onnx

    opset = DEFAULT_OPSET if args.opset is None else args.opset
    if not 17 <= opset <= 23:
        raise ValueError(f"--opset must be between 17 and 23, got {opset}")
    try:
        report = export_onnx(
            args.model,
            args.directory,
            vocoder=args.vocoder,
            opset=opset,
            verify=not args.no_verify,
            overwrite=args.force,
        )
    except ImportError as exc:
        print(f"emovox export: error: {exc}", file=sys.stderr)
        return 1
    print(f"exported to {report.directory} in {report.seconds:.0f} s:")
    for name, size in report.files.items():
        print(f"  {name:<24} {_size(size):>9}")
    if report.agreement:
        print("ONNX Runtime vs PyTorch on a test utterance (max abs / max relative to the output's range):")
        for part, diff in report.agreement.items():
            if "max_abs" in diff:
                print(f"  {part:<24} {diff['max_abs']:.2e}  {diff['max_rel']:.2e}")
            else:
                print(f"  {part:<24} {int(diff['duration_mismatches'])} of the durations differ "
                      f"({int(diff['frames'])} frames)")  # fmt: skip
    print(f"synthesise with it: emovox synth TEXT --backend onnx --model {report.directory}  (Python: "
          f"EmotionalTTS.load({str(report.directory)!r}, backend='onnx'))")  # fmt: skip
    return 0
