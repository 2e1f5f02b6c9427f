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

Physical time: a site attempts at rate k = nu exp(-Ea / RT) (1/s), so one Monte Carlo step
(MCS, one attempt per site) lasts 1/k seconds. A site attempts at most once per step, so
steps must be short against 1/k: `max_rate_per_s` reports k to the step-size control, which
keeps p = 1 - exp(-k dt) small. Thresholds for one step, uint64 (28,): [0] T_attempt,
[1 + dE] T_B[dE] for dE = 0..26 (`GrainGrowth.thresholds`).

Implementation (`_colour_pass`): per row of a colour, only the sites from the row's first to its
last grain > 0 (`_has_grain`, once per step) are looked at, (1) interior sites are skipped with a
sliding 3x3-column test before any random number is drawn, (2) the Philox draws of the
remaining sites are computed lane-parallel (`kmc.rng.draw4_lanes`, vectorised, bit for bit
`draw4`), (3) the attempts follow. Box-face sites take a bounds-checked path.

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
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from kmc.events.arrhenius import arrhenius_per_s
from kmc.extents import row_extents
from kmc.rng import Stream, draw4, draw4_lanes, probability_threshold
from kmc.state import NEIGHBOURS_26, neighbour_offsets, TM_PHASES, Flag

INT32_MAX = 2**31 - 1
#: Measured Potts law on this lattice at lattice_kT = 1: R^2 - R0^2 = 0.23 voxel^2 per MCS
#: (docs/grain_growth.md); turns the physical parabolic rate constant into attempts per second.
PARABOLIC_VOXEL2_PER_MCS = 0.23

NAME = "grain_growth"
STREAM = Stream.GRAIN_GROWTH
REACH = "moore26"       #: reads the 26-neighbourhood (Chebyshev distance 1), writes the site
#: Physical, voxel-size independent: the parabolic rate constant K = K0 exp(-Ea/RT) of
#: R^2 - R0^2 = K t; attempts per site per second = K / (0.23 h^2).
PARAMETERS = {"parabolic_rate_prefactor": "nm^2/s", "activation_energy": "kJ/mol", "lattice_kT": "J"}
N_COLOURS = 8
#: Lattice temperature (units of J) chosen in docs/grain_growth.md; used when none is given.
DEFAULT_LATTICE_KT = 1.0

NEIGHBOURS = NEIGHBOURS_26  #: (26, 3) int64, kmc.state.NEIGHBOURS_26
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
    return ((flags[i] & _COATED) != 0
            or (x > 0 and (flags[i - 1] & _COATED) != 0)
            or (x < nx - 1 and (flags[i + 1] & _COATED) != 0)
            or (y > 0 and (flags[i - nx] & _COATED) != 0)
            or (y < ny - 1 and (flags[i + nx] & _COATED) != 0)
            or (z > 0 and (flags[i - nxy] & _COATED) != 0)
            or (z < nz - 1 and (flags[i + nxy] & _COATED) != 0))


@nb.njit(inline="always", cache=True)
def _pinned_interior(flags, i, nx, nxy):
    """_pinned for a site whose 6 face neighbours are all inside the box."""
    return ((flags[i] | flags[i - 1] | flags[i + 1] | flags[i - nx] | flags[i + nx]
             | flags[i - nxy] | flags[i + nxy]) & _COATED) != 0


@nb.njit(inline="always", cache=True)
def _column(grain, r0, r1, r2, r3, r4, r5, r6, r7, r8, x):
    """Grain id shared by the 9 sites (z+dz, y+dy, x), dz, dy in {-1,0,1}, or -1 if they differ.
    r0..r8: flat indices of the 9 rows (z+dz, y+dy, 0)."""
    v = grain[r4 + x]
    acc = ((grain[r0 + x] ^ v) | (grain[r1 + x] ^ v) | (grain[r2 + x] ^ v) | (grain[r3 + x] ^ v)
           | (grain[r5 + x] ^ v) | (grain[r6 + x] ^ v) | (grain[r7 + x] ^ v) | (grain[r8 + x] ^ v))
    return v if acc == 0 else -1


