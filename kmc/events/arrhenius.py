"""The Arrhenius rate law shared by every thermally activated event."""

from __future__ import annotations

import math

GAS_CONSTANT_J_PER_MOL_K = 8.314462618


def arrhenius_per_s(prefactor_per_s: float, activation_energy_kJ_per_mol: float, T_C: float) -> float:
    """nu * exp(-Ea / (R T)) in 1/s, for nu in 1/s, Ea in kJ/mol and T in °C."""
    return prefactor_per_s * math.exp(-activation_energy_kJ_per_mol * 1e3 / (GAS_CONSTANT_J_PER_MOL_K * (T_C + 273.15)))
