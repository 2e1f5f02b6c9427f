"""The Li source: hydrate dehydration, LiOH melting, Li release into the precursor, melt wetting.

Four rules, one mechanism (the source's side of Li supply), applied in this order per step:

1. Hydrate dehydration, LiOH·H2O -> LiOH + H2O, first order: a LIOH_H2O voxel becomes LIOH
   with p = 1 - exp(-k_h dt), k_h = nu_h exp(-Ea_h/RT); one H2O per Li (counter
   ``h2o_q``). Reach: the site.
2. Melting at T_m = 462 °C: LIOH -> LIOH_MELT when T >= T_m, back when T < T_m (the melt
   holds at most as much Li as a dense LiOH voxel, so it fits). Deterministic and instantaneous
   (``INSTANT_RULES``): the simulation applies it again at the new temperature right after a
   quench, so a quenched melt is solid LiOH. Reach: the site.
3. Release: a source voxel (LIOH, LIOH_MELT, LI2CO3) that shares a face with a TM voxel
   (HYDROXIDE, ROCK_SALT, LAYERED) passes Li quanta to it at w = nu_s exp(-Ea_s/RT) quanta per
   second per contact face (s: LiOH solid, melt, or Li2CO3), n = floor(w dt) + Bernoulli(frac)
   quanta in a step, limited by what the source has and what the receiver can hold
   (capacity tables shared with Li hops). A source voxel whose Li is used up becomes a pore.
   The pass counts the quanta it hands over (``li_handed_lioh``, ``li_handed_li2co3``:
   diagnostics, gross: Li that hops back into the melt is handed over again). The gas that
   goes with the Li - 1/2 H2O per Li from LiOH (2 LiOH -> Li2O + H2O), 1/2 CO2 per Li from
   Li2CO3 - follows the *net* Li the source gave away, which is the Li now held by TM
   voxels (they start with none): `net_release_counters`.
4. Wetting: a melt voxel holding at least 2 quanta spreads into a face-neighbouring pore
   that touches a TM solid (one of the pore's 6 face-neighbours is HYDROXIDE, ROCK_SALT or
   LAYERED) with p = 1 - exp(-k_w dt): half its quanta (rounded down) move, and the pore
   becomes melt. This is how the molten source runs into open pores and along surfaces above
   462 °C: a liquid wets the solid, it does not fill the free gas around it (a pore with no
   solid face stays gas). Reading the pore's neighbours is race-free: no rule of a pass
   makes or unmakes a TM voxel.

Rules 3 and 4 are pair events: 6 passes per step (axis x parity), each pairing a site i
whose coordinate along the axis has the pass's parity with i + e_axis, so no voxel is in two
pairs of a pass. Draws: ``draw4(seed, step, pass, i, Stream.LI_SOURCE)``, the lower site of
the pair; passes 0-1 are rules 1-2 (site rules), 2-7 the pair passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from kmc import scratch
from kmc.extents import row_extents, widen
from kmc.events.arrhenius import arrhenius_per_s
from kmc.rng import Stream, draw4, probability_threshold
from kmc.state import Phase
from kmc.swar import LOW_BITS, bytes_below, first_byte, load8

NAME = "li_source"
STREAM = Stream.LI_SOURCE
REACH = "face pairs (6 passes) + site"
PARAMETERS = {
    "hydrate_prefactor": "1/s", "hydrate_activation_energy": "kJ/mol",
    "melting_point": "degC",
    "lioh_release_prefactor": "1/s", "lioh_release_activation_energy": "kJ/mol",
    "melt_release_prefactor": "1/s", "melt_release_activation_energy": "kJ/mol",
    "li2co3_release_prefactor": "1/s", "li2co3_release_activation_energy": "kJ/mol",
    "wetting_prefactor": "1/s", "wetting_activation_energy": "kJ/mol",
}

PORE, HYD, RS, LAY = (np.uint8(p) for p in (Phase.PORE, Phase.HYDROXIDE, Phase.ROCK_SALT, Phase.LAYERED))
LIOH_H2O, LIOH, MELT, LI2CO3 = (np.uint8(p) for p in (Phase.LIOH_H2O, Phase.LIOH, Phase.LIOH_MELT, Phase.LI2CO3))

# thresholds layout (uint64): see LiSource.thresholds
T_HYDRATE, T_MELTED, T_WET = 0, 1, 2
SOLID, MOLTEN = 1, 2   # thresholds[T_MELTED]: the state of the source at T (never 0, so the event always runs)
T_RELEASE = 3  # then (whole, frac) for LIOH, MELT, LI2CO3: indices 3..8


@nb.njit(parallel=True, cache=True)
def _site_rules(phase, li, th, seed, step):
    """Rules 1-2. phase, li: uint8 (n,). Returns H2O quanta released by the hydrate (int64)."""
    h2o = np.int64(0)
    melted = th[T_MELTED] == MOLTEN
    frozen = th[T_MELTED] == SOLID
    for i in nb.prange(phase.size):
        ph = phase[i]
        if ph == LIOH_H2O:
            if np.uint64(draw4(seed, step, 0, i, STREAM)[0]) < th[T_HYDRATE]:
                phase[i] = LIOH
                h2o += np.int64(li[i])
                ph = LIOH
        if ph == LIOH and melted:
            phase[i] = MELT
        elif ph == MELT and frozen:
            phase[i] = LIOH
    return h2o


@nb.njit(inline="always")
def _release_index(ph):
    if ph == LIOH:
        return 0
    if ph == MELT:
        return 1
    if ph == LI2CO3:
        return 2
    return -1


#: uint8 (256,): 1 for the phases a release starts from (`_release_index` >= 0).
_HOLDS_SOURCE = np.zeros(256, dtype=np.uint8)
_HOLDS_SOURCE[[int(LIOH), int(MELT), int(LI2CO3)]] = 1
#: uint8 (256,): 1 for the phases a source can act on: TM (release) and PORE (wetting).
_TAKES_FROM_SOURCE = np.zeros(256, dtype=np.uint8)
_TAKES_FROM_SOURCE[[int(PORE), int(HYD), int(RS), int(LAY)]] = 1


@nb.njit(inline="always")
def _is_tm(ph):
    return ph == HYD or ph == RS or ph == LAY


@nb.njit(inline="always")
def used_up_source_becomes_pore(phase, li, s):
    """A Li-source voxel whose Li is used up becomes a pore: rule 3 (release), and the solid-source
    hops of `kmc.events.li_hop` (Medium.SOURCE), which drain a LiOH voxel the same way."""
    if li[s] == 0:
        phase[s] = PORE


@nb.njit(inline="always")
def _touches_tm(phase, t, nz, ny, nx):
    """Whether voxel t (flat index) has a TM solid among its 6 face-neighbours in the box."""
    x = t % nx
    y = (t // nx) % ny
    z = t // (nx * ny)
    return ((x > 0 and _is_tm(phase[t - 1])) or (x < nx - 1 and _is_tm(phase[t + 1]))
            or (y > 0 and _is_tm(phase[t - nx])) or (y < ny - 1 and _is_tm(phase[t + nx]))
            or (z > 0 and _is_tm(phase[t - nx * ny])) or (z < nz - 1 and _is_tm(phase[t + nx * ny])))


@nb.njit(inline="always")
def _pair(i, j, phase, li, tm, grain, disorder, th, cap_base, cap_per_tm, seed, step, pass_, nz, ny, nx):
    """Rules 3-4 on the pair (i, j). Returns (Li from LiOH/melt, Li from Li2CO3).

    The draw, ``draw4(seed, step, pass_, i)[0]`` of the lower voxel i, is made only when a
    threshold can fire (an idle pair, such as two melt voxels, costs no draw; same bits)."""
    pi, pj = phase[i], phase[j]
    if _release_index(pi) >= 0 and li[i] > 0:
        s, t = i, j
    elif _release_index(pj) >= 0 and li[j] > 0:
        s, t = j, i
    else:
        return 0, 0
    ps, pt = phase[s], phase[t]
    k = _release_index(ps)
    if _is_tm(pt):
        n = np.int64(th[T_RELEASE + 2 * k])
        frac = th[T_RELEASE + 2 * k + 1]
        if frac != 0 and np.uint64(draw4(seed, step, pass_, i, STREAM)[0]) < frac:
            n += 1
        room = np.int64(cap_base[pt]) + np.int64(cap_per_tm[pt]) * np.int64(tm[t]) - np.int64(li[t])
        if room > 255 - np.int64(li[t]):
            room = 255 - np.int64(li[t])
        n = min(n, np.int64(li[s]), room)
        if n <= 0:
            return 0, 0
        li[s] -= np.uint8(n)
        li[t] += np.uint8(n)
        used_up_source_becomes_pore(phase, li, s)
        if ps == LI2CO3:
            return 0, n
        return n, 0
    if (ps == MELT and pt == PORE and li[s] >= 2 and th[T_WET] != 0 and _touches_tm(phase, t, nz, ny, nx)
            and np.uint64(draw4(seed, step, pass_, i, STREAM)[0]) < th[T_WET]):
        half = li[s] // np.uint8(2)
        li[s] -= half
        li[t] = half
        phase[t] = MELT
        grain[t] = 0
        disorder[t] = 0
    return 0, 0


@nb.njit(inline="always")
def face_pair_lines(nz, ny, nx, axis, parity, group):
    """Loop bounds of a face-pair pass (shared with `kmc.events.li_hop`): the lower voxels i of
    the pairs (i, i + e_axis) have coordinate c = parity + 2 t along the axis, t = 0 .. n_t - 1,
    n_t = (n_axis - parity) // 2, and are visited ``group`` pairs (1 or 2) per loop iteration.
    Returns (z0, zs, zn, y0, ys, yn, x0, xs, xn, stride, n_t): coordinate = start + step * index,
    index < count per dimension (along the axis: step 2 group, count ceil(n_t / group)), and the
    flat offset of e_axis."""
    z0, zs, zn = 0, 1, nz
    y0, ys, yn = 0, 1, ny
    x0, xs, xn = 0, 1, nx
    if axis == 0:
        stride = ny * nx
        n_t = (nz - parity) // 2
        z0, zs, zn = parity, 2 * group, (n_t + group - 1) // group
    elif axis == 1:
        stride = nx
        n_t = (ny - parity) // 2
        y0, ys, yn = parity, 2 * group, (n_t + group - 1) // group
    else:
        stride = 1
        n_t = (nx - parity) // 2
        x0, xs, xn = parity, 2 * group, (n_t + group - 1) // group
    return z0, zs, zn, y0, ys, yn, x0, xs, xn, stride, n_t


#: Bits of a voxel's class byte (`_class_of`): source with Li (a pair rule starts from it), and
#: TM or PORE (what a source acts on: release, wetting).
C_SOURCE = np.uint8(1)
C_TARGET = np.uint8(2)
_EVEN_BYTES = np.uint64(0x0001000100010001)    #: bit 0 of bytes 0, 2, 4, 6


@nb.njit(inline="always")
def _class_of(p, li_k):
    """The class byte of a voxel of phase p with li_k Li quanta: C_SOURCE | C_TARGET bits (uint8)."""
    return np.uint8((_HOLDS_SOURCE[p] & np.uint8(li_k != 0)) | (_TAKES_FROM_SOURCE[p] << np.uint8(1)))


@nb.njit(parallel=True, cache=True)
def _classes(pf, lf, cls):
    """cls uint8 (n,) <- `_class_of` every voxel (pf, lf: phase, li, uint8 (n,))."""
    for k in nb.prange(pf.size):
        cls[k] = _class_of(pf[k], lf[k])


@nb.njit(inline="always", cache=True)
def _is_source_class(cls, _unused, _c, k):
    """Whether voxel k's class byte says source with Li (the `kmc.extents.row_extents` test)."""
    return (cls[k] & C_SOURCE) != 0


