"""Nucleation and growth of recrystallised layered grains (JMAK kinetics on the lattice).

When the precursor lithiates, its voxels become LAYERED but keep the grain id of their
precursor grain: they are *unrecrystallised*. New layered grains nucleate in that material
and grow through it, consuming it (MODEL.md section 1: nucleation and coarsening of layered
grains). Coarsening of the new grains against each other is the Potts event's business
(`kmc.events.grain_growth`); this event only turns unrecrystallised material into
recrystallised grains. docs/nucleation_ordering.md has the derivation and the validation.

Which voxels are which (no extra state field): the builder numbers the precursor grains
1..n_precursor, and ``n_precursor_grains`` (= ``lattice.grain.max()`` at build time, kept in
the run store attrs) is a constructor argument. For a voxel i,

    unrecrystallised(i) = phase[i] == LAYERED and 0 <= grain[i] <= n_precursor
    recrystallised(i)   = phase[i] == LAYERED and grain[i] >  n_precursor

Grain ids: the nucleus at flat C-order site index s = (z ny + y) nx + x founds the grain
``g = n_precursor + 1 + s``. The id is a pure function of the site (no atomic counter; unique,
because a site nucleates at most once), and it can be decoded: the nucleus of grain g is the
site s(g) = g - n_precursor - 1, at position c_g. int32 holds it while n_precursor + nz ny nx
< 2^31 (checked; 1024^3 = 2^30 sites fits).

Rule for one step of length dt at temperature T (integer arithmetic on the device side; the
thresholds are host-computed probabilities, `kmc.rng.probability_threshold`):

1. Nucleation, per unrecrystallised voxel i: (r0, r1, r2, r3) = draw4(seed, step, colour, i,
   Stream.NUCLEATION); i founds grain n_precursor + 1 + i if r0 < T_nuc, with
   T_nuc = thr(1 - exp(-I dt)), I(T) = nu_n exp(-Ea_n/RT) per voxel (``mode="constant"``), or
   T_nuc = thr(nucleus_density) at step ``saturation_step`` only (``mode="site_saturated"``,
   all nuclei at t = 0).
2. Growth ticks, per grain: grain g advances its front by one voxel edge h at each of its
   *ticks*; it makes G dt ticks in a step, G(T) = nu_g exp(-Ea_g/RT) in 1/s. A step is
   sub-step 0, then n_full = floor(G dt) sub-steps (at most MAX_FULL_TICKS = 30) in which
   every grain ticks; sub-step m uses the Philox passes 8 m + colour. In sub-step 0 grain g
   ticks iff ((u_g + step PHI) mod 2^32) < T_frac = thr(frac(G dt)), where
   u_g = draw4(seed, 0, 255, s(g), Stream.NUCLEATION)[0] is a fixed random phase of the
   grain and PHI = 2654435769 = round(2^32 (sqrt 5 - 1) / 2) (golden-ratio rotation). These
   fractional ticks are a low-discrepancy (Kronecker) sequence: over a window of n steps
   their count is the sum of frac(G dt) up to an error that grows like log n (measured:
   worst 2.1 ticks over 50-500 steps, 3.5 over 50 000, rms 0.3-0.5), where an iid draw per
   step would give a Poisson count whose random-walk error sqrt(G t) biases the Avrami
   exponent (docs). So the front velocity is v = G h, with no noise that grows with the
   grain, for any dt up to 31 h per step; beyond that the front lags (it moves 31 h per
   step). The event therefore does not limit dt (``SELF_CAPPED``). A full sub-step in which
   nothing grew ends the step early (all grains ticked, so the next one could not grow
   either).
3. Growth, per unrecrystallised voxel i that did not nucleate: for each grain g that ticks in
   this step and has members among the 26 neighbours of i (3x3x3 Moore neighbourhood,
   in-box, not periodic), with D_i = |i - c_g|^2 and M = max |j - c_g|^2 over those members
   j, g may take i if

       ceil(sqrt(D_i)) <= ceil(sqrt(M)) + 1        (ball rule; integer ceil-sqrt, exact)
    or no neighbour of i nearer to c_g than i is unrecrystallised LAYERED   (dead-end rule).

   The ball rule makes a grain the digital Euclidean ball |x - c_g| <= R_g, R_g = its tick
   count (exactly, in free space: tested). The dead-end rule lets the front follow channels
   and close pockets behind obstacles (pores, other phases, other grains) at one voxel per
   tick, where no nearer voxel could ever offer a better member; on a clean convex front a
   voxel that the ball rule holds back always has a nearer unrecrystallised neighbour, so
   the dead-end rule does not act there. If k > 0 grains may take i, i joins the
   ((r1 k) >> 32)-th of them (order of first appearance among the neighbours).

Synchronous update: a voxel that nucleates or joins in a step is written as -g during the
sub-step and does not count as a member of g until the sub-step ends (its commit pass
writes +g). So a front moves exactly one voxel per tick, whatever the pass order. Colouring: site
(z, y, x) has colour c = 4 (z % 2) + 2 (y % 2) + (x % 2); colour pass c updates the sites of
colour c in parallel (no two are 26-neighbours, so no site is written while another thread
reads it); c is the Philox pass index. Thread count, scheduling and backend cannot change a
result.

Li-W-O pinning: a voxel that carries ``Flag.W_COATED`` or has a face neighbour that does is
*pinned* (the rule of `kmc.events.grain_growth`): it neither nucleates nor joins a grain, so
it keeps its precursor grain. The pinned layer on a coated boundary is three voxels thick,
more than a front's 26-neighbour reach, so a recrystallised grain cannot cross a coated
boundary (it may go round it through an uncoated gap): MODEL.md finding 6, the boundary
phase blocks grain merging, and grains nucleate inside instead.

Reach: reads ``phase`` and ``grain`` on the 26-neighbourhood and ``flags`` on the 6
face neighbours, writes ``grain`` at the site; no other field is touched. Counters: ``rx_nuclei`` (new grains), ``rx_grown`` (voxels that
joined a grain), in voxels.

Thresholds for one step, uint64 (3,): [0] T_nuc, [1] T_frac, [2] n_full.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from kmc.extents import row_extents
from kmc.events.arrhenius import arrhenius_per_s
from kmc.events.grain_growth import _pinned
from kmc.rng import Stream, draw4, probability_threshold
from kmc.state import NEIGHBOURS_26, neighbour_offsets, Phase

NAME = "nucleation"
STREAM = Stream.NUCLEATION
REACH = "moore26"       #: reads the 26-neighbourhood (Chebyshev distance 1), writes the site
#: Physical, voxel-size independent entries: nucleation rate per volume and front velocity.
PARAMETERS = {"nucleation_rate_prefactor": "1/(m^3 s)", "activation_energy": "kJ/mol",
              "growth_velocity_prefactor": "m/s", "growth_activation_energy": "kJ/mol"}
MODES = ("constant", "site_saturated")
N_COLOURS = 8
N_THRESHOLDS = 3
#: Full ticks per step at most (sub-step m uses Philox passes 8 m .. 8 m + 7 <= 247).
MAX_FULL_TICKS = 30
_ALWAYS = np.uint64(1 << 32)
INT32_MAX = 2**31 - 1
#: Philox pass index of the per-grain tick phase (the colour passes use 0..7).
PHASE_PASS = 255
#: Golden-ratio rotation of the tick sequence, round(2^32 (sqrt(5) - 1) / 2).
PHI32 = 2654435769

NEIGHBOURS = NEIGHBOURS_26  #: (26, 3) int64, kmc.state.NEIGHBOURS_26
_DZ = NEIGHBOURS[:, 0].copy()
_DY = NEIGHBOURS[:, 1].copy()
_DX = NEIGHBOURS[:, 2].copy()

_LAYERED = np.uint8(Phase.LAYERED)
_U32 = np.uint64(0xFFFFFFFF)



@nb.njit(inline="always", cache=True)
def _ticks(g, n_prec, n_sites, seed, step, thr_tick):
    """True if grain g ticks in this step (rule 2); grains whose id does not decode to a
    site (not made by this event) tick on the same schedule keyed by their id."""
    if thr_tick >= _ALWAYS:
        return True
    s = np.int64(g) - np.int64(n_prec) - 1
    if s < 0 or s >= n_sites:
        s = np.int64(g) & np.int64(0xFFFFFFFFFF)
    u = draw4(seed, np.uint64(0), PHASE_PASS, s, STREAM)[0]
    w = (np.uint64(u) + (step & _U32) * np.uint64(PHI32)) & _U32
    return w < thr_tick


@nb.njit(inline="always", cache=True)
def _ceil_sqrt(D):
    """ceil(sqrt(D)) for an int64 D >= 0, exactly (float estimate, corrected in integers)."""
    if D <= 0:
        return np.int64(0)
    s = np.int64(math.sqrt(np.float64(D)))
    while s * s < D:
        s += 1
    while s > 0 and (s - 1) * (s - 1) >= D:
        s -= 1
    return s


@nb.njit(inline="always", cache=True)
def _eligible(phase, grain, i, x, y, z, k, nx, ny, nz, offs, interior, n_prec, n_sites, seed, step, thr_tick):
    """Grain of neighbour k if it is a member that ticks, that appears first at k among the
    neighbours, and that may take site i (rule 3); else 0."""
    g = grain[i + offs[k]]
    # first appearance of g among the neighbours (so each grain is considered once)
    for q in range(k):
        if not interior:
            zz = z + _DZ[q]
            yy = y + _DY[q]
            xx = x + _DX[q]
            if zz < 0 or zz >= nz or yy < 0 or yy >= ny or xx < 0 or xx >= nx:
                continue
        j = i + offs[q]
        if grain[j] == g and phase[j] == _LAYERED:
            return 0
    if not _ticks(g, n_prec, n_sites, seed, step, thr_tick):
        return 0
    s = np.int64(g) - np.int64(n_prec) - 1
    nxy = nx * ny
    if s >= 0 and s < n_sites:
        cz = s // nxy
        cy = (s // nx) % ny
        cx = s % nx
    else:                       # no decodable nucleus: plain one-layer-per-tick growth
        cz = z
        cy = y
        cx = x
    D = (z - cz) * (z - cz) + (y - cy) * (y - cy) + (x - cx) * (x - cx)
    M = np.int64(-1)
    closer = False              # an unrecrystallised LAYERED neighbour nearer to c_g than i
    for q in range(26):
        zz = z + _DZ[q]
        yy = y + _DY[q]
        xx = x + _DX[q]
        if not interior and (zz < 0 or zz >= nz or yy < 0 or yy >= ny or xx < 0 or xx >= nx):
            continue
        j = i + offs[q]
        if phase[j] != _LAYERED:
            continue
        gj = grain[j]
        dj = (zz - cz) * (zz - cz) + (yy - cy) * (yy - cy) + (xx - cx) * (xx - cx)
        if gj == g:
            M = max(M, dj)
        elif gj <= n_prec and dj < D:    # (a negative id joined this step: unrecrystallised before)
            closer = True
    if (s < 0 or s >= n_sites) or not closer or _ceil_sqrt(D) <= _ceil_sqrt(M) + 1:
        return g
    return 0


@nb.njit(parallel=True, cache=True)
def _colour_pass(phase, grain, flags, nz, ny, nx, colour, pass_, seed, step, thr_nuc, thr_tick, n_prec, offs, ext):
    """One colour pass of rules 1-3 (module docstring).

    phase, flags uint8 (n,), grain int32 (n,): flat C-order views of (nz, ny, nx) fields; grain is
    changed in place (new members written as -g). colour 0..7; pass_: Philox pass of the
    voxel draws (8 m + colour in sub-step m); thr_nuc, thr_tick uint64;
    n_prec int64; offs int64 (26,); ext int64 (nz ny, 2): the extents of `_unrecrystallised_at` of the step
    (only those voxels act, and no voxel becomes one within a step, so a row is looked at only
    between them). Returns (nuclei, grown), int64 voxel counts.
    """
    cz = colour >> 2
    cy = (colour >> 1) & 1
    cx = colour & 1
    nzc = (nz - cz + 1) // 2
    nyc = (ny - cy + 1) // 2
    n_sites = np.int64(nz) * ny * nx
    base = n_prec + 1
    nuclei = 0
    grown = 0
    for r in nb.prange(nzc * nyc):
        z = cz + 2 * (r // nyc)
        y = cy + 2 * (r % nyc)
        row = (z * ny + y) * nx
        inner_row = z >= 1 and z <= nz - 2 and y >= 1 and y <= ny - 2
        lo = ext[z * ny + y, 0]
        x_first = cx if lo <= cx else lo + ((lo - cx) & 1)
        for x in range(x_first, ext[z * ny + y, 1] + 1, 2):
            i = row + x
            gi = grain[np.uint64(i)]        # unsigned: no negative-index handling in this hot screen
            if phase[np.uint64(i)] != _LAYERED or gi < 0 or gi > n_prec:
                continue
            if _pinned(flags, i, nx, ny * nx, x, y, z, nz, ny):
                continue    # Li-W-O at the boundary: no nucleus, and no front takes it
            drawn = False
            r1 = np.uint32(0)
            if thr_nuc != 0:
                r0, r1, _r2, _r3 = draw4(seed, step, pass_, i, STREAM)
                drawn = True
                if np.uint64(r0) < thr_nuc:
                    grain[i] = np.int32(-(base + i))
                    nuclei += 1
                    continue
            if thr_tick == 0:
                continue
            interior = inner_row and x >= 1 and x <= nx - 2
            n_members = 0
            for k in range(26):
                if not interior:
                    zz = z + _DZ[k]
                    yy = y + _DY[k]
                    xx = x + _DX[k]
                    if zz < 0 or zz >= nz or yy < 0 or yy >= ny or xx < 0 or xx >= nx:
                        continue
                j = i + offs[k]
                if phase[j] == _LAYERED and grain[j] > n_prec:
                    n_members += 1
            if n_members == 0:
                continue
            n_elig = 0
            last = np.int32(0)          # cheap skip of a grain just seen (the common case)
            for k in range(26):
                if not interior:
                    zz = z + _DZ[k]
                    yy = y + _DY[k]
                    xx = x + _DX[k]
                    if zz < 0 or zz >= nz or yy < 0 or yy >= ny or xx < 0 or xx >= nx:
                        continue
                j = i + offs[k]
                if phase[j] != _LAYERED or grain[j] <= n_prec or grain[j] == last:
                    continue
                last = grain[j]
                if _eligible(phase, grain, i, x, y, z, k, nx, ny, nz, offs, interior, n_prec, n_sites,
                             seed, step, thr_tick) != 0:
                    n_elig += 1
            if n_elig == 0:
                continue
            if not drawn:
                r1 = draw4(seed, step, pass_, i, STREAM)[1]
            pick = np.int64((np.uint64(r1) * np.uint64(n_elig)) >> np.uint64(32))
            seen = 0
            last = np.int32(0)
            for k in range(26):
                if not interior:
                    zz = z + _DZ[k]
                    yy = y + _DY[k]
                    xx = x + _DX[k]
                    if zz < 0 or zz >= nz or yy < 0 or yy >= ny or xx < 0 or xx >= nx:
                        continue
                j = i + offs[k]
                if phase[j] != _LAYERED or grain[j] <= n_prec or grain[j] == last:
                    continue
                last = grain[j]
                g = _eligible(phase, grain, i, x, y, z, k, nx, ny, nz, offs, interior, n_prec, n_sites,
                              seed, step, thr_tick)
                if g != 0:
                    if seen == pick:
                        grain[i] = -g
                        grown += 1
                        break
                    seen += 1
    return nuclei, grown


@nb.njit(inline="always", cache=True)
def _unrecrystallised_at(phase, grain, n_prec, k):
    """Whether voxel k is unrecrystallised (LAYERED, 0 <= grain <= n_prec): the
    `kmc.extents.row_extents` test of a step's rows."""
    g = grain[k]
    return (phase[k] == _LAYERED) & (g >= 0) & (g <= n_prec)