@nb.njit(inline="always", cache=True)
def _row_count(grain, b, g, gp):
    """Count of g minus count of g' among grain[b-1], grain[b], grain[b+1]."""
    v0 = grain[b - np.uint64(1)]
    v1 = grain[b]
    v2 = grain[b + np.uint64(1)]
    return (np.int32(v0 == g) + np.int32(v1 == g) + np.int32(v2 == g)
            - np.int32(v0 == gp) - np.int32(v1 == gp) - np.int32(v2 == gp))


@nb.njit(inline="always", cache=True)
def _energy_change(grain, r0, r1, r2, r3, r4, r5, r6, r7, r8, x, g, gp):
    """n(g) - n(g') over the 26 neighbours of the interior site (z, y, x) (rows as in _column)."""
    return (_row_count(grain, r0 + x, g, gp) + _row_count(grain, r1 + x, g, gp)
            + _row_count(grain, r2 + x, g, gp) + _row_count(grain, r3 + x, g, gp)
            + _row_count(grain, r4 + x, g, gp) + _row_count(grain, r5 + x, g, gp)
            + _row_count(grain, r6 + x, g, gp) + _row_count(grain, r7 + x, g, gp)
            + _row_count(grain, r8 + x, g, gp) - 1)    # the site itself was counted in n(g)


@intrinsic
def _like_minus_unlike(typingctx, grain, i0, i1, i2, i3, i4, i5, i6, i7, i8, g, gp):
    """`_energy_change` + 1 as LLVM vector code: the sum over the 27 cells grain[ik - 1 .. ik + 1],
    k = 0..8 (ik = row k + x, rows as in `_column`), of [cell == g] - [cell == g'] (int64).

    Each row is one <4 x i32> load from ik - 1 whose fourth lane is read but not counted (the
    caller keeps ik + 2 < grain.size), compared with g and g' in one instruction each: ~1.4x the
    throughput of the whole pass at the finest grains, where the scalar form (54 compares, and
    spilled registers) took a third of it."""
    if not (isinstance(grain, types.Array) and grain.ndim == 1 and grain.dtype == types.int32
            and grain.layout == "C"):
        return None
    rows = (i0, i1, i2, i3, i4, i5, i6, i7, i8)
    sig = types.int64(grain, *rows, g, gp)

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        v4 = ir.VectorType(i32, 4)

        def splat(value, ty):
            value = context.cast(builder, value, ty, types.int32)
            out = ir.Constant(v4, ir.Undefined)
            for lane in range(4):
                out = builder.insert_element(out, value, ir.Constant(i32, lane))
            return out

        ary = context.make_array(signature.args[0])(context, builder, args[0])
        base = builder.bitcast(ary.data, i32.as_pointer())
        like, unlike = splat(args[10], signature.args[10]), splat(args[11], signature.args[11])
        acc = ir.Constant(v4, [ir.Constant(i32, 0)] * 4)
        for k in range(9):
            ik = context.cast(builder, args[1 + k], signature.args[1 + k], types.int64)
            first = builder.gep(base, [builder.sub(ik, ir.Constant(i64, 1))])
            cells = builder.load(builder.bitcast(first, v4.as_pointer()))
            cells.align = 4
            acc = builder.add(acc, builder.sub(builder.zext(builder.icmp_signed("==", cells, like), v4),
                                               builder.zext(builder.icmp_signed("==", cells, unlike), v4)))
        total = builder.extract_element(acc, ir.Constant(i32, 0))
        for lane in (1, 2):
            total = builder.add(total, builder.extract_element(acc, ir.Constant(i32, lane)))
        return builder.sext(total, i64)

    return sig, codegen


@nb.njit(inline="always", cache=True)
def _is_uniform_general(grain, i, g, x, y, z, nx, ny, nz, offs):
    """True if every in-box neighbour of site i (any position) carries grain g."""
    for m in range(26):
        zz = z + _DZ[m]
        yy = y + _DY[m]
        xx = x + _DX[m]
        if zz < 0 or zz >= nz or yy < 0 or yy >= ny or xx < 0 or xx >= nx:
            continue
        if grain[i + offs[m]] != g:
            return False
    return True


@nb.njit(inline="always", cache=True)
def _energy_change_general(grain, i, g, gp, x, y, z, nx, ny, nz, offs):
    """n(g) - n(g') over the in-box neighbours of site i (any position)."""
    d = 0
    for m in range(26):
        zz = z + _DZ[m]
        yy = y + _DY[m]
        xx = x + _DX[m]
        if zz < 0 or zz >= nz or yy < 0 or yy >= ny or xx < 0 or xx >= nx:
            continue
        h = grain[i + offs[m]]
        d += np.int32(h == g) - np.int32(h == gp)
    return d


