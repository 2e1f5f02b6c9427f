"""Backends run the event passes on the lattice: `cpu` (numba, the reference) and `cuda`.

`select(name)` returns the backend for 'auto' | 'cpu' | 'cuda'. The CUDA backend
(`kmc.backends.cuda`, kernels/*.cu through CuPy) has kernels for some events only, so 'auto'
picks the CPU and asking for 'cuda' is a `UserError` that says why (docs/cuda.md).
"""

from __future__ import annotations

from kmc.backends.cpu import CpuBackend
from kmc.errors import Problem, UserError

#: Events of a full run that have no CUDA kernel yet (see kmc.backends.cuda.KERNEL_EVENTS).
EVENTS_WITHOUT_KERNELS = ("sintering",)


def cuda_unavailable_reason() -> str:
    """Why a run cannot use the CUDA backend here, in one line."""
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed (pip install 'kmc[gpu]'), and " + _missing_kernels()
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device is visible, and " + _missing_kernels()
    except cupy.cuda.runtime.CUDARuntimeError as err:
        return f"no usable CUDA driver or device ({err}), and " + _missing_kernels()
    return _missing_kernels()


def _missing_kernels() -> str:
    return f"the events {', '.join(EVENTS_WITHOUT_KERNELS)} have no CUDA kernels yet (docs/cuda.md); use 'cpu' or 'auto'"


def select(name: str, threads: int | None = None) -> CpuBackend:
    if name in ("auto", "cpu"):
        return CpuBackend(threads=threads)
    if name == "cuda":
        raise UserError(Problem("backend", name, cuda_unavailable_reason()))
    raise UserError(Problem("backend", name, "one of auto, cpu, cuda"))
