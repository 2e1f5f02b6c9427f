"""The CUDA backend: the event passes of kernels/*.cu, launched through CuPy ``RawModule``.

Every pass is the numba rule of its event module with the same integer arithmetic and the
same random keys (kmc/rng.py, kernels/philox.cuh), so a step gives the same lattice bit for
bit on either backend (docs/cuda.md). This module has two layers:

- *Launch plans* (`plan`, pure host code, no CuPy): for one event and step, the list of kernel
  launches with every scalar cast explicitly (np.uint64, np.int64, np.uint32) and every array
  named symbolically (`Field`, `Table`, `Counter`). The g++ emulation (`kmc.backends.emulated`,
  tests only) executes the very same plans on host arrays, which is how the plans and the
  kernels are proven equal to the numba reference without a GPU.
- `CudaBackend`: holds the six lattice fields on the device and runs the plans. CuPy is
  imported lazily, so importing this module never needs CuPy or a GPU.

Events with kernels: `KERNEL_EVENTS` (every event of the full physics). An event without one
raises `MissingKernelError` naming it; `kmc.backends.select` refuses 'cuda' up front while any
event of the run has no kernel.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kmc.backends.resident import ResidentBackend
from kmc.state import Lattice, Phase

#: kernels/ at the repository root (next to kmc/).
KERNEL_DIR = Path(__file__).resolve().parents[2] / "kernels"

#: NVRTC options of every RawModule; -I lets the .cu files include lattice.cuh and philox.cuh.
NVRTC_OPTIONS = ("-std=c++17",)

#: Threads per block of every launch; kernels use grid-stride loops, so any grid is correct.
BLOCK = 256
MAX_GRID = 2**31 - 1

#: Per-site scratch of the plans (li_hop's uint8 environment flags), bytes per voxel.
SCRATCH_BYTES_PER_VOXEL = 1

#: Lattice fields and their dtypes (kmc.state.Lattice.DTYPES).
FIELD_DTYPES = {name: np.dtype(dt) for name, dt in Lattice.DTYPES.items()}


# -- launch plans (host only) --------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """A lattice field argument (flat device pointer), by name: phase, grain, li, tm, disorder, flags."""

    name: str


@dataclass(frozen=True, eq=False)
class Table:
    """A small read-only host array passed as a device pointer (thresholds, capacity tables)."""

    name: str
    array: np.ndarray


@dataclass(frozen=True)
class Counter:
    """An unsigned long long counter the kernel atomically adds to; names starting with '_'
    are statistics kept out of the event's counters."""

    name: str


@dataclass(frozen=True)
class Scratch:
    """A per-site scratch array of ``dtype`` (e.g. li_hop's environment flags), kept between
    the launches of one plan; its content before the first launch that writes it is undefined."""

    name: str
    dtype: str = "uint8"


@dataclass(frozen=True)
class Sums:
    """A uint64 (size,) array of sums the kernel atomically adds to (zeroed before the plan,
    returned whole): the per-phase tables of the reductions."""

    name: str
    size: int


@dataclass(frozen=True, eq=False)
class Launch:
    """One kernel launch: ``kernel`` (extern "C" name) in ``source`` (kernels/<source>),
    ``work`` grid-stride items (sites or pairs), ``args`` in the kernel's parameter order."""

    source: str
    kernel: str
    work: int
    args: tuple


def _u64(v) -> np.uint64:
    return np.uint64(int(v))


def _i64(v) -> np.int64:
    return np.int64(int(v))


def _u32(v) -> np.uint32:
    return np.uint32(int(v))


def _thresholds(thresholds, n: int, event: str) -> np.ndarray:
    thr = np.asarray(thresholds)
    if thr.dtype != np.uint64 or thr.shape != (n,):
        raise TypeError(f"{event}: thresholds must be uint64 ({n},), got {thr.dtype} {thr.shape}")
    return np.ascontiguousarray(thr)


