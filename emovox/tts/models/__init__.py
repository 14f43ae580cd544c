"""Pure ``nn.Module`` building blocks of the acoustic model: no file I/O, no globals, no device logic."""
