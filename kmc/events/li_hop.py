"""Li transport: one Li quantum at a time hops to a 6-neighbour, at a rate set by the medium.

Li is carried as integer quanta in the ``li`` field (uint8), so transport conserves it
exactly: a pass only ever moves quanta between the two voxels of a pair.

Mobility. Every phase code has a *kind* (`kind_table`):
  - TM solid (HYDROXIDE, ROCK_SALT, LAYERED): Li moves in and out;
  - melt (LIOH_MELT): Li moves between melt voxels, fast, and leaves the melt for the solid
    only by li_source's release;
  - solid source (LIOH): Li moves only to and from another solid LiOH voxel (Medium.SOURCE), so
    the bulk of a solid LiOH deposit keeps feeding the voxels that touch the precursor; the
    hand-over to the precursor is the Li-source event's release (not a hop: no double count);
  - immobile (PORE, LIOH_H2O, LI2CO3, any code not listed): no Li moves in or out. The hydrate
    and the carbonate keep their quanta until the Li-source event releases them (zero
    diffusivity: no data; Li2CO3's Li becomes available late, MODEL.md finding 4); gas holds no Li.

Media (`Medium`; the hop of a pair (i, j) goes through exactly one). Per voxel, two flags are
computed once per step from phase and grain (which this event never changes):
  - EXPOSED: a TM voxel with a PORE or LIOH_MELT 6-neighbour (pore surface, wetted surface);
  - BOUNDARY: a TM voxel with a TM 6-neighbour of another grain id.
The pair's medium is a symmetric function of (i, j):
  - both melt -> MELT; one melt and one TM solid -> no hop: the hand-over from the melt to the
    solid is li_source's release, one way (Li is bound in the oxide far more strongly than in
    LiOH, and unbiased hops would let the melt film soak Li back out of the particle: before
    this rule, 7 % of the Li was in the source at 400 °C and 26 % again at 850 °C);
    the melt still opens the SURFACE path of the TM voxels it wets (EXPOSED);
  - both TM solid -> the fastest path open to the pair, among
      * bulk: the *slower* of the bulk media of the two phases (LAYERED, ROCK_SALT, HYDROXIDE);
        a hop across a phase interface inside a grain is limited by the slower lattice;
      * GRAIN_BOUNDARY: open if grain_i != grain_j, or if both voxels are BOUNDARY voxels
        (so Li runs *along* a boundary through the two voxel layers that face it, and across it);
      * SURFACE: open if both voxels are EXPOSED;
  - both solid LiOH -> SOURCE; solid LiOH with anything else (TM solid: the release of
    li_source; melt: the two do not coexist, melting is one temperature for all voxels) -> no hop;
  - anything else (a pore or an immobile source in the pair): no hop.
"Slower/faster" compares the per-medium integer thresholds of the step (ties: lowest medium
index), so both backends choose identically. Because the medium is symmetric in (i, j), the
per-quantum rate i->j equals j->i: tracer diffusion obeys detailed balance.

Rate. Medium m has a lattice diffusivity D_m(T) = D0_m exp(-Ea_m / RT) (m^2/s) and a hop rate
per quantum to each 6-neighbour w_m = D_m / h^2 (h the voxel edge), so that MSD = 6 D t.

Passes. One step applies 6 race-free passes, pass id = 2*axis + parity (axis 0, 1, 2 = z, y,
x): a pass updates the pairs (i, i + e_axis) whose lower voxel i has coordinate c along
the axis with c % 2 == parity, so no voxel belongs to two pairs of one pass. In a pair, the
quanta leaving i and j are k_ij ~ Binomial(li_i, p_m) and k_ji ~ Binomial(li_j, p_m), each
quantum independently, drawn by inverse CDF against integer CDF tables computed on the host
from two uint32 of one Philox draw. One draw serves two pairs of a pass: number the pairs of a
line along the axis t = 0, 1, 2, ... (lower voxel coordinate c = parity + 2 t); pair 2u uses
(r0, r1) and pair 2u + 1 uses (r2, r3) of ``draw4(seed, step, pass, i, Stream.LI_HOP)`` with i
the lower voxel of pair 2u.
The net transfer k_ij - k_ji is applied unless it would put a voxel above its capacity
(below), in which case the pair is left unchanged (the whole exchange is refused).

Time. Over the two passes of an axis a quantum moves with probability p in each, and its
direction persists while it moves (the pair partner alternates with the parity), which makes
a persistent walk whose long-time variance is p/(1-p) h^2 per pass, exactly. Hence the hop
rate the lattice realises in a step of length dt is w = p / ((1 - p) dt), i.e.
``p = w dt / (1 + w dt)`` (`hop_probability`), exact for any p, ~ w dt for small w dt.

Rate cap. p is capped at ``max_hop_probability`` (default 0.25, at most 0.5) so that a quantum
does not stream ballistically; a capped medium runs at D_eff = p_cap / (1 - p_cap) h^2 / dt
instead of D_m (`capped_media` says which, `max_uncapped_dt_s` how long dt may be).
Results do not depend on the cap while the capped media stay much faster than the uncapped
ones and equilibrate over the length that matters (docs/li_transport.md, convergence test).

Capacity (`capacity_tables`, quanta): TM solid: min(255, tm + capacity_excess); melt: the Li
quanta of a voxel of dense solid LiOH (91), so a LiOH voxel that melts is within capacity;
solid LiOH: the same 91 quanta of a dense LiOH voxel (its fill derives from its li, so a full
voxel is dense LiOH); immobile phases: 0 (never a hop target). A solid LiOH voxel that a
SOURCE hop empties becomes PORE, by the rule of the Li-source release
(`kmc.events.li_source.used_up_source_becomes_pore`). A refused exchange keeps the chain reversible (a
Metropolis rejection of the move), and a voxel already above capacity (another event put Li
there) may only lose Li, so no hop ever creates an overfull voxel.

Reach: a pair, reading phase/grain of both voxels and their 6-neighbours (flags), writing li
of both voxels, and phase (-> PORE) of a solid-source voxel of the pair that a hop empties.
Fields grain, tm, disorder, flags are never written. The flags are those of the start of the
step: a TM voxel next to a source voxel that empties in this step is EXPOSED from the next one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

import numba as nb
import numpy as np

from kmc import scratch
from kmc.extents import row_extents
from kmc.events.arrhenius import GAS_CONSTANT_J_PER_MOL_K, arrhenius_per_s
from kmc.rng import Stream, draw4_lanes, probability_threshold
from kmc.events.li_source import face_pair_lines, used_up_source_becomes_pore
from kmc.state import TM_PHASES, Phase, dense_li_quanta_per_voxel, dense_quanta_per_voxel

NAME = "li_hop"
STREAM = Stream.LI_HOP
REACH = "pair"  # pair (i, i + e_axis); reads 6-neighbours of both (flags), writes li of both (+ phase of an emptied source)
N_PASSES = 6    # pass id = 2 * axis + parity


class Medium(IntEnum):
    """Transport media, in the order of the per-medium arrays (never renumber)."""

    LAYERED = 0
    ROCK_SALT = 1
    HYDROXIDE = 2
    MELT = 3
    GRAIN_BOUNDARY = 4
    SURFACE = 5
    SOURCE = 6          #: solid LiOH - solid LiOH (Li/H interdiffusion in the crystalline source)


MEDIA = tuple(m.name.lower() for m in Medium)
N_MEDIA = len(Medium)

#: Entries of the parameter-set section ``li_hop`` and their units.
PARAMETERS = {
    **{f"diffusivity_prefactor_{m}": "m^2/s" for m in MEDIA},
    **{f"activation_energy_{m}": "kJ/mol" for m in MEDIA},
    "grain_boundary_width": "nm",
    "surface_width": "nm",
    "capacity_excess": "quanta",
}

# voxel kinds
KIND_IMMOBILE = 0
KIND_TM = 1
KIND_MELT = 2
KIND_SOURCE = 3     # solid LiOH: Li hops only to another solid LiOH voxel (Medium.SOURCE)
# per-voxel environment flags (scratch, recomputed every step)
ENV_EXPOSED = 1
ENV_BOUNDARY = 2

MAX_LI = 255
#: Entries of the packed binomial CDF table: row n (1..255) holds thresholds for k = 0..n-1.
CDF_ENTRIES = MAX_LI * (MAX_LI + 1) // 2
TWO32 = 4294967296.0

_PORE = np.uint8(Phase.PORE)
_MELT = np.uint8(Phase.LIOH_MELT)
_SOURCE_MEDIUM = int(Medium.SOURCE)


# -- host-side tables ------------------------------------------------------------------------
def kind_table() -> np.ndarray:
    """uint8 (256,): kind of each phase code (0 immobile, 1 TM solid, 2 melt, 3 solid LiOH source)."""
    t = np.zeros(256, dtype=np.uint8)
    for ph in (Phase.HYDROXIDE, Phase.ROCK_SALT, Phase.LAYERED):
        t[int(ph)] = KIND_TM
    t[int(Phase.LIOH_MELT)] = KIND_MELT
    t[int(Phase.LIOH)] = KIND_SOURCE
    return t


def bulk_medium_table() -> np.ndarray:
    """int32 (256,): bulk medium of each TM phase code (LAYERED for other codes, never used)."""
    t = np.full(256, int(Medium.LAYERED), dtype=np.int32)
    t[int(Phase.ROCK_SALT)] = int(Medium.ROCK_SALT)
    t[int(Phase.HYDROXIDE)] = int(Medium.HYDROXIDE)
    t[int(Phase.LIOH_MELT)] = int(Medium.MELT)
    t[int(Phase.LIOH)] = int(Medium.SOURCE)
    return t


def melt_capacity_q() -> int:
    """Li quanta a melt voxel may hold: those of a voxel of dense solid LiOH (and of dense melt)."""
    return max(dense_quanta_per_voxel(Phase.LIOH), dense_quanta_per_voxel(Phase.LIOH_MELT))


def source_capacity_q() -> int:
    """Li quanta a solid LiOH voxel may hold: those of a voxel of dense LiOH (`dense_li_quanta_per_voxel('LiOH')`)."""
    return dense_li_quanta_per_voxel("LiOH")


def capacity_tables(capacity_excess_q: int) -> tuple[np.ndarray, np.ndarray]:
    """(base, per_tm), both int32 (256,): capacity = min(255, base[phase] + per_tm[phase] * tm)."""
    base = np.zeros(256, dtype=np.int32)
    per_tm = np.zeros(256, dtype=np.int32)
    for ph in (Phase.HYDROXIDE, Phase.ROCK_SALT, Phase.LAYERED):
        base[int(ph)] = int(capacity_excess_q)
        per_tm[int(ph)] = 1
    base[int(Phase.LIOH_MELT)] = melt_capacity_q()
    base[int(Phase.LIOH)] = source_capacity_q()
    return base, per_tm


def capacity(phase: np.ndarray, tm: np.ndarray, capacity_excess_q: int) -> np.ndarray:
    """int32 like ``phase``: Li capacity of each voxel in quanta (0 for immobile phases)."""
    base, per_tm = capacity_tables(capacity_excess_q)
    return np.minimum(MAX_LI, base[phase] + per_tm[phase] * tm.astype(np.int32))


@lru_cache(maxsize=64)
def binomial_cdf_table(threshold: int) -> np.ndarray:
    """uint64 (CDF_ENTRIES,): inverse-CDF thresholds of Binomial(n, p), p = threshold / 2^32.

    Entry n(n-1)/2 + k (n = 1..255, k = 0..n-1) is round(2^32 P(K <= k)), at most 2^32;
    a uint32 draw u gives K = the number of entries k of row n with u >= entry (scan from 0).
    Built with a fixed sequence of IEEE multiplications, divisions and additions (no libm),
    so every host computes the same integers; both backends read the same table.
    """
    p = float(threshold) / TWO32
    if not 0.0 <= p <= 0.5:
        raise ValueError(f"hop probability {p} outside [0, 0.5]")
    out = np.empty(CDF_ENTRIES, dtype=np.uint64)
    _fill_binomial_cdf(p, out)
    out.setflags(write=False)
    return out


@nb.njit(cache=True)
def _fill_binomial_cdf(p, out):
    """Fill `binomial_cdf_table`'s layout for probability p (float64) into out (uint64)."""
    q = 1.0 - p
    r = p / q
    pmf = np.empty(MAX_LI + 1)
    pmf[0] = 1.0
    acc = 1.0
    for n in range(1, MAX_LI + 1):  # q^n by sequential products
        acc = acc * q
        pmf[n] = acc
    cdf = pmf.copy()
    for k in range(MAX_LI):
        for n in range(k + 1, MAX_LI + 1):
            t = math.floor(cdf[n] * TWO32 + 0.5)
            out[n * (n - 1) // 2 + k] = np.uint64(min(t, TWO32))
            pmf[n] = pmf[n] * ((n - k) / (k + 1)) * r
            cdf[n] = cdf[n] + max(pmf[n], 0.0)


#: A guide bucket of a uint32 draw u is u >> GUIDE_SHIFT (256 buckets).
GUIDE_SHIFT = 24
GUIDE_BUCKETS = 1 << (32 - GUIDE_SHIFT)


def binomial_guide_table(cdf_row: np.ndarray) -> np.ndarray:
    """uint8 (MAX_LI + 1, GUIDE_BUCKETS): K of the bucket's lowest draw, per n.

    Entry [n, b] = #{k < n : cdf[n(n-1)/2 + k] <= b 2^24}, i.e. the binomial draw of u = b 2^24
    (`binomial_cdf_table`'s rule). K is non-decreasing in u, so for any u in bucket b the draw is
    at least this entry and a scan up from it gives the same K as a scan from 0 (usually no step).
    """
    out = np.zeros((MAX_LI + 1, GUIDE_BUCKETS), dtype=np.uint8)
    _fill_guide(np.asarray(cdf_row, dtype=np.uint64), out)
    return out


@nb.njit(cache=True)
def _fill_guide(cdf_row, out):
    """Fill `binomial_guide_table` (uint8 (256, 256)) from a packed cdf row (uint64): a merge of
    each row n with the bucket lows b 2^24, both ascending."""
    for n in range(1, MAX_LI + 1):
        off = n * (n - 1) // 2
        k = 0
        for b in range(GUIDE_BUCKETS):
            low = np.uint64(b) << np.uint64(GUIDE_SHIFT)
            while k < n and cdf_row[off + k] <= low:
                k += 1
            out[n, b] = k


@dataclass(frozen=True, eq=False)
class HopTables:
    """Everything a backend needs for the 6 passes of one step (built on the host, read-only).

    probability: float64 (7,), per-medium hop probability p per pass (after the cap);
    threshold:   uint64 (7,), round(p * 2^32); 0 means the medium is frozen this step;
    cdf:         uint64 (7, CDF_ENTRIES), `binomial_cdf_table` of each medium's threshold;
    guide:       uint8 (7, 256, 256), `binomial_guide_table` of each row of cdf (CPU speed-up);
    kind:        uint8 (256,), `kind_table`; bulk: int32 (256,), `bulk_medium_table`;
    cap_base, cap_per_tm: int32 (256,), `capacity_tables`;
    medium:      uint8 (N_CLASSES^2 x 4,), the pair-medium table of these thresholds (`_fill_medium_table`).
    """

    probability: np.ndarray
    threshold: np.ndarray
    cdf: np.ndarray
    guide: np.ndarray
    kind: np.ndarray
    bulk: np.ndarray
    cap_base: np.ndarray
    cap_per_tm: np.ndarray
    medium: np.ndarray

    def __bool__(self) -> bool:
        return bool(np.any(self.threshold > 0))


def tables_from_thresholds(thresholds, capacity_excess_q: int) -> HopTables:
    """`HopTables` for per-medium thresholds (uint64 (7,), each <= 2^31) and a capacity excess."""
    thr = np.asarray(thresholds, dtype=np.uint64)
    if thr.shape != (N_MEDIA,):
        raise ValueError(f"li_hop thresholds: expected uint64 ({N_MEDIA},), got shape {thr.shape}")
    return _cached_tables(tuple(int(t) for t in thr), int(capacity_excess_q))


@lru_cache(maxsize=16)
def _cached_tables(thr: tuple, capacity_excess_q: int) -> HopTables:
    threshold = np.array(thr, dtype=np.uint64)
    cdf = np.stack([binomial_cdf_table(t) for t in thr])
    guide = np.stack([_cached_guide(t) for t in thr])
    base, per_tm = capacity_tables(capacity_excess_q)
    kind, bulk = kind_table(), bulk_medium_table()
    medium = np.empty(N_CLASSES * N_CLASSES * 4, dtype=np.uint8)
    _fill_medium_table(kind, bulk, threshold, medium)
    return HopTables(threshold.astype(np.float64) / TWO32, threshold, cdf, guide, kind, bulk, base, per_tm, medium)


@lru_cache(maxsize=64)
def _cached_guide(threshold: int) -> np.ndarray:
    out = binomial_guide_table(binomial_cdf_table(threshold))
    out.setflags(write=False)
    return out


# -- relations between p, w, D, dt ---------------------------------------------------------------
def hop_probability(w_per_s: float, dt_s: float) -> float:
    """Per-pass hop probability that realises hop rate w in a step dt: p = w dt / (1 + w dt)."""
    x = w_per_s * dt_s
    return x / (1.0 + x)


def hop_rate_from_probability(p: float, dt_s: float) -> float:
    """Inverse of `hop_probability`: the hop rate (1/s) realised by p per pass, w = p / ((1-p) dt)."""
    return p / ((1.0 - p) * dt_s)


def diffusivity_from_hop_rate(w_per_s: float, voxel_nm: float) -> float:
    """D = w h^2 in m^2/s (6-neighbour cubic lattice, MSD = 6 D t)."""
    return w_per_s * (voxel_nm * 1e-9) ** 2


def hop_rate_from_diffusivity(D_m2_per_s: float, voxel_nm: float) -> float:
    """w = D / h^2 in 1/s."""
    return D_m2_per_s / (voxel_nm * 1e-9) ** 2


# -- kernels ----------------------------------------------------------------------------------
#: The TM phase codes are the range _TM_LO.._TM_HI (`_environment` tests a code with two compares).
_TM_LO = min(int(p) for p in TM_PHASES)
_TM_HI = max(int(p) for p in TM_PHASES)
if sorted(np.flatnonzero(kind_table() == KIND_TM)) != list(range(_TM_LO, _TM_HI + 1)):
    raise ValueError("li_hop: the TM phase codes must be consecutive")


@nb.njit(inline="always", cache=True)
def _env_bits(phase, grain, n, g):
    """ENV_EXPOSED if voxel n is PORE or melt, ENV_BOUNDARY if it is TM of a grain other than g (uint8)."""
    pn = phase[n]
    exposed = (pn == _PORE) | (pn == _MELT)
    other = (pn >= _TM_LO) & (pn <= _TM_HI) & (grain[n] != g)
    return np.uint8(exposed) * np.uint8(ENV_EXPOSED) | np.uint8(other) * np.uint8(ENV_BOUNDARY)


@nb.njit(parallel=True, cache=True)
def _environment(phase, grain, nz, ny, nx, env):
    """phase uint8, grain int32 (n,) flat; writes env uint8 (n,): ENV_EXPOSED | ENV_BOUNDARY bits
    (0 for a voxel that is not TM). Neighbours outside the box count for nothing."""
    nxy = ny * nx
    for z in nb.prange(nz):
        for y in range(ny):
            row = (z * ny + y) * nx
            for x in range(nx):
                i = np.uint64(row + x)
                p = phase[i]
                g = grain[i]
                e = np.uint8(0)
                if z > 0:
                    e |= _env_bits(phase, grain, i - np.uint64(nxy), g)
                if z < nz - 1:
                    e |= _env_bits(phase, grain, i + np.uint64(nxy), g)
                if y > 0:
                    e |= _env_bits(phase, grain, i - np.uint64(nx), g)
                if y < ny - 1:
                    e |= _env_bits(phase, grain, i + np.uint64(nx), g)
                if x > 0:
                    e |= _env_bits(phase, grain, i - np.uint64(1), g)
                if x < nx - 1:
                    e |= _env_bits(phase, grain, i + np.uint64(1), g)
                env[i] = e * np.uint8((p >= _TM_LO) & (p <= _TM_HI))


@nb.njit(inline="always", cache=True)
def _binomial(n, u, cdf, guide, m):
    """Inverse-CDF draw of Binomial(n, p_m) from a uint32 u (as uint64); n int in 0..255.

    K = #{k < n : u >= cdf[m, n(n-1)/2 + k]}, the rule of `binomial_cdf_table` (and of the CUDA
    kernel's scan). The scan starts at the guide entry of u's bucket, a lower bound of K, so it
    mostly takes no step; the result does not depend on the start.
    """
    off = (n * (n - 1)) // 2
    k = np.int64(guide[np.uint64(m), np.uint64(n), u >> np.uint64(GUIDE_SHIFT)])
    while k < n and u >= cdf[np.uint64(m), np.uint64(off + k)]:
        k += 1
    return k


#: uint8 (256,): the class of each phase code in the pair-medium table: the code for codes below
#: N_CLASSES, else 0 (PORE's: every other code is immobile, as PORE).
N_CLASSES = 8
_CLASS = np.zeros(256, dtype=np.uint8)
_CLASS[:N_CLASSES] = np.arange(N_CLASSES)
if any(kind_table()[N_CLASSES:] != KIND_IMMOBILE):
    raise ValueError("li_hop: phase codes from N_CLASSES on must be immobile")


@nb.njit(cache=True)
def _fill_medium_table(kind, bulk, pthr, out):
    """out uint8 (N_CLASSES^2 x 4,): entry (c_i N_CLASSES + c_j) 4 + 2 gb + ex is 1 + the medium of a pair
    of Li-holding voxels of phase classes c_i, c_j (`_medium_of`), 0 for none; gb: the TM voxels
    are of different grains or both BOUNDARY, ex: both EXPOSED."""
    for ci in range(N_CLASSES):
        for cj in range(N_CLASSES):
            for gb in range(2):
                for ex in range(2):
                    out[(ci * N_CLASSES + cj) * 4 + 2 * gb + ex] = _medium_of(ci, cj, gb, ex, kind, bulk, pthr) + 1


@nb.njit(inline="always", cache=True)
def _medium_of(pi, pj, gb, ex, kind, bulk, pthr):
    """The medium of a pair with Li of phases pi, pj (module docstring), or -1 when nothing can hop
    (an immobile voxel, solid source with anything but solid source, melt with TM, or a frozen
    medium); gb, ex as in `_fill_medium_table`."""
    ki = kind[pi]
    kj = kind[pj]
    if ki == KIND_IMMOBILE or kj == KIND_IMMOBILE:
        return -1
    if ki == KIND_SOURCE or kj == KIND_SOURCE:
        if ki != kj:
            return -1  # solid source - TM: li_source's release; solid source - melt: no hop
        m = _SOURCE_MEDIUM
    elif ki == KIND_MELT and kj == KIND_MELT:
        m = 3  # Medium.MELT
    elif ki == KIND_MELT or kj == KIND_MELT:
        return -1  # melt - TM: li_source's release (one way), no hop back into the melt
    else:
        m = bulk[pi]
        mb = bulk[pj]
        if pthr[mb] < pthr[m] or (pthr[mb] == pthr[m] and mb < m):
            m = mb
        if gb != 0 and pthr[4] > pthr[m]:
            m = 4  # Medium.GRAIN_BOUNDARY
        if ex != 0 and pthr[5] > pthr[m]:
            m = 5  # Medium.SURFACE
    if pthr[m] == 0:
        return -1
    return m


@nb.njit(inline="always", cache=True)
def _pair_code(phase, grain, li, env, i, j, mtab):
    """1 + the medium of the pair (i, j) (`_fill_medium_table`), 0 when nothing can hop."""
    if li[i] == 0 and li[j] == 0:
        return np.int64(0)
    e = env[i] & env[j]
    gb = np.uint64(grain[i] != grain[j]) | np.uint64((e >> 1) & 1)
    idx = ((np.uint64(_CLASS[phase[i]]) * np.uint64(N_CLASSES) + np.uint64(_CLASS[phase[j]])) << np.uint64(2)
           | (gb << np.uint64(1)) | np.uint64(e & 1))
    return np.int64(mtab[idx])


@nb.njit(inline="always", cache=True)
def _exchange(phase, li, tm, i, j, m, ra, rb, cdf, guide, cap_base, cap_per_tm):
    """The exchange of pair (i, j) through medium m with the uint32 draws ra, rb (module
    docstring). Returns (quanta moved, 1 if refused else 0)."""
    ni = np.int64(li[i])
    nj = np.int64(li[j])
    net = _binomial(ni, np.uint64(ra), cdf, guide, m) - _binomial(nj, np.uint64(rb), cdf, guide, m)
    ni2 = ni - net
    nj2 = nj + net
    pi = phase[i]
    pj = phase[j]
    ci = min(np.int64(MAX_LI), np.int64(cap_base[pi]) + np.int64(cap_per_tm[pi]) * np.int64(tm[i]))
    cj = min(np.int64(MAX_LI), np.int64(cap_base[pj]) + np.int64(cap_per_tm[pj]) * np.int64(tm[j]))
    # applied without a branch (net = 0 writes the same quanta back): whether it is taken is a coin flip
    ok = np.int64(((ni2 <= ci) | (ni2 <= ni)) & ((nj2 <= cj) | (nj2 <= nj)))
    moved = net * ok
    li[i] = np.uint8(ni - moved)
    li[j] = np.uint8(nj + moved)
    if m == _SOURCE_MEDIUM and moved != 0:
        used_up_source_becomes_pore(phase, li, i)
        used_up_source_becomes_pore(phase, li, j)
    return abs(moved), (1 - ok) * np.int64(net != 0)


#: Pairs listed before their draws are made together (lane-parallel Philox).
DRAW_BLOCK = 1024


@nb.njit(cache=True, _nrt=False)
def _exchange_block(phase, li, tm, cand, mab, c0, c1, c2, c3, m, seed, step, pass_id, stride,
                    cdf, guide, cap_base, cap_per_tm):
    """Draw (lane-parallel, bit for bit ``draw4``) and apply the m listed pair couples: cand[:m] the
    lower voxel i of pair 2u, mab[:m] = (m_a + 1) | (m_b + 1) << 8 the media of pairs 2u (lower
    voxel i) and 2u + 1 (lower voxel i + 2 stride), 0 for no hop. Returns (moved, refused)."""
    draw4_lanes(cand, 0, m, c0, c1, c2, c3, seed, step, pass_id, STREAM)
    moved = np.int64(0)
    refused = np.int64(0)
    ustride = np.uint64(stride)
    for k in range(m):
        i = np.uint64(cand[k])
        ma = (mab[k] & 0xFF) - 1
        mb = (mab[k] >> 8) - 1
        if ma >= 0:
            mv, rf = _exchange(phase, li, tm, i, i + ustride, ma, c0[k], c1[k], cdf, guide, cap_base, cap_per_tm)
            moved += mv
            refused += rf
        if mb >= 0:
            j = i + ustride + ustride
            mv, rf = _exchange(phase, li, tm, j, j + ustride, mb, c2[k], c3[k], cdf, guide, cap_base, cap_per_tm)
            moved += mv
            refused += rf
    return moved, refused


#: How far (voxels, along each axis) the Li reach of a row (`li_reach`) extends beyond the Li of the
#: step's start: 2 passes per axis move a quantum at most 2 voxels along it, and a couple spans 4
#: voxels from its lower one (3 more along its axis).
REACH_MARGIN = 5


@nb.njit(inline="always", cache=True)
def _holds_li(li, _unused, _c, k):
    """Whether voxel k holds Li (the `kmc.extents.row_extents` test of `li_reach`)."""
    return li[k] != 0


@nb.njit(parallel=True, cache=True)
def _dilate_rows(ext, nz, ny, margin, out):
    """out[z ny + y] <- the union of ext over the rows within +-margin along y (axis 1) of (z, y),
    widened by margin along x: one separable half of `li_reach`'s window."""
    for r in nb.prange(nz * ny):
        z = r // ny
        y = r - z * ny
        lo = np.int64(1) << 40
        hi = np.int64(-1) << 40
        for yy in range(max(0, y - margin), min(ny, y + margin + 1)):
            lo = min(lo, ext[z * ny + yy, 0])
            hi = max(hi, ext[z * ny + yy, 1])
        out[r, 0] = lo - margin
        out[r, 1] = hi + margin


def li_reach(li: np.ndarray, shape: tuple[int, int, int], margin: int = REACH_MARGIN) -> np.ndarray:
    """int64 (nz ny, 2): per row (z, y), an x range [lo, hi] that holds the lower voxel of every pair
    couple of the step's 6 passes that can find Li in one of its voxels: the x extent of the Li
    (li > 0) at the step's start over the rows within +-margin along z and y, widened by margin
    along x (lo > hi: none). li: uint8 (n,) flat C-order view of (nz, ny, nx)."""
    nz, ny, nx = shape
    ext = np.empty((nz * ny, 2), dtype=np.int64)
    row_extents(_holds_li, li, li, 0, nz, ny, nx, ext)
    along_y = np.empty_like(ext)
    _dilate_rows(ext, nz, ny, margin, along_y)
    # along z: the same filter on the (y, z)-ordered rows, then back (the x margin once only)
    by_yz = np.ascontiguousarray(along_y.reshape(nz, ny, 2).transpose(1, 0, 2).reshape(nz * ny, 2))
    out = np.empty_like(ext)
    _dilate_rows(by_yz, ny, nz, margin, out)
    out[:, 0] += margin
    out[:, 1] -= margin
    return np.ascontiguousarray(out.reshape(ny, nz, 2).transpose(1, 0, 2).reshape(nz * ny, 2))


@nb.njit(cache=True, _nrt=False)
def _pass_chunk(phase, grain, li, tm, env, nz, ny, nx, axis, parity, seed, step,
                mtab, cdf, guide, cap_base, cap_per_tm, scratch_i, scratch_r, ch, ext):
    """Chunk ``ch`` of one pass (`_pair_pass`): outer lines ch n // n_chunks .. (ch + 1) n // n_chunks,
    n_chunks = scratch_i.shape[0]; scratch_i int64 (n_chunks, 2, DRAW_BLOCK), scratch_r uint64
    (n_chunks, 4, DRAW_BLOCK). The pair couples that can hop are listed, and drawn and applied a
    block at a time (`_exchange_block`); pairs of a pass are disjoint and a pair's medium reads only
    its own voxels and the step's flags, so listing before applying sees the pair-by-pair state.
    Only couples whose lower voxel lies in its row's Li reach ext (int64 (nz ny, 2), `li_reach`)
    are looked at: the others hold no Li at this pass. Compiled without reference counting
    (nothing is allocated)."""
    pass_id = 2 * axis + parity
    z0, zs, zn, y0, ys, yn, x0, xs, xn, stride, n_t = face_pair_lines(nz, ny, nx, axis, parity, 2)
    n_chunks = scratch_i.shape[0]
    cand = scratch_i[ch, 0]
    mab = scratch_i[ch, 1]
    c0 = scratch_r[ch, 0]
    c1 = scratch_r[ch, 1]
    c2 = scratch_r[ch, 2]
    c3 = scratch_r[ch, 3]
    moved = np.int64(0)
    refused = np.int64(0)
    ustride = np.uint64(stride)
    m = 0
    for tz in range(ch * zn // n_chunks, (ch + 1) * zn // n_chunks):
        z = z0 + zs * tz
        for ty in range(yn):
            y = y0 + ys * ty
            # only the couples whose lower voxel lies in the row's Li reach (`li_reach`)
            rr = z * ny + y
            lo = ext[rr, 0]
            hi = min(ext[rr, 1], nx - 1)
            if axis == 2:       # x = parity + 4 tx
                tx_lo = max(0, (lo - parity + 3) // 4)
                tx_hi = min(xn - 1, (hi - parity) // 4) if hi >= parity else -1
            else:               # x = tx
                tx_lo = max(0, lo)
                tx_hi = hi
            for tx in range(tx_lo, tx_hi + 1):
                x = x0 + xs * tx
                i = (z * ny + y) * nx + x
                ui = np.uint64(i)
                ca = _pair_code(phase, grain, li, env, ui, ui + ustride, mtab)
                t = tz if axis == 0 else (ty if axis == 1 else tx)
                cb = np.int64(0)
                if 2 * t + 1 < n_t:
                    k = ui + ustride + ustride
                    cb = _pair_code(phase, grain, li, env, k, k + ustride, mtab)
                cand[m] = i
                mab[m] = ca | (cb << 8)
                m += np.int64((ca | cb) != 0)     # listed without a branch; the block is drawn whole
                if m == cand.size:
                    mv, rf = _exchange_block(phase, li, tm, cand, mab, c0, c1, c2, c3, m, seed, step, pass_id,
                                             stride, cdf, guide, cap_base, cap_per_tm)
                    moved += mv
                    refused += rf
                    m = 0
    if m > 0:
        mv, rf = _exchange_block(phase, li, tm, cand, mab, c0, c1, c2, c3, m, seed, step, pass_id, stride,
                                 cdf, guide, cap_base, cap_per_tm)
        moved += mv
        refused += rf
    return moved, refused


@nb.njit(parallel=True, cache=True)
def _pair_pass(phase, grain, li, tm, env, nz, ny, nx, axis, parity, seed, step,
               mtab, cdf, guide, cap_base, cap_per_tm, scratch_i, scratch_r, ext):
    """One pass: pairs (i, i + e_axis), i with coordinate % 2 == parity along ``axis``, in chunks
    (`_pass_chunk`, one per scratch row) in parallel.

    phase, li, tm, env uint8 (n,); grain int32 (n,): flat C-order views of (nz, ny, nx).
    li is modified in place; a solid-source voxel that a SOURCE hop empties becomes PORE
    (phase written, only for the two voxels of the pair). Returns (quanta moved, exchanges
    refused), int64. The pairs go two by two along the axis (t = 2u and 2u + 1 of the pass,
    lower voxels i and i + 2 e_axis), sharing the draw of the first (module docstring); neither
    the chunking nor the thread count changes the result.
    """
    moved = np.int64(0)
    refused = np.int64(0)
    for ch in nb.prange(scratch_i.shape[0]):
        mv, rf = _pass_chunk(phase, grain, li, tm, env, nz, ny, nx, axis, parity, seed, step, mtab,
                             cdf, guide, cap_base, cap_per_tm, scratch_i, scratch_r, ch, ext)
        moved += mv
        refused += rf
    return moved, refused


@dataclass(frozen=True)
class HopStats:
    """What one step did: quanta moved (sum over pairs of |net transfer|) and refused exchanges."""

    moved_q: int
    refused: int


def environment(lattice) -> np.ndarray:
    """uint8 (nz, ny, nx): ENV_EXPOSED / ENV_BOUNDARY flags of every voxel (0 for non-TM voxels)."""
    nz, ny, nx = lattice.shape
    env = np.empty(lattice.phase.size, dtype=np.uint8)
    _environment(lattice.phase.reshape(-1), lattice.grain.reshape(-1), nz, ny, nx, env)
    return env.reshape(lattice.shape)


def hop_step(lattice, seed: int, step: int, tables: HopTables) -> HopStats:
    """Apply the 6 passes of one step in place on ``lattice.li``; see the module docstring."""
    lattice.check()
    nz, ny, nx = lattice.shape
    phase = lattice.phase.reshape(-1)
    grain = lattice.grain.reshape(-1)
    li = lattice.li.reshape(-1)
    tm = lattice.tm.reshape(-1)
    env = scratch.buffer("li_hop.env", phase.size, np.uint8)
    _environment(phase, grain, nz, ny, nx, env)
    moved = refused = 0
    seed, step = np.uint64(seed), np.uint64(step)
    n_chunks = max(1, min(nb.get_num_threads(), nz))
    scratch_i = np.empty((n_chunks, 2, DRAW_BLOCK), dtype=np.int64)
    scratch_r = np.empty((n_chunks, 4, DRAW_BLOCK), dtype=np.uint64)
    ext = li_reach(li, lattice.shape, REACH_MARGIN)
    for axis in range(3):
        for parity in range(2):
            mv, rf = _pair_pass(phase, grain, li, tm, env, nz, ny, nx, axis, parity, seed, step,
                                tables.medium, tables.cdf, tables.guide,
                                tables.cap_base, tables.cap_per_tm, scratch_i, scratch_r, ext)
            moved += int(mv)
            refused += int(rf)
    return HopStats(moved, refused)


# -- the event --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LiHop:
    """Li hops between 6-neighbour voxels; rates per medium, capped per-pass probability.

    diffusivity_prefactor_m2_per_s: 7 floats in `Medium` order, D0 of the *lattice* diffusivity
        (for GRAIN_BOUNDARY and SURFACE already scaled by width / slab thickness, see
        `from_params`), m^2/s.
    activation_energy_kJ_per_mol: 7 floats in `Medium` order.
    voxel_nm: voxel edge h, nm.
    capacity_excess_q: Li quanta a TM voxel may hold above its tm quanta.
    max_hop_probability: cap on p per pass, in (0, 0.5].
    """

    diffusivity_prefactor_m2_per_s: tuple
    activation_energy_kJ_per_mol: tuple
    voxel_nm: float
    capacity_excess_q: int = 8
    max_hop_probability: float = 0.25

    NAME = NAME
    STREAM = STREAM
    REACH = REACH
    N_PASSES = N_PASSES
    PARAMETERS = PARAMETERS
    COUNTERS = ()
    SELF_CAPPED = True  #: caps its own per-pass probability; the step control ignores its rate

    def __post_init__(self):
        if len(self.diffusivity_prefactor_m2_per_s) != N_MEDIA or len(self.activation_energy_kJ_per_mol) != N_MEDIA:
            raise ValueError(f"need {N_MEDIA} values per medium in the order {MEDIA}")
        if not 0.0 < self.max_hop_probability <= 0.5:
            raise ValueError(f"max_hop_probability must lie in (0, 0.5], got {self.max_hop_probability}")
        if not 0 <= int(self.capacity_excess_q) <= MAX_LI:
            raise ValueError(f"capacity_excess_q must lie in 0..255, got {self.capacity_excess_q}")
        if self.voxel_nm <= 0 or any(d < 0 for d in self.diffusivity_prefactor_m2_per_s):
            raise ValueError("voxel_nm must be > 0 and prefactors >= 0")

    @classmethod
    def from_media(cls, D0: dict, Ea: dict | None = None, **kw) -> LiHop:
        """Build from {medium name: D0 (m^2/s)} and {medium name: Ea (kJ/mol)} (Ea default 0)."""
        Ea = Ea or {}
        unknown = (set(D0) | set(Ea)) - set(MEDIA)
        if unknown or set(D0) != set(MEDIA):
            raise ValueError(f"give D0 for exactly the media {MEDIA}; unknown: {sorted(unknown)}")
        return cls(tuple(float(D0[m]) for m in MEDIA), tuple(float(Ea.get(m, 0.0)) for m in MEDIA), **kw)

    @classmethod
    def from_params(cls, params, voxel_nm: float, max_hop_probability: float = 0.25) -> LiHop:
        """Read section ``li_hop`` (see `PARAMETERS`) for a lattice of voxel edge ``voxel_nm``.

        The parameter file holds *physical* diffusivities. A boundary of width delta is two voxel
        layers thick on the lattice (2h), a surface layer of width delta_s one (h); the flux
        along them is kept by scaling: D_lattice = D * delta / (2 h) for GRAIN_BOUNDARY and
        D * delta_s / h for SURFACE. Bulk and melt diffusivities are used as they are.
        """
        D0 = {m: params.get(NAME, f"diffusivity_prefactor_{m}", "m^2/s") for m in MEDIA}
        Ea = {m: params.get(NAME, f"activation_energy_{m}", "kJ/mol") for m in MEDIA}
        D0["grain_boundary"] *= params.get(NAME, "grain_boundary_width", "nm") / (2.0 * voxel_nm)
        D0["surface"] *= params.get(NAME, "surface_width", "nm") / voxel_nm
        excess = params.get(NAME, "capacity_excess", "quanta")
        return cls.from_media(D0, Ea, voxel_nm=float(voxel_nm), capacity_excess_q=round(excess),
                              max_hop_probability=max_hop_probability)

    # rates ------------------------------------------------------------------------------
    def diffusivity_m2_per_s(self, medium, T_C: float) -> float:
        """Lattice diffusivity D_m(T) = D0_m exp(-Ea_m / RT), m^2/s (T in °C)."""
        m = Medium[medium.upper()] if isinstance(medium, str) else Medium(medium)
        return arrhenius_per_s(self.diffusivity_prefactor_m2_per_s[m], self.activation_energy_kJ_per_mol[m], T_C)

    def temperature_C_for_diffusivity(self, medium, D_m2_per_s: float) -> float:
        """Inverse of `diffusivity_m2_per_s`: the temperature (°C) at which medium has D."""
        m = Medium[medium.upper()] if isinstance(medium, str) else Medium(medium)
        D0, Ea = self.diffusivity_prefactor_m2_per_s[m], self.activation_energy_kJ_per_mol[m]
        if Ea <= 0 or not 0 < D_m2_per_s < D0:
            raise ValueError(f"{m.name.lower()}: D = {D_m2_per_s} is not reached at a finite temperature (D0 = {D0}, Ea = {Ea})")
        return Ea * 1e3 / (GAS_CONSTANT_J_PER_MOL_K * math.log(D0 / D_m2_per_s)) - 273.15

    def hop_rate_per_s(self, medium, T_C: float) -> float:
        """w_m = D_m(T) / h^2: rate at which one quantum hops to one given neighbour, 1/s."""
        return hop_rate_from_diffusivity(self.diffusivity_m2_per_s(medium, T_C), self.voxel_nm)

    def hop_probabilities(self, T_C: float, dt_s: float) -> np.ndarray:
        """float64 (7,): per-pass probability p_m = min(w dt / (1 + w dt), cap) per medium."""
        return np.array([min(hop_probability(self.hop_rate_per_s(m, T_C), dt_s), self.max_hop_probability)
                         for m in Medium])

    def max_rate_per_s(self, T_C: float) -> float:
        """The fastest hop rate over the media at T (1/s), *uncapped*.

        This event caps itself (p <= max_hop_probability), so it should not shorten the step:
        the step-size control may use `max_uncapped_dt_s` of the media it wants resolved.
        """
        return max(self.hop_rate_per_s(m, T_C) for m in Medium)

    def probability(self, T_C: float, dt_s: float) -> float:
        """The largest per-pass hop probability over the media (after the cap)."""
        return float(self.hop_probabilities(T_C, dt_s).max())

    def effective_diffusivity_m2_per_s(self, medium, T_C: float, dt_s: float) -> float:
        """D the lattice realises for ``medium`` in steps of dt: p/(1-p) h^2/dt (= D_m if uncapped)."""
        m = Medium[medium.upper()] if isinstance(medium, str) else Medium(medium)
        p = self.hop_probabilities(T_C, dt_s)[m]
        return diffusivity_from_hop_rate(hop_rate_from_probability(p, dt_s), self.voxel_nm) if p > 0 else 0.0

    def capped_media(self, T_C: float, dt_s: float) -> dict[str, tuple[float, float]]:
        """{medium: (D_m, D_eff)} in m^2/s for the media whose p is capped at this T and dt."""
        out = {}
        for m in Medium:
            if hop_probability(self.hop_rate_per_s(m, T_C), dt_s) > self.max_hop_probability:
                out[m.name.lower()] = (self.diffusivity_m2_per_s(m, T_C), self.effective_diffusivity_m2_per_s(m, T_C, dt_s))
        return out

    def max_uncapped_dt_s(self, medium, T_C: float) -> float:
        """Longest dt (s) for which ``medium`` is not capped at T: p_cap / ((1 - p_cap) w_m)."""
        w = self.hop_rate_per_s(medium, T_C)
        return math.inf if w == 0 else hop_rate_from_probability(self.max_hop_probability, 1.0) / w

    def max_dt_s(self, T_C: float, length_m: float, time_s: float, factor: float = 3.0, media=None) -> float:
        """Longest step (s) for which the cap does not change transport over ``length_m`` within ``time_s``.

        A medium may be capped if even capped it spreads Li over factor x length within time_s:
        sqrt(2 D_eff t) >= factor L, i.e. dt <= p_cap/(1-p_cap) h^2 2 t / (factor L)^2. A medium
        whose true D does not reach that length must stay uncapped (dt <= `max_uncapped_dt_s`).
        Returns the minimum over ``media`` (names or `Medium`; default all) of what each allows.
        For example: L = the particle radius, t = the time scale of the fastest reaction at T.
        """
        h2 = (self.voxel_nm * 1e-9) ** 2
        need = (factor * length_m) ** 2 / (2.0 * time_s)           # D needed, m^2/s
        length_dt = hop_rate_from_probability(self.max_hop_probability, 1.0) * h2 / need
        out = math.inf
        for m in (Medium if media is None else media):
            m = Medium[m.upper()] if isinstance(m, str) else Medium(m)
            uncapped = self.max_uncapped_dt_s(m, T_C)
            allowed = max(uncapped, length_dt) if self.diffusivity_m2_per_s(m, T_C) >= need else uncapped
            out = min(out, allowed)
        return out

    # the rule ---------------------------------------------------------------------------
    def thresholds(self, T_C: float, dt_s: float) -> np.ndarray:
        """uint64 (7,): per-medium per-pass thresholds round(p_m 2^32) for a step dt at T.

        They are the whole input of a step: the binomial tables follow from them on the host
        (`tables_from_thresholds`), identically for every backend.
        """
        return np.array([probability_threshold(p) for p in self.hop_probabilities(T_C, dt_s)], dtype=np.uint64)

    def step_tables(self, T_C: float, dt_s: float) -> HopTables:
        """Host tables for one step at temperature T_C (°C) and length dt_s (s)."""
        return tables_from_thresholds(self.thresholds(T_C, dt_s), self.capacity_excess_q)

    def capacity(self, lattice) -> np.ndarray:
        """int32 (nz, ny, nx): Li capacity of every voxel, quanta."""
        return capacity(lattice.phase, lattice.tm, self.capacity_excess_q)

    def cpu_pass(self, lattice, seed: int, step: int, thresholds) -> dict[str, int]:
        """All 6 passes of step ``step``; ``thresholds``: `thresholds(T, dt)` (uint64 (7,)) or `step_tables`.

        Returns {} (no gas counters); `hop_step` also returns the moved/refused statistics.
        """
        tables = thresholds if isinstance(thresholds, HopTables) else tables_from_thresholds(thresholds, self.capacity_excess_q)
        hop_step(lattice, seed, step, tables)
        return {}