@nb.njit(inline="always", cache=True)
def _site_general(grain, phase, flags, i, x, y, z, nx, ny, nz, offs, colour, seed, step, attempt_thr, boltz, n_pre):
    """The rule at any site, with bounds checks (box faces). Returns 1 if it flipped, else 0."""
    g = grain[i]
    if g <= 0 or _TAKES_PART[phase[i]] == 0:
        return 0
    if _is_uniform_general(grain, i, g, x, y, z, nx, ny, nz, offs):
        return 0
    if _pinned(flags, i, nx, nx * ny, x, y, z, nz, ny):
        return 0
    r0, r1, r2, _r3 = draw4(seed, step, colour, i, STREAM)
    if np.uint64(r1) >= attempt_thr:
        return 0
    k = (np.uint64(r0) * np.uint64(26)) >> np.uint64(32)
    zz = z + _DZ[k]
    yy = y + _DY[k]
    xx = x + _DX[k]
    if zz < 0 or zz >= nz or yy < 0 or yy >= ny or xx < 0 or xx >= nx:
        return 0
    gp = grain[i + offs[k]]
    if gp == g or gp <= 0 or (g > n_pre) != (gp > n_pre):
        return 0
    dE = _energy_change_general(grain, i, g, gp, x, y, z, nx, ny, nz, offs)
    if dE > 0 and np.uint64(r2) >= boltz[dE]:
        return 0
    grain[i] = gp
    return 1


@nb.njit(inline="always", cache=True)
def _has_grain(grain, _unused, _c, k):
    """Whether site k has a grain > 0 (the `kmc.extents.row_extents` test of a step's rows): a
    site with grain <= 0 never flips and never gets a grain > 0 in this event, so the extents
    hold for a whole step."""
    return grain[k] > 0


