"""Thermal dehydration: TM(OH)2 -> rock-salt TMO + H2O, first order.

Rate law: k(T) = nu * exp(-Ea / RT) per hydroxide voxel; in a step of length dt at the
step's midpoint temperature a hydroxide voxel converts with p = 1 - exp(-k dt), so an
isothermal hold gives the conversion 1 - exp(-k t) exactly in expectation.
The voxel keeps its TM quanta; its solid volume falls from 23.5 to 11.0 cm^3/mol per TM
(-53 %), which leaves the rest of the voxel as intragranular nanopore. One H2O per TM is
released to the gas (counter ``h2o_q``, in quanta).

Reach: the voxel itself (reads and writes one site), so every site is updated in one pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from kmc.events.arrhenius import arrhenius_per_s
from kmc.rng import Stream, draw4, probability_threshold
from kmc.state import Phase

NAME = "dehydration"
STREAM = Stream.DEHYDRATION
REACH = "site"
PARAMETERS = {"prefactor": "1/s", "activation_energy": "kJ/mol"}

_HYDROXIDE = np.uint8(Phase.HYDROXIDE)
_ROCK_SALT = np.uint8(Phase.ROCK_SALT)
_PASS = 0


@nb.njit(parallel=True, cache=True)
def _dehydrate(phase, tm, threshold, seed, step):
    """phase, tm: uint8 (n,) flat views, modified in place. Returns H2O released (quanta, int64)."""
    released = np.int64(0)
    for site in nb.prange(phase.size):
        if phase[site] == _HYDROXIDE:
            r = draw4(seed, step, _PASS, site, STREAM)[0]
            if np.uint64(r) < threshold:
                phase[site] = _ROCK_SALT
                released += np.int64(tm[site])
    return released


@dataclass(frozen=True)
class Dehydration:
    prefactor_per_s: float
    activation_energy_kJ_per_mol: float

    NAME = NAME
    STREAM = STREAM
    REACH = REACH
    PARAMETERS = PARAMETERS
    COUNTERS = ("h2o_q",)
    #: it takes hydroxide off the topotactic Li path without Li: Li transport must outrun it
    #: for the step to resolve the competition (`kmc.simulation`, numerics.transport_length_factor)
    COMPETES_WITH_LI_TRANSPORT = True

    @classmethod
    def from_params(cls, params) -> "Dehydration":
        return cls(params.get(NAME, "prefactor", "1/s"), params.get(NAME, "activation_energy", "kJ/mol"))

    def rate_per_s(self, T_C: float) -> float:
        """First-order rate constant k(T) in 1/s."""
        return arrhenius_per_s(self.prefactor_per_s, self.activation_energy_kJ_per_mol, T_C)

    def probability(self, T_C: float, dt_s: float) -> float:
        """Probability that one hydroxide voxel converts within dt at temperature T."""
        return -math.expm1(-self.rate_per_s(T_C) * dt_s)

    def consumption_rates_per_s(self, T_C: float) -> dict[int, float]:
        """{parent phase: first-order rate (1/s)} of the phases this event transforms."""
        return {int(Phase.HYDROXIDE): self.rate_per_s(T_C)}

    def thresholds(self, T_C: float, dt_s: float) -> np.ndarray:
        """uint64 (1,): integer firing threshold for a step of dt at T (see kmc.rng)."""
        return np.array([probability_threshold(self.probability(T_C, dt_s))], dtype=np.uint64)

    def cpu_pass(self, lattice, seed: int, step: int, thresholds: np.ndarray) -> dict[str, int]:
        released = _dehydrate(lattice.phase.reshape(-1), lattice.tm.reshape(-1), thresholds[0],
                              np.uint64(seed), np.uint64(step))
        return {"h2o_q": int(released)}
