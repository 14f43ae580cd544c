"""Numba settings shared by every emovox kernel; import this before defining or calling parallel kernels.

Numba's default OpenMP threading layer keeps its worker threads spinning for a while after every parallel
region. In a training loop that calls a kernel every step (monotonic alignment search), those spinning threads
compete with PyTorch's own threads for the same cores: on a 2-core machine one AcousticModel training step
went from ~1.5 s to 10-17 s, and a 150k-element ``mul_`` from 0.01 ms to 8 ms. The ``workqueue`` layer does
not spin, so it is the default here unless the user chose a layer with ``NUMBA_THREADING_LAYER``.
"""

from __future__ import annotations

import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"
