"""Corpora parsers, the manifest, feature extraction into a store, splits and the synthetic corpus."""
