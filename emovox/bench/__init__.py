"""Benchmarks behind `emovox bench TARGET`: each measures emovox against the peers installed, in one run."""
