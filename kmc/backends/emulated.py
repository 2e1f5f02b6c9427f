"""The kernels of kernels/*.cu compiled as host C++ by g++: a test harness, not a backend to run.

kernels/emulate.h defines the CUDA subset the kernels use (``__global__``, ``__device__``,
``dim3`` and the thread indices, ``atomicAdd`` on unsigned long long, ``__umulhi``), so the
same .cu files build into a shared library. A launch is a serial loop over an emulated grid
of ``grid`` blocks of ``block`` threads; each call runs one thread's grid-stride loop. The
launches are the ones `kmc.backends.cuda.plan` gives the CUDA backend, with the same scalar
types, so tests comparing this with the numba reference check the kernels *and* the plans.

The library is built once per content of kernels/ (sha256 of the sources and the compiler
command) into ``$KMC_CACHE_DIR/emulated`` (default ``~/.cache/kmc/emulated``, or a temporary
directory if that is not writable) and loaded with ctypes.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from kmc.backends.cuda import (
    KERNEL_DIR,
    KERNEL_EVENTS,
    Counter,
    Field,
    Launch,
    Scratch,
    Sums,
    Table,
    kernel_sources_digest,
)
from kmc.backends.resident import ResidentBackend
from kmc.observe import grain_voxel_counts
from kmc.state import Lattice

CXX_FLAGS = ("-x", "c++", "-std=c++17", "-O2", "-shared", "-fPIC", "-Wall", "-Wno-unknown-pragmas")

_CTYPES = {np.uint64: ctypes.c_uint64, np.int64: ctypes.c_int64, np.uint32: ctypes.c_uint32,
           np.int32: ctypes.c_int32}


def compiler() -> str | None:
    """Path of the C++ compiler (``$CXX`` or g++), None if there is none."""
    return shutil.which(os.environ.get("CXX", "g++"))


def _cache_dir() -> Path:
    base = Path(os.environ.get("KMC_CACHE_DIR", Path.home() / ".cache" / "kmc")) / "emulated"
    try:
        base.mkdir(parents=True, exist_ok=True)
        if os.access(base, os.W_OK):
            return base
    except OSError:
        pass
    tmp = Path(tempfile.gettempdir()) / f"kmc-emulated-{os.getuid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    return tmp


def _sources() -> list[Path]:
    return sorted(KERNEL_DIR.glob("*.cu")) + [KERNEL_DIR / "emulate_exports.cpp"]


def build_library() -> Path:
    """Compile kernels/*.cu (+ emulate_exports.cpp) with g++ into a cached shared library; its path."""
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler (g++ or $CXX) to build the kernel emulation")
    version = subprocess.run([cxx, "--version"], check=False, capture_output=True, text=True).stdout.splitlines()[:1]
    cmd_key = " ".join([*version, *CXX_FLAGS])
    digest = hashlib.sha256((kernel_sources_digest() + cmd_key).encode()).hexdigest()[:20]
    out = _cache_dir() / f"kmc_kernels_{digest}.so"
    if out.exists():
        return out
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    cmd = [cxx, *CXX_FLAGS, "-I", str(KERNEL_DIR), "-include", str(KERNEL_DIR / "emulate.h"),
           *map(str, _sources()), "-o", str(tmp)]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"building the kernel emulation failed:\n{' '.join(cmd)}\n{res.stderr}")
    os.replace(tmp, out)
    return out


@functools.cache
def _load(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    lib.kmc_emu_set_thread.argtypes = [ctypes.c_uint] * 4
    lib.kmc_emu_set_thread.restype = None
    return lib


def library() -> ctypes.CDLL:
    """The loaded emulation library (built if needed)."""
    return _load(str(build_library()))


def philox4x32_10(c0, c1, c2, c3, k0, k1) -> tuple[int, int, int, int]:
    """kernels/philox.cuh's Philox4x32-10 through the emulation (for known-answer tests)."""
    out = (ctypes.c_uint32 * 4)()
    f = library().kmc_emu_philox
    f.restype = None
    f(*(ctypes.c_uint32(int(v)) for v in (c0, c1, c2, c3, k0, k1)), out)
    return tuple(int(v) for v in out)


def draw4(seed, step, pass_, site, stream) -> tuple[int, int, int, int]:
    """kernels/philox.cuh's draw4 through the emulation."""
    out = (ctypes.c_uint32 * 4)()
    f = library().kmc_emu_draw4
    f.restype = None
    f(ctypes.c_uint64(int(seed)), ctypes.c_uint64(int(step)), ctypes.c_uint32(int(pass_)),
      ctypes.c_uint64(int(site)), ctypes.c_uint32(int(stream)), out)
    return tuple(int(v) for v in out)


class EmulatedBackend(ResidentBackend):
    """Runs the launch plans of `kmc.backends.cuda` through the g++ library, on private host
    buffers that play the device memory.

    grid, block: the emulated launch shape (small and uneven by default, so the kernels'
    grid-stride loops are exercised with several blocks and threads). Results do not depend on
    them. Ownership and transfers are those of `ResidentBackend`, exactly as for `CudaBackend`:
    a simulation's attached lattice lives in the buffers and its host arrays are stale until
    `sync`, so tests of the device-resident loop catch a missing copy. ``apply`` on a lattice
    that is not attached has the `CpuBackend` contract. Events without kernels raise
    MissingKernelError.
    """

    name = "emulated"

    def __init__(self, grid: int = 2, block: int = 3):
        super().__init__()
        self.grid = int(grid)
        self.block = int(block)
        self.lib = library()
        self._fields: dict[str, np.ndarray] | None = None

    def check_fits(self, shape: tuple[int, int, int]) -> None:
        """Host memory is the limit here; nothing to check before numpy allocates."""

    def _put(self, lattice: Lattice) -> None:
        self._fields = {name: arr.reshape(-1).copy() for name, arr in lattice.arrays().items()}

    def _get(self, lattice: Lattice) -> None:
        for name, arr in lattice.arrays().items():
            arr.reshape(-1)[...] = self._fields[name]

    def _grain_voxel_counts(self) -> np.ndarray:
        """The host reference on the private buffer (the grain field never leaves it here)."""
        return grain_voxel_counts(self._fields["grain"])

    def _execute(self, launches: list[Launch], counters: tuple[str, ...]):
        fields = self._fields
        names = list(counters) + sorted({a.name for L in launches for a in L.args
                                         if isinstance(a, Counter) and a.name not in counters})
        acc = np.zeros(max(len(names), 1), dtype=np.uint64)
        sums: dict[str, np.ndarray] = {}
        keep = []  # host copies of tables, alive while the kernels run
        scratch: dict[Scratch, np.ndarray] = {}
        for launch in launches:
            args = []
            for a in launch.args:
                if isinstance(a, Field):
                    args.append(ctypes.c_void_p(fields[a.name].ctypes.data))
                elif isinstance(a, Table):
                    t = np.ascontiguousarray(a.array).copy()
                    keep.append(t)
                    args.append(ctypes.c_void_p(t.ctypes.data))
                elif isinstance(a, Counter):
                    args.append(ctypes.c_void_p(acc.ctypes.data + 8 * names.index(a.name)))
                elif isinstance(a, Sums):
                    if a.name not in sums:
                        sums[a.name] = np.zeros(a.size, dtype=np.uint64)
                    args.append(ctypes.c_void_p(sums[a.name].ctypes.data))
                elif isinstance(a, Scratch):
                    if a not in scratch:  # garbage-filled, like cupy.empty: a kernel must write it first
                        scratch[a] = np.full(fields["phase"].size, 0xA5, dtype=a.dtype)
                    args.append(ctypes.c_void_p(scratch[a].ctypes.data))
                elif type(a) in _CTYPES:
                    args.append(_CTYPES[type(a)](int(a)))
                else:
                    raise TypeError(f"{launch.kernel}: argument {a!r} is not explicitly typed")
            kernel = getattr(self.lib, launch.kernel)
            kernel.restype = None
            for b in range(self.grid):
                for t in range(self.block):
                    self.lib.kmc_emu_set_thread(self.grid, self.block, b, t)
                    kernel(*args)
        return {name: int(acc[names.index(name)]) for name in counters}, sums

    def describe(self) -> str:
        return f"emulated kernels (g++, grid {self.grid} x block {self.block}; events: {', '.join(KERNEL_EVENTS)})"
