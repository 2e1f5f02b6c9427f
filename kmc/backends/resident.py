"""Backends that keep the lattice in their own memory and run the launch plans there.

`ResidentBackend` is the common part of `kmc.backends.cuda.CudaBackend` (device memory) and
`kmc.backends.emulated.EmulatedBackend` (private host buffers, tests only): who holds the
state, when it is copied, and what observers read. A subclass provides `_put` (copy a host
lattice in), `_get` (copy it out), `_execute` (run launches), `_grain_voxel_counts` and `check_fits`.

Ownership, the contract `kmc.simulation.Simulation` relies on:

- ``attach(lattice)`` copies ``lattice`` in once; from then on the backend's copy is the
  state. ``apply`` on that lattice runs the passes there and leaves the host arrays stale;
  writes into the host arrays are not seen by the backend until ``attach`` is called again.
- ``sync(lattice)`` copies the fields back into the host arrays when they changed since the
  last copy (the simulation calls it before a snapshot is written, or when code reads
  ``Simulation.lattice``).
- ``phase_counts(lattice)`` (the step control's phases present, every step) is a reduction on
  the backend's side: 3 tables of 256 integers come back (`PhaseSums`), cached until the next
  pass.
- ``observation_tables(lattice)`` is what observers read (`kmc.observe.ObservationTables`):
  reductions on the backend's side, the phase sums, the layered TM per disorder level (256
  integers) and the voxel count of each grain (G integers, `_grain_voxel_counts`); the fields
  stay where they are. Only snapshots and reads of ``Simulation.lattice`` copy them back.
- ``apply`` on any other lattice keeps the `CpuBackend` contract (host arrays updated in
  place): the attached lattice is synced and released first, the other one is copied in,
  run and copied out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from kmc.observe import ObservationTables, sum_by_code
from kmc.state import Lattice

#: Entries of the per-phase tables: one per uint8 phase code.
N_PHASE_CODES = 256


@dataclass(frozen=True, eq=False)
class PhaseSums:
    """Per-phase totals of a lattice. count, tm, li: int64 (256,), indexed by phase code:
    voxels, TM quanta and Li quanta of that phase."""

    count: np.ndarray
    tm: np.ndarray
    li: np.ndarray

    @classmethod
    def of(cls, lattice: Lattice) -> "PhaseSums":
        """The reference: numpy bincounts of a host lattice (exact int64)."""
        phase = lattice.phase.reshape(-1)
        return cls(np.bincount(phase, minlength=N_PHASE_CODES).astype(np.int64),
                   sum_by_code(phase, lattice.tm.reshape(-1)), sum_by_code(phase, lattice.li.reshape(-1)))

    def __eq__(self, other) -> bool:
        return isinstance(other, PhaseSums) and all(
            np.array_equal(getattr(self, k), getattr(other, k)) for k in ("count", "tm", "li"))


class ResidentBackend(ABC):
    """Base class: lattice ownership, transfers and reductions of a plan-running backend
    (module docstring). Subclasses set ``name`` and implement the four hooks."""

    name = "resident"

    def __init__(self):
        self._host: Lattice | None = None   # the attached host lattice
        self._shape: tuple | None = None    # shape of the fields held now
        self._dirty = False                 # held fields changed since the last copy out
        self._sums: PhaseSums | None = None

    # -- hooks ------------------------------------------------------------------------------------
    @abstractmethod
    def check_fits(self, shape: tuple[int, int, int]) -> None:
        """Raise MemoryError, before allocating, if a lattice of ``shape`` cannot be held."""

    @abstractmethod
    def _put(self, lattice: Lattice) -> None:
        """Copy the six fields of ``lattice`` into the backend's memory."""

    @abstractmethod
    def _get(self, lattice: Lattice) -> None:
        """Copy the held fields into the host arrays of ``lattice``."""

    @abstractmethod
    def _execute(self, launches, counters: tuple[str, ...]) -> tuple[dict[str, int], dict[str, np.ndarray]]:
        """Run ``launches`` on the held fields: (named counters as ints, every Sums array)."""

    @abstractmethod
    def _grain_voxel_counts(self) -> np.ndarray:
        """int64 (G,): voxels of each nonzero grain id of the held fields, by ascending id
        (`kmc.observe.grain_voxel_counts` of the held grain field)."""

    # -- ownership --------------------------------------------------------------------------------
    def upload(self, lattice: Lattice) -> None:
        """Copy ``lattice`` in (refused before allocating if it does not fit)."""
        from kmc.backends.cuda import check_lattice

        check_lattice(lattice)
        self.check_fits(tuple(lattice.shape))
        self._put(lattice)
        self._shape = tuple(lattice.shape)
        self._dirty = False
        self._sums = None

    def download(self, lattice: Lattice) -> None:
        """Copy the held fields into ``lattice`` (same shape)."""
        from kmc.backends.cuda import check_lattice

        check_lattice(lattice)
        if self._shape is None or tuple(lattice.shape) != self._shape:
            raise ValueError(f"no held lattice of shape {tuple(lattice.shape)}; upload or attach it first")
        self._get(lattice)

    def attach(self, lattice: Lattice) -> None:
        """Take ``lattice`` over: copy it in once; `apply` on it then stays in backend memory."""
        self.release()
        self.upload(lattice)
        self._host = lattice

    def sync(self, lattice: Lattice) -> None:
        """Make the host arrays of ``lattice`` current (copies only if the held state changed)."""
        if lattice is self._host and self._dirty:
            self.download(lattice)
            self._dirty = False

    def release(self) -> None:
        """Sync the attached lattice and stop holding it as the state."""
        if self._host is not None:
            self.sync(self._host)
        self._host = None

    # -- passes -----------------------------------------------------------------------------------
    def run_plan(self, launches, counters: tuple[str, ...]) -> dict[str, int]:
        """Run ``launches`` on the held fields; returns the named counters (ints)."""
        if self._shape is None:
            raise ValueError("no held lattice; attach or upload one first")
        if launches:
            self._dirty = True
            self._sums = None
        return self._execute(launches, tuple(counters))[0]

    def apply(self, event, lattice: Lattice, seed: int, step: int, thresholds, extra: tuple[str, ...] = ()
              ) -> dict[str, int]:
        """Run one event's passes for step ``step``; the event's counters (and ``extra`` ones,
        statistics such as li_hop's '_moved_q'). On the attached lattice the state stays here;
        on any other the host arrays are updated in place, as `CpuBackend.apply` does."""
        from kmc.backends.cuda import counters_of, plan

        launches = plan(event, lattice.shape, seed, step, thresholds)
        names = counters_of(event) + tuple(extra)
        if lattice is self._host:
            return self.run_plan(launches, names)
        self.release()
        self.upload(lattice)
        counters = self.run_plan(launches, names)
        self.download(lattice)
        self._dirty = False
        return counters

    # -- reductions -------------------------------------------------------------------------------
    def phase_sums(self) -> PhaseSums:
        """`PhaseSums` of the held fields, by a reduction on the backend (cached until a pass)."""
        from kmc.backends.cuda import plan_phase_sums

        if self._shape is None:
            raise ValueError("no held lattice; attach or upload one first")
        if self._sums is None:
            _, sums = self._execute(plan_phase_sums(self._shape), ())
            self._sums = PhaseSums(*(np.asarray(sums[k], dtype=np.uint64).astype(np.int64)
                                     for k in ("phase_count", "phase_tm", "phase_li")))
        return self._sums

    def phase_counts(self, lattice: Lattice) -> np.ndarray:
        """int64 (256,): voxels per phase code (the step control's phases present)."""
        if lattice is self._host:
            return self.phase_sums().count
        return np.bincount(lattice.phase.reshape(-1), minlength=N_PHASE_CODES)

    def observation_tables(self, lattice: Lattice) -> ObservationTables:
        """`ObservationTables` of ``lattice``: reduced on the backend when it is the attached
        lattice (only small tables come back), from the host arrays otherwise."""
        from kmc.backends.cuda import plan_layered_disorder_tm

        if lattice is not self._host:
            return ObservationTables.of(lattice)
        sums = self.phase_sums()
        _, by_level = self._execute(plan_layered_disorder_tm(self._shape), ())
        return ObservationTables(sums.tm, sums.li,
                                 np.asarray(by_level["layered_tm_by_disorder"], dtype=np.uint64).astype(np.int64),
                                 self._grain_voxel_counts())
