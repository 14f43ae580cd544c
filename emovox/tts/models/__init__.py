"""Pure nn.Module models of the acoustic model (FastSpeech2, variance adaptor, diffusion denoiser)."""
