"""The numba CPU backend: the reference implementation of every event pass."""

from __future__ import annotations

import numba
import numpy as np

from kmc import scratch
from kmc.observe import ObservationTables
from kmc.state import Lattice


class CpuBackend:
    """Runs each event's numba pass in place on host arrays.

    threads: numba threads to use (None: numba's default, all cores). Results do not depend
    on it: random numbers are keyed by site, and reductions are integer sums.

    The ownership calls of the simulation loop (`attach`, `sync`, `phase_counts`, `observation_tables`;
    `kmc.backends.resident` has the contract a device backend keeps) are trivial here: the
    host arrays are the state.
    """

    name = "cpu"

    def __init__(self, threads: int | None = None):
        self.threads = threads
        if threads is not None:
            numba.set_num_threads(int(threads))

    def apply(self, event, lattice: Lattice, seed: int, step: int, thresholds: np.ndarray) -> dict[str, int]:
        """Run one event's passes for step ``step``; returns the event's counters (quanta)."""
        if self.threads is not None:  # numba's thread count is per process: keep this backend's
            numba.set_num_threads(self.threads)
        return event.cpu_pass(lattice, seed, step, thresholds)

    def attach(self, lattice: Lattice) -> None:
        """Nothing to copy: the numba passes work on the host arrays."""

    def sync(self, lattice: Lattice) -> None:
        """Nothing to copy: the host arrays are always current."""

    def release(self) -> None:
        """Drop the scratch arrays the passes keep between steps (`kmc.scratch`)."""
        scratch.release()

    def phase_counts(self, lattice: Lattice) -> np.ndarray:
        """int64 (256,): voxels per phase code."""
        return np.bincount(lattice.phase.reshape(-1), minlength=256)

    def observation_tables(self, lattice: Lattice) -> ObservationTables:
        """The reductions an observation row reads (`kmc.observe.ObservationTables`)."""
        return ObservationTables.of(lattice)

    def describe(self) -> str:
        return f"cpu (numba {numba.__version__}, {numba.get_num_threads()} threads)"
