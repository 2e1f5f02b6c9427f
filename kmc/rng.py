"""Philox4x32-10 counter-based random numbers (Salmon et al., SC'11; Random123).

A random draw is a pure function of (seed, step, pass, site, stream): thread count,
scheduling, backend and restarts cannot change a result. The layout of the 128-bit counter
and 64-bit key is fixed here and mirrored by kernels/philox.cuh:

    key     = (seed & 0xFFFFFFFF, seed >> 32)
    counter = (site & 0xFFFFFFFF,
               (site >> 32) & 0xFF | (pass & 0xFF) << 8 | (stream & 0xFFFF) << 16,
               step & 0xFFFFFFFF,
               step >> 32)

so sites up to 2^40, 256 passes per step and 65536 streams. Each call yields four uint32.
Stream ids live in `Stream`, the one table of them.
"""

from __future__ import annotations

from enum import IntEnum

import numba as nb
import numpy as np

PHILOX_M0 = np.uint32(0xD2511F53)
PHILOX_M1 = np.uint32(0xCD9E8D57)
PHILOX_W0 = np.uint32(0x9E3779B9)
PHILOX_W1 = np.uint32(0xBB67AE85)


class Stream(IntEnum):
    """Random stream ids, one per event kind (never renumber: stores depend on them)."""

    DEHYDRATION = 1
    LI_SOURCE = 2
    LI_HOP = 3
    LITHIATION = 4
    ROCK_SALT_LITHIATION = 5
    NUCLEATION = 6
    ORDERING = 7
    GRAIN_GROWTH = 8
    SINTERING = 9
    BUILD = 100


@nb.njit(inline="always", cache=True)
def _mulhilo(a, b):
    p = np.uint64(a) * np.uint64(b)
    return np.uint32(p >> np.uint64(32)), np.uint32(p & np.uint64(0xFFFFFFFF))


@nb.njit(cache=True)
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32 with 10 rounds: counter (c0..c3), key (k0, k1), all uint32 -> 4 x uint32."""
    c0 = np.uint32(c0)
    c1 = np.uint32(c1)
    c2 = np.uint32(c2)
    c3 = np.uint32(c3)
    k0 = np.uint32(k0)
    k1 = np.uint32(k1)
    for _ in range(10):
        hi0, lo0 = _mulhilo(PHILOX_M0, c0)
        hi1, lo1 = _mulhilo(PHILOX_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = np.uint32(k0 + PHILOX_W0)
        k1 = np.uint32(k1 + PHILOX_W1)
    return c0, c1, c2, c3


@nb.njit(inline="always", cache=True)
def draw4(seed, step, pass_, site, stream):
    """Four uint32 random numbers for (seed, step, pass, site, stream); layout in module doc."""
    seed = np.uint64(seed)
    step = np.uint64(step)
    site = np.uint64(site)
    c1 = (np.uint32((site >> np.uint64(32)) & np.uint64(0xFF))
          | (np.uint32(pass_ & 0xFF) << np.uint32(8))
          | (np.uint32(stream & 0xFFFF) << np.uint32(16)))
    return philox4x32_10(np.uint32(site & np.uint64(0xFFFFFFFF)), c1,
                         np.uint32(step & np.uint64(0xFFFFFFFF)), np.uint32(step >> np.uint64(32)),
                         np.uint32(seed & np.uint64(0xFFFFFFFF)), np.uint32(seed >> np.uint64(32)))


def probability_threshold(p: float) -> np.uint64:
    """Integer threshold for an event of probability p: it fires when a uint32 draw < threshold.

    Computed once on the host so both backends compare integers, never floats.
    Returns uint64 in [0, 2^32].
    """
    p = min(max(float(p), 0.0), 1.0)
    return np.uint64(round(p * 4294967296.0))
