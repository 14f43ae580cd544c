"""Pure ``nn.Module``s of the emotion package (no file I/O, no device logic)."""
