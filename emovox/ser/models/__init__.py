"""Pure ``nn.Module``s of the recogniser (no file I/O, no device logic): the log-mel CNN and the feature model."""
