"""Observables recorded during a run (one row per observation time, ``DIR/observables.csv``).

Column names carry their units (docs/observables.md, "The run's own table"). Phase fractions
are on a TM-mole basis (what Rietveld refinement of in situ XRD reports), with the layered
phase split into Li/Ni-disordered and ordered at `kmc.analysis.phases.DISORDER_THRESHOLD`;
Li is given per phase in quanta; grains are counted and sized as in `kmc.analysis.grains`.
Li and TM totals are in quanta and stay constant (gas leaves through the counters).
"""

from __future__ import annotations

import numpy as np

from kmc.analysis.grains import grain_stats
from kmc.analysis.phases import layered_split, li_ni_disorder
from kmc.state import LI_SOURCE_PHASES, TM_PHASES, Lattice, fill_lookup, quantum_mol


class Observer:
    """Computes one observable row from a lattice.

    particle_voxels: number of voxels inside the initial particle sphere (for porosity).
    voxel_nm: voxel edge in nm (to turn quanta into moles and grain voxels into nm).
    """

    def __init__(self, particle_voxels: int, voxel_nm: float):
        self.particle_voxels = max(int(particle_voxels), 1)
        self.voxel_nm = float(voxel_nm)
        self.quantum_mol = quantum_mol(voxel_nm)
        self._fill = fill_lookup()

    def row(self, lattice: Lattice, step: int, time_s: float, temperature_C: float, counters: dict[str, int]) -> dict[str, float]:
        """One row: floats keyed by column name (units in the names; fractions 0..1)."""
        phase = lattice.phase.reshape(-1)
        tm_by_phase = np.bincount(phase, weights=lattice.tm.reshape(-1), minlength=256)
        li_by_phase = np.bincount(phase, weights=lattice.li.reshape(-1), minlength=256)
        tm_total = float(tm_by_phase.sum())
        solid_volume = float((tm_by_phase * self._fill).sum())  # voxel volumes of TM-bearing solid
        row = {"step": float(step), "time_s": time_s, "time_h": time_s / 3600.0, "temperature_C": temperature_C}
        for ph in TM_PHASES:
            row[f"tm_frac_{ph.name.lower()}"] = float(tm_by_phase[int(ph)]) / tm_total if tm_total else 0.0
        split = layered_split(lattice)
        row["tm_frac_layered_disordered"] = split["disordered_q"] / tm_total if tm_total else 0.0
        row["tm_frac_layered_ordered"] = split["ordered_q"] / tm_total if tm_total else 0.0
        row["li_ni_disorder"] = li_ni_disorder(lattice)
        row["particle_porosity"] = 1.0 - solid_volume / self.particle_voxels
        row["li_total_q"] = float(li_by_phase.sum())
        for ph in (*TM_PHASES, *LI_SOURCE_PHASES):
            row[f"li_in_{ph.name.lower()}_q"] = float(li_by_phase[int(ph)])
        row["tm_total_q"] = tm_total
        grains = grain_stats(lattice, self.voxel_nm)
        row["grain_count"] = float(grains["grain_count"])
        row["grain_d_mean_nm"] = grains["grain_d_mean_nm"]
        for name, value in counters.items():
            if name.endswith("_q"):  # gas released (or Li given away by a source), in quanta
                row[f"{name.removesuffix('_q')}_released_mol"] = value * self.quantum_mol
            else:                    # an event's cumulative count of what it did
                row[name] = float(value)
        return row
