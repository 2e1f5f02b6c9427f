"""Backends run the event passes on the lattice: `cpu` (numba, the reference) and `cuda`.

`select(name, events=...)` returns the backend for 'auto' | 'cpu' | 'cuda'. The CUDA backend
(`kmc.backends.cuda`, kernels/*.cu through CuPy, docs/cuda.md) runs a run only when CuPy sees
a device, every event of the run has a kernel and the lattice fits in device memory: 'auto'
then picks it and otherwise the CPU; asking for 'cuda' when one of these fails is a
one-line `UserError` that says which.
"""

from __future__ import annotations

from kmc.backends.cpu import CpuBackend
from kmc.errors import Problem, UserError

#: Events of a full run that have no CUDA kernel yet (see kmc.backends.cuda.KERNEL_EVENTS).
EVENTS_WITHOUT_KERNELS: tuple[str, ...] = ()


def full_physics_event_names() -> tuple[str, ...]:
    """NAME of every event class of `kmc.events.build_events` (the events of a full run)."""
    from kmc import events

    return tuple(cls.NAME for cls in (events.LiSource, events.LiHop, events.Lithiation, events.Dehydration,
                                      events.Nucleation, events.GrainGrowth, events.Ordering, events.Sintering))


def device_problem() -> str | None:
    """Why CuPy cannot run kernels here (one clause), or None when it sees a device."""
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed (pip install -e '.[gpu]')"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device is visible"
    except cupy.cuda.runtime.CUDARuntimeError as err:
        return f"no usable CUDA driver or device ({err})"
    return None


def missing_kernels(events=None) -> tuple[str, ...]:
    """Names among ``events`` (names or event objects; None: the full physics) without a kernel."""
    from kmc.backends.cuda import KERNEL_EVENTS

    names = full_physics_event_names() if events is None else tuple(getattr(e, "NAME", e) for e in events)
    return tuple(dict.fromkeys(n for n in names if n not in KERNEL_EVENTS))


def cuda_unavailable_reason(events=None, shape=None) -> str | None:
    """Why a run of ``events`` on a lattice of ``shape`` cannot use CUDA here, in one line;
    None when it can."""
    reasons = []
    device = device_problem()
    if device is not None:
        reasons.append(device)
    missing = missing_kernels(events)
    if missing:
        reasons.append(f"the event{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                       f"{'have' if len(missing) > 1 else 'has'} no CUDA kernel yet (docs/cuda.md)")
    if not reasons and shape is not None:
        from kmc.backends.cuda import CudaBackend

        try:
            CudaBackend().check_fits(tuple(shape))
        except MemoryError as err:
            reasons.append(str(err))
    if not reasons:
        return None
    return ", and ".join(reasons) + "; use 'cpu' or 'auto'"


def select(name: str, threads: int | None = None, *, events=None, shape=None):
    """The backend for ``name``: 'auto' | 'cpu' | 'cuda'.

    events: the run's events (objects or names; None: the full physics), shape: its lattice
    (nz, ny, nx) or None (not checked). 'auto' gives CUDA when `cuda_unavailable_reason` finds
    nothing against it, else the CPU with ``threads`` numba threads.
    """
    if name == "cpu":
        return CpuBackend(threads=threads)
    if name in ("auto", "cuda"):
        reason = cuda_unavailable_reason(events, shape)
        if reason is None:
            from kmc.backends.cuda import CudaBackend

            return CudaBackend()
        if name == "auto":
            return CpuBackend(threads=threads)
        raise UserError(Problem("backend", name, reason))
    raise UserError(Problem("backend", name, "one of auto, cpu, cuda"))
