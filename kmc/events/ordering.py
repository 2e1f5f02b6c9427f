"""Cation ordering: Li/Ni disorder of the layered phase relaxes toward equilibrium, first order.

The layered phase forms Li/Ni-disordered by topotactic lithiation at 200-300 °C; the disorder
decays at high temperature (MODEL.md section 1: disorder highest around 300 °C, decreasing
above). Field ``disorder``: uint8, d = 0 (ordered) .. 255 (fully mixed), the fraction of Li
sites occupied by Ni is d / 255.

Rate law, per LAYERED voxel (deterministic form):

    d(t + dt) = d_eq + (d(t) - d_eq) exp(-k dt),     k(T) = nu exp(-Ea / RT)  [1/s]

Equilibrium disorder, larger where the voxel is Li-deficient (Li_{1-z}Ni_{1+z}O2: a missing Li
leaves its site to a Ni, z ~ (1 - li/tm) / 2 for small z):

    d_eq / 255 = min(1, f_eq + c_li max(0, 1 - li/tm))

with f_eq = ``equilibrium_disorder`` and c_li = ``li_deficiency_coefficient`` (default 0.5,
the stoichiometric value). A voxel with tm = 0 uses f_eq.

Integer update (exact in expectation; integer arithmetic only on the device side). The host
computes, for the step, the relaxation weight in 32-bit fixed point

    w = round(2^32 (1 - exp(-k dt)))          in [0, 2^32]

and the equilibrium in units of 2^-16 disorder levels, E0 = round(255 f_eq 2^16),
C = round(255 c_li 2^16), E_max = 255 2^16. Per LAYERED voxel i:

    E   = min(E_max, E0 + (C (tm - li)) // tm)   if li < tm and C > 0, else min(E_max, E0)
    a   = d (2^32 - w) 2^16 + E w                (< 2^57: uint64)
    r48 = (r0 << 16) | (r1 >> 16)                (r0, r1 = draw4(seed, step, 0, i, Stream.ORDERING))
    d'  = (a + r48) >> 48

a / 2^48 is the deterministic update (d_eq in units of 2^-16 levels); adding a uniform
48-bit draw before the shift is unbiased stochastic rounding: E[d'] = a / 2^48 exactly, so
the mean disorder follows the rate law exactly in expectation up to the fixed-point rounding
of w (2^-33 relative per step) and of E (2^-17 levels). d' <= 255 because a is a convex
combination of 255 2^48 bounds. Reach: the site only; one pass; reads phase, li, tm;
writes disorder of LAYERED voxels only. No counters.

Thresholds for one step, uint64 (4,): [w, E0, C, E_max]; all zero when w = 0 (nothing
changes, so the simulation may skip the pass).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from kmc.events.arrhenius import arrhenius_per_s
from kmc.rng import Stream, draw4_lanes
from kmc.state import Phase

NAME = "ordering"
STREAM = Stream.ORDERING
REACH = "site"
PARAMETERS = {"prefactor": "1/s", "activation_energy": "kJ/mol", "equilibrium_disorder": "1",
              "li_deficiency_coefficient": "1"}
N_THRESHOLDS = 4
_PASS = 0
_LAYERED = np.uint8(Phase.LAYERED)
_TWO32 = 1 << 32
_LEVEL_Q16 = 255 * (1 << 16)     #: disorder level 255 in units of 2^-16 levels


#: Voxels per block of `_relax`: the LAYERED voxels of a block are drawn together (lane-parallel).
BLOCK = 2048


@nb.njit(parallel=True, cache=True)
def _relax(phase, disorder, li, tm, w, E0, C, Emax, seed, step):
    """One pass of the integer update in the module docstring.

    phase, disorder, li, tm: uint8 (n,) flat views; disorder is changed in place for LAYERED
    voxels. w, E0, C, Emax, seed, step: uint64. Returns the number of voxels whose disorder
    changed (int64). Block by block of BLOCK voxels: the LAYERED voxels are listed, their draws
    made lane-parallel (`kmc.rng.draw4_lanes`, bit for bit ``draw4``), then updated.
    """
    keep = np.uint64(_TWO32) - w
    changed = 0
    n_blocks = (phase.size + BLOCK - 1) // BLOCK
    for b in nb.prange(n_blocks):
        cand = np.empty(BLOCK, dtype=np.int64)
        c0 = np.empty(BLOCK, dtype=np.uint64)
        c1 = np.empty(BLOCK, dtype=np.uint64)
        c2 = np.empty(BLOCK, dtype=np.uint64)
        c3 = np.empty(BLOCK, dtype=np.uint64)
        m = 0
        for i in range(b * BLOCK, min(phase.size, (b + 1) * BLOCK)):
            cand[m] = i
            m += np.int64(phase[np.uint64(i)] == _LAYERED)
        draw4_lanes(cand, 0, m, c0, c1, c2, c3, seed, step, _PASS, STREAM)
        n_changed = 0
        for k in range(m):
            i = np.uint64(cand[k])
            E = E0
            t = np.uint64(tm[i])
            l = np.uint64(li[i])
            if C != 0 and l < t:
                E = E0 + (C * (t - l)) // t
            E = min(E, Emax)
            r48 = (c0[k] << np.uint64(16)) | (c1[k] >> np.uint64(16))
            d = np.uint64(disorder[i])
            a = ((d * keep) << np.uint64(16)) + E * w
            dn = np.uint8((a + r48) >> np.uint64(48))
            n_changed += np.int64(dn != disorder[i])
            disorder[i] = dn
        changed += n_changed
    return changed


def relax_disorder(phase: np.ndarray, disorder: np.ndarray, li: np.ndarray, tm: np.ndarray, seed: int, step: int,
                   thresholds: np.ndarray) -> int:
    """One ordering pass on (nz, ny, nx) C-contiguous uint8 arrays; disorder changed in place.

    thresholds: uint64 (4,) = [w, E0, C, E_max] (module docstring). Returns the number of
    voxels whose disorder changed (int).
    """
    for name, a in (("phase", phase), ("disorder", disorder), ("li", li), ("tm", tm)):
        if a.dtype != np.uint8:
            raise TypeError(f"{name}: uint8 expected, got {a.dtype}")
        if a.shape != phase.shape:
            raise ValueError(f"{name}: shape {a.shape} differs from phase {phase.shape}")
        if not a.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous")
    thr = np.asarray(thresholds, dtype=np.uint64)
    if thr.shape != (N_THRESHOLDS,):
        raise ValueError(f"thresholds must have shape ({N_THRESHOLDS},), got {thr.shape}")
    w, E0, C, Emax = (np.uint64(v) for v in thr)
    if w == 0:
        return 0
    if w > _TWO32 or Emax > _LEVEL_Q16 or E0 > Emax:
        raise ValueError(f"thresholds out of range: {thr}")
    return int(_relax(phase.reshape(-1), disorder.reshape(-1), li.reshape(-1), tm.reshape(-1),
                      w, E0, C, Emax, np.uint64(seed), np.uint64(step)))


@dataclass(frozen=True)
class Ordering:
    """Cation ordering of the layered phase; rule in the module docstring.

    prefactor_per_s, activation_energy_kJ_per_mol: k = nu exp(-Ea/RT) (1/s, kJ/mol);
    equilibrium_disorder: f_eq, the equilibrium Ni-on-Li-site fraction of stoichiometric
    LiTMO2 (dimensionless, 0..1); li_deficiency_coefficient: c_li, extra equilibrium disorder
    per unit of Li deficiency 1 - li/tm (dimensionless).
    """

    prefactor_per_s: float
    activation_energy_kJ_per_mol: float
    equilibrium_disorder: float
    li_deficiency_coefficient: float = 0.5

    NAME = NAME
    STREAM = STREAM
    REACH = REACH
    PARAMETERS = PARAMETERS
    COUNTERS = ()

    def __post_init__(self):
        if not 0.0 <= self.equilibrium_disorder <= 1.0:
            raise ValueError(f"equilibrium_disorder is a fraction in [0, 1], got {self.equilibrium_disorder}")
        if self.li_deficiency_coefficient < 0.0:
            raise ValueError(f"li_deficiency_coefficient must be >= 0, got {self.li_deficiency_coefficient}")

    @classmethod
    def from_params(cls, params) -> Ordering:
        return cls(params.get(NAME, "prefactor", "1/s"), params.get(NAME, "activation_energy", "kJ/mol"),
                   params.get(NAME, "equilibrium_disorder", "1"), params.get(NAME, "li_deficiency_coefficient", "1"))

    def rate_per_s(self, T_C: float) -> float:
        """First-order rate constant k(T) in 1/s."""
        return arrhenius_per_s(self.prefactor_per_s, self.activation_energy_kJ_per_mol, T_C)

    def consumption_rates_per_s(self, T_C: float) -> dict[int, float]:
        """{} : the update is exact for any dt and transforms no phase, so it never limits dt."""
        return {}

    def max_rate_per_s(self, T_C: float) -> float:
        """k(T) in 1/s (informative; the step control uses `consumption_rates_per_s`)."""
        return self.rate_per_s(T_C)

    def equilibrium_level(self, li: int | np.ndarray, tm: int | np.ndarray) -> np.ndarray:
        """d_eq in disorder levels (0..255, float64) for Li and TM quanta li, tm (formula above)."""
        li = np.asarray(li, dtype=np.float64)
        tm = np.asarray(tm, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            deficiency = np.where(tm > 0, np.clip(1.0 - li / np.where(tm > 0, tm, 1.0), 0.0, None), 0.0)
        return 255.0 * np.minimum(1.0, self.equilibrium_disorder + self.li_deficiency_coefficient * deficiency)

    def thresholds(self, T_C: float, dt_s: float) -> np.ndarray:
        """uint64 (4,): [w, E0, C, E_max] for a step of dt at T; all zero when w = 0."""
        w = round(-math.expm1(-self.rate_per_s(T_C) * dt_s) * _TWO32)
        w = min(max(w, 0), _TWO32)
        if w == 0:
            return np.zeros(N_THRESHOLDS, dtype=np.uint64)
        E0 = min(round(self.equilibrium_disorder * _LEVEL_Q16), _LEVEL_Q16)
        C = round(self.li_deficiency_coefficient * _LEVEL_Q16)
        return np.array([w, E0, C, _LEVEL_Q16], dtype=np.uint64)

    def cpu_pass(self, lattice, seed: int, step: int, thresholds: np.ndarray) -> dict[str, int]:
        """One pass on ``lattice`` (disorder changed in place for LAYERED voxels). No counters."""
        relax_disorder(lattice.phase, lattice.disorder, lattice.li, lattice.tm, seed, step, thresholds)
        return {}
