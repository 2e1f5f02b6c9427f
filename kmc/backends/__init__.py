"""Backends run the event passes on the lattice: `cpu` (numba, the reference) and `cuda`.

`select(name)` returns the backend for 'auto' | 'cpu' | 'cuda'. 'auto' picks the CPU while
kmc has no CUDA backend; asking for 'cuda' explicitly is a `UserError` that says why.
"""

from __future__ import annotations

from kmc.backends.cpu import CpuBackend
from kmc.errors import Problem, UserError


def cuda_unavailable_reason() -> str:
    """Why the CUDA backend cannot run here, in one line."""
    try:
        import cupy  # noqa: F401
    except ImportError:
        return "CuPy is not installed (pip install 'kmc[gpu]'), and this version of kmc has no CUDA backend yet"
    return "this version of kmc has no CUDA backend yet (kernels/ are planned); use 'cpu' or 'auto'"


def select(name: str, threads: int | None = None) -> CpuBackend:
    if name in ("auto", "cpu"):
        return CpuBackend(threads=threads)
    if name == "cuda":
        raise UserError(Problem("backend", name, cuda_unavailable_reason()))
    raise UserError(Problem("backend", name, "one of auto, cpu, cuda"))