@nb.njit(parallel=True, cache=True)
def _colour_pass(grain, phase, flags, nz, ny, nx, colour, seed, step, attempt_thr, boltz, offs,
                 scratch_x, scratch_r, n_pre, ext):
    """One colour pass. grain int32 (n,), phase/flags uint8 (n,) flat C-order views of
    (nz, ny, nx) fields; grain is modified in place. colour 0..7; attempt_thr uint64 in
    [0, 2^32]; boltz uint64 (27,); offs int64 (26,) flat neighbour offsets. Scratch (no
    allocation in the kernel): scratch_x int64 (n_chunks, w), scratch_r uint64
    (n_chunks, 4, w), w >= nx // 2 + 1; the rows of the pass are split into n_chunks
    contiguous chunks, one scratch row each (the split does not change the result).
    n_pre: grains with ids <= n_pre (precursor) and > n_pre (recrystallised) never exchange
    sites. ext: int64 (nz ny, 2), `_has_grain` of the step. Returns the number of sites that
    changed grain (int64)."""
    cz = colour >> 2
    cy = (colour >> 1) & 1
    cx = colour & 1
    nzc = (nz - cz + 1) // 2
    nyc = (ny - cy + 1) // 2
    nxy = nx * ny
    n_sites = np.uint64(grain.size)
    n_rows = nzc * nyc
    n_chunks = scratch_x.shape[0]
    flips = 0
    for q in nb.prange(n_chunks):
        cand = scratch_x[q]
        c0 = scratch_r[q, 0]
        c1 = scratch_r[q, 1]
        c2 = scratch_r[q, 2]
        c3 = scratch_r[q, 3]
        n_flips = 0
        for r in range(q * n_rows // n_chunks, (q + 1) * n_rows // n_chunks):
            z = cz + 2 * (r // nyc)
            y = cy + 2 * (r % nyc)
            row = (z * ny + y) * nx
            if z < 1 or z > nz - 2 or y < 1 or y > ny - 2 or nx < 3:
                for x in range(cx, nx, 2):
                    n_flips += _site_general(grain, phase, flags, row + x, x, y, z, nx, ny, nz, offs,
                                             colour, seed, step, attempt_thr, boltz, n_pre)
                continue
            # interior row: the 9 rows (z+dz, y+dy) around it
            r0 = np.uint64(row - nxy - nx)
            r1 = np.uint64(row - nxy)
            r2 = np.uint64(row - nxy + nx)
            r3 = np.uint64(row - nx)
            r4 = np.uint64(row)
            r5 = np.uint64(row + nx)
            r6 = np.uint64(row + nxy - nx)
            r7 = np.uint64(row + nxy)
            r8 = np.uint64(row + nxy + nx)
            unx = np.uint64(nx)
            unxy = np.uint64(nxy)
            x = cx
            if x == 0:
                n_flips += _site_general(grain, phase, flags, row, 0, y, z, nx, ny, nz, offs,
                                         colour, seed, step, attempt_thr, boltz, n_pre)
                x = 2
            # only the sites from the row's first to its last grain > 0 (`_has_grain`) can flip
            rr = z * ny + y
            x_end = min(nx - 2, ext[rr, 1])
            if ext[rr, 0] > x:
                x += (ext[rr, 0] - x + 1) // 2 * 2
            # 1. candidates: sites that are not interior, take part and are not pinned.
            # Sliding window: a site is interior iff columns x-1, x, x+1 all carry its grain;
            # column x+1 of this site is column x-1 of the next one (not written in this pass).
            m = 0
            if x <= x_end:
                prev = _column(grain, r0, r1, r2, r3, r4, r5, r6, r7, r8, np.uint64(x - 1))
            while x <= x_end:
                ux = np.uint64(x)
                i = r4 + ux
                g = grain[i]
                nxt = _column(grain, r0, r1, r2, r3, r4, r5, r6, r7, r8, ux + np.uint64(1))
                interior = False
                if prev == g and nxt == g:
                    interior = ((grain[r0 + ux] ^ g) | (grain[r1 + ux] ^ g) | (grain[r2 + ux] ^ g)
                                | (grain[r3 + ux] ^ g) | (grain[r5 + ux] ^ g) | (grain[r6 + ux] ^ g)
                                | (grain[r7 + ux] ^ g) | (grain[r8 + ux] ^ g)) == 0
                prev = nxt
                if not interior and g > 0 and _TAKES_PART[phase[i]] != 0 and not _pinned_interior(flags, i, unx, unxy):
                    cand[m] = x
                    m += 1
                x += 2
            last = nx - 1 if (nx - 1 - cx) % 2 == 0 else nx     # the row's last site of this colour
            # 2. their random numbers, lane-parallel
            draw4_lanes(cand, row, m, c0, c1, c2, c3, seed, step, colour, STREAM)
            # 3. the attempts (sites of one colour do not interact: any order gives the same), in two
            # sweeps without data-dependent branches (whether a site proposes a flip and whether it
            # is accepted are coin flips that a branch mispredicts): (a) the sites that attempt and
            # whose candidate grain may replace theirs, listed in c3 with the candidate grain in c0;
            # (b) their energy change and verdict, the site's grain written back either way
            n_try = np.uint64(0)
            for j in range(m):
                i = r4 + np.uint64(cand[j])
                g = grain[i]
                k = (c0[j] * np.uint64(26)) >> np.uint64(32)
                gp = grain[np.uint64(np.int64(i) + offs[k])]
                c3[n_try] = np.uint64(j)
                c0[j] = np.uint64(gp)       # c0[j] is read no more (gp >= 0 when listed)
                n_try += np.uint64((c1[j] < attempt_thr) & (gp != g) & (gp > 0) & ((g > n_pre) == (gp > n_pre)))
            for t in range(n_try):
                j = c3[t]
                ux = np.uint64(cand[j])
                i = r4 + ux
                g = grain[i]
                gp = np.int32(c0[j])
                if r8 + ux + np.uint64(2) < n_sites:    # the vector rows read one cell past x + 1
                    dE = _like_minus_unlike(grain, r0 + ux, r1 + ux, r2 + ux, r3 + ux, r4 + ux, r5 + ux,
                                            r6 + ux, r7 + ux, r8 + ux, g, gp) - 1
                else:
                    dE = _energy_change(grain, r0, r1, r2, r3, r4, r5, r6, r7, r8, ux, g, gp)
                ok = (dE <= 0) | (c2[j] < boltz[max(dE, 0)])
                grain[i] = gp if ok else g
                n_flips += np.int64(ok)
            if last == nx - 1:
                n_flips += _site_general(grain, phase, flags, row + last, last, y, z, nx, ny, nz, offs,
                                         colour, seed, step, attempt_thr, boltz, n_pre)
        flips += n_flips
    return flips


#: Rows of a colour pass are split into at most this many chunks (scratch rows).
MAX_CHUNKS = 256



def potts_step(grain: np.ndarray, phase: np.ndarray, flags: np.ndarray, seed: int, step: int,
               attempt_threshold, kT: float | None = None, colours=range(N_COLOURS),
               boltzmann: np.ndarray | None = None, n_precursor_grains: int = INT32_MAX) -> int:
    """One step (8 colour passes) of the Potts rule on (nz, ny, nx) C-contiguous arrays.

    grain int32 is modified in place; phase, flags uint8 are read. attempt_threshold: uint64
    in [0, 2^32] (`kmc.rng.probability_threshold` of the attempt probability). The acceptance
    table is ``boltzmann`` (uint64 (27,)) if given, else `boltzmann_thresholds(kT)`, kT the
    lattice temperature in units of J. colours: the colour passes to run, in order (all 8
    for a step; tests run single passes). Returns the number of sites that changed grain (int).
    """
    if grain.dtype != np.int32 or phase.dtype != np.uint8 or flags.dtype != np.uint8:
        raise TypeError(f"grain int32, phase/flags uint8 expected, got {grain.dtype}, {phase.dtype}, {flags.dtype}")
    if grain.shape != phase.shape or grain.shape != flags.shape or grain.ndim != 3:
        raise ValueError(f"grain, phase, flags must share one 3-D shape, got {grain.shape}, {phase.shape}, {flags.shape}")
    for a in (grain, phase, flags):
        if not a.flags.c_contiguous:
            raise ValueError("grain, phase, flags must be C-contiguous")
    if boltzmann is None:
        if kT is None:
            raise ValueError("give kT or a boltzmann table")
        boltzmann = boltzmann_thresholds(kT)
    boltz = np.array(boltzmann, dtype=np.uint64, copy=True)    # writable: one compiled specialisation
    if boltz.shape != (27,):
        raise ValueError(f"boltzmann table: uint64 (27,) expected, got {boltz.shape}")
    thr = np.uint64(attempt_threshold)
    if thr == 0:                            # no site attempts: nothing can change
        return 0
    nz, ny, nx = grain.shape
    g, p, f = grain.reshape(-1), phase.reshape(-1), flags.reshape(-1)
    offs = neighbour_offsets(grain.shape)
    seed_u, step_u = np.uint64(seed), np.uint64(step)
    n_chunks = max(1, min(MAX_CHUNKS, ((nz + 1) // 2) * ((ny + 1) // 2)))
    width = nx // 2 + 1
    scratch_x = np.empty((n_chunks, width), dtype=np.int64)
    scratch_r = np.empty((n_chunks, 4, width), dtype=np.uint64)
    ext = np.empty((nz * ny, 2), dtype=np.int64)
    row_extents(_has_grain, g, g, 0, nz, ny, nx, ext)
    flips = 0
    for colour in colours:
        if not 0 <= colour < N_COLOURS:
            raise ValueError(f"colour {colour} not in 0..7")
        flips += int(_colour_pass(g, p, f, nz, ny, nx, colour, seed_u, step_u, thr, boltz, offs,
                                  scratch_x, scratch_r, np.int64(n_precursor_grains), ext))
    return flips


@dataclass(frozen=True)
class GrainGrowth:
    """Grain-boundary motion (Potts) with Li-W-O pinning; rule in the module docstring.

    prefactor_per_s: attempt-frequency prefactor nu (1/s) per boundary site;
    activation_energy_kJ_per_mol: Ea of boundary migration (kJ/mol);
    lattice_kT: Potts lattice temperature, in units of the boundary bond energy J;
    n_precursor_grains: precursor grains (ids <= it) and recrystallised grains never exchange
    sites (see `potts_step`).

    Thresholds for one step, uint64 (28,): [0] the attempt threshold T_attempt, [1 + dE] the
    acceptance threshold T_B[dE] for dE = 0..26 (constant in time; shipped with the attempt
    threshold so that a backend receives every integer it compares against from the host).
    All zero when T_attempt = 0 (cold): no site attempts, and the loop skips the event.
    """

    prefactor_per_s: float
    activation_energy_kJ_per_mol: float
    lattice_kT: float = DEFAULT_LATTICE_KT
    n_precursor_grains: int = INT32_MAX

    NAME = NAME
    STREAM = STREAM
    REACH = REACH
    PARAMETERS = PARAMETERS
    COUNTERS = ("gg_flips",)
    N_THRESHOLDS = 28

    def __post_init__(self):
        if not (self.lattice_kT >= 0.0 and math.isfinite(self.lattice_kT)):
            raise ValueError(f"grain_growth.lattice_kT must be >= 0 (units of J), got {self.lattice_kT}")

    @classmethod
    def from_params(cls, params, voxel_nm: float, n_precursor_grains: int = INT32_MAX) -> GrainGrowth:
        """From section ``grain_growth`` for voxels of edge ``voxel_nm`` (nm): the attempt-rate
        prefactor is K0 / (0.23 h^2), so the grain growth in nm per second does not depend on h."""
        K0 = params.get(NAME, "parabolic_rate_prefactor", "nm^2/s")
        return cls(K0 / (PARABOLIC_VOXEL2_PER_MCS * voxel_nm**2), params.get(NAME, "activation_energy", "kJ/mol"),
                   params.get(NAME, "lattice_kT", "J"), int(n_precursor_grains))

    def rate_per_s(self, T_C: float) -> float:
        """Attempt rate per site, nu exp(-Ea/RT), in 1/s (= Monte Carlo steps per second)."""
        return arrhenius_per_s(self.prefactor_per_s, self.activation_energy_kJ_per_mol, T_C)

    def max_rate_per_s(self, T_C: float) -> float:
        """The fastest per-site rate of this event at T (for the step-size control): the
        attempt rate. A site attempts at most once per step, so the step control must keep
        rate * dt small (p = 1 - exp(-rate dt) <= numerics.max_event_probability)."""
        return self.rate_per_s(T_C)

    def probability(self, T_C: float, dt_s: float) -> float:
        """Probability that a site attempts a flip within dt at temperature T: 1 - exp(-rate dt)."""
        return -math.expm1(-self.rate_per_s(T_C) * dt_s)

    def mcs(self, T_C: float, dt_s: float) -> float:
        """Expected Monte Carlo steps (attempts per site) in dt at T: rate * dt."""
        return self.rate_per_s(T_C) * dt_s

    def boltzmann_thresholds(self) -> np.ndarray:
        """uint64 (27,) acceptance thresholds for this event's lattice_kT."""
        return boltzmann_thresholds(self.lattice_kT)

    def thresholds(self, T_C: float, dt_s: float) -> np.ndarray:
        """uint64 (28,): [attempt threshold for dt at T, T_B[0..26]] (class docstring); all
        zero when no site can attempt (T_attempt = 0), so that the loop skips the event."""
        out = np.zeros(self.N_THRESHOLDS, dtype=np.uint64)
        out[0] = probability_threshold(self.probability(T_C, dt_s))
        if out[0] > 0:
            out[1:] = self.boltzmann_thresholds()
        return out

    def cpu_pass(self, lattice, seed: int, step: int, thresholds) -> dict[str, int]:
        """The 8 colour passes of one step on ``lattice`` (grain changed in place).

        thresholds: the uint64 (28,) array of `thresholds`, or a bare attempt threshold
        (then the acceptance table comes from lattice_kT)."""
        thr = np.asarray(thresholds, dtype=np.uint64)
        if thr.reshape(-1)[0] == 0:         # no site attempts in this step
            return {"gg_flips": 0}
        if thr.ndim == 0 or thr.size == 1:
            flips = potts_step(lattice.grain, lattice.phase, lattice.flags, seed, step, thr.reshape(-1)[0],
                               kT=self.lattice_kT, n_precursor_grains=self.n_precursor_grains)
        else:
            flips = potts_step(lattice.grain, lattice.phase, lattice.flags, seed, step, thr[0], boltzmann=thr[1:],
                               n_precursor_grains=self.n_precursor_grains)
        return {"gg_flips": int(flips)}
