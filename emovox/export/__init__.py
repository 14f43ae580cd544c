"""Model export: ONNX graphs of the acoustic model, the diffusion denoiser and the vocoder
(:mod:`emovox.export.onnx`), and an ONNX Runtime backend that synthesises from them
(:mod:`emovox.export.runtime`)."""