@nb.njit(parallel=True, cache=True)
def _commit(grain):
    """End of step: members written as -g during the step become g. grain int32 (n,)."""
    for i in nb.prange(grain.size):
        if grain[i] < 0:
            grain[i] = -grain[i]


def nucleation_step(phase: np.ndarray, grain: np.ndarray, n_precursor_grains: int, seed: int, step: int,
                    thresholds: np.ndarray, *, nucleate: bool = True,
                    flags: np.ndarray | None = None) -> tuple[int, int]:
    """One step on (nz, ny, nx) C-contiguous arrays: sub-step 0 (nucleation and the fractional
    tick), then up to n_full sub-steps in which every grain ticks; each sub-step is 8 colour
    passes and a commit pass.

    phase uint8 is read; grain int32 is changed in place and must hold no negative id; flags
    uint8 (same shape; None: no coating) is read for the Li-W-O pinning.
    thresholds: uint64 (3,) = [T_nuc, T_frac, n_full] (module docstring); nucleate=False
    ignores T_nuc. Returns (nuclei, grown): new grains and voxels that joined a grain (int).
    """
    if phase.dtype != np.uint8 or grain.dtype != np.int32:
        raise TypeError(f"phase uint8 and grain int32 expected, got {phase.dtype}, {grain.dtype}")
    if phase.shape != grain.shape or phase.ndim != 3:
        raise ValueError(f"phase and grain must share one 3-D shape, got {phase.shape}, {grain.shape}")
    if not (phase.flags.c_contiguous and grain.flags.c_contiguous):
        raise ValueError("phase and grain must be C-contiguous")
    thresholds = np.asarray(thresholds, dtype=np.uint64)
    if thresholds.shape != (N_THRESHOLDS,):
        raise ValueError(f"thresholds must have shape ({N_THRESHOLDS},), got {thresholds.shape}")
    n_prec = int(n_precursor_grains)
    if n_prec < 0 or n_prec + phase.size > INT32_MAX:
        raise ValueError(f"grain ids n_precursor_grains + 1 + site overflow int32: n_precursor_grains={n_prec}, "
                         f"{phase.size} sites")
    nz, ny, nx = phase.shape
    if flags is None:
        flags = np.zeros(phase.shape, dtype=np.uint8)
    if flags.dtype != np.uint8 or flags.shape != phase.shape or not flags.flags.c_contiguous:
        raise ValueError(f"flags must be C-contiguous uint8 of shape {phase.shape}, got {flags.dtype} {flags.shape}")
    p, g, f = phase.reshape(-1), grain.reshape(-1), flags.reshape(-1)
    offs = neighbour_offsets(phase.shape)
    seed_u, step_u, n_prec_i = np.uint64(seed), np.uint64(step), np.int64(n_prec)

    ext = np.empty((nz * ny, 2), dtype=np.int64)
    row_extents(_unrecrystallised_at, p, g, n_prec_i, nz, ny, nx, ext)

    def sub_step(m, thr_nuc, thr_tick):
        nuclei = grown = 0
        for colour in range(N_COLOURS):
            a, b = _colour_pass(p, g, f, nz, ny, nx, colour, 8 * m + colour, seed_u, step_u, thr_nuc, thr_tick,
                                n_prec_i, offs, ext)
            nuclei += int(a)
            grown += int(b)
        if nuclei or grown:
            _commit(g)
        return nuclei, grown

    thr_nuc = np.uint64(thresholds[0]) if nucleate else np.uint64(0)
    nuclei, grown = sub_step(0, thr_nuc, np.uint64(thresholds[1]))
    for m in range(1, min(int(thresholds[2]), MAX_FULL_TICKS) + 1):
        _, b = sub_step(m, np.uint64(0), _ALWAYS)
        grown += b
        if b == 0:      # every grain ticked and none grew: the state is final for this step
            break
    return nuclei, grown


