"""HiFi-GAN: generator, discriminators, losses, training and pretrained loading."""