def _int32_table(name: str, table) -> Table:
    t = np.asarray(table)
    if t.dtype != np.int32 or t.shape != (256,):
        raise TypeError(f"{name}: int32 (256,) expected, got {t.dtype} {t.shape}")
    return Table(name, np.ascontiguousarray(t))


def _plan_dehydration(event, shape, seed, step, thresholds):
    thr = _thresholds(thresholds, 1, "dehydration")
    n = int(np.prod(shape))
    return [Launch("dehydration.cu", "kmc_dehydration", n,
                   (Field("phase"), Field("tm"), _u64(n), _u64(thr[0]), _u64(seed), _u64(step), Counter("h2o_q")))]


def _plan_lithiation(event, shape, seed, step, thresholds):
    thr = _thresholds(thresholds, 2, "lithiation")
    n = int(np.prod(shape))
    x256 = round(256 * event.min_li_per_tm)
    d0 = (round(255 * event.topotactic_initial_disorder), round(255 * event.rock_salt_initial_disorder))
    parents = (int(Phase.HYDROXIDE), int(Phase.ROCK_SALT))
    out = []
    for route in range(2):
        if thr[route] == 0:
            continue
        out.append(Launch("lithiation.cu", "kmc_lithiation", n,
                          (Field("phase"), Field("li"), Field("tm"), Field("disorder"), _u64(n), _u32(parents[route]),
                           _u64(thr[route]), _i64(x256), _i64(d0[route]), _u32(route == 0), _u64(seed), _u64(step),
                           _u32(route), Counter("h2o_q"))))
    return out


def _plan_ordering(event, shape, seed, step, thresholds):
    from kmc.events.ordering import _LEVEL_Q16, _TWO32, N_THRESHOLDS

    thr = _thresholds(thresholds, N_THRESHOLDS, "ordering")
    w, E0, C, Emax = (int(v) for v in thr)
    if w == 0:
        return []
    if w > _TWO32 or Emax > _LEVEL_Q16 or E0 > Emax:  # the checks of ordering.relax_disorder
        raise ValueError(f"thresholds out of range: {thr}")
    n = int(np.prod(shape))
    return [Launch("ordering.cu", "kmc_ordering", n,
                   (Field("phase"), Field("disorder"), Field("li"), Field("tm"), _u64(n), _u64(w), _u64(E0), _u64(C),
                    _u64(Emax), _u64(seed), _u64(step), Counter("_changed")))]


