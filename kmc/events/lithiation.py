"""Lithiation of the precursor into the layered phase: topotactic and from rock salt.

Two routes, one rule with different parameters (MODEL.md section 1):

- topotactic: TM(OH)2 + Li -> Li(TM)O2, little rearrangement, fast, from ~200 °C with LiOH;
  the hydroxide's water leaves (one H2O per TM, counter ``h2o_q``).
- rock salt: TMO + Li -> Li(TM)O2, needs real rearrangement: slower, higher barrier.

A voxel of the route's parent phase whose Li:TM reached the threshold x_min converts with
p = 1 - exp(-k dt), k = nu exp(-Ea/RT). The check is integer: 256 * li >= x256 * tm with
x256 = round(256 x_min). The new layered voxel keeps its tm, li and grain; its Li/Ni
disorder starts at d0 (the route's initial disorder) plus the Li deficiency:
disorder = min(255, d0_255 + 255 * (tm - li) // tm) when li < tm, else d0_255. Cation
ordering (another event) then relaxes it. Reach: the site.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from kmc.events.arrhenius import arrhenius_per_s
from kmc.rng import Stream, draw4, probability_threshold
from kmc.state import Phase

NAME = "lithiation"
STREAM = Stream.LITHIATION
REACH = "site"
PARAMETERS = {
    "topotactic_prefactor": "1/s", "topotactic_activation_energy": "kJ/mol",
    "topotactic_initial_disorder": "1",
    "rock_salt_prefactor": "1/s", "rock_salt_activation_energy": "kJ/mol",
    "rock_salt_initial_disorder": "1",
    "min_li_per_tm": "mol/mol",
}

_LAYERED = np.uint8(Phase.LAYERED)
_ROUTES = (np.uint8(Phase.HYDROXIDE), np.uint8(Phase.ROCK_SALT))


@nb.njit(parallel=True, cache=True)
def _lithiate(phase, li, tm, disorder, parent, threshold, x256, d0, releases_water, seed, step, pass_):
    """phase, li, tm, disorder: uint8 (n,), in place. Returns H2O quanta released (int64)."""
    water = np.int64(0)
    for i in nb.prange(phase.size):
        if phase[i] != parent:
            continue
        t = np.int64(tm[i])
        l = np.int64(li[i])
        if t == 0 or 256 * l < x256 * t:
            continue
        if np.uint64(draw4(seed, step, pass_, i, STREAM)[0]) >= threshold:
            continue
        d = d0
        if l < t:
            d += 255 * (t - l) // t
        phase[i] = _LAYERED
        disorder[i] = np.uint8(min(d, 255))
        if releases_water:
            water += t
    return water


@dataclass(frozen=True)
class Lithiation:
    """topotactic, rock_salt: (prefactor 1/s, Ea kJ/mol); initial disorders as fractions 0..1."""

    topotactic: tuple[float, float]
    rock_salt: tuple[float, float]
    topotactic_initial_disorder: float
    rock_salt_initial_disorder: float
    min_li_per_tm: float

    NAME = NAME
    STREAM = STREAM
    REACH = REACH
    PARAMETERS = PARAMETERS
    COUNTERS = ("h2o_q",)

    @classmethod
    def from_params(cls, params) -> "Lithiation":
        def get(name, unit):
            return params.get(NAME, name, unit)

        return cls((get("topotactic_prefactor", "1/s"), get("topotactic_activation_energy", "kJ/mol")),
                   (get("rock_salt_prefactor", "1/s"), get("rock_salt_activation_energy", "kJ/mol")),
                   get("topotactic_initial_disorder", "1"), get("rock_salt_initial_disorder", "1"),
                   get("min_li_per_tm", "mol/mol"))

    def rates_per_s(self, T_C: float) -> tuple[float, float]:
        """(topotactic, rock-salt) rate constants in 1/s."""
        return arrhenius_per_s(*self.topotactic, T_C), arrhenius_per_s(*self.rock_salt, T_C)

    def consumption_rates_per_s(self, T_C: float) -> dict[int, float]:
        """{parent phase: first-order rate (1/s)}: hydroxide (topotactic), rock salt."""
        k_topo, k_rs = self.rates_per_s(T_C)
        return {int(Phase.HYDROXIDE): k_topo, int(Phase.ROCK_SALT): k_rs}

    def thresholds(self, T_C: float, dt_s: float) -> np.ndarray:
        """uint64 (2,): firing thresholds of the topotactic and rock-salt routes."""
        return np.array([probability_threshold(-math.expm1(-k * dt_s)) for k in self.rates_per_s(T_C)], dtype=np.uint64)

    def cpu_pass(self, lattice, seed: int, step: int, thresholds: np.ndarray) -> dict[str, int]:
        x256 = int(round(256 * self.min_li_per_tm))
        d0 = (int(round(255 * self.topotactic_initial_disorder)), int(round(255 * self.rock_salt_initial_disorder)))
        flat = (lattice.phase.reshape(-1), lattice.li.reshape(-1), lattice.tm.reshape(-1), lattice.disorder.reshape(-1))
        water = 0
        for route in range(2):
            if thresholds[route] == 0:
                continue
            water += int(_lithiate(*flat, _ROUTES[route], thresholds[route], x256, d0[route], route == 0,
                                   np.uint64(seed), np.uint64(step), route))
        return {"h2o_q": water}
