"""Per-voxel scratch arrays of the CPU passes, kept from one step to the next.

Sintering's packed neighbour words and screen codes (9 bytes per voxel), li_hop's environment
flags and li_source's class bytes (1 byte per voxel each) are rebuilt from the lattice at every
step. Allocating them anew each time made the kernel zero ~170 MB of fresh pages per step at
256^3 (~5 % of a step at 850 °C, `clear_page_erms` in perf); a buffer kept here is reused
instead. Its contents are undefined: every user writes all of it before reading it.

The buffers are per thread (a thread that runs a simulation owns its own) and stay until
`release` (called by `kmc.backends.cpu.CpuBackend.release`) or until a call asks for the same
name with another size or dtype, which replaces them. While a run goes on they add no peak
memory: the arrays existed during their event anyway.
"""

from __future__ import annotations

import threading

import numpy as np

_local = threading.local()


def buffer(name: str, size: int, dtype) -> np.ndarray:
    """A C-contiguous 1-D array of ``size`` elements of ``dtype``, contents undefined: the one
    the last call with this ``name`` returned on this thread if it had that size and dtype, else
    a new one that replaces it."""
    pool = _local.__dict__.setdefault("pool", {})
    dtype = np.dtype(dtype)
    arr = pool.get(name)
    if arr is None or arr.size != size or arr.dtype != dtype:
        pool.pop(name, None)            # free the old one before allocating the new
        arr = np.empty(int(size), dtype=dtype)
        pool[name] = arr
    return arr


def held_bytes() -> int:
    """Bytes held by this thread's buffers."""
    return sum(a.nbytes for a in _local.__dict__.get("pool", {}).values())


def release() -> None:
    """Drop this thread's buffers."""
    _local.__dict__.pop("pool", None)
