"""The acoustic model: FastSpeech2 with a learned aligner, variance adaptor and diffusion decoder."""