@nb.njit(parallel=True, cache=True)
def _pair_pass(pf, lf, tf, gf, df, nz, ny, nx, th, cap_base, cap_per_tm, seed, step, pass_, axis, parity, cls, ext):
    """One pair pass. pf, lf, tf, df: uint8 (n,), gf: int32 (n,), flat views of (nz, ny, nx) fields.

    Pairs (i, i + e_axis) with i's coordinate along the axis c = parity, parity + 2, ... and
    c + 1 < n_axis. Returns (Li quanta released from LiOH/melt, from Li2CO3).
    A pair acts only if a voxel of it is source with Li and the other TM or PORE: cls (uint8 (n +
    16,), `_classes`) says so for 8 pairs in one 64-bit operation, and a row is visited
    only between the extents ext of its source voxels (for a pair across two rows the union of
    both). A pair that acted writes its voxels' classes anew (a used-up source becomes a pore, a
    wetted pore melt with Li), and widens its rows' extents for the pass after this one when
    wetting made a source; the pairs of a pass share no voxel, and the rows a pair writes are its
    own (one thread each).
    """
    z0, zs, zn, y0, ys, yn, x0, xs, xn, stride, _ = face_pair_lines(nz, ny, nx, axis, parity, 1)
    rstride = ny if axis == 0 else (1 if axis == 1 else 0)      # row of j - row of i
    from_lioh = np.int64(0)
    from_li2co3 = np.int64(0)
    for tz in nb.prange(zn):
        z = z0 + zs * tz
        for ty in range(yn):
            y = y0 + ys * ty
            rr = z * ny + y
            row = rr * nx
            if axis == 2:       # pairs (x, x + 1), x = parity + 2 t <= nx - 2: from the one left of the extent
                lo = max(ext[rr, 0] - 1, parity)
                x_lo = lo + ((lo - parity) & 1)
                x_hi = min(ext[rr, 1], nx - 2)
            else:               # pairs across rows rr and rr + rstride at the same x
                x_lo = min(ext[rr, 0], ext[rr + rstride, 0])
                x_hi = min(max(ext[rr, 1], ext[rr + rstride, 1]), nx - 1)
            xb = x_lo
            while xb <= x_hi:   # 8 voxels at a time: bit 0 of byte k says whether the pair at xb + k acts
                wi = load8(cls, np.uint64(row + xb))
                wj = load8(cls, np.uint64(row + xb + stride))
                m = ((wi & (wj >> np.uint64(1))) | (wj & (wi >> np.uint64(1)))) & LOW_BITS & bytes_below(x_hi - xb + 1)
                if axis == 2:
                    m &= _EVEN_BYTES            # pairs start at xb, xb + 2, ...: xb has the pass's parity
                while m != 0:
                    x = xb + first_byte(m)
                    m &= m - np.uint64(1)
                    i = row + x
                    j = i + stride
                    ui = np.uint64(i)
                    uj = np.uint64(j)
                    pore_i = pf[ui] == PORE
                    pore_j = pf[uj] == PORE
                    a, b = _pair(i, j, pf, lf, tf, gf, df, th, cap_base, cap_per_tm, seed, step, pass_, nz, ny, nx)
                    from_lioh += a
                    from_li2co3 += b
                    cls[ui] = _class_of(pf[ui], lf[ui])
                    cls[uj] = _class_of(pf[uj], lf[uj])
                    if pore_i and pf[ui] == MELT:       # i was wetted: its row now holds source with Li
                        widen(ext, rr, x)
                    if pore_j and pf[uj] == MELT:
                        widen(ext, rr + rstride, x + (1 if axis == 2 else 0))
                xb += 8
    return from_lioh, from_li2co3


