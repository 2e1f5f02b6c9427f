"""Observables recorded during a run (one row per observation time).

Column names carry their units. Phase fractions are on a TM-mole basis (what Rietveld
refinement of in situ XRD reports); Li and TM totals are in quanta and must stay constant
(Li only leaves as gas once gas-phase Li loss is modelled, then through a counter).
"""

from __future__ import annotations

import numpy as np

from kmc.state import Lattice, Phase, fill_lookup, quantum_mol

_TM_PHASES = {"hydroxide": Phase.HYDROXIDE, "rock_salt": Phase.ROCK_SALT, "layered": Phase.LAYERED}


class Observer:
    """Computes one observable row from a lattice.

    particle_voxels: number of voxels inside the initial particle sphere (for porosity).
    voxel_nm: voxel edge in nm (to turn quanta into moles).
    """

    def __init__(self, particle_voxels: int, voxel_nm: float):
        self.particle_voxels = max(int(particle_voxels), 1)
        self.quantum_mol = quantum_mol(voxel_nm)
        self._fill = fill_lookup()

    def row(self, lattice: Lattice, step: int, time_s: float, temperature_C: float, counters: dict[str, int]) -> dict[str, float]:
        phase = lattice.phase.reshape(-1)
        tm_by_phase = np.bincount(phase, weights=lattice.tm.reshape(-1), minlength=256)
        tm_total = float(tm_by_phase.sum())
        li_total = int(lattice.li.sum(dtype=np.int64))
        solid_volume = float((tm_by_phase * self._fill).sum())  # voxel volumes of TM-bearing solid
        row = {"step": float(step), "time_s": time_s, "time_h": time_s / 3600.0, "temperature_C": temperature_C}
        for name, ph in _TM_PHASES.items():
            row[f"tm_frac_{name}"] = float(tm_by_phase[int(ph)]) / tm_total if tm_total else 0.0
        row["particle_porosity"] = 1.0 - solid_volume / self.particle_voxels
        row["li_total_q"] = float(li_total)
        row["tm_total_q"] = tm_total
        for name, value in counters.items():
            if name.endswith("_q"):  # gas released (or Li given away by a source), in quanta
                row[f"{name.removesuffix('_q')}_released_mol"] = value * self.quantum_mol
            else:                    # an event's cumulative count of what it did
                row[name] = float(value)
        return row
