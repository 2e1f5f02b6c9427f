"""Sintering and densification: pore/solid exchange and consolidation of partly filled voxels.

The reference idea is SPPARKS' sinter app (pores migrate by pore/grain site exchanges driven
by the change in unlike-neighbour count). Here every voxel carries a solid *fill*, so the same
energy also drives the consolidation of nanoporous voxels (dehydrated rock salt, fill 0.47).
docs/sintering.md is the long form of this docstring, with the test results and timings.

Fill in integer units. A voxel's solid fill f = F / F_FULL with F = tm * w(phase) for the TM
phases, w = round(10 V_m / (cm^3/mol)) = 235 (TM(OH)2), 110 (rock salt), 204 (layered), and
F_FULL = 64 * 235 = 15040 (a voxel of dense TM(OH)2: f = 1). PORE: F = 0. Every other phase
(Li sources, melt) is *neutral*: F = F_FULL / 2, which makes its contacts cost the same
whatever the neighbour holds, so it exerts no force; it never moves in this event.

Energy (units of J, the solid/pore contact energy; lattice_kT is in the same units):

    E = sum over unordered 26-neighbour pairs {a, b} in the box of
        f_a + f_b - c_ab f_a f_b,     c_ab = 2 - w_gb [a, b TM, grains > 0 and different]

For fills 0 or 1 this is exactly J x (number of solid-pore contacts) + w_gb J x (number of
contacts between different grains): SPPARKS' unlike-neighbour count (w_gb = 1 there). For
partial fills it is a lattice gas with sub-voxel occupancy: a nanoporous voxel has "inner
surface", and moving matter from a voxel toward a neighbour with a denser 26-neighbourhood
lowers E. w_gb = grain_boundary_energy (gamma_gb / gamma_sv), quantised to 1/8. Neighbours
outside the box do not exist (no contact, no energy).

Moves, for one face pair (i, j = i + e_axis), i the lower voxel:

* swap: one voxel PORE, the other TM solid -> all six fields are exchanged (the solid voxel
  moves whole, with grain, Li, disorder and flags), unless the pore has no neighbour other than
  the solid voxel that holds matter (every other in-box 26-neighbour PORE): matter moves along
  surfaces and through the solid, not through the gas (no evaporation; without this rule a
  lone voxel, which moves at dE = 0, drifts off into the furnace atmosphere).
* transfer (consolidation): both TM solid of the same phase, at least one below its dense
  quanta n_d(phase) = `kmc.state.dense_quanta_per_voxel` (136 rock salt, 73 layered, 64
  hydroxide). Donor d = i if bit 0 of r2 is 0 else j, receiver r the other (unbiased
  proposal); q = min(tm_d, n_d - tm_r) TM quanta move d -> r, so the receiver never exceeds
  fill 1. Li moves with the TM in proportion: li_q = floor(li_d q / tm_d) (all of it when the
  donor empties); refused if li_r + li_q > 255. Receiver disorder becomes the TM-weighted mean
  (rounded half up); receiver phase, grain and flags stay. A donor left with tm = 0 becomes
  PORE (grain 0, li 0, disorder 0) and ORs its flags into the receiver (the W stays with the
  solid). q = 0 is no move.
* anything else (pore/pore, solid/solid of different phases or both dense, anything with a
  neutral voxel) is no move and draws no random number.

Sub-steps and acceptance. A step of length dt at T makes k dt attempts per pair,
k = nu exp(-Ea / RT), in n_sub = min(7, ceil(k dt / ln 2)) sub-steps; in each, every pair
attempts with p_sub = 1 - exp(-k dt / n_sub) <= 1/2 (`substeps_and_probability`). Beyond
7 ln 2 = 4.85 attempts per step p_sub stays 1/2 and the event is rate-capped (the loop should
keep k dt <= 4.85; `max_rate_per_s` gives k). p_sub <= 1/2 keeps the dynamics random: with
p -> 1 and Metropolis acceptance 1 at dE = 0, a lone pore would hop deterministically.
With (r0, r1, r2, r3) = draw4(seed, step, 36 s + p, i, Stream.SINTERING) (s the sub-step, p
the colour pass, i the lower voxel), the pair attempts when r0 < T_attempt = round(2^32 p_sub);
the move is accepted when dE <= 0, else when r1 < T_B[min(floor(32 dE), L - 1)] with
T_B[n] = round(2^32 exp(-n / (32 kT))) (`boltzmann_thresholds`, host-side, T_B[L - 1] = 0).
dE is computed exactly in int64 (units J / (8 F_FULL^2)) and only then floored to J/32.

Colouring (race-free and thread-order independent): a pair move reads the 26-neighbourhoods
of both voxels, a 4 x 3 x 3 box, and writes its two voxels. Two pairs of one pass must not
write into each other's box, i.e. they must be >= 3 apart along the pair axis or >= 2 apart
along another axis. Pass (axis a, colour c), c = 0..11, takes the pairs whose lower voxel has
coordinate u along a with u % 3 == c // 4, and the two other coordinates (in z, y, x order)
with parities (c >> 1) & 1 and c & 1. 12 colours per axis is optimal (the 3 x 2 x 2 block of
lower voxels is a clique of mutually conflicting pairs), so a sub-step is 36 passes, pass
p = 12 a + c, axis a = 0, 1, 2 for z, y, x (as in li_hop). Sub-steps with step + s even run
p = 0..35, odd ones p = 35..0: a pore can hop twice along an axis in one sub-step only in the
order of the passes (probability O(p_sub^2)), and alternating the order cancels that drift.

Physical time: each face pair attempts at rate k (1/s); one Monte Carlo step (MCS, one
attempt per pair) is 1/k seconds, and a step realises n_sub (-ln(1 - p_sub)) = k dt MCS
(`Sintering.realised_mcs`).

Conserved exactly: total tm and li, and the TM quanta of every phase (no phase changes; a
transfer stays within one phase); no TM voxel exceeds n_d(phase) if it did not before.
Not implemented: SPPARKS' vacancy annihilation at grain boundaries (a non-local column shift
toward the surface); see docs/sintering.md for why and what it would change.

Blocked sweep (same bits as pass after pass over the whole box, and cache-friendly on large
boxes). A pair with lower voxel at z and offset dz (1 for a z pair, else 0) reads rows
z - 1 .. z + dz + 1 and writes z .. z + dz, so a pair of an earlier pass at z' interacts with it
(one writes a voxel the other reads or writes) only if z' - z <= 1 + dz, and likewise along y.
The (z, y) rows are cut into square tiles of T = TILE_ROWS rows, and the grid of pass q (the
q-th of the step's n_sub x 36 passes) is shifted by -S_z(q) rows along z and -S_y(q) along y:
tile (a, b) of pass q holds the pairs whose lower voxel has aT - S_z(q) <= z < (a + 1)T - S_z(q)
and bT - S_y(q) <= y < (b + 1)T - S_y(q). A pass has lower voxels only on rows of one residue:
z = r_q mod m_q (m = 3 along the pass's own axis, 2 along the others; `_pass_rows`), and so along
y. `pass_skews` takes S(0) = 0 and each S(q) >= S(q - 1) as small as this rule allows: for every
grid line B = aT - S(q) of pass q (its residues mod 6 are those of aT) and every earlier pass q',
no row of pass q' lies in [aT - S(q'), f], f = z_max + 1 + dz_q, z_max the last row of pass q
below B. Only passes with S(q') >= S(q) - 1 can break it, since f <= B + 1. Over a step's 252
passes the grid moves 105 rows along z and 147 along y for tiles of a multiple of 6 rows, where
the first form of this sweep (each pass 1 + dz and 1 + dy further) moved it 335: each voxel falls
into fewer tiles in a step and is fetched from memory fewer times.

Tile after tile, all passes run on it in order (`_tile_passes`). If pair P (pass q, row z, tile
(a, b)) interacts with a pair P' of an earlier pass q' < q (row z'), then z' <= z + 1 + dz_q <=
f for the boundary B = (a + 1)T - S_z(q) above P, so by the rule z' < (a + 1)T - S_z(q') and
a' <= a, and likewise b' <= b: P' is in a tile that comes no later and has run before P, as in
pass order; symmetrically every pair of a later pass that P interacts with runs after it. Any
order of the tiles that respects a' <= a and b' <= b gives the same bits: `_step_serial` takes
them lexicographically, `_step_parallel` by anti-diagonals a + b = d, whose tiles cannot interact
and run on different threads. The row extents are read and widened only for a pair's own rows,
so the same argument covers them. A tile's rows stay in cache from one pass to the next (the
tile moves by 0-2 rows), where a pass over the whole box streams it from memory every time. At
256^3 and 850 °C the step's sintering went from 2.36 to 1.34 s on one thread with a uniform
shift of 2 rows, and takes ~20 % less with the least shift and tiles of 30 rows than with 1 + dz
per pass (docs/sintering.md, bench/RESULTS.md).

Implementation (`_pass_rect`; docs/sintering.md, "How the pass is made fast"): rows screened
before any draw (one uint8 screen code per voxel), lane-parallel Philox, row extents of the
TM voxels (widened as swaps move them), the energy from per-voxel packed words F << 32 | grain
(scratch: 9 bytes per voxel, `kmc.scratch`), each cell of a pair's 4 x 3 x 3 box read once, in
rows of 4 words (`_rows_of_4`), and for a swap only the 18 cells next to one voxel of the pair
(the 16 next to both cancel in its dE); a block's moves are proposed before any is made, and
made from prefetched cache lines. All give the draws and moves of the plain rule (tested against
a per-pair reference).
CUDA: kernels/sintering.cu, the same rule (tests/test_kernels_sintering.py).

Reach: pair (4 x 3 x 3 box): reads phase, tm, grain of the box; writes all six fields of the
pair. Counters: ``sinter_swaps``, ``sinter_transfers`` and ``sinter_emptied`` (transfers that
emptied their donor, i.e. new PORE voxels), all int.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from kmc import scratch
from kmc.extents import row_extents, widen
from kmc.prefetch import prefetch
from kmc.rng import Stream, draw4_lanes, probability_threshold
from kmc.state import NEIGHBOURS_26, neighbour_offsets, MOLAR_VOLUME_CM3, TM_PHASES, Phase, dense_quanta_per_voxel

NAME = "sintering"
STREAM = Stream.SINTERING
REACH = "pair26"        #: face pair (i, i + e_axis): reads the 26-neighbourhoods of both, writes both
PARAMETERS = {"prefactor": "1/s", "activation_energy": "kJ/mol", "lattice_kT": "J",
              "grain_boundary_energy": "J"}
N_COLOURS_PER_AXIS = 12
N_PASSES = 3 * N_COLOURS_PER_AXIS
ENERGY_STEPS_PER_J = 32   #: dE is floored to multiples of J / 32 before the table look-up
GB_STEPS_PER_J = 8        #: grain_boundary_energy is rounded to multiples of J / 8
MAX_TABLE = 160 * ENERGY_STEPS_PER_J   #: |dE| < 160 J always (2 sites x 25 contacts x 3 J + bond)
P_SUB_MAX = 0.5           #: largest attempt probability per pair and sub-step
MCS_PER_SUBSTEP = math.log(2.0)   #: -ln(1 - P_SUB_MAX): attempts per pair a sub-step realises at most
MAX_SUBSTEPS = 7          #: 7 x 36 = 252 Philox pass ids (of 256)

_PORE = np.uint8(Phase.PORE)
_TWO32 = 4294967296.0

#: int64 (256,): w(phase) = 10 V_m (cm^3/mol) for TM phases, 0 otherwise (F = tm * w).
_VOLW = np.zeros(256, dtype=np.int64)
for _ph in TM_PHASES:
    _w = 10.0 * MOLAR_VOLUME_CM3[_ph]
    if abs(_w - round(_w)) > 1e-9:      # the integer energy needs V_m in 0.1 cm^3/mol steps
        raise ValueError(f"molar volume of {_ph.name} must be a multiple of 0.1 cm^3/mol for sintering")
    _VOLW[int(_ph)] = round(_w)
F_FULL = 64 * int(_VOLW[int(Phase.HYDROXIDE)])    #: F of a dense TM(OH)2 voxel (fill 1) = 15040
_F_FULL = np.int64(F_FULL)
_DEN = np.int64(8) * _F_FULL * _F_FULL            #: dE numerator units per J

#: int64 (256,): F of a neutral phase (F_FULL / 2), 0 for PORE and the TM phases.
_NEUTRAL_F = np.full(256, F_FULL // 2, dtype=np.int64)
_NEUTRAL_F[int(Phase.PORE)] = 0
for _ph in TM_PHASES:
    _NEUTRAL_F[int(_ph)] = 0

#: uint8 (256,): 1 for TM phases.
_IS_TM = np.zeros(256, dtype=np.uint8)
_IS_TM[[int(p) for p in TM_PHASES]] = 1

#: int64 (256,): dense quanta per voxel n_d(phase) for TM phases, 0 otherwise.
_DENSE = np.zeros(256, dtype=np.int64)
for _ph in TM_PHASES:
    _DENSE[int(_ph)] = dense_quanta_per_voxel(_ph)

NEIGHBOURS = NEIGHBOURS_26  #: (26, 3) int64, kmc.state.NEIGHBOURS_26
_DZ = NEIGHBOURS[:, 0].copy()
_DY = NEIGHBOURS[:, 1].copy()
_DX = NEIGHBOURS[:, 2].copy()

def fill_units(phase: np.ndarray, tm: np.ndarray) -> np.ndarray:
    """int64, shape of ``phase``: F = f * F_FULL (the integer fill the energy uses)."""
    return tm.astype(np.int64) * _VOLW[phase] + _NEUTRAL_F[phase]


def gb_weight_steps(grain_boundary_energy: float) -> int:
    """grain_boundary_energy (J) rounded to multiples of J/8, as the integer W in 0..16."""
    return int(min(max(round(float(grain_boundary_energy) * GB_STEPS_PER_J), 0), 2 * GB_STEPS_PER_J))


@functools.lru_cache(maxsize=64)
def _boltzmann_cached(kT: float) -> np.ndarray:
    if kT <= 0.0:
        table = np.array([1 << 32, 0], dtype=np.uint64)
    else:
        values = []
        for n in range(MAX_TABLE):
            t = round(math.exp(-n / (ENERGY_STEPS_PER_J * kT)) * _TWO32)
            values.append(t)
            if t == 0:
                break
        values[-1] = 0
        table = np.array(values, dtype=np.uint64)
    table.setflags(write=False)
    return table


def boltzmann_thresholds(kT: float) -> np.ndarray:
    """uint64 (L,): T_B[n] = round(2^32 exp(-n / (32 kT))), n = floor(32 dE / J).

    A move with dE > 0 is accepted when a uint32 draw is < T_B[min(n, L - 1)]. The table
    ends at its first zero (L <= MAX_TABLE, last entry forced to 0); kT <= 0 gives [2^32, 0]
    (only dE <= 0 accepted; those never look the table up).
    """
    return _boltzmann_cached(float(kT))


# ---------------------------------------------------------------------------------------------
# the rule (numba); shared by the pass kernel and the test helper `move_delta_energy`
#
# Energy change in integers. With c_k(g) = 16 - gbW [k TM, grain_k > 0, g > 0, grain_k != g], a
# site s (without its contact to the partner) going from (F_old, g_old) to (F_new, g_new) changes
# 8 F_FULL^2 E by
#     8 F_FULL n (F_new - F_old) - sum_k F_k (c_k(g_new) F_new - c_k(g_old) F_old)
#   = 8 F_FULL n (F_new - F_old) - F_new (16 A - gbW B(g_new)) + F_old (16 A - gbW B(g_old)),
# n the in-box neighbours of s other than the partner, A = sum_k F_k over them and B(g) the part
# of A on TM neighbours of grain > 0 other than g (B(g) = 0 for g <= 0). Every move needs B at one
# grain per site only: the solid's grain for both voxels of a swap (the pore ends with F = 0 or
# starts with F = 0), g_d for the donor (an emptied donor has F_new = 0), g_r for the receiver.


@nb.njit(inline="always", cache=True)
def _fg_word(p, tm_k, g):
    """The packed neighbour word of a voxel of phase p, tm_k TM quanta and grain g:
    F << 32 | g_TM, g_TM = g for a TM voxel with g > 0, else 0 (int64). The passes keep one per
    voxel in ``fg`` (`_build_fg`) and update it with every move."""
    g_tm = np.int64(g) if (_IS_TM[p] != 0 and g > 0) else np.int64(0)
    return ((np.int64(tm_k) * _VOLW[p] + _NEUTRAL_F[p]) << np.int64(32)) | g_tm


#: uint8 (256,): the screen code of a voxel of phase p below its dense quanta (+1 when dense):
#: 0 neutral, 1 PORE, 2 p for the TM phases (2 + 1, 4 + 1, 6 + 1: hydroxide, rock salt, layered).
_CODE = np.zeros(256, dtype=np.uint8)
_CODE[int(Phase.PORE)] = 1
for _ph in TM_PHASES:
    _CODE[int(_ph)] = 2 * int(_ph)
if max(int(p) for p in TM_PHASES) > 127:
    raise ValueError("sintering's screen code needs TM phase codes below 128")

#: uint8 (256 * 256,): 1 if a pair of screen codes (a, b) can move (`_MOVABLE[256 a + b]`): PORE
#: next to TM, or two TM voxels of one phase not both dense.
_MOVABLE = np.zeros(256 * 256, dtype=np.uint8)
for _a in range(256):
    for _b in range(256):
        _tm_a, _tm_b = _a >= 2, _b >= 2
        _MOVABLE[256 * _a + _b] = ((_a == 1 and _tm_b) or (_b == 1 and _tm_a)
                                   or (_tm_a and _tm_b and _a >> 1 == _b >> 1 and (_a & _b & 1) == 0))


@nb.njit(inline="always", cache=True)
def _code(p, tm_k):
    """Screen code of a voxel of phase p holding tm_k TM quanta (uint8; `_CODE`)."""
    return np.uint8(_CODE[p] + np.uint8(_IS_TM[p] != 0 and np.int64(tm_k) >= _DENSE[p]))


@nb.njit(parallel=True, cache=True)
def _build_fg(phase, tm, grain, fg, code):
    """fg int64 (n,) <- `_fg_word`, code uint8 (n,) <- `_code` of every voxel (flat views)."""
    for k in nb.prange(phase.size):
        fg[k] = _fg_word(phase[k], tm[k], grain[k])
        code[k] = _code(phase[k], tm[k])


@nb.njit(inline="always", cache=True)
def _contact(v, g):
    """(F_k, F_k if k counts in B(g) else 0) from the packed word v of neighbour k (int64)."""
    Fk = v >> np.int64(32)
    g_tm = v & np.int64(0xFFFFFFFF)
    return Fk, Fk * np.int64((g_tm > 0) & (g_tm != g))


@intrinsic
def _rows_of_4(typingctx, fg, r0, r1, r2, g):
    """Sums over three rows of 4 packed words, fg[rk .. rk + 3] (k = 0, 1, 2; the caller keeps
    them inside fg's allocation): (F over lanes 0-2, B(g) over lanes 0-2, F of lane 0, B(g) of
    lane 0, F of lane 3, B(g) of lane 3), int64; F and B(g) of a word as in `_contact`.

    Each row is one <4 x i64> load: the 9 or 12 cells of a pair's box that an energy needs lie in
    rows of 3 or 4 consecutive cells along x. Read one by one through an offset table, LLVM made
    AVX-512 gathers of them (slow on this AMD EPYC); as row loads the whole event took ~8 % less
    at 64^3 and 128^3 (850 °C, in-process, interleaved)."""
    if not (isinstance(fg, types.Array) and fg.ndim == 1 and fg.dtype == types.int64):
        return None
    sig = types.UniTuple(types.int64, 6)(fg, r0, r1, r2, g)

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        vec = ir.VectorType(i64, 4)

        def splat(value):
            return ir.Constant(vec, [ir.Constant(i64, value)] * 4)

        def lane(v, k):
            return builder.extract_element(v, ir.Constant(i32, k))

        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        grain = ir.Constant(vec, ir.Undefined)
        g_value = context.cast(builder, args[4], signature.args[4], types.int64)
        for k in range(4):
            grain = builder.insert_element(grain, g_value, ir.Constant(i32, k))
        sum_f, sum_b = splat(0), splat(0)
        for k in range(3):
            first = context.cast(builder, args[1 + k], signature.args[1 + k], types.int64)
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [first], wraparound=False)
            words = builder.load(builder.bitcast(ptr, vec.as_pointer()))
            words.align = 8
            f = builder.ashr(words, splat(32))
            g_tm = builder.and_(words, splat(0xFFFFFFFF))
            other = builder.and_(builder.icmp_unsigned("!=", g_tm, splat(0)), builder.icmp_signed("!=", g_tm, grain))
            sum_f = builder.add(sum_f, f)
            sum_b = builder.add(sum_b, builder.select(other, f, splat(0)))
        f012 = builder.add(builder.add(lane(sum_f, 0), lane(sum_f, 1)), lane(sum_f, 2))
        b012 = builder.add(builder.add(lane(sum_b, 0), lane(sum_b, 1)), lane(sum_b, 2))
        return context.make_tuple(builder, signature.return_type,
                                  [f012, b012, lane(sum_f, 0), lane(sum_b, 0), lane(sum_f, 3), lane(sum_b, 3)])

    return sig, codegen


@nb.njit(inline="always", cache=True)
def _box_sums(fg, i, j, dz, dy, nx, nxy, g, shared):
    """(A_lo, B_lo, A_sh, B_sh, A_hi, B_hi) of the interior pair (i, j = i + e): the sums of F and
    of B(g) over the 9 cells next to i alone (lo, at -1 along the pair's axis), over the 9 next to
    j alone (hi, at +2), and, if ``shared`` (else 0), over the 16 next to both (sh; i and j left
    out): with it, the 34 cells of the pair's 4 x 3 x 3 box, each read once. A pair along z or y
    has each group in rows of 3 cells (lanes 0-2 from x - 1), one along x all in the 9 rows around
    it (lane 0 lo, 1-2 shared, 3 hi)."""
    c = i - 1                               # the cell x - 1 of i's row
    A_sh = np.int64(0)
    B_sh = np.int64(0)
    if dz != 0 or dy != 0:
        a = nxy if dz != 0 else nx          # along the pair
        b = nx if dz != 0 else nxy          # the other axis of the 3 rows of a slab
        A_lo, B_lo, _u, _v, _w, _x = _rows_of_4(fg, c - a - b, c - a, c - a + b, g)
        A_hi, B_hi, _u, _v, _w, _x = _rows_of_4(fg, c + 2 * a - b, c + 2 * a, c + 2 * a + b, g)
        if shared:
            A_s0, B_s0, _u, _v, _w, _x = _rows_of_4(fg, c - b, c, c + b, g)
            A_s1, B_s1, _u, _v, _w, _x = _rows_of_4(fg, c + a - b, c + a, c + a + b, g)
            A_sh = A_s0 + A_s1
            B_sh = B_s0 + B_s1
    else:
        A_lo = np.int64(0)
        B_lo = np.int64(0)
        A_hi = np.int64(0)
        B_hi = np.int64(0)
        for dzz in range(-1, 2):
            r = c + dzz * nxy
            A3, B3, a0, b0, a3, b3 = _rows_of_4(fg, r - nx, r, r + nx, g)
            A_lo += a0
            B_lo += b0
            A_sh += A3 - a0             # lanes 1 and 2: x and x + 1
            B_sh += B3 - b0
            A_hi += a3
            B_hi += b3
    if not shared:
        return A_lo, B_lo, np.int64(0), np.int64(0), A_hi, B_hi
    Fi, Bi = _contact(fg[i], g)
    Fj, Bj = _contact(fg[j], g)
    return A_lo, B_lo, A_sh - Fi - Fj, B_sh - Bi - Bj, A_hi, B_hi


@nb.njit(inline="always", cache=True)
def _bond_c(ga, gb, both_tm, gbW):
    if gbW != 0 and both_tm and ga > 0 and gb > 0 and ga != gb:
        return np.int64(2 * 8 - gbW)
    return np.int64(2 * 8)


@nb.njit(inline="always", cache=True)
def _site_term(n, A, B, g, F_old, F_new, b_old, b_new, gbW):
    """One site's part of dE x 8 F_FULL^2 (int64) when its F goes F_old -> F_new: n in-box
    neighbours other than the partner, A the sum of their F, B(g) that over the TM ones of a grain
    other than g (counted only for g > 0); b_old / b_new: whether the site's grain counts before /
    after the move."""
    if g <= 0:
        B = np.int64(0)
    A16 = np.int64(16) * A
    gB = gbW * B
    e_new = A16 - gB if b_new else A16
    e_old = A16 - gB if b_old else A16
    return np.int64(8) * _F_FULL * n * (F_new - F_old) - F_new * e_new + F_old * e_old


# numba-inlined helpers that take arrays get reference-count updates (atomic) around every use,
# which cost more than the energy itself: the helpers of a move (`_propose`, `_box_sums`, `_apply`)
# are inlined only into functions compiled with _nrt=False (`_attempt_block`), where there are none.
# The hot loops index with np.uint64: numba handles a negative signed index (counting from the end)
# with extra instructions at every load and store, an unsigned one is used as it is (each of these
# indices is >= 0).

@nb.njit(inline="always", cache=True)
def _propose(code, li, tm, fg, i, j, r2, z, y, x, dz, dy, dx, nz, ny, nx, offs, gbW):
    """The move the pair (i, j) would make, before acceptance; i at (z, y, x), j = i + (dz, dy, dx).

    code: uint8 (n,) screen codes (`_code`) and fg: int64 (n,) packed neighbour words (`_fg_word`)
    of the current state: the kind of move, the phase and the grains come from them (the code's
    cache line is in cache from the listing; a grain <= 0 reads as 0, which gives the same energy).
    Returns (kind, donor, receiver, q, li_q, num): kind 0 none, 1 swap (donor = the solid voxel,
    receiver = the pore), 2 transfer of q TM and li_q Li quanta donor -> receiver; num is
    dE x 8 F_FULL^2 (int64)."""
    ci = code[np.uint64(i)]     # the screen codes (1 PORE, 2 phase + dense for TM): in cache from the listing
    cj = code[np.uint64(j)]
    zero = np.int64(0)
    j_first = False             # the donor / solid voxel is j
    if ci == 1 and cj >= 2:
        kind = 1
        j_first = True
    elif cj == 1 and ci >= 2:
        kind = 1
    elif ci >= 2 and cj >= 2 and (ci >> 1) == (cj >> 1):
        kind = 2
        j_first = (r2 & np.uint32(1)) != 0
    else:
        return 0, i, j, zero, zero, zero
    pi = ci >> 1                # the TM phase of both voxels of a transfer
    d, r = (j, i) if j_first else (i, j)
    q = zero
    li_q = zero
    if kind == 1:
        Fd = (fg[d] >> np.int64(32))
        g_d = fg[d] & np.int64(0xFFFFFFFF)      # its grain if > 0, else 0: the same energy and moves
        g_r = g_d
        Fr = zero
        Fd2 = zero
        Fr2 = Fd
        bd_old, bd_new, br_old, br_new = g_d > 0, False, False, g_d > 0
        num = zero
    else:
        dense = _DENSE[pi]
        tm_d = np.int64(tm[d])
        tm_r = np.int64(tm[r])
        if tm_d >= dense and tm_r >= dense:
            return 0, d, r, zero, zero, zero
        q = min(tm_d, dense - tm_r)
        if q <= 0:
            return 0, d, r, zero, zero, zero
        li_d = np.int64(li[d])
        li_q = li_d if q == tm_d else (li_d * q) // tm_d
        if np.int64(li[r]) + li_q > 255:
            return 0, d, r, zero, zero, zero
        w = _VOLW[pi]
        g_d = fg[d] & np.int64(0xFFFFFFFF)
        g_r = fg[r] & np.int64(0xFFFFFFFF)
        Fd, Fr = tm_d * w, tm_r * w
        Fd2, Fr2 = (tm_d - q) * w, (tm_r + q) * w
        bd_old = bd_new = g_d > 0
        br_old = br_new = g_r > 0
        num = (_bond_c(g_d, g_r, True, gbW) * Fd * Fr
               - _bond_c(g_d if q < tm_d else 0, g_r, q < tm_d, gbW) * Fd2 * Fr2)
    interior = z >= 1 and z + dz <= nz - 2 and y >= 1 and y + dy <= ny - 2 and x >= 1 and x + dx <= nx - 2
    if interior and kind == 1:
        # swap (F: Fd -> 0 at the donor, 0 -> Fd at the receiver, n = 25 at both, grain g_d):
        # num = Fd (16 (A_d - A_r) - gbW (B_d - B_r)) (B only for g_d > 0), in which the 16
        # cells next to both voxels cancel. So only the 9 cells of each voxel alone are read
        # (`_box_sums` without the shared cells), and the 16 shared ones when the receiver's own 9 are empty (would
        # the solid float free?).
        nxy = nx * ny
        A_lo, B_lo, _u, _v, A_hi, B_hi = _box_sums(fg, i, j, dz, dy, nx, nxy, g_d, False)
        if j_first:     # donor j, receiver i
            A_ru, dA, dB = A_lo, A_hi - A_lo, B_hi - B_lo
        else:
            A_ru, dA, dB = A_hi, A_lo - A_hi, B_lo - B_hi
        if A_ru == 0:
            _u, _v, A_sh, _w, _x, _y = _box_sums(fg, i, j, dz, dy, nx, nxy, g_d, True)
            if A_sh == 0:
                return 0, d, r, zero, zero, zero    # the solid would float free: no transport through the gas
        gB = gbW * dB if g_d > 0 else zero
        return kind, d, r, q, li_q, Fd * (np.int64(16) * dA - gB)
    if interior:
        # transfer: the 34 cells of the pair's box (`_box_sums`); A_*: sums of F, Bd_* / Br_*: of F
        # over the TM cells of a grain other than g_d / g_r
        nxy = nx * ny
        A_lo, Bd_lo, A_sh, Bd_sh, A_hi, Bd_hi = _box_sums(fg, i, j, dz, dy, nx, nxy, g_d, True)
        _u, Br_lo, _v, Br_sh, _w, Br_hi = _box_sums(fg, i, j, dz, dy, nx, nxy, g_r, True)
        if j_first:     # the donor is j, the receiver i
            A_d, B_d, A_r, B_r = A_sh + A_hi, Bd_sh + Bd_hi, A_sh + A_lo, Br_sh + Br_lo
        else:
            A_d, B_d, A_r, B_r = A_sh + A_lo, Bd_sh + Bd_lo, A_sh + A_hi, Br_sh + Br_hi
        num += (_site_term(np.int64(25), A_d, B_d, g_d, Fd, Fd2, bd_old, bd_new, gbW)
                + _site_term(np.int64(25), A_r, B_r, g_r, Fr, Fr2, br_old, br_new, gbW))
        return kind, d, r, q, li_q, num
    # at a face of the box: the contacts of the donor (t = 0) and of the receiver (t = 1), each
    # without the other, over the neighbours that exist
    for t in range(2):
        if t == 0:
            s, partner, g, F_old, F_new, b_old, b_new = d, r, g_d, Fd, Fd2, bd_old, bd_new
            first = not j_first
        else:
            s, partner, g, F_old, F_new, b_old, b_new = r, d, g_r, Fr, Fr2, br_old, br_new
            first = j_first
        zs, ys, xs = (z, y, x) if first else (z + dz, y + dy, x + dx)
        n = zero
        A = zero
        B = zero
        for m in range(26):
            zz = zs + _DZ[m]
            yy = ys + _DY[m]
            xx = xs + _DX[m]
            if zz < 0 or zz >= nz or yy < 0 or yy >= ny or xx < 0 or xx >= nx:
                continue
            k = s + offs[m]
            if k == partner:
                continue
            n += 1
            Fk, Bk = _contact(fg[k], g)
            A += Fk
            B += Bk
        if kind == 1 and t == 1 and A == 0:
            return 0, d, r, zero, zero, zero    # the solid would float free: no transport through the gas
        num += _site_term(n, A, B, g, F_old, F_new, b_old, b_new, gbW)
    return kind, d, r, q, li_q, num


@nb.njit(inline="always", cache=True)
def _swap(arr, a, b):
    """Exchange arr[a] and arr[b] in place."""
    t = arr[a]
    arr[a] = arr[b]
    arr[b] = t


@nb.njit(inline="always", cache=True)
def _accepted(num, r1, boltz):
    """Whether a proposed move with dE x 8 F_FULL^2 = num (int64) is accepted with the draw r1
    (uint64 < 2^32): dE <= 0, or r1 < T_B[min(floor(32 dE / J), L - 1)]. Without a branch."""
    n = min(max(num, np.int64(0)) * np.int64(ENERGY_STEPS_PER_J) // _DEN, np.int64(boltz.size - 1))
    return (num <= 0) | (r1 < boltz[n])


@nb.njit(inline="always", cache=True)
def _apply(phase, grain, li, tm, disorder, flags, fg, code, kind, d, r, q, li_q):
    """Make an accepted move (`_propose`: kind 1 swap of donor d and receiver r, 2 transfer of q TM and
    li_q Li quanta d -> r) on the six fields, the packed words fg and the screen codes. Returns 1 swap,
    2 transfer, 3 transfer that emptied its donor."""
    if kind == 1:   # swap: the solid voxel moves whole (every field, its packed word and screen code)
        _swap(phase, d, r)
        _swap(grain, d, r)
        _swap(li, d, r)
        _swap(tm, d, r)
        _swap(disorder, d, r)
        _swap(flags, d, r)
        _swap(fg, d, r)
        _swap(code, d, r)
        return 1
    tm_d = np.int64(tm[d])
    tm_r = np.int64(tm[r])
    tot = tm_r + q
    disorder[r] = np.uint8((np.int64(disorder[r]) * tm_r + np.int64(disorder[d]) * q + tot // 2) // tot)
    tm[r] = np.uint8(tot)
    li[r] = np.uint8(np.int64(li[r]) + li_q)
    fg[r] = _fg_word(phase[r], tot, grain[r])
    code[r] = _code(phase[r], tot)
    tm[d] = np.uint8(tm_d - q)
    li[d] = np.uint8(np.int64(li[d]) - li_q)
    if q == tm_d:
        phase[d] = _PORE
        grain[d] = 0
        disorder[d] = 0
        flags[r] = flags[r] | flags[d]
        flags[d] = 0
        fg[d] = np.int64(0)
        code[d] = _CODE[_PORE]
        return 3
    fg[d] = _fg_word(phase[d], tm_d - q, grain[d])
    code[d] = _code(phase[d], tm_d - q)
    return 2


@nb.njit(inline="always", cache=True)
def _is_tm_at(phase, _unused, _c, k):
    """Whether voxel k is a TM voxel (the `kmc.extents.row_extents` test of the pass's rows).

    Every move has a TM voxel in its pair, so pairs with no TM voxel inside these extents are
    skipped without a read. The extents are a superset of the TM voxels for the whole step:
    `_attempt_block` widens a row's extent when a swap moves a TM voxel into it (a transfer only
    empties TM voxels), and never narrows it."""
    return _IS_TM[phase[k]] != 0


@nb.njit(inline="always", cache=True)
def _prefetch_pair(arr, i, stride):
    """Ask for the cache lines of arr[i] and arr[i + stride] (`kmc.prefetch`)."""
    prefetch(arr, i)
    prefetch(arr, i + stride)


@nb.njit(cache=True, _nrt=False)
def _attempt_block(phase, grain, li, tm, disorder, flags, fg, code, ext, cand, czy, c0, c1, c2, c3, m, seed, step,
                   key_pass, attempt_thr, stride, rstride, sx3, dz, dy, dx, boltz, nz, ny, nx, offs, gbW):
    """Draw (lane-parallel) and attempt the m listed pairs cand[:m] (lower voxels, flat), whose
    rows are czy[:m] = z << 32 | y. Returns (swaps, transfers, emptied).

    In three sweeps: the pairs that attempt (r0 < T_attempt) are listed; every one of them proposes
    its move and draws the verdict (`_propose`, `_accepted`), reading only its own 4 x 3 x 3 box and
    writing nothing but the list of accepted moves, whose cells of the six fields it asks the cache
    for; then the accepted moves are made (`_apply`). No pair of a pass writes into another's box,
    so proposing all before making any gives the moves of the pair by pair order, and the moves
    find their cache lines loaded (the fields of a pair are read nowhere else: at 128^3 and
    850 °C the event took ~12 % less than with each move made as soon as it was accepted)."""
    draw4_lanes(cand, 0, m, c0, c1, c2, c3, seed, step, key_pass, STREAM)
    n_att = np.uint64(0)
    for k in range(m):              # the attempting pairs, listed without a branch (r0 < T_attempt is a coin flip)
        c3[n_att] = np.uint64(k)
        n_att += np.uint64(c0[k] < attempt_thr)
    # the pair's box: rows of 3 (4 along x for an x pair) cells, 4 x 3 (3 x 3 for an x pair) of them
    nxy = nx * ny
    box_z = 3 if dz != 0 else 2
    box_y = 3 if dy != 0 else 2
    box_x = 2 if dx != 0 else 1
    n_acc = np.uint64(0)
    for a in range(n_att):
        if a + PREFETCH_AHEAD < n_att:      # ask for the box of a later attempt (kmc.prefetch; in fg's margins)
            ia = cand[c3[a + PREFETCH_AHEAD]]
            for bz in range(-1, box_z):
                for by in range(-1, box_y):
                    first = ia + bz * nxy + by * nx - 1
                    prefetch(fg, first)
                    prefetch(fg, first + 1 + box_x)
        k = c3[a]
        i = cand[k]
        z = czy[k] >> 32
        y = czy[k] & 0xFFFFFFFF
        kind, d, r, q, li_q, num = _propose(code, li, tm, fg, i, i + stride, np.uint32(c2[k]), z, y,
                                            i - (z * ny + y) * nx, dz, dy, dx, nz, ny, nx, offs, gbW)
        ok = (kind != 0) & _accepted(num, c1[k], boltz)
        # accepted moves, listed without a branch in c0 / c1 (free: a <= k, and c0 is read no more):
        # the pair's index k, and kind | donor is j << 2 | q << 8 | li_q << 16
        c0[n_acc] = np.uint64(k)
        c1[n_acc] = (np.uint64(kind) | (np.uint64(d != i) << np.uint64(2)) | (np.uint64(q) << np.uint64(8))
                     | (np.uint64(li_q) << np.uint64(16)))
        n_acc += np.uint64(ok)
        if ok:
            _prefetch_pair(phase, i, stride)
            _prefetch_pair(grain, i, stride)
            _prefetch_pair(li, i, stride)
            _prefetch_pair(tm, i, stride)
            _prefetch_pair(disorder, i, stride)
            _prefetch_pair(flags, i, stride)
    n_swaps = 0
    n_transfers = 0
    n_emptied = 0
    for a in range(n_acc):
        k = c0[a]
        w = c1[a]
        i = cand[k]
        j = i + stride
        d, r = (j, i) if (w >> np.uint64(2)) & np.uint64(1) else (i, j)
        res = _apply(phase, grain, li, tm, disorder, flags, fg, code, np.int64(w & np.uint64(3)), d, r,
                     np.int64((w >> np.uint64(8)) & np.uint64(0xFF)), np.int64((w >> np.uint64(16)) & np.uint64(0xFF)))
        if res == 1:
            n_swaps += 1
            z = czy[k] >> 32
            y = czy[k] & 0xFFFFFFFF
            rr = z * ny + y
            row = rr * nx
            if code[i] >= 2:                # the solid moved to i or to i + stride: widen that row
                widen(ext, rr, i - row)
            else:
                widen(ext, rr + rstride, i - row + sx3)
        else:
            n_transfers += 1
            n_emptied += res == 3
    return n_swaps, n_transfers, n_emptied


@nb.njit(cache=True, _nrt=False)
def _pass_rect(phase, grain, li, tm, disorder, flags, nz, ny, nx, pass_, key_pass, seed, step, attempt_thr,
               boltz, offs, gbW, fg, code, ext, cand, czy, c0, c1, c2, c3, z0, z1, y0, y1):
    """The pairs of one colour pass whose lower voxel has z0 <= z < z1 and y0 <= y < y1 (any
    integers; clipped to the box), on flat C-order views of (nz, ny, nx) fields (modified in place).

    pass_ = 12 axis + colour (axis 0, 1, 2 = z, y, x), 0..35, picks the pairs; key_pass
    (= 36 substep + pass_) is the Philox pass id. Scratch (nothing is allocated here): cand, czy
    int64 (w,) and c0..c3 uint64 (w,), w >= nx // 2 + 1.
    Row after row, (1) the pairs that can move are listed (a table look-up of the two screen
    codes) into a block of up to w pairs; when the next row might not fit, and at the end,
    (2) the block's draws are computed lane-parallel (`kmc.rng.draw4_lanes`, bit for bit `draw4`) and
    (3) the pairs with r0 < attempt_thr attempt (`_attempt_block`).
    The pairs of a pass never write into each other's 4 x 3 x 3 box, so listing many rows before
    any attempt sees the same state as the pair by pair order, and the block size does not
    change the result.
    fg: int64 (n,) packed neighbour words and code: uint8 (n,) screen codes (`_build_fg`), both kept
    up to date with the moves; ext: int64 (nz ny, 2) TM row extents (`_is_tm_at`), widened here.
    Returns (swaps, transfers, emptied) int64.
    Compiled without numba's reference counting (``_nrt=False``: it allocates nothing): the
    atomic count updates numba puts around inlined helpers that take arrays would cost more
    than the energy.
    """
    axis = pass_ // 12
    colour = pass_ % 12
    o = colour // 4
    p1 = (colour >> 1) & 1
    p2 = colour & 1
    nxy = nx * ny
    if axis == 0:
        sz, oz, ez = 3, o, nz - 1
        sy, oy, ey = 2, p1, ny
        sx, ox, ex = 2, p2, nx
        stride = nxy
        dz, dy, dx = 1, 0, 0
        rstride, sx3 = ny, 0
    elif axis == 1:
        sz, oz, ez = 2, p1, nz
        sy, oy, ey = 3, o, ny - 1
        sx, ox, ex = 2, p2, nx
        stride = nx
        dz, dy, dx = 0, 1, 0
        rstride, sx3 = 1, 0
    else:
        sz, oz, ez = 2, p1, nz
        sy, oy, ey = 2, p2, ny
        sx, ox, ex = 3, o, nx - 1
        stride = 1
        dz, dy, dx = 0, 0, 1
        rstride, sx3 = 0, 1
    # rows (z, y) = (oz + sz zq, oy + sy yq) of the pass inside [z0, z1) x [y0, y1)
    zq_lo = (max(z0 - oz, 0) + sz - 1) // sz
    zq_hi = (max(min(z1, ez) - oz, 0) + sz - 1) // sz
    yq_lo = (max(y0 - oy, 0) + sy - 1) // sy
    yq_hi = (max(min(y1, ey) - oy, 0) + sy - 1) // sy
    m = 0
    n_swaps = 0
    n_transfers = 0
    n_emptied = 0
    for zq in range(zq_lo, zq_hi):
        z = oz + sz * zq
        for yq in range(yq_lo, yq_hi):
            y = oy + sy * yq
            row = (z * ny + y) * nx
            # pairs with a voxel inside its row's TM extent (every move has a TM voxel)
            rr = z * ny + y
            # x0: the first x >= x_lo with x = ox mod sx, by divisions by constants (a runtime sx
            # made them two idiv per row, ~10 % of the listing)
            if sx3 == 1:    # x pairs (x, x + 1) of row rr, sx = 3
                x_lo = max(ext[rr, 0] - 1, 0)
                x_hi = min(ext[rr, 1], ex - 1)
                x0 = ox if x_lo <= ox else x_lo + (3 - (x_lo - ox) % 3) % 3
            else:           # pairs between rows rr and rr + rstride, at the same x, sx = 2
                x_lo = min(ext[rr, 0], ext[rr + rstride, 0])
                x_hi = min(max(ext[rr, 1], ext[rr + rstride, 1]), ex - 1)
                x0 = ox if x_lo <= ox else x_lo + ((x_lo - ox) & 1)
            if x_hi < x0:
                continue
            # the block is full if the row might not fit (x_hi - x0 + 1 bounds its pairs): draw and
            # attempt it (where the blocks end changes no result)
            if m + (x_hi - x0 + 1) > cand.size:
                a, b, e = _attempt_block(phase, grain, li, tm, disorder, flags, fg, code, ext, cand, czy, c0, c1,
                                         c2, c3, m, seed, step, key_pass, attempt_thr, stride, rstride, sx3, dz, dy,
                                         dx, boltz, nz, ny, nx, offs, gbW)
                n_swaps += a
                n_transfers += b
                n_emptied += e
                m = 0
            zy = (np.int64(z) << 32) | np.int64(y)
            mu = np.uint64(m)
            ui = np.uint64(row + x0)
            ue = np.uint64(row + x_hi)
            us = np.uint64(sx)
            ust = np.uint64(stride)
            while ui <= ue:
                cand[mu] = np.int64(ui)
                czy[mu] = zy
                mu += np.uint64(_MOVABLE[(np.uint64(code[ui]) << np.uint64(8)) | np.uint64(code[ui + ust])])
                ui += us
            m = np.int64(mu)
    if m > 0:
        a, b, e = _attempt_block(phase, grain, li, tm, disorder, flags, fg, code, ext, cand, czy, c0, c1, c2, c3, m,
                                 seed, step, key_pass, attempt_thr, stride, rstride, sx3, dz, dy, dx, boltz, nz, ny,
                                 nx, offs, gbW)
        n_swaps += a
        n_transfers += b
        n_emptied += e
    return n_swaps, n_transfers, n_emptied


@nb.njit(cache=True, _nrt=False)
def _tile_passes(phase, grain, li, tm, disorder, flags, nz, ny, nx, order, seed, step, attempt_thr, boltz, offs,
                 gbW, fg, code, ext, scratch_x, scratch_r, ch, a, b, tile):
    """Every pass of ``order`` (int64 (Q, 4): pass_, key_pass, S_z, S_y per row, `pass_skews`) on
    tile (a, b) of the skewed row grid, with scratch row ``ch``: pass q takes the pairs with lower
    voxel in rows a tile - S_z(q) <= z < (a + 1) tile - S_z(q), b tile - S_y(q) <= y <
    (b + 1) tile - S_y(q) (module docstring, "Blocked sweep"). Returns (swaps, transfers, emptied) int64."""
    cand = scratch_x[ch, 0]
    czy = scratch_x[ch, 1]
    c0 = scratch_r[ch, 0]
    c1 = scratch_r[ch, 1]
    c2 = scratch_r[ch, 2]
    c3 = scratch_r[ch, 3]
    swaps = 0
    transfers = 0
    emptied = 0
    for q in range(order.shape[0]):
        z0 = a * tile - order[q, 2]
        y0 = b * tile - order[q, 3]
        if z0 >= nz or y0 >= ny:
            continue
        if z0 + tile <= 0 or y0 + tile <= 0:
            break                   # later passes are shifted further out of the box
        s, t, e = _pass_rect(phase, grain, li, tm, disorder, flags, nz, ny, nx, order[q, 0], order[q, 1], seed,
                             step, attempt_thr, boltz, offs, gbW, fg, code, ext, cand, czy, c0, c1, c2, c3, z0,
                             z0 + tile, y0, y0 + tile)
        swaps += s
        transfers += t
        emptied += e
    return swaps, transfers, emptied


@nb.njit(inline="always", cache=True)
def _tile_grid(nz, ny, order, tile):
    """(tiles along z, tiles along y) of the skewed grid that covers the box in every pass."""
    last = order.shape[0] - 1
    return (nz + order[last, 2] + tile - 1) // tile, (ny + order[last, 3] + tile - 1) // tile


@nb.njit(cache=True, _nrt=False)
def _step_serial(phase, grain, li, tm, disorder, flags, nz, ny, nx, order, seed, step, attempt_thr,
                 boltz, offs, gbW, fg, code, ext, scratch_x, scratch_r, tile):
    """All passes of ``order`` on one thread, tile after tile of the blocked sweep
    (module docstring, "Blocked sweep"), in one compiled call without reference counting. Returns (swaps,
    transfers, emptied) int64."""
    nta, ntb = _tile_grid(nz, ny, order, tile)
    swaps = 0
    transfers = 0
    emptied = 0
    for a in range(nta):
        for b in range(ntb):
            s, t, e = _tile_passes(phase, grain, li, tm, disorder, flags, nz, ny, nx, order, seed, step, attempt_thr,
                                   boltz, offs, gbW, fg, code, ext, scratch_x, scratch_r, 0, a, b, tile)
            swaps += s
            transfers += t
            emptied += e
    return swaps, transfers, emptied


@nb.njit(parallel=True, cache=True)
def _step_parallel(phase, grain, li, tm, disorder, flags, nz, ny, nx, order, seed, step, attempt_thr,
                   boltz, offs, gbW, fg, code, ext, scratch_x, scratch_r, tile):
    """All passes of ``order`` by anti-diagonals d = a + b of the tile grid: the tiles of one
    diagonal are independent (module docstring, "Blocked sweep") and run in parallel, tile k of
    the diagonal on chunk k % n_chunks (n_chunks = scratch_x.shape[0]). Returns (swaps, transfers, emptied) int64."""
    nta, ntb = _tile_grid(nz, ny, order, tile)
    n_chunks = scratch_x.shape[0]
    swaps = 0
    transfers = 0
    emptied = 0
    for d in range(nta + ntb - 1):
        a_lo = max(0, d - ntb + 1)
        n_tiles = min(nta - 1, d) - a_lo + 1
        for ch in nb.prange(n_chunks):
            for k in range(ch, n_tiles, n_chunks):
                s, t, e = _tile_passes(phase, grain, li, tm, disorder, flags, nz, ny, nx, order, seed, step,
                                       attempt_thr, boltz, offs, gbW, fg, code, ext, scratch_x, scratch_r, ch,
                                       a_lo + k, d - a_lo - k, tile)
                swaps += s
                transfers += t
                emptied += e
    return swaps, transfers, emptied


DRAW_BLOCK = 2048               #: pairs listed across rows before their draws are made together
PREFETCH_AHEAD = 8              #: the attempt whose box is prefetched, counted ahead of the current one
TILE_ROWS = 30                  #: edge (rows along z and along y) of a tile of the blocked sweep
PARALLEL_MIN_SITES = 1 << 20    #: lattices with fewer voxels run serially (a parallel region cost ~50 us here)


def _use_parallel(n_sites: int, parallel: bool | None) -> bool:
    if parallel is None:
        parallel = n_sites >= PARALLEL_MIN_SITES
    return bool(parallel) and nb.get_num_threads() > 1


@nb.njit(cache=True)
def _delta_energy_num(phase, grain, li, tm, i, j, r2, z, y, x, dz, dy, dx, nz, ny, nx, offs, gbW):
    fg = np.empty(phase.size + 1, dtype=np.int64)[:phase.size]     # the row loads may read one word past the end
    code = np.empty(phase.size, dtype=np.uint8)
    for k in range(phase.size):
        fg[k] = _fg_word(phase[k], tm[k], grain[k])
        code[k] = _code(phase[k], tm[k])
    kind, d, r, q, li_q, num = _propose(code, li, tm, fg, i, j, r2, z, y, x, dz, dy, dx, nz, ny, nx, offs, gbW)
    return kind, d, r, q, li_q, num


# ---------------------------------------------------------------------------------------------
# host side

def pass_order(step: int, substep: int = 0) -> range:
    """Colour passes (0..35) in the order sub-step ``substep`` of step ``step`` runs them:
    ascending when step + substep is even, descending when odd."""
    return range(N_PASSES) if (step + substep) % 2 == 0 else range(N_PASSES - 1, -1, -1)


def _pass_rows(pass_id: int, axis: int) -> tuple[int, int, int]:
    """(r, m, d): pass ``pass_id`` has lower voxels only on rows whose coordinate along ``axis``
    (0 z, 1 y) is r mod m (m = 3 along its own axis, 2 along the others), with pair offset d along
    that axis (1 along its own axis, else 0)."""
    pass_axis, colour = divmod(int(pass_id), N_COLOURS_PER_AXIS)
    if pass_axis == axis:
        return colour // 4, 3, 1
    first_other = 1 if pass_axis == 0 else 0          # the other axes in z, y, x order: v, w
    return ((colour >> 1) & 1 if axis == first_other else colour & 1), 2, 0


def _breaks_order(line: int, rows: tuple[int, int, int], earlier_line: int,
                  earlier_rows: tuple[int, int, int]) -> bool:
    """Whether an earlier pass (``earlier_rows``, its grid line at ``earlier_line``) has a row
    in [earlier_line, f], f = the last row of the later pass below its ``line`` + 1 + its offset
    (module docstring, "Blocked sweep")."""
    r, m, d = rows
    f = line - 1 - ((line - 1 - r) % m) + 1 + d
    er, em, _ = earlier_rows
    return earlier_line + ((er - earlier_line) % em) <= f


@functools.lru_cache(maxsize=64)
def _skews(passes: tuple[int, ...], tile: int) -> np.ndarray:
    residues = range(0, 6, math.gcd(tile, 6))           # of the grid lines a * tile, mod 6
    out = np.zeros((len(passes), 2), dtype=np.int64)
    for axis in (0, 1):
        rows = [_pass_rows(p, axis) for p in passes]
        skew = out[:, axis]
        for q in range(1, len(passes)):
            s = skew[q - 1]
            while True:
                k = q - 1
                broken = False
                while k >= 0 and skew[k] >= s - 1 and not broken:
                    broken = any(_breaks_order(b - s, rows[q], b - skew[k], rows[k]) for b in residues)
                    k -= 1
                if not broken:
                    break
                s += 1
            skew[q] = s
    out.setflags(write=False)
    return out


def pass_skews(passes: np.ndarray, tile: int) -> np.ndarray:
    """int64 (Q, 2), read-only: the shifts (S_z, S_y) in rows of the blocked sweep's tile grid
    for the passes ``passes`` (int (Q,), pass ids 0..35) run in that order on tiles of ``tile``
    rows: 0 for the first, then each the least, and no less than the one before, that keeps the
    sweep's bits those of pass after pass (module docstring, "Blocked sweep")."""
    return _skews(tuple(int(p) for p in passes), int(tile))


def pass_pairs(shape: tuple[int, int, int], pass_id: int) -> np.ndarray:
    """int64 (k, 2): the (i, j) flat indices of the pairs pass ``pass_id`` updates (tests, docs)."""
    nz, ny, nx = shape
    axis, colour = divmod(pass_id, N_COLOURS_PER_AXIS)
    o, p1, p2 = colour // 4, (colour >> 1) & 1, colour & 1
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    coords = [z, y, x]
    n = [nz, ny, nx]
    other = [a for a in range(3) if a != axis]
    sel = (coords[axis] % 3 == o) & (coords[axis] <= n[axis] - 2)
    sel &= (coords[other[0]] % 2 == p1) & (coords[other[1]] % 2 == p2)
    i = np.flatnonzero(sel.ravel())
    stride = (ny * nx, nx, 1)[axis]
    return np.stack([i, i + stride], axis=1).astype(np.int64)


def pass_counts(shape: tuple[int, int, int], pass_id: int) -> tuple[int, int, int]:
    """(nz', ny', nx'): the number of distinct z, y and x coordinates of the lower voxels of pass
    ``pass_id``; the pass has nz' ny' nx' pairs (the work of a CUDA launch)."""
    axis, colour = divmod(pass_id, N_COLOURS_PER_AXIS)
    starts = [(colour >> 1) & 1, colour & 1]
    out = []
    for a, n in enumerate(shape):
        if a == axis:
            o = colour // 4
            out.append(max(0, (n - 1 - o + 2) // 3))
        else:
            out.append(max(0, (n - starts.pop(0) + 1) // 2))
    return tuple(out)


def _check_lattice(lattice) -> None:
    lattice.check()
    if lattice.phase.ndim != 3:
        raise ValueError(f"sintering needs a 3-D lattice, got shape {lattice.shape}")


def substeps_and_probability(mcs: float) -> tuple[int, float, bool]:
    """Split ``mcs`` expected attempts per pair (k dt) into sub-steps.

    Returns (n_sub, p_sub, capped): n_sub = min(MAX_SUBSTEPS, ceil(mcs / ln 2)) sub-steps, each
    with attempt probability p_sub = 1 - exp(-mcs / n_sub) <= P_SUB_MAX = 1/2; when mcs exceeds
    MAX_SUBSTEPS ln 2 (= 4.85) p_sub stays at 1/2 and ``capped`` is True (the step realises
    4.85 attempts per pair, fewer than k dt).
    """
    mcs = max(float(mcs), 0.0)
    if mcs == 0.0:
        return 1, 0.0, False
    n_sub = min(MAX_SUBSTEPS, max(1, math.ceil(mcs / MCS_PER_SUBSTEP)))
    p = -math.expm1(-mcs / n_sub)
    if p > P_SUB_MAX:
        return n_sub, P_SUB_MAX, True
    return n_sub, p, False


def _run_step(lattice, seed: int, step: int, thr: np.uint64, n_sub: int, boltz: np.ndarray, gbW: int,
              parallel: bool | None) -> dict[str, int]:
    out = {"sinter_swaps": 0, "sinter_transfers": 0, "sinter_emptied": 0}
    if thr == 0:
        return out
    if not 1 <= n_sub <= MAX_SUBSTEPS:
        raise ValueError(f"sintering: 1..{MAX_SUBSTEPS} sub-steps per step, got {n_sub}")
    _check_lattice(lattice)
    nz, ny, nx = lattice.shape
    flat = [lattice.phase.reshape(-1), lattice.grain.reshape(-1), lattice.li.reshape(-1),
            lattice.tm.reshape(-1), lattice.disorder.reshape(-1), lattice.flags.reshape(-1)]
    offs = neighbour_offsets(lattice.shape)
    boltz = np.ascontiguousarray(boltz, dtype=np.uint64)
    use_parallel = _use_parallel(lattice.phase.size, parallel)
    seed_u, step_u, gb, thr_u = np.uint64(seed), np.uint64(step), np.int64(gbW), np.uint64(thr)
    n_chunks = nb.get_num_threads() if use_parallel else 1
    width = nx // 2 + 1 + DRAW_BLOCK
    scratch_x = np.empty((n_chunks, 2, width), dtype=np.int64)
    scratch_r = np.empty((n_chunks, 4, width), dtype=np.uint64)
    ext = np.empty((nz * ny, 2), dtype=np.int64)
    row_extents(_is_tm_at, flat[0], flat[0], 0, nz, ny, nx, ext)
    margin = nx * ny + nx + 2       # room on both sides of fg for the prefetch of a box at a face (and a row load)
    fg = scratch.buffer("sintering.fg", lattice.phase.size + 2 * margin, np.int64)[margin:margin + lattice.phase.size]
    code = scratch.buffer("sintering.code", lattice.phase.size, np.uint8)
    _build_fg(flat[0], flat[3], flat[1], fg, code)
    order = np.array([(p, N_PASSES * sub + p) for sub in range(n_sub) for p in pass_order(step, sub)],
                     dtype=np.int64)
    tile = max(1, TILE_ROWS)
    order = np.ascontiguousarray(np.column_stack([order, pass_skews(order[:, 0], tile)]))
    sweep = _step_parallel if use_parallel else _step_serial
    s, t, e = sweep(*flat, nz, ny, nx, order, seed_u, step_u, thr_u, boltz, offs, gb, fg, code, ext, scratch_x,
                    scratch_r, np.int64(tile))
    out["sinter_swaps"], out["sinter_transfers"], out["sinter_emptied"] = int(s), int(t), int(e)
    return out


def sinter_step(lattice, seed: int, step: int, attempt_threshold, kT: float,
                grain_boundary_energy: float = 0.5, substeps: int = 1,
                parallel: bool | None = None) -> dict[str, int]:
    """One step (``substeps`` x 36 colour passes) of the sintering rule on ``lattice`` (in place).

    lattice: `kmc.state.Lattice`, C-contiguous (nz, ny, nx) fields of the standard dtypes.
    attempt_threshold: uint64 in [0, 2^32], the per-pair attempt threshold of one sub-step
    (`kmc.rng.probability_threshold` of p_sub); kT: lattice temperature in units of J;
    grain_boundary_energy: gamma_gb / gamma_sv in units of J (rounded to J/8); substeps: 1..7;
    parallel: use the prange pass (None: when the lattice has >= PARALLEL_MIN_SITES voxels;
    the bits are the same either way).
    Returns the counters {sinter_swaps, sinter_transfers, sinter_emptied} (int).
    """
    return _run_step(lattice, seed, step, np.uint64(attempt_threshold), int(substeps), boltzmann_thresholds(kT),
                     gb_weight_steps(grain_boundary_energy), parallel)


def move_delta_energy(lattice, i: int, j: int, donor_bit: int = 0,
                      grain_boundary_energy: float = 0.5) -> tuple[int, int, int, int, int, float]:
    """The move pair (i, j) would propose and its dE in units of J (exact float of the int64).

    i, j: flat indices of face neighbours. donor_bit: bit 0 of r2 (transfer direction).
    Returns (kind, donor, receiver, q, li_q, dE_J): kind 0 none, 1 swap, 2 transfer.
    For tests and for checking other backends.
    """
    _check_lattice(lattice)
    nz, ny, nx = lattice.shape
    zi, zj = np.array(np.unravel_index(i, lattice.shape)), np.array(np.unravel_index(j, lattice.shape))
    if np.abs(zj - zi).sum() != 1:
        raise ValueError(f"sites {i} and {j} are not face neighbours")
    kind, d, r, q, li_q, num = _delta_energy_num(
        lattice.phase.reshape(-1), lattice.grain.reshape(-1), lattice.li.reshape(-1), lattice.tm.reshape(-1),
        np.int64(i), np.int64(j), np.uint32(donor_bit), *(int(c) for c in zi), *(int(c) for c in zj - zi),
        nz, ny, nx, neighbour_offsets(lattice.shape), np.int64(gb_weight_steps(grain_boundary_energy)))
    return int(kind), int(d), int(r), int(q), int(li_q), float(num) / float(_DEN)


def total_energy(lattice, grain_boundary_energy: float = 0.5) -> float:
    """E in units of J (module docstring), summed over all 26-neighbour contacts in the box (numpy)."""
    F = fill_units(lattice.phase, lattice.tm).astype(np.float64) / F_FULL
    tm = _IS_TM[lattice.phase].astype(bool)
    g = lattice.grain
    w = gb_weight_steps(grain_boundary_energy) / GB_STEPS_PER_J
    nz, ny, nx = lattice.shape
    E = 0.0
    for dz, dy, dx in NEIGHBOURS[13:]:      # the 13 half-space offsets: each contact once
        a = (slice(0, nz - dz) if dz >= 0 else slice(-dz, nz), slice(max(0, -dy), ny - max(0, dy)),
             slice(max(0, -dx), nx - max(0, dx)))
        b = (slice(dz, nz) if dz >= 0 else slice(0, nz + dz), slice(max(0, dy), ny + min(0, dy)),
             slice(max(0, dx), nx + min(0, dx)))
        fa, fb = F[a], F[b]
        unlike = tm[a] & tm[b] & (g[a] > 0) & (g[b] > 0) & (g[a] != g[b])
        c = 2.0 - w * unlike
        E += float((fa + fb - c * fa * fb).sum())
    return E


def pore_solid_faces(lattice) -> int:
    """Number of face (6-neighbour) contacts between a PORE voxel and a TM voxel (int)."""
    pore = lattice.phase == _PORE
    tm = _IS_TM[lattice.phase].astype(bool)
    n = 0
    for ax in range(3):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[ax], b[ax] = slice(0, -1), slice(1, None)
        a, b = tuple(a), tuple(b)
        n += int((pore[a] & tm[b]).sum() + (tm[a] & pore[b]).sum())
    return n


@dataclass(frozen=True)
class Sintering:
    """Pore/solid exchange and consolidation (rule in the module docstring).

    prefactor_per_s: attempt-frequency prefactor nu per face pair (1/s);
    activation_energy_kJ_per_mol: Ea of the attempt rate (kJ/mol);
    lattice_kT: Metropolis temperature in units of J, the solid/pore contact energy;
    grain_boundary_energy: gamma_gb / gamma_sv in units of J, in [0, 2], rounded to J/8.
    """

    prefactor_per_s: float
    activation_energy_kJ_per_mol: float
    lattice_kT: float = 2.0
    grain_boundary_energy: float = 0.5

    NAME = NAME
    STREAM = STREAM
    REACH = REACH
    PARAMETERS = PARAMETERS
    N_PASSES = N_PASSES
    COUNTERS = ("sinter_swaps", "sinter_transfers", "sinter_emptied")
    #: attempts per pair one step realises exactly through its sub-steps (7 ln 2)
    MAX_ATTEMPTS_PER_STEP = MAX_SUBSTEPS * math.log(2.0)

    def __post_init__(self):
        if not self.prefactor_per_s >= 0.0:
            raise ValueError(f"sintering prefactor must be >= 0 1/s, got {self.prefactor_per_s}")
        if not self.lattice_kT >= 0.0:
            raise ValueError(f"sintering lattice_kT must be >= 0 J, got {self.lattice_kT}")
        if not 0.0 <= self.grain_boundary_energy <= 2.0:
            raise ValueError(f"sintering grain_boundary_energy must be in [0, 2] J, got {self.grain_boundary_energy}")

    @classmethod
    def from_params(cls, params) -> Sintering:
        return cls(params.get(NAME, "prefactor", "1/s"), params.get(NAME, "activation_energy", "kJ/mol"),
                   params.get(NAME, "lattice_kT", "J"), params.get(NAME, "grain_boundary_energy", "J"))

    def rate_per_s(self, T_C: float) -> float:
        """Attempt rate per face pair, k = nu exp(-Ea / RT), in 1/s (= Monte Carlo steps per s)."""
        from kmc.events import arrhenius_per_s

        return arrhenius_per_s(self.prefactor_per_s, self.activation_energy_kJ_per_mol, T_C)

    def probability(self, T_C: float, dt_s: float) -> float:
        """Probability that a pair attempts at least once within dt at T: 1 - exp(-k dt)."""
        return -math.expm1(-self.rate_per_s(T_C) * dt_s)

    def mcs(self, T_C: float, dt_s: float) -> float:
        """Expected Monte Carlo steps (attempts per pair) in dt at T: k dt."""
        return self.rate_per_s(T_C) * dt_s

    def substeps(self, T_C: float, dt_s: float) -> tuple[int, float, bool]:
        """(n_sub, p_sub, capped) for a step of dt at T; see `substeps_and_probability`."""
        return substeps_and_probability(self.mcs(T_C, dt_s))

    def realised_mcs(self, T_C: float, dt_s: float) -> float:
        """Attempts per pair the step actually makes: n_sub (-ln(1 - p_sub)); = k dt unless capped."""
        n_sub, p, _ = self.substeps(T_C, dt_s)
        return n_sub * -math.log1p(-p)

    def max_rate_per_s(self, T_C: float) -> float:
        """The fastest per-pair attempt rate k at T (1/s), for the step-size control: steps with
        k dt <= 7 ln 2 = 4.85 are exact, longer ones are rate-capped (`substeps`)."""
        return self.rate_per_s(T_C)

    def boltzmann_thresholds(self) -> np.ndarray:
        """uint64 (L,) acceptance table for this event's lattice_kT."""
        return boltzmann_thresholds(self.lattice_kT)

    def thresholds(self, T_C: float, dt_s: float) -> np.ndarray:
        """uint64 (2 + L,): [T_attempt, n_sub, T_B[0..L-1]] for a step of dt at T.

        T_attempt = round(2^32 p_sub) per pair and sub-step, n_sub sub-steps (`substeps`), T_B the
        Metropolis table. All zeros when T_attempt is 0 (nothing can happen: the loop skips the event).
        """
        n_sub, p, _ = self.substeps(T_C, dt_s)
        attempt = probability_threshold(p)
        table = self.boltzmann_thresholds()
        out = np.zeros(2 + table.size, dtype=np.uint64)
        if attempt > 0:
            out[0] = attempt
            out[1] = n_sub
            out[2:] = table
        return out

    def cpu_pass(self, lattice, seed: int, step: int, thresholds: np.ndarray) -> dict[str, int]:
        """The n_sub x 36 colour passes of one step on ``lattice`` (all six fields changed in place).

        thresholds: uint64 (2 + L,) from `thresholds`. Returns the COUNTERS (int).
        """
        thresholds = np.asarray(thresholds, dtype=np.uint64)
        if thresholds.size < 3 or thresholds[0] == 0:
            return dict.fromkeys(self.COUNTERS, 0)
        return _run_step(lattice, seed, step, thresholds[0], int(thresholds[1]), thresholds[2:],
                         gb_weight_steps(self.grain_boundary_energy), None)