def _plan_li_source(event, shape, seed, step, thresholds):
    thr = Table("li_source_thresholds", _thresholds(thresholds, 9, "li_source"))
    cap_base = _int32_table("cap_base", event.cap_base)
    cap_per_tm = _int32_table("cap_per_tm", event.cap_per_tm)
    nz, ny, nx = (int(s) for s in shape)
    n = nz * ny * nx
    out = [Launch("li_source.cu", "kmc_li_source_sites", n,
                  (Field("phase"), Field("li"), _u64(n), thr, _u64(seed), _u64(step), Counter("h2o_q")))]
    for axis in range(3):
        n_axis = shape[axis]
        for parity in range(2):
            n_lower = (n_axis - 2 - parity) // 2 + 1 if n_axis - 2 - parity >= 0 else 0
            out.append(Launch("li_source.cu", "kmc_li_source_pairs", n_lower * (n // n_axis),
                              (Field("phase"), Field("li"), Field("tm"), Field("grain"), Field("disorder"),
                               _u64(nz), _u64(ny), _u64(nx), thr, cap_base, cap_per_tm, _u64(seed), _u64(step),
                               _u32(2 + 2 * axis + parity), _u32(axis), _u32(parity),
                               Counter("li_handed_lioh"), Counter("li_handed_li2co3"))))
    return out


def _plan_li_hop(event, shape, seed, step, thresholds):
    from kmc.events.li_hop import (
        CDF_ENTRIES,
        N_MEDIA,
        HopTables,
        tables_from_thresholds,
    )

    if isinstance(thresholds, HopTables):
        tables = thresholds
    else:
        tables = tables_from_thresholds(_thresholds(thresholds, N_MEDIA, "li_hop"), event.capacity_excess_q)
    if not tables:
        return []  # every medium frozen: the passes change nothing (numba draws nothing either)
    kind = Table("li_hop_kind", np.ascontiguousarray(tables.kind, dtype=np.uint8))
    bulk = _int32_table("li_hop_bulk", tables.bulk)
    pthr = Table("li_hop_thresholds", _thresholds(tables.threshold, N_MEDIA, "li_hop"))
    cdf = np.asarray(tables.cdf)
    if cdf.dtype != np.uint64 or cdf.shape != (N_MEDIA, CDF_ENTRIES):
        raise TypeError(f"li_hop cdf: uint64 ({N_MEDIA}, {CDF_ENTRIES}) expected, got {cdf.dtype} {cdf.shape}")
    cdf = Table("li_hop_cdf", np.ascontiguousarray(cdf))
    cap_base = _int32_table("cap_base", tables.cap_base)
    cap_per_tm = _int32_table("cap_per_tm", tables.cap_per_tm)
    nz, ny, nx = shape
    dims = (_u64(nz), _u64(ny), _u64(nx))
    out = [Launch("li_hop.cu", "kmc_li_hop_environment", nz * ny * nx,
                  (Field("phase"), Field("grain"), kind, *dims, Scratch("env")))]
    for axis in range(3):
        for parity in range(2):
            counts = [nz, ny, nx]
            counts[axis] = (counts[axis] - parity) // 2
            out.append(Launch("li_hop.cu", "kmc_li_hop_pairs", int(np.prod(counts)),
                              (Field("phase"), Field("grain"), Field("li"), Field("tm"), Scratch("env"), *dims,
                               _u32(axis), _u32(parity), _u64(seed), _u64(step), kind, bulk, pthr, cdf, cap_base,
                               cap_per_tm, Counter("_moved_q"), Counter("_refused"))))
    return out


def _colour_work(shape, colour: int) -> int:
    """Sites of colour ``colour`` = 4 (z % 2) + 2 (y % 2) + (x % 2) in a lattice of ``shape``."""
    bits = (colour >> 2, (colour >> 1) & 1, colour & 1)
    return int(np.prod([(n - b + 1) // 2 for n, b in zip(shape, bits)]))


def _plan_nucleation(event, shape, seed, step, thresholds):
    """Sub-step 0 then up to n_full full sub-steps, each 8 colour launches and a commit; the
    numba early exit (a full sub-step that grew nothing) is a device-side gate on the counter
    ``_changed_<m>`` of the previous sub-step (kernels/nucleation.cu, docs/cuda.md)."""
    from kmc.events.nucleation import _ALWAYS, INT32_MAX, MAX_FULL_TICKS, N_COLOURS, N_THRESHOLDS

    thr = _thresholds(thresholds, N_THRESHOLDS, "nucleation")
    n = int(np.prod(shape))
    n_prec = int(event.n_precursor_grains)
    if n_prec < 0 or n_prec + n > INT32_MAX:  # the check of nucleation.nucleation_step
        raise ValueError(f"grain ids n_precursor_grains + 1 + site overflow int32: n_precursor_grains={n_prec}, "
                         f"{n} sites")
    nucleate = event.mode == "constant" or int(step) == int(event.saturation_step)
    thr_nuc = int(thr[0]) if nucleate else 0
    nz, ny, nx = shape
    out = []

    def sub_step(m: int, t_nuc: int, t_tick: int) -> None:
        gate = Counter(f"_changed_{max(m - 1, 0)}")
        changed = Counter(f"_changed_{m}")
        for colour in range(N_COLOURS):
            out.append(Launch("nucleation.cu", "kmc_nucleation", _colour_work(shape, colour),
                              (Field("phase"), Field("grain"), Field("flags"), _u64(nz), _u64(ny), _u64(nx),
                               _u32(colour),
                               _u32(8 * m + colour), _u64(seed), _u64(step), _u64(t_nuc), _u64(t_tick), _i64(n_prec),
                               _u32(m >= 2), gate, Counter("rx_nuclei"), Counter("rx_grown"), changed)))
        out.append(Launch("nucleation.cu", "kmc_nucleation_commit", n, (Field("grain"), _u64(n), changed)))

    if thr_nuc != 0 or int(thr[1]) != 0:  # otherwise sub-step 0 changes nothing
        sub_step(0, thr_nuc, int(thr[1]))
    for m in range(1, min(int(thr[2]), MAX_FULL_TICKS) + 1):
        sub_step(m, 0, int(_ALWAYS))
    return out


def _plan_grain_growth(event, shape, seed, step, thresholds):
    """8 colour launches; thresholds uint64 (28,) [attempt, T_B[0..26]] or a bare attempt
    threshold (the acceptance table then comes from the event's lattice_kT, as in cpu_pass)."""
    from kmc.events.grain_growth import N_COLOURS

    thr = np.asarray(thresholds)
    if thr.dtype != np.uint64 or thr.shape not in ((), (1,), (event.N_THRESHOLDS,)):
        raise TypeError(f"grain_growth: thresholds must be uint64 ({event.N_THRESHOLDS},) or one attempt "
                        f"threshold, got {thr.dtype} {thr.shape}")
    thr = thr.reshape(-1)
    attempt = int(thr[0])
    if attempt == 0:
        return []  # no site attempts (numba returns before drawing too)
    boltz = event.boltzmann_thresholds() if thr.size == 1 else thr[1:]
    boltz = Table("gg_boltzmann", np.ascontiguousarray(boltz, dtype=np.uint64))
    nz, ny, nx = shape
    return [Launch("grain_growth.cu", "kmc_grain_growth", _colour_work(shape, colour),
                   (Field("grain"), Field("phase"), Field("flags"), _u64(nz), _u64(ny), _u64(nx), _u32(colour),
                    _u64(seed), _u64(step), _u64(attempt), boltz, _i64(event.n_precursor_grains),
                    Counter("gg_flips")))
            for colour in range(N_COLOURS)]



def _plan_sintering(event, shape, seed, step, thresholds):
    """n_sub sub-steps x 36 colour launches in `pass_order`; thresholds uint64 (2 + L,)
    [attempt, n_sub, T_B[0..L-1]] from `Sintering.thresholds` (as in cpu_pass: nothing when the
    attempt threshold is 0)."""
    from kmc.events import sintering as S

    thr = np.asarray(thresholds)
    if thr.dtype != np.uint64 or thr.ndim != 1:
        raise TypeError(f"sintering: thresholds must be uint64 (2 + L,), got {thr.dtype} {thr.shape}")
    if thr.size < 3 or thr[0] == 0:
        return []
    n_sub = int(thr[1])
    if not 1 <= n_sub <= S.MAX_SUBSTEPS:  # the check of sintering._run_step
        raise ValueError(f"sintering: 1..{S.MAX_SUBSTEPS} sub-steps per step, got {n_sub}")
    boltz = Table("sinter_boltzmann", np.ascontiguousarray(thr[2:]))
    tables = (Table("sinter_volw", S._VOLW), Table("sinter_neutral", S._NEUTRAL_F), Table("sinter_dense", S._DENSE))
    nz, ny, nx = shape
    out = []
    for sub in range(n_sub):
        for p in S.pass_order(step, sub):
            axis, colour = divmod(p, S.N_COLOURS_PER_AXIS)
            out.append(Launch("sintering.cu", "kmc_sintering_pairs", int(np.prod(S.pass_counts(shape, p))),
                              (Field("phase"), Field("grain"), Field("li"), Field("tm"), Field("disorder"),
                               Field("flags"), _u64(nz), _u64(ny), _u64(nx), _u32(axis), _u32(colour),
                               _u32(S.N_PASSES * sub + p), _u64(seed), _u64(step), _u64(thr[0]), boltz,
                               _u64(boltz.array.size), *tables, _i64(S.F_FULL),
                               _i64(S.gb_weight_steps(event.grain_boundary_energy)), Counter("sinter_swaps"),
                               Counter("sinter_transfers"), Counter("sinter_emptied"))))
    return out

_PLANS = {
    "dehydration": _plan_dehydration,
    "lithiation": _plan_lithiation,
    "ordering": _plan_ordering,
    "li_source": _plan_li_source,
    "li_hop": _plan_li_hop,
    "nucleation": _plan_nucleation,
    "grain_growth": _plan_grain_growth,
    "sintering": _plan_sintering,
}

#: Event names that have kernels.
KERNEL_EVENTS = tuple(_PLANS)


class MissingKernelError(LookupError):
    """An event has no CUDA kernel yet."""


def plan(event, shape: tuple[int, int, int], seed: int, step: int, thresholds) -> list[Launch]:
    """The kernel launches of one step of ``event`` on a lattice of ``shape`` (nz, ny, nx).

    thresholds: ``event.thresholds(T_C, dt_s)`` (uint64). Raises MissingKernelError for an
    event without kernels.
    """
    name = getattr(event, "NAME", type(event).__name__)
    if name not in _PLANS:
        raise MissingKernelError(
            f"event {name!r} has no CUDA kernels yet (kernels exist for: {', '.join(KERNEL_EVENTS)})")
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"lattice shape must be 3 positive ints, got {shape}")
    if not 0 <= int(seed) < 2**64 or not 0 <= int(step) < 2**64:
        raise ValueError("seed and step must lie in [0, 2^64)")
    return _PLANS[name](event, tuple(int(s) for s in shape), int(seed), int(step), thresholds)


#: Grid-stride items of the reduction launch: at most 1024 blocks, so at most 1024 x 256 threads
#: add their register sums with atomics.
REDUCE_WORK = 1024 * BLOCK


def plan_phase_sums(shape: tuple[int, int, int]) -> list[Launch]:
    """The reduction of kernels/reductions.cu: Sums 'phase_count', 'phase_tm', 'phase_li' (256,)."""
    n = int(np.prod(shape))
    return [Launch("reductions.cu", "kmc_phase_sums", min(n, REDUCE_WORK),
                   (Field("phase"), Field("tm"), Field("li"), _u64(n), Sums("phase_count", 256),
                    Sums("phase_tm", 256), Sums("phase_li", 256)))]


def plan_layered_disorder_tm(shape: tuple[int, int, int]) -> list[Launch]:
    """The reduction kmc_layered_disorder_tm: Sums 'layered_tm_by_disorder' (256,), TM quanta
    of layered voxels per disorder level (kmc.observe.ObservationTables)."""
    n = int(np.prod(shape))
    return [Launch("reductions.cu", "kmc_layered_disorder_tm", min(n, REDUCE_WORK),
                   (Field("phase"), Field("tm"), Field("disorder"), _u64(n), Sums("layered_tm_by_disorder", 256)))]


def counters_of(event) -> tuple[str, ...]:
    return tuple(getattr(event, "COUNTERS", ()))


def check_lattice(lattice: Lattice) -> None:
    """Raise TypeError/ValueError unless every field has its dtype, the common shape and C order."""
    shape = lattice.phase.shape
    for name, arr in lattice.arrays().items():
        if arr.dtype != FIELD_DTYPES[name]:
            raise TypeError(f"lattice.{name}: dtype {arr.dtype}, expected {FIELD_DTYPES[name]}")
        if arr.shape != shape or len(shape) != 3:
            raise ValueError(f"lattice.{name}: shape {arr.shape}, expected {shape} (3-D)")
        if not arr.flags.c_contiguous:
            raise ValueError(f"lattice.{name}: not C-contiguous")


# -- kernel sources --------------------------------------------------------------------------------
def kernel_source(name: str) -> str:
    """Text of kernels/<name> prefixed with ``#line 1 "kernels/<name>"`` for compiler messages."""
    path = KERNEL_DIR / name
    return f'#line 1 "kernels/{name}"\n' + path.read_text()


def kernel_sources_digest() -> str:
    """sha256 over every file in kernels/ (name and bytes): the cache key of compiled code.

    Re-hashed only when a file's name, size or mtime changed (the CUDA backend asks once per
    plan, several times per step)."""
    stamp = tuple((p.name, st.st_size, st.st_mtime_ns) for p in sorted(KERNEL_DIR.iterdir())
                  if p.is_file() and (st := p.stat()))
    return _digest(stamp)


@functools.lru_cache(maxsize=8)
def _digest(stamp: tuple) -> str:
    h = hashlib.sha256()
    for name, _size, _mtime in stamp:
        h.update(name.encode() + b"\0" + (KERNEL_DIR / name).read_bytes() + b"\0")
    return h.hexdigest()


@functools.cache
def _raw_module(name: str, digest: str):
    """Memoized CuPy RawModule of kernels/<name> (digest: source hash, so edits recompile)."""
    import cupy

    options = NVRTC_OPTIONS + (f"-I{KERNEL_DIR}",)
    return cupy.RawModule(code=kernel_source(name), options=options)


def raw_module(name: str):
    return _raw_module(name, kernel_sources_digest())


# -- the backend -------------------------------------------------------------------------------------
class CudaBackend(ResidentBackend):
    """Runs the event passes of kernels/*.cu on one CUDA device through CuPy.

    The six lattice fields live in device memory (flat CuPy arrays). Ownership and transfers
    are those of `ResidentBackend`: `attach` uploads a simulation's lattice once, every pass
    runs on the device, the step control reads a device reduction (`phase_counts`, 3 x 256
    integers), observation rows read device reductions (`observation_tables`), and the fields
    are downloaded only for snapshots and reads of `Simulation.lattice`. `apply` on a lattice that is not attached keeps the `CpuBackend`
    contract (upload, passes, download).
    """

    name = "cuda"

    #: Fraction of free device memory the lattice and its scratch may take (headroom for CuPy,
    #: the tables and the compiled modules).
    MEMORY_FRACTION = 0.9

    def __init__(self, device: int = 0):
        import cupy

        super().__init__()
        self._cp = cupy
        self.device_id = int(device)
        self._device = cupy.cuda.Device(self.device_id)
        self._fields: dict | None = None
        self._scratches: dict = {}

    # memory -----------------------------------------------------------------------------------
    def memory_report(self) -> dict[str, int]:
        """Device memory in bytes: {'free', 'total', 'lattice'}. free: what the driver reports
        plus the blocks CuPy's memory pool holds unused; lattice: fields and scratch held now."""
        with self._device:
            free, total = self._device.mem_info
            free += self._cp.get_default_memory_pool().free_bytes()
        held = sum(a.nbytes for a in self._fields.values()) if self._fields else 0
        held += sum(a.nbytes for a in self._scratches.values())
        return {"free": int(free), "total": int(total), "lattice": int(held)}

    @staticmethod
    def bytes_needed(shape: tuple[int, int, int]) -> int:
        """Device bytes of a lattice of ``shape``: the fields plus the per-site scratch of the plans."""
        from kmc.state import bytes_per_voxel

        return int(np.prod(shape)) * (bytes_per_voxel() + SCRATCH_BYTES_PER_VOXEL)

    def check_fits(self, shape: tuple[int, int, int]) -> None:
        """Raise MemoryError, before allocating, if a lattice of ``shape`` would not fit."""
        need = self.bytes_needed(shape)
        report = self.memory_report()
        free = report["free"] + report["lattice"]  # what is held now would be replaced
        if need > self.MEMORY_FRACTION * free:
            raise MemoryError(
                f"lattice {tuple(shape)} needs {need / 2**30:.2f} GiB on CUDA device {self.device_id}, "
                f"{free / 2**30:.2f} GiB free of {report['total'] / 2**30:.2f} GiB "
                f"(limit {self.MEMORY_FRACTION:.0%} of free)")

    # state ------------------------------------------------------------------------------------
    def _put(self, lattice: Lattice) -> None:
        cp = self._cp
        with self._device:
            if self._shape != tuple(lattice.shape):
                self._fields = None
                self._scratches = {}
            if self._fields is None:
                self._fields = {name: cp.asarray(arr.reshape(-1)) for name, arr in lattice.arrays().items()}
            else:
                for name, arr in lattice.arrays().items():
                    self._fields[name].set(arr.reshape(-1))

    def _grain_voxel_counts(self) -> np.ndarray:
        """Voxels per nonzero grain id on the device (CuPy bincount for dense ids, else a sort;
        the rule of `kmc.observe.grain_voxel_counts`); G integers come back."""
        cp = self._cp
        with self._device:
            grain = self._fields["grain"]
            ids = grain[grain > 0]
            if ids.size == 0:
                return np.zeros(0, dtype=np.int64)
            top = int(ids.max())
            if top <= 4 * ids.size + 1024:
                counts = cp.bincount(ids, minlength=top + 1)
                counts = counts[counts > 0]
            else:
                counts = cp.unique(ids, return_counts=True)[1]
            return cp.asnumpy(counts).astype(np.int64)

    def _get(self, lattice: Lattice) -> None:
        with self._device:
            for name, arr in lattice.arrays().items():
                self._fields[name].get(out=arr.reshape(-1))

    # passes -----------------------------------------------------------------------------------
    def _execute(self, launches, counters):
        cp = self._cp
        names = list(counters) + sorted({a.name for L in launches for a in L.args
                                         if isinstance(a, Counter) and a.name not in counters})
        digest = kernel_sources_digest()  # once per plan: edits to kernels/ recompile
        with self._device:
            acc = cp.zeros(max(len(names), 1), dtype=cp.uint64)
            sums: dict[str, object] = {}
            tables: dict[int, object] = {}  # each host table uploaded once per plan
            for launch in launches:
                if launch.work == 0:
                    continue
                args = []
                for a in launch.args:
                    if isinstance(a, Field):
                        args.append(self._fields[a.name])
                    elif isinstance(a, Table):
                        if id(a) not in tables:
                            tables[id(a)] = cp.asarray(a.array)
                        args.append(tables[id(a)])
                    elif isinstance(a, Counter):
                        args.append(acc[names.index(a.name):])
                    elif isinstance(a, Sums):
                        if a.name not in sums:
                            sums[a.name] = cp.zeros(a.size, dtype=cp.uint64)
                        args.append(sums[a.name])
                    elif isinstance(a, Scratch):
                        args.append(self._scratch(a))
                    elif isinstance(a, (np.uint64, np.int64, np.uint32, np.int32)):
                        args.append(a)
                    else:
                        raise TypeError(f"{launch.kernel}: argument {a!r} is not explicitly typed")
                kernel = _raw_module(launch.source, digest).get_function(launch.kernel)
                grid = min(max(1, -(-launch.work // BLOCK)), MAX_GRID)
                kernel((grid,), (BLOCK,), tuple(args))
            totals = acc.get() if names else ()
            host_sums = {k: v.get() for k, v in sums.items()}
        return {name: int(totals[names.index(name)]) for name in counters}, host_sums

    def _scratch(self, spec: Scratch):
        """Device scratch array of one value per site, allocated once per lattice shape."""
        n = int(np.prod(self._shape))
        key = (spec.name, spec.dtype, n)
        if key not in self._scratches:
            self._scratches[key] = self._cp.empty(n, dtype=spec.dtype)
        return self._scratches[key]

    def describe(self) -> str:
        cp = self._cp
        props = cp.cuda.runtime.getDeviceProperties(self.device_id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        r = self.memory_report()
        held = f", lattice {r['lattice'] / 2**30:.2f} GiB on device" if r["lattice"] else ""
        return (f"cuda ({name}, device {self.device_id}, CuPy {cp.__version__}, "
                f"{r['free'] / 2**30:.1f} of {r['total'] / 2**30:.1f} GiB free{held})")