@dataclass(frozen=True)
class Nucleation:
    """Nucleation and growth of recrystallised layered grains; rule in the module docstring.

    n_precursor_grains: largest precursor grain id (``lattice.grain.max()`` at build time);
    prefactor_per_s, activation_energy_kJ_per_mol: nucleation rate I = nu_n exp(-Ea_n/RT)
    per unrecrystallised voxel (1/s, kJ/mol);
    growth_prefactor_per_s, growth_activation_energy_kJ_per_mol: front velocity
    G = nu_g exp(-Ea_g/RT) in voxel edges per second (v = G h) (1/s, kJ/mol);
    mode: "constant" (nucleation at rate I all the time) or "site_saturated" (nuclei placed
    with probability ``nucleus_density`` per unrecrystallised voxel at step
    ``saturation_step`` only; I is then unused).
    """

    n_precursor_grains: int
    prefactor_per_s: float
    activation_energy_kJ_per_mol: float
    growth_prefactor_per_s: float
    growth_activation_energy_kJ_per_mol: float
    mode: str = "constant"
    nucleus_density: float = 0.0
    saturation_step: int = 0

    NAME = NAME
    STREAM = STREAM
    REACH = REACH
    PARAMETERS = PARAMETERS
    COUNTERS = ("rx_nuclei", "rx_grown")
    SELF_CAPPED = True  #: exact for any dt up to MAX_FULL_TICKS + 1 ticks per step; does not limit dt

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not 0.0 <= self.nucleus_density <= 1.0:
            raise ValueError(f"nucleus_density is a probability per voxel, got {self.nucleus_density}")
        if int(self.n_precursor_grains) < 0:
            raise ValueError(f"n_precursor_grains must be >= 0, got {self.n_precursor_grains}")

    @classmethod
    def from_params(cls, params, n_precursor_grains: int, voxel_nm: float, **options) -> Nucleation:
        """From the parameter set section ``nucleation`` for voxels of edge ``voxel_nm`` (nm).

        The file holds the nucleation rate per volume (1/(m^3 s)) and the front velocity (m/s);
        per voxel they are I = I_v h^3 and G = v / h, so the physics does not depend on h.
        Options: mode, nucleus_density, saturation_step.
        """
        h_m = voxel_nm * 1e-9
        return cls(int(n_precursor_grains),
                   params.get(NAME, "nucleation_rate_prefactor", "1/(m^3 s)") * h_m**3,
                   params.get(NAME, "activation_energy", "kJ/mol"),
                   params.get(NAME, "growth_velocity_prefactor", "m/s") / h_m,
                   params.get(NAME, "growth_activation_energy", "kJ/mol"), **options)

    def nucleation_rate_per_s(self, T_C: float) -> float:
        """I(T) = nu_n exp(-Ea_n/RT), nucleation rate per unrecrystallised voxel in 1/s."""
        return arrhenius_per_s(self.prefactor_per_s, self.activation_energy_kJ_per_mol, T_C)

    def growth_rate_per_s(self, T_C: float) -> float:
        """G(T) = nu_g exp(-Ea_g/RT): front velocity in voxel edges per second (= ticks per second)."""
        return arrhenius_per_s(self.growth_prefactor_per_s, self.growth_activation_energy_kJ_per_mol, T_C)

    def max_rate_per_s(self, T_C: float) -> float:
        """max(I, G) in 1/s (I only in constant mode); informative, the event is SELF_CAPPED."""
        grow = self.growth_rate_per_s(T_C)
        return max(grow, self.nucleation_rate_per_s(T_C)) if self.mode == "constant" else grow

    def thresholds(self, T_C: float, dt_s: float) -> np.ndarray:
        """uint64 (3,): [0] nucleation threshold thr(1 - exp(-I dt)) (site_saturated: thr(density),
        applied by `cpu_pass` at ``saturation_step`` only); [1] T_frac = thr(frac(G dt)), the
        threshold of the fractional tick; [2] n_full = floor(G dt), capped at MAX_FULL_TICKS."""
        out = np.zeros(N_THRESHOLDS, dtype=np.uint64)
        if self.mode == "constant":
            out[0] = probability_threshold(-math.expm1(-self.nucleation_rate_per_s(T_C) * dt_s))
        else:
            out[0] = probability_threshold(self.nucleus_density)
        ticks = self.growth_rate_per_s(T_C) * dt_s
        full = math.floor(ticks)
        out[1] = probability_threshold(ticks - full)
        out[2] = min(full, MAX_FULL_TICKS)
        return out

    def cpu_pass(self, lattice, seed: int, step: int, thresholds: np.ndarray) -> dict[str, int]:
        """One step on ``lattice`` (grain changed in place). Returns the counters (voxels)."""
        nucleate = self.mode == "constant" or int(step) == int(self.saturation_step)
        nuclei, grown = nucleation_step(lattice.phase, lattice.grain, self.n_precursor_grains, seed, step,
                                        thresholds, nucleate=nucleate, flags=lattice.flags)
        return {"rx_nuclei": nuclei, "rx_grown": grown}


def recrystallised_fraction(phase: np.ndarray, grain: np.ndarray, n_precursor_grains: int) -> float:
    """Fraction of LAYERED voxels that belong to recrystallised grains (grain > n_precursor)."""
    layered = phase == Phase.LAYERED
    n = int(layered.sum())
    return float((layered & (grain > n_precursor_grains)).sum()) / n if n else 0.0
