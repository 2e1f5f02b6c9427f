"""Observables recorded during a run (one row per observation time, ``DIR/observables.csv``).

A row is computed from `ObservationTables`, a few small integer tables reduced from the
lattice, so that a device backend sends back kilobytes, not the fields, at each observation
(`kmc.backends.resident.ResidentBackend.observation_tables`). Column names carry their units
(docs/observables.md, "The run's own table"). Phase fractions are on a TM-mole basis (what
Rietveld refinement of in situ XRD reports), the layered phase split into Li/Ni-disordered
and ordered at `kmc.analysis.phases.DISORDER_THRESHOLD`; Li is given per phase in quanta;
grains are counted and sized as in `kmc.analysis.grains`. Li and TM totals are in quanta and
stay constant (gas leaves through the counters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kmc.analysis.geometry import equivalent_diameter
from kmc.analysis.phases import DISORDER_THRESHOLD
from kmc.state import LI_SOURCE_PHASES, TM_PHASES, Lattice, Phase, fill_lookup, quantum_mol

#: Entries of the per-phase and per-disorder-level tables (uint8 codes).
N_CODES = 256
_LEVELS = np.arange(N_CODES, dtype=np.int64)
#: bool (256,): disorder levels d that count as Li/Ni-disordered, d / 255 >= DISORDER_THRESHOLD
#: (the comparison of `kmc.analysis.phases.layered_split`, level by level).
DISORDERED_LEVEL = _LEVELS.astype(np.float64) / 255.0 >= DISORDER_THRESHOLD


@dataclass(frozen=True, eq=False)
class ObservationTables:
    """The reductions of a lattice one observation row needs (all int64):

    - ``tm_by_phase``, ``li_by_phase``: (256,) TM and Li quanta per phase code;
    - ``layered_tm_by_disorder``: (256,) TM quanta of layered voxels per disorder level 0..255;
    - ``grain_voxels``: (G,) voxel count of each grain present (nonzero id), by ascending id.
    """

    tm_by_phase: np.ndarray
    li_by_phase: np.ndarray
    layered_tm_by_disorder: np.ndarray
    grain_voxels: np.ndarray

    @classmethod
    def of(cls, lattice: Lattice) -> "ObservationTables":
        """The reference reductions of a host lattice (numpy, exact integers)."""
        phase = lattice.phase.reshape(-1)
        layered = phase == int(Phase.LAYERED)
        grain = lattice.grain.reshape(-1)
        return cls(sum_by_code(phase, lattice.tm.reshape(-1)), sum_by_code(phase, lattice.li.reshape(-1)),
                   sum_by_code(lattice.disorder.reshape(-1)[layered], lattice.tm.reshape(-1)[layered]),
                   grain_voxel_counts(grain))

    def __eq__(self, other) -> bool:
        return isinstance(other, ObservationTables) and all(
            np.array_equal(getattr(self, k), getattr(other, k))
            for k in ("tm_by_phase", "li_by_phase", "layered_tm_by_disorder", "grain_voxels"))


def sum_by_code(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """int64 (256,): sums of ``values`` per uint8 code (float64 accumulation: exact below 2^53)."""
    return np.bincount(codes, weights=values, minlength=N_CODES).astype(np.int64)


def grain_voxel_counts(grain: np.ndarray) -> np.ndarray:
    """int64 (G,): voxels of each nonzero grain id in ``grain`` (an int array), by ascending id."""
    ids = grain[grain > 0]
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    top = int(ids.max())
    if top <= 4 * ids.size + 1024:              # dense ids: a bincount beats a sort
        counts = np.bincount(ids, minlength=top + 1)
        return counts[counts > 0].astype(np.int64)
    return np.unique(ids, return_counts=True)[1].astype(np.int64)


class Observer:
    """Computes one observable row from `ObservationTables`.

    particle_voxels: number of voxels inside the initial particle sphere (for porosity).
    voxel_nm: voxel edge in nm (to turn quanta into moles and grain voxels into nm).
    """

    def __init__(self, particle_voxels: int, voxel_nm: float):
        self.particle_voxels = max(int(particle_voxels), 1)
        self.voxel_nm = float(voxel_nm)
        self.quantum_mol = quantum_mol(voxel_nm)
        self._fill = fill_lookup()

    def row(self, tables: ObservationTables, step: int, time_s: float, temperature_C: float,
            counters: dict[str, int]) -> dict[str, float]:
        """One row: floats keyed by column name (units in the names; fractions 0..1)."""
        tm, li = tables.tm_by_phase, tables.li_by_phase
        tm_total = float(tm.sum())
        solid_volume = float((tm * self._fill).sum())  # voxel volumes of TM-bearing solid
        row = {"step": float(step), "time_s": time_s, "time_h": time_s / 3600.0, "temperature_C": temperature_C}
        for ph in TM_PHASES:
            row[f"tm_frac_{ph.name.lower()}"] = float(tm[int(ph)]) / tm_total if tm_total else 0.0
        by_level = tables.layered_tm_by_disorder
        disordered = float(by_level[DISORDERED_LEVEL].sum())
        layered_tm = float(by_level.sum())
        row["tm_frac_layered_disordered"] = disordered / tm_total if tm_total else 0.0
        row["tm_frac_layered_ordered"] = (layered_tm - disordered) / tm_total if tm_total else 0.0
        # TM-weighted mean mixing sum(tm d) / (255 sum tm): an exact integer sum, then one division
        row["li_ni_disorder"] = float((by_level * _LEVELS).sum()) / 255.0 / layered_tm if layered_tm else float("nan")
        row["particle_porosity"] = 1.0 - solid_volume / self.particle_voxels
        row["li_total_q"] = float(li.sum())
        for ph in (*TM_PHASES, *LI_SOURCE_PHASES):
            row[f"li_in_{ph.name.lower()}_q"] = float(li[int(ph)])
        row["tm_total_q"] = tm_total
        n = tables.grain_voxels
        row["grain_count"] = float(n.size)
        row["grain_d_mean_nm"] = float(equivalent_diameter(n, self.voxel_nm).mean()) if n.size else float("nan")
        for name, value in counters.items():
            if name.endswith("_q"):  # gas released (or Li given away by a source), in quanta
                row[f"{name.removesuffix('_q')}_released_mol"] = value * self.quantum_mol
            else:                    # an event's cumulative count of what it did
                row[name] = float(value)
        return row