def _whole_and_fraction(expected: float) -> tuple[int, int]:
    """Mean count per step -> (floor, integer threshold of the remainder)."""
    whole = math.floor(expected)
    return min(whole, 255), int(probability_threshold(expected - whole)) if whole < 255 else 0


@dataclass(frozen=True)
class LiSource:
    """Rates in 1/s (hydrate, wetting: per voxel; release: quanta per contact face), Ea in kJ/mol."""

    hydrate: tuple[float, float]
    melting_point_C: float
    lioh_release: tuple[float, float]
    melt_release: tuple[float, float]
    li2co3_release: tuple[float, float]
    wetting: tuple[float, float]
    cap_base: np.ndarray       # int32 (256,), Li capacity of a voxel = base[phase] + per_tm[phase] * tm
    cap_per_tm: np.ndarray     # int32 (256,)

    NAME = NAME
    STREAM = STREAM
    REACH = REACH
    PARAMETERS = PARAMETERS
    COUNTERS = ("h2o_q", "li_handed_lioh", "li_handed_li2co3")
    INSTANT_RULES = True   #: melting/freezing acts at once: applied again (dt = 0) right after a quench

    @classmethod
    def from_params(cls, params, cap_base: np.ndarray, cap_per_tm: np.ndarray) -> "LiSource":
        def pair(prefix):
            return (params.get(NAME, f"{prefix}_prefactor", "1/s"), params.get(NAME, f"{prefix}_activation_energy", "kJ/mol"))

        return cls(pair("hydrate"), params.get(NAME, "melting_point", "degC"), pair("lioh_release"), pair("melt_release"),
                   pair("li2co3_release"), pair("wetting"), cap_base, cap_per_tm)

    def release_rate_per_s(self, T_C: float) -> dict[str, float]:
        """Li quanta per second per source/TM contact face, by source phase."""
        return {"LiOH": arrhenius_per_s(*self.lioh_release, T_C), "melt": arrhenius_per_s(*self.melt_release, T_C),
                "Li2CO3": arrhenius_per_s(*self.li2co3_release, T_C)}

    def consumption_rates_per_s(self, T_C: float) -> dict[int, float]:
        """{parent phase: first-order rate (1/s)}: the hydrate. Wetting and release move Li
        between neighbours (fluxes, exact for any dt), so they compete with nothing."""
        return {int(Phase.LIOH_H2O): arrhenius_per_s(*self.hydrate, T_C)}

    def thresholds(self, T_C: float, dt_s: float) -> np.ndarray:
        """uint64 (9,): hydrate, melt state (SOLID 1 / MOLTEN 2), wetting, then (whole, frac) release
        per source phase."""
        th = [probability_threshold(-math.expm1(-arrhenius_per_s(*self.hydrate, T_C) * dt_s)),
              MOLTEN if T_C >= self.melting_point_C else SOLID,
              probability_threshold(-math.expm1(-arrhenius_per_s(*self.wetting, T_C) * dt_s))]
        for rate in self.release_rate_per_s(T_C).values():
            th += _whole_and_fraction(rate * dt_s)
        return np.array(th, dtype=np.uint64)

    def cpu_pass(self, lattice, seed: int, step: int, thresholds: np.ndarray) -> dict[str, int]:
        seed, step = np.uint64(seed), np.uint64(step)
        h2o = _site_rules(lattice.phase.reshape(-1), lattice.li.reshape(-1), thresholds, seed, step)
        from_lioh = from_li2co3 = 0
        flat = [lattice.phase.reshape(-1), lattice.li.reshape(-1), lattice.tm.reshape(-1), lattice.grain.reshape(-1),
                lattice.disorder.reshape(-1)]
        nz, ny, nx = lattice.shape
        cls = scratch.buffer("li_source.classes", lattice.phase.size + 16, np.uint8)   # room for a word past the end
        ext = np.empty((nz * ny, 2), dtype=np.int64)
        _classes(flat[0], flat[1], cls)
        row_extents(_is_source_class, cls, cls, 0, nz, ny, nx, ext)
        for axis in range(3):
            for parity in range(2):
                a, b = _pair_pass(*flat, *lattice.shape, thresholds, self.cap_base, self.cap_per_tm, seed, step,
                                  2 + 2 * axis + parity, axis, parity, cls, ext)
                from_lioh += int(a)
                from_li2co3 += int(b)
        return {"h2o_q": int(h2o), "li_handed_lioh": from_lioh, "li_handed_li2co3": from_li2co3}


_TM_CODES = np.array([int(Phase.HYDROXIDE), int(Phase.ROCK_SALT), int(Phase.LAYERED)])


def net_release_counters(li_by_phase: np.ndarray, li_source: str) -> dict[str, int]:
    """Li quanta the source has given away, net, under the name the TGA reads:
    ``li_from_li2co3_q`` for Li2CO3, else ``li_from_lioh_q`` (LiOH and LiOH·H2O, whose Li
    leaves as LiOH). Equal to the Li held by TM voxels, which hold none at the start.

    li_by_phase: int64 (256,), Li quanta per phase code (`kmc.observe.ObservationTables`)."""
    li_in_tm = int(np.asarray(li_by_phase, dtype=np.int64)[_TM_CODES].sum())
    return {"li_from_li2co3_q" if li_source == "Li2CO3" else "li_from_lioh_q": li_in_tm}
