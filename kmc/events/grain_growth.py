"""Grain-boundary motion and merging: a Q-state Potts model with Li-W-O pinning.

Lattice: the ``grain`` field, int32 (nz, ny, nx), C order; grain id 0 means "no grain" (pore,
gas, Li source) and takes no part. A site takes part when its grain id is > 0 and its
``phase`` is a TM phase (HYDROXIDE, ROCK_SALT, LAYERED). Neighbours are the 26 sites of the
3x3x3 cube (Moore neighbourhood) that lie inside the box; the box is not periodic and sites
outside it are ignored. Neighbour k = 0..25 is the k-th (dz, dy, dx) of {-1, 0, 1}^3 in
lexicographic order with (0, 0, 0) left out (`NEIGHBOURS`); the CUDA kernel uses the same order.

Rule, for one attempt at site i with grain g = grain[i] (integer arithmetic throughout):

1. i is *pinned* and never changes if it carries ``Flag.W_COATED`` or one of its 6 face
   neighbours does (static set: it depends on ``flags`` only). A coated voxel therefore
   keeps its grain and its face neighbours keep theirs, so a coated boundary voxel stays a
   boundary voxel for ever: the two grains that meet there can never merge across it.
2. (r0, r1, r2, r3) = draw4(seed, step, pass, i, Stream.GRAIN_GROWTH), all uint32.
3. Attempt: only if r1 < T_attempt = round(p 2^32), p = 1 - exp(-nu exp(-Ea/RT) dt).
4. Candidate: k = (r0 * 26) >> 32; g' = grain of neighbour k. No flip if neighbour k lies
   outside the box, g' == g or g' == 0.
5. Energy: with n(h) = number of the (in-box) neighbours whose grain is h,
   dE = J [(#unlike after) - (#unlike before)] = J [n(g) - n(g')] (neighbours with grain 0
   are neither like nor unlike: pores and Li sources exert no force).
6. Accept when dE <= 0, else when r2 < T_B[dE] = round(exp(-dE / kT_lattice) 2^32)
   (`boltzmann_thresholds`, computed once on the host: no float is compared per site).

Colouring: a site (z, y, x) has colour c = 4 (z % 2) + 2 (y % 2) + (x % 2). Two sites of the
same colour are never 26-neighbours, so each of the 8 colour passes updates its sites in
parallel without races, reading neighbours that the pass does not write. The pass index c is
part of the Philox counter, so the result does not depend on thread count or scheduling.
One step = the 8 colour passes in order c = 0..7; each site attempts at most once per step.

Physical time: a site attempts at rate nu exp(-Ea / RT) (1/s), so one Monte Carlo step
(MCS, one attempt per site) corresponds to 1 / (nu exp(-Ea/RT)) seconds. Steps are assumed
short against that time (p << 1); for p -> 1 growth saturates at one MCS per step.

Reach: reads the 26-neighbourhood of ``grain`` and the 6 face neighbours of ``flags``, reads
``phase`` at the site, writes ``grain`` at the site only. Counters: ``gg_flips`` (int).
docs/grain_growth.md has the derivation, the choice of kT_lattice and the validation.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from kmc.rng import Stream, draw4
from kmc.state import TM_PHASES, Flag

NAME = "grain_growth"
STREAM = Stream.GRAIN_GROWTH
REACH = "moore26"       #: reads the 26-neighbourhood (Chebyshev distance 1), writes the site
PARAMETERS = {"prefactor": "1/s", "activation_energy": "kJ/mol", "lattice_kT": "J"}
N_COLOURS = 8

#: (26, 3) int64: neighbour k's (dz, dy, dx), lexicographic over {-1,0,1}^3 without (0,0,0).
NEIGHBOURS = np.array([(dz, dy, dx) for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                       if (dz, dy, dx) != (0, 0, 0)], dtype=np.int64)
_DZ = NEIGHBOURS[:, 0].copy()
_DY = NEIGHBOURS[:, 1].copy()
_DX = NEIGHBOURS[:, 2].copy()

#: uint8 (256,): 1 for phase codes that take part (TM phases).
_TAKES_PART = np.zeros(256, dtype=np.uint8)
_TAKES_PART[[int(p) for p in TM_PHASES]] = 1

_COATED = np.uint8(Flag.W_COATED)
_TWO32 = 4294967296.0


@functools.lru_cache(maxsize=64)
def _boltzmann_cached(kT: float) -> np.ndarray:
    table = np.zeros(27, dtype=np.uint64)
    table[0] = np.uint64(1 << 32)
    for dE in range(1, 27):
        table[dE] = 0 if kT <= 0.0 else np.uint64(round(math.exp(-dE / kT) * _TWO32))
    table.setflags(write=False)
    return table


def boltzmann_thresholds(kT: float) -> np.ndarray:
    """uint64 (27,): T_B[dE] = round(exp(-dE/kT) 2^32) for dE = 0..26 (dE in units of J).

    A move with energy change dE > 0 is accepted when a uint32 draw is < T_B[dE]; T_B[0] = 2^32
    (always). kT <= 0 gives T_B[dE > 0] = 0 (zero-temperature Potts).
    """
    return _boltzmann_cached(float(kT))


@nb.njit(inline="always", cache=True)
def _pinned(flags, i, nx, nxy, x, y, z, nz, ny):
    """True if site i or one of its in-box face neighbours carries W_COATED."""
    if flags[i] & _COATED:
        return True
    if x > 0 and flags[i - 1] & _COATED:
        return True
    if x < nx - 1 and flags[i + 1] & _COATED:
        return True
    if y > 0 and flags[i - nx] & _COATED:
        return True
    if y < ny - 1 and flags[i + nx] & _COATED:
        return True
    if z > 0 and flags[i - nxy] & _COATED:
        return True
    if z < nz - 1 and flags[i + nxy] & _COATED:
        return True
    return False


@nb.njit(inline="always", cache=True)
def _try_flip(grain, flags, i, g, x, y, z, nx, ny, nz, nxy, interior, offs, pass_, seed, step,
              attempt_thr, boltz):
    """Steps 1-6 of the rule for a boundary site i; returns the new grain id (g if no flip)."""
    if _pinned(flags, i, nx, nxy, x, y, z, nz, ny):
        return g
    r0, r1, r2, _r3 = draw4(seed, step, pass_, i, STREAM)
    if np.uint64(r1) >= attempt_thr:
        return g
    k = (np.uint64(r0) * np.uint64(26)) >> np.uint64(32)
    if interior:
        gp = grain[i + offs[k]]
    else:
        zz = z + _DZ[k]
        yy = y + _DY[k]
        xx = x + _DX[k]
        if zz < 0 or zz >= nz or yy < 0 or yy >= ny or xx < 0 or xx >= nx:
            return g
        gp = grain[i + offs[k]]
    if gp == g or gp <= 0:
        return g
    n_old = 0
    n_new = 0
    if interior:
        for m in range(26):
            h = grain[i + offs[m]]
            n_old += h == g
            n_new += h == gp
    else:
        for m in range(26):
            zz = z + _DZ[m]
            yy = y + _DY[m]
            xx = x + _DX[m]
            if zz < 0 or zz >= nz or yy < 0 or yy >= ny or xx < 0 or xx >= nx:
                continue
            h = grain[i + offs[m]]
            n_old += h == g
            n_new += h == gp
    dE = n_old - n_new
    if dE > 0 and np.uint64(r2) >= boltz[dE]:
        return g
    return gp


@nb.njit(parallel=True, cache=True)
def _colour_pass(grain, phase, flags, nz, ny, nx, colour, seed, step, attempt_thr, boltz, offs):
    """One colour pass. grain int32 (n,), phase/flags uint8 (n,) flat C-order views of
    (nz, ny, nx) fields; grain is modified in place. colour 0..7; attempt_thr uint64 in
    [0, 2^32]; boltz uint64 (27,); offs int64 (26,) flat neighbour offsets.
    Returns the number of sites that changed grain (int64)."""
    cz = colour >> 2
    cy = (colour >> 1) & 1
    cx = colour & 1
    nzc = (nz - cz + 1) // 2
    nyc = (ny - cy + 1) // 2
    nxy = nx * ny
    flips = 0
    for r in nb.prange(nzc * nyc):
        z = cz + 2 * (r // nyc)
        y = cy + 2 * (r % nyc)
        row = (z * ny + y) * nx
        inner_row = z >= 1 and z <= nz - 2 and y >= 1 and y <= ny - 2
        for x in range(cx, nx, 2):
            i = row + x
            g = grain[i]
            if g <= 0 or _TAKES_PART[phase[i]] == 0:
                continue
            interior = inner_row and x >= 1 and x <= nx - 2
            # a site whose neighbours all carry its own grain cannot change: skip it cheaply
            if interior:
                a = i - nxy - nx
                b = i - nxy
                c = i - nxy + nx
                d = i - nx
                e = i + nx
                f = i + nxy - nx
                h = i + nxy
                q = i + nxy + nx
                if (grain[a - 1] == g and grain[a] == g and grain[a + 1] == g
                        and grain[b - 1] == g and grain[b] == g and grain[b + 1] == g
                        and grain[c - 1] == g and grain[c] == g and grain[c + 1] == g
                        and grain[d - 1] == g and grain[d] == g and grain[d + 1] == g
                        and grain[i - 1] == g and grain[i + 1] == g
                        and grain[e - 1] == g and grain[e] == g and grain[e + 1] == g
                        and grain[f - 1] == g and grain[f] == g and grain[f + 1] == g
                        and grain[h - 1] == g and grain[h] == g and grain[h + 1] == g
                        and grain[q - 1] == g and grain[q] == g and grain[q + 1] == g):
                    continue
            else:
                same = True
                for m in range(26):
                    zz = z + _DZ[m]
                    yy = y + _DY[m]
                    xx = x + _DX[m]
                    if zz < 0 or zz >= nz or yy < 0 or yy >= ny or xx < 0 or xx >= nx:
                        continue
                    if grain[i + offs[m]] != g:
                        same = False
                        break
                if same:
                    continue
            gp = _try_flip(grain, flags, i, g, x, y, z, nx, ny, nz, nxy, interior, offs, colour,
                           seed, step, attempt_thr, boltz)
            if gp != g:
                grain[i] = gp
                flips += 1
    return flips


def neighbour_offsets(shape: tuple[int, int, int]) -> np.ndarray:
    """int64 (26,): flat-index offset of neighbour k in a C-order (nz, ny, nx) array."""
    nz, ny, nx = shape
    return (_DZ * (ny * nx) + _DY * nx + _DX).astype(np.int64)


def potts_step(grain: np.ndarray, phase: np.ndarray, flags: np.ndarray, seed: int, step: int,
               attempt_threshold, kT: float) -> int:
    """One step (8 colour passes) of the Potts rule on (nz, ny, nx) C-contiguous arrays.

    grain int32 is modified in place; phase, flags uint8 are read. attempt_threshold: uint64
    in [0, 2^32] (`kmc.rng.probability_threshold` of the attempt probability); kT: lattice
    temperature in units of J. Returns the number of sites that changed grain (int).
    """
    if grain.dtype != np.int32 or phase.dtype != np.uint8 or flags.dtype != np.uint8:
        raise TypeError(f"grain int32, phase/flags uint8 expected, got {grain.dtype}, {phase.dtype}, {flags.dtype}")
    if grain.shape != phase.shape or grain.shape != flags.shape or grain.ndim != 3:
        raise ValueError(f"grain, phase, flags must share one 3-D shape, got {grain.shape}, {phase.shape}, {flags.shape}")
    for a in (grain, phase, flags):
        if not a.flags.c_contiguous:
            raise ValueError("grain, phase, flags must be C-contiguous")
    nz, ny, nx = grain.shape
    g, p, f = grain.reshape(-1), phase.reshape(-1), flags.reshape(-1)
    offs = neighbour_offsets(grain.shape)
    boltz = boltzmann_thresholds(kT)
    thr = np.uint64(attempt_threshold)
    seed_u, step_u = np.uint64(seed), np.uint64(step)
    flips = 0
    for colour in range(N_COLOURS):
        flips += int(_colour_pass(g, p, f, nz, ny, nx, colour, seed_u, step_u, thr, boltz, offs))
    return flips


@dataclass(frozen=True)
class GrainGrowth:
    """Grain-boundary motion (Potts) with Li-W-O pinning; rule in the module docstring.

    prefactor_per_s: attempt-frequency prefactor nu (1/s) per boundary site;
    activation_energy_kJ_per_mol: Ea of boundary migration (kJ/mol);
    lattice_kT: Potts lattice temperature, in units of the boundary bond energy J.
    """

    prefactor_per_s: float
    activation_energy_kJ_per_mol: float
    lattice_kT: float = 0.6

    NAME = NAME
    STREAM = STREAM
    REACH = REACH
    PARAMETERS = PARAMETERS
    COUNTERS = ("gg_flips",)

    @classmethod
    def from_params(cls, params) -> "GrainGrowth":
        return cls(params.get(NAME, "prefactor", "1/s"), params.get(NAME, "activation_energy", "kJ/mol"),
                   params.get(NAME, "lattice_kT", "J"))

    def rate_per_s(self, T_C: float) -> float:
        """Attempt rate per boundary site, nu exp(-Ea/RT), in 1/s (= MCS per second)."""
        from kmc.events import arrhenius_per_s

        return arrhenius_per_s(self.prefactor_per_s, self.activation_energy_kJ_per_mol, T_C)

    def probability(self, T_C: float, dt_s: float) -> float:
        """Probability that a site attempts a flip within dt at temperature T: 1 - exp(-rate dt)."""
        return -math.expm1(-self.rate_per_s(T_C) * dt_s)

    def mcs(self, T_C: float, dt_s: float) -> float:
        """Expected Monte Carlo steps (attempts per site) in dt at T: rate * dt."""
        return self.rate_per_s(T_C) * dt_s

    def boltzmann_thresholds(self) -> np.ndarray:
        """uint64 (27,) acceptance thresholds for this event's lattice_kT."""
        return boltzmann_thresholds(self.lattice_kT)

    def cpu_pass(self, lattice, seed: int, step: int, threshold: np.uint64) -> dict[str, int]:
        """The 8 colour passes of one step on ``lattice`` (grain changed in place)."""
        flips = potts_step(lattice.grain, lattice.phase, lattice.flags, seed, step, threshold, self.lattice_kT)
        return {"gg_flips": int(flips)}
