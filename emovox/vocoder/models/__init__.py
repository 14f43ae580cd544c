"""Pure HiFi-GAN modules: the generator and the multi-period / multi-scale discriminators."""
