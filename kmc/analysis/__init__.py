"""Measurements on lattices and run stores, in the terms experimentalists use.

Pure functions of a `kmc.state.Lattice` (plus the voxel edge in nm and, where it matters, the
particle centre and radius in voxels) that return plain dicts of floats and numpy arrays,
units in the key names. docs/observables.md lists every observable, its definition, unit and
column in DIR/analysis/observables.csv.

| module | what |
|---|---|
| `phases` | phase fractions (TM, volume, Li bases), Li/Ni disorder, ordered/disordered layered |
| `radial` | profiles in shells of r/R; core (r < R/2) versus shell |
| `pores` | porosity (macro, nano, open, closed), internal void, intragranular pores |
| `grains` | grain count and sizes, lithiated grains, crystallite size |
| `tga` | mass vs temperature from the released gases; stoichiometric end mass |
| `xrd` | simulated powder pattern, Scherrer sizes, I(003)/I(104) |
| `run` | one row per frame of a run store, and the CSV files of DIR/analysis/ |
"""

from kmc.analysis.geometry import Particle, equivalent_diameter, equivalent_radius, particle, particle_from_config, radial_distance
from kmc.analysis.grains import LITHIATED_THRESHOLD, grain_size_map, grain_stats, grain_table, phase_domain_sizes
from kmc.analysis.phases import DISORDER_THRESHOLD, li_ni_disorder, phase_fractions, solid_volume_by_phase
from kmc.analysis.pores import label_pore_space, pore_analysis
from kmc.analysis.radial import core_shell, radial_profiles
from kmc.analysis.run import analyze_run, frame_observables, tga_from_observables
from kmc.analysis.tga import (counters_to_mol, full_reaction_gas_mol, initial_mixture_mass_g, lattice_mass_g,
                              molar_masses, oxygen_uptake_q, stoichiometric_end_mass_g, tga_curve)
from kmc.analysis.xrd import (fwhm_to_size, i003_i104, i003_i104_from_pattern, peak_position_fwhm, peaks, pattern,
                              simulate, size_from_pattern, size_to_fwhm, xrd_from_lattice)

__all__ = [
    "Particle", "particle", "particle_from_config", "radial_distance", "equivalent_diameter", "equivalent_radius",
    "phase_fractions", "li_ni_disorder", "solid_volume_by_phase", "DISORDER_THRESHOLD",
    "radial_profiles", "core_shell",
    "pore_analysis", "label_pore_space",
    "grain_table", "grain_stats", "grain_size_map", "phase_domain_sizes", "LITHIATED_THRESHOLD",
    "tga_curve", "stoichiometric_end_mass_g", "initial_mixture_mass_g", "full_reaction_gas_mol", "molar_masses",
    "lattice_mass_g", "counters_to_mol", "oxygen_uptake_q",
    "peaks", "pattern", "simulate", "fwhm_to_size", "size_to_fwhm", "size_from_pattern", "i003_i104",
    "i003_i104_from_pattern", "peak_position_fwhm", "xrd_from_lattice",
    "frame_observables", "analyze_run", "tga_from_observables",
]
