"""Sintering: pore/solid swaps and consolidation of partly filled voxels (kmc.events.sintering).

Fast tests check the rule (energy, colouring, conservation, determinism, the rate law) and the
basic kinetics on small lattices; `slow` ones the core/shell void (MODEL.md finding 2) and a
longer densification run. Numbers measured with these tests are in docs/sintering.md.
"""

from __future__ import annotations

import itertools

import numba
import numpy as np
import pytest
from scipy import ndimage

from kmc.events import sintering as S
from kmc.events.sintering import Sintering
from kmc.rng import probability_threshold
from kmc.state import TM_PHASES, Lattice, Phase, dense_quanta_per_voxel, fill_fraction

HALF = probability_threshold(0.5)   # attempt threshold per sub-step (P_SUB_MAX): ln 2 = 0.69 MCS
ALWAYS = np.uint64(1 << 32)         # every pair attempts (rule tests only)
KT = 2.0                        # the proposed lattice_kT
GB = 0.5                        # the proposed grain_boundary_energy
DENSE = {int(p): dense_quanta_per_voxel(p) for p in TM_PHASES}


# -- lattices ---------------------------------------------------------------------------------

def mixed_lattice(shape, seed=0, pore=0.3, source=0.03) -> Lattice:
    """Random pores, TM voxels of all three phases with random fills and Li, a few Li-source voxels."""
    rng = np.random.default_rng(seed)
    lat = Lattice.empty(shape)
    phase = rng.choice([int(p) for p in TM_PHASES], size=shape).astype(np.uint8)
    phase[rng.random(shape) < pore] = Phase.PORE
    phase[rng.random(shape) < source] = Phase.LIOH
    lat.phase[:] = phase
    for p, d in DENSE.items():
        m = phase == p
        lat.tm[m] = rng.integers(d // 3, d + 1, size=int(m.sum()))
    tmv = np.isin(phase, list(DENSE))
    lat.li[:] = np.where(tmv, rng.integers(0, 90, size=shape), 0)
    lat.li[phase == Phase.LIOH] = 91
    lat.grain[:] = np.where(tmv, rng.integers(1, 6, size=shape), 0)
    lat.disorder[:] = np.where(phase == Phase.LAYERED, rng.integers(0, 256, size=shape), 0)
    lat.flags[:] = np.where(tmv & (rng.random(shape) < 0.05), 1, 0)
    return lat


def dense_block(n, margin=3, phase=Phase.HYDROXIDE, grains=1, seed=0) -> Lattice:
    """A dense cube of ``phase`` in a box of gas; ``grains`` > 1 gives Voronoi grains."""
    lat = Lattice.empty((n, n, n))
    sl = (slice(margin, n - margin),) * 3
    lat.phase[sl] = phase
    lat.tm[sl] = DENSE[int(phase)]
    if grains > 1:
        lat.grain[sl] = voronoi((n, n, n), grains, seed)[sl]
    else:
        lat.grain[sl] = 1
    return lat


def voronoi(shape, k, seed):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, shape[0], size=(k, 3))
    grid = np.stack(np.meshgrid(*(np.arange(n) + 0.5 for n in shape), indexing="ij"), -1)
    d = ((grid[..., None, :] - pts) ** 2).sum(-1)
    return (np.argmin(d, -1) + 1).astype(np.int32)


def core_shell(n, R, shell, seed=0, grains=30):
    """Dense layered shell (73 quanta, fill 0.99) around a core of half-filled rock salt
    (68 of 136 quanta, fill 0.50), in gas. Returns (lattice, r, core mask)."""
    lat = Lattice.empty((n, n, n))
    c = (n - 1) / 2
    z, y, x = np.meshgrid(*(np.arange(n),) * 3, indexing="ij")
    r = np.sqrt((z - c) ** 2 + (y - c) ** 2 + (x - c) ** 2)
    inside = r <= R
    sh = inside & (r > R - shell)
    core = inside & ~sh
    gid = voronoi((n, n, n), grains, seed)
    lat.phase[sh] = Phase.LAYERED
    lat.tm[sh] = 73
    lat.li[sh] = 73
    lat.phase[core] = Phase.ROCK_SALT
    lat.tm[core] = 68
    lat.grain[inside] = gid[inside]
    lat.grain[sh] += 1000
    return lat, r, core


def closed_pores(lat: Lattice) -> np.ndarray:
    """Sizes (voxels) of the PORE components (face connectivity) that do not touch the box."""
    lab, n = ndimage.label(lat.phase == Phase.PORE)
    faces = np.unique(np.concatenate([lab[0].ravel(), lab[-1].ravel(), lab[:, 0].ravel(), lab[:, -1].ravel(),
                                      lab[:, :, 0].ravel(), lab[:, :, -1].ravel()]))
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    sizes[faces] = 0
    sizes[0] = 0
    return sizes[sizes > 0]


def digest(lat: Lattice) -> bytes:
    return b"".join(np.ascontiguousarray(a).tobytes() for a in lat.arrays().values())


def phase_tm(lat: Lattice) -> dict[int, int]:
    return {p: int(lat.tm[lat.phase == p].sum(dtype=np.int64)) for p in DENSE}


def run(lat, steps, seed=11, kT=KT, gb=GB, start=0, every=None, measure=None):
    """Run ``steps`` sub-steps at p_sub = 1/2 (0.69 MCS each); returns measure(lat) every ``every``."""
    out = []
    for s in range(start, start + steps):
        S.sinter_step(lat, seed, s, HALF, kT, gb)
        if every and (s - start + 1) % every == 0:
            out.append(measure(lat))
    return out


# -- the rule ---------------------------------------------------------------------------------

def test_energy_of_binary_voxels_is_the_unlike_contact_count():
    """Fill 0/1 voxels: E = #(solid-pore 26-contacts) + w_gb #(contacts of different grains)."""
    lat = dense_block(10, margin=2, grains=4, seed=3)
    rng = np.random.default_rng(0)
    holes = rng.random(lat.shape) < 0.2
    for name in ("phase", "tm", "grain"):
        getattr(lat, name)[holes] = 0
    solid = lat.phase != Phase.PORE
    n_sp = n_gb = 0
    for d in S.NEIGHBOURS[13:]:
        a = tuple(slice(max(0, -k), lat.shape[0] - max(0, k)) for k in d)
        b = tuple(slice(max(0, k), lat.shape[0] + min(0, k)) for k in d)
        n_sp += int((solid[a] != solid[b]).sum())
        n_gb += int((solid[a] & solid[b] & (lat.grain[a] != lat.grain[b])).sum())
    assert n_gb > 0
    for w in (0.0, 0.5, 1.0):
        assert S.total_energy(lat, w) == pytest.approx(n_sp + w * n_gb, abs=1e-6)


@pytest.mark.parametrize("gb", [0.0, 0.5, 1.25])
def test_move_energy_equals_change_of_total_energy(gb):
    """dE of every proposed swap/transfer (int64 in the kernel) equals E(after) - E(before), for
    pairs whose 4 x 3 x 3 box lies in the box (the swap's dE from the 18 cells next to one voxel
    only) and for pairs at the faces."""
    lat = mixed_lattice((7, 8, 9), seed=2)
    shape = lat.shape
    rng = np.random.default_rng(5)
    checked = {1: 0, 2: 0}
    interior = {1: 0, 2: 0}
    for _ in range(400):
        z, y, x = (int(rng.integers(0, n)) for n in shape)
        axis = int(rng.integers(0, 3))
        c = [z, y, x]
        if c[axis] == shape[axis] - 1:
            continue
        i = int(np.ravel_multi_index((z, y, x), shape))
        j = i + (shape[1] * shape[2], shape[2], 1)[axis]
        kind, d, r, q, _li_q, dE = S.move_delta_energy(lat, i, j, int(rng.integers(0, 2)), gb)
        if kind == 0:
            continue
        after = lat.copy()
        flat = {k: v.reshape(-1) for k, v in after.arrays().items()}
        if kind == 1:
            for v in flat.values():
                v[d], v[r] = v[r], v[d]
        else:
            flat["tm"][r] += q
            flat["tm"][d] -= q
            if flat["tm"][d] == 0:
                flat["phase"][d] = Phase.PORE
                flat["grain"][d] = 0
        assert dE == pytest.approx(S.total_energy(after, gb) - S.total_energy(lat, gb), abs=1e-9)
        checked[kind] += 1
        upper = [c[k] + (k == axis) for k in range(3)]
        interior[kind] += all(c[k] >= 1 and upper[k] <= shape[k] - 2 for k in range(3))
    assert checked[1] > 30 and checked[2] > 30
    assert interior[1] > 10 and interior[2] > 10 and checked[1] - interior[1] > 10


def test_colouring_is_race_free_and_covers_every_pair_once():
    """In one pass no pair writes into another pair's 4x3x3 read box; every face pair is in one pass."""
    shape = (7, 8, 10)
    nz, ny, nx = shape
    seen = []
    for p in range(S.N_PASSES):
        pairs = S.pass_pairs(shape, p)
        seen.append(pairs)
        assert len(pairs) > 0
        # the sites a pass writes, with their pair id: a write of pair a must not be a site or a
        # 26-neighbour of a site of any other pair b (Chebyshev distance > 1)
        sites = np.stack(np.unravel_index(pairs.reshape(-1), shape), 1)
        owner = np.repeat(np.arange(len(pairs)), 2)
        cheb = np.abs(sites[:, None, :] - sites[None, :, :]).max(-1)
        other = owner[:, None] != owner[None, :]
        assert cheb[other].min() > 1, p
    allpairs = np.concatenate(seen)
    assert len(allpairs) == len({tuple(x) for x in allpairs.tolist()})
    n_faces = (nz - 1) * ny * nx + nz * (ny - 1) * nx + nz * ny * (nx - 1)
    assert len(allpairs) == n_faces
    assert list(S.pass_order(0)) == list(range(36)) and list(S.pass_order(1)) == list(range(35, -1, -1))


def test_boltzmann_table_and_threshold_layout():
    ev = Sintering(prefactor_per_s=3.4e10, activation_energy_kJ_per_mol=250.0, lattice_kT=2.0)
    tab = ev.boltzmann_thresholds()
    assert tab.dtype == np.uint64 and tab[0] == 1 << 32 and tab[-1] == 0
    n = 32          # dE = 1 J
    assert int(tab[n]) == round(np.exp(-1.0 / ev.lattice_kT) * 2**32)
    assert np.all(np.diff(tab.astype(np.int64)) <= 0)
    thr = ev.thresholds(850.0, 10.0)            # k dt = 1.0: two sub-steps of p = 1 - exp(-0.5)
    assert thr.dtype == np.uint64 and thr.size == 2 + tab.size
    k_dt = ev.rate_per_s(850.0) * 10.0
    assert thr[1] == 2 and thr[0] == probability_threshold(-np.expm1(-k_dt / 2))
    assert np.array_equal(thr[2:], tab)
    assert ev.realised_mcs(850.0, 10.0) == pytest.approx(k_dt)
    n_sub, p, capped = ev.substeps(850.0, 600.0)  # k dt = 60: capped at 7 sub-steps of p = 1/2
    assert (n_sub, p, capped) == (7, 0.5, True)
    assert ev.realised_mcs(850.0, 600.0) == pytest.approx(7 * np.log(2))
    assert S.substeps_and_probability(0.0) == (1, 0.0, False)
    assert np.array_equal(S.boltzmann_thresholds(0.0), np.array([1 << 32, 0], dtype=np.uint64))


def test_transfer_moves_li_in_proportion_and_empties_the_donor():
    """Two half-filled rock-salt voxels: one empties into the other (68 + 68 <= 136)."""
    lat = Lattice.empty((1, 1, 2))
    lat.phase[:] = Phase.ROCK_SALT
    lat.tm[:] = 68
    lat.li[0, 0] = [10, 3]
    lat.grain[0, 0] = [4, 9]
    lat.flags[0, 0] = [1, 0]
    kind, d, r, q, li_q, dE = S.move_delta_energy(lat, 0, 1, donor_bit=0)
    assert (kind, d, r, q, li_q) == (2, 0, 1, 68, 10)
    # the box holds one contact, a-b; it is lost: dE = +c f^2 with c = 2 - w_gb (grains differ)
    assert dE == pytest.approx((2 - GB) * (68 * 110 / 15040) ** 2)
    before = lat.totals()
    for step in range(4):
        S.sinter_step(lat, 1, step, ALWAYS, 1e6, GB)
    assert lat.totals() == before
    assert sorted(lat.tm[0, 0].tolist()) == [0, 136]
    full = int(np.argmax(lat.tm[0, 0]))
    assert lat.phase[0, 0, 1 - full] == Phase.PORE and lat.grain[0, 0, 1 - full] == 0
    assert lat.li[0, 0, full] == 13 and lat.li[0, 0, 1 - full] == 0
    assert lat.flags[0, 0, full] == 1


def test_partial_transfer_and_no_transfer_across_phases():
    lat = Lattice.empty((1, 1, 2))
    lat.phase[:] = Phase.LAYERED
    lat.tm[0, 0] = [64, 64]
    lat.li[0, 0] = [64, 60]
    lat.grain[:] = 1
    lat.disorder[0, 0] = [200, 0]
    kind, _d, _r, q, li_q, _ = S.move_delta_energy(lat, 0, 1, donor_bit=0)
    assert (kind, q, li_q) == (2, 9, 9)          # receiver capped at 73 quanta; li 64 * 9 / 64
    kind, d, _r, q, li_q, _ = S.move_delta_energy(lat, 0, 1, donor_bit=1)
    assert (kind, d, q, li_q) == (2, 1, 9, 8)    # floor(60 * 9 / 64) = 8
    lat.phase[0, 0, 1] = Phase.ROCK_SALT
    assert S.move_delta_energy(lat, 0, 1)[0] == 0
    lat.phase[0, 0, 1] = Phase.LIOH
    assert S.move_delta_energy(lat, 0, 1)[0] == 0


def test_conservation_every_step():
    """Total tm and li exact; TM quanta per phase exact; no voxel over its dense quanta; pores empty;
    Li-source voxels never move."""
    lat = mixed_lattice((12, 13, 14), seed=4)
    t0, p0 = lat.totals(), phase_tm(lat)
    src = lat.phase == Phase.LIOH
    counts = {"sinter_swaps": 0, "sinter_transfers": 0, "sinter_emptied": 0}
    for step in range(25):
        out = S.sinter_step(lat, 3, step, ALWAYS, KT, GB)
        for k in counts:
            counts[k] += out[k]
        assert lat.totals() == t0
        assert phase_tm(lat) == p0
        for p, d in DENSE.items():
            assert int(lat.tm[lat.phase == p].max(initial=0)) <= d
        pore = lat.phase == Phase.PORE
        assert not lat.tm[pore].any() and not lat.li[pore].any() and not lat.grain[pore].any()
        assert np.array_equal(lat.phase == Phase.LIOH, src)
        assert np.all(fill_fraction(lat)[np.isin(lat.phase, list(DENSE))] <= 1.0 + 1e-6)
    assert counts["sinter_swaps"] > 100 and counts["sinter_transfers"] > 100 and counts["sinter_emptied"] > 10


def test_same_bits_for_one_and_two_threads_and_serial():
    """48^3 (parallel pass): numba 1 thread == 2 threads == the serial pass; same seed same bits."""
    base = mixed_lattice((48, 48, 48), seed=8, source=0.0)
    results = []
    saved = numba.get_num_threads()
    try:
        for threads, parallel in ((1, True), (min(2, numba.config.NUMBA_NUM_THREADS), True), (1, False)):
            numba.set_num_threads(threads)
            lat = base.copy()
            for step in range(3):
                S.sinter_step(lat, 99, step, ALWAYS, KT, GB, parallel=parallel)
            results.append(digest(lat))
    finally:
        numba.set_num_threads(saved)
    assert results[0] == results[1] == results[2]
    assert results[0] != digest(base)
    other = base.copy()
    for step in range(3):
        S.sinter_step(other, 100, step, ALWAYS, KT, GB)
    assert digest(other) != results[0]


# -- the optimised pass against a straightforward reference -----------------------------------

def _reference_energy_num(ph, tm, g, sites, shape, gbW):
    """8 F_FULL^2 x (the energy of every 26-contact that touches one of ``sites``), Python ints.

    Each contact {a, b} costs 8 F_FULL (F_a + F_b) - c_ab F_a F_b, c_ab = 16 - gbW for two TM voxels of
    different grains > 0, else 16 (the module docstring's E, scaled to integers)."""
    nz, ny, nx = shape
    F = lambda k: int(S._VOLW[ph[k]]) * int(tm[k]) + int(S._NEUTRAL_F[ph[k]])   # noqa: E731
    seen = set()
    total = 0
    for a in sites:
        z, y, x = np.unravel_index(a, shape)
        for dz, dy, dx in S.NEIGHBOURS:
            zz, yy, xx = z + dz, y + dy, x + dx
            if not (0 <= zz < nz and 0 <= yy < ny and 0 <= xx < nx):
                continue
            b = int((zz * ny + yy) * nx + xx)
            key = (min(a, b), max(a, b))
            if key in seen:
                continue
            seen.add(key)
            both_tm = S._IS_TM[ph[a]] and S._IS_TM[ph[b]]
            c = 16 - gbW if (both_tm and g[a] > 0 and g[b] > 0 and g[a] != g[b]) else 16
            total += 8 * S.F_FULL * (F(a) + F(b)) - c * F(a) * F(b)
    return total


def _reference_neighbours(site, shape):
    """Flat indices of the in-box 26-neighbours of a flat site."""
    z, y, x = np.unravel_index(site, shape)
    out = []
    for dz in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                c = (z + dz, y + dy, x + dx)
                if (dz, dy, dx) != (0, 0, 0) and all(0 <= c[a] < shape[a] for a in range(3)):
                    out.append(int(np.ravel_multi_index(c, shape)))
    return out


def _reference_step(lat, seed, step, thr, kT, gb, n_sub):
    """The rule of the module docstring, written plainly: pass after pass, pair after pair, one
    draw4 per pair, dE from the contact energy before and after the move. Returns the counters."""
    from kmc.rng import Stream, draw4

    shape = lat.shape
    ph, g, li, tm, dis, fl = (a.reshape(-1) for a in (lat.phase, lat.grain, lat.li, lat.tm, lat.disorder, lat.flags))
    gbW = S.gb_weight_steps(gb)
    boltz = S.boltzmann_thresholds(kT)
    den = 8 * S.F_FULL ** 2
    out = {"sinter_swaps": 0, "sinter_transfers": 0, "sinter_emptied": 0}
    for sub in range(n_sub):
        for p in S.pass_order(step, sub):
            for i, j in S.pass_pairs(shape, p):
                i, j = int(i), int(j)
                pi, pj = int(ph[i]), int(ph[j])
                r0, r1, r2, _ = (int(v) for v in draw4(seed, step, 36 * sub + p, i, Stream.SINTERING))
                if r0 >= int(thr):
                    continue
                if (pi == 0 and S._IS_TM[pj]) or (pj == 0 and S._IS_TM[pi]):
                    kind = "swap"
                    pore, solid = (i, j) if pi == 0 else (j, i)
                    near = [k for k in _reference_neighbours(pore, shape) if k != solid]
                    if all(ph[k] == Phase.PORE for k in near):
                        continue                       # the solid would float free in the gas
                elif pi == pj and S._IS_TM[pi]:
                    kind = "transfer"
                    d, r = (i, j) if r2 & 1 == 0 else (j, i)
                    dense = int(S._DENSE[pi])
                    q = min(int(tm[d]), dense - int(tm[r]))
                    if q <= 0:
                        continue
                    li_q = int(li[d]) if q == tm[d] else int(li[d]) * q // int(tm[d])
                    if int(li[r]) + li_q > 255:
                        continue
                else:
                    continue
                saved = [a.copy() for a in (ph, g, li, tm, dis, fl)]
                e0 = _reference_energy_num(ph, tm, g, (i, j), shape, gbW)
                if kind == "swap":
                    for a in (ph, g, li, tm, dis, fl):
                        a[i], a[j] = a[j], a[i]
                else:
                    tm_d, tm_r = int(tm[d]), int(tm[r])
                    dis[r] = (int(dis[r]) * tm_r + int(dis[d]) * q + (tm_r + q) // 2) // (tm_r + q)
                    tm[r], li[r] = tm_r + q, int(li[r]) + li_q
                    tm[d], li[d] = tm_d - q, int(li[d]) - li_q
                    if q == tm_d:
                        ph[d], g[d], dis[d] = 0, 0, 0
                        fl[r] |= fl[d]
                        fl[d] = 0
                num = _reference_energy_num(ph, tm, g, (i, j), shape, gbW) - e0
                if num > 0 and r1 >= int(boltz[min(num * 32 // den, boltz.size - 1)]):
                    for a, old in zip((ph, g, li, tm, dis, fl), saved):
                        a[:] = old
                    continue
                if kind == "swap":
                    out["sinter_swaps"] += 1
                else:
                    out["sinter_transfers"] += 1
                    out["sinter_emptied"] += int(q == tm_d)
    return out


@pytest.mark.parametrize("shape, thr, kT, gb, n_sub", [
    ((7, 8, 9), ALWAYS, KT, GB, 2),
    ((6, 9, 7), HALF, 1.0, 0.0, 2),
    ((9, 6, 8), probability_threshold(0.75), 0.5, 1.25, 1),
])
def test_optimised_pass_equals_the_plain_reference(shape, thr, kT, gb, n_sub):
    """The numba pass (row screening, lane-parallel Philox, packed neighbour words, row extents) ==
    the plain reference above, bit for bit and counter for counter, over two steps (both pass orders)
    on mixed lattices with pores, all TM phases, Li sources, grain 0 and partly filled voxels."""
    base = mixed_lattice(shape, seed=sum(shape))
    base.grain[(base.phase == Phase.ROCK_SALT) & (base.li < 10)] = 0
    fast, ref = base.copy(), base.copy()
    totals = {"sinter_swaps": 0, "sinter_transfers": 0, "sinter_emptied": 0}
    for step in (4, 5):
        out = S.sinter_step(fast, 21, step, thr, kT, gb, n_sub)
        assert out == _reference_step(ref, 21, step, thr, kT, gb, n_sub)
        assert digest(fast) == digest(ref)
        totals = {k: totals[k] + out[k] for k in totals}
    assert totals["sinter_swaps"] > 20 and totals["sinter_transfers"] > 5 and totals["sinter_emptied"] > 0


def test_no_voxel_floats_off_into_the_gas():
    """Matter moves along surfaces, not through the gas. A solid voxel next to a block of Li
    source (neutral: it never moves, but it is matter) wanders over the block's surface at a
    high lattice temperature, and always touches it; a voxel alone in the gas never moves."""
    lat = Lattice.empty((10, 10, 10))
    lat.phase[:4, :, :], lat.li[:4] = Phase.LIOH, 91                  # the block, z < 4
    lat.phase[4, 5, 5], lat.tm[4, 5, 5], lat.grain[4, 5, 5] = Phase.LAYERED, 73, 1
    lat.phase[8, 1, 1], lat.tm[8, 1, 1], lat.grain[8, 1, 1] = Phase.LAYERED, 73, 2   # alone in the gas
    visited = set()
    for step in range(40):
        S.sinter_step(lat, 5, step, HALF, 8.0, 0.5, 3)
        here = [tuple(c) for c in np.argwhere(lat.grain == 1)]
        assert len(here) == 1
        z, y, x = here[0]
        visited.add(here[0])
        assert z == 4, f"step {step}: the voxel left the surface of the block for {here[0]}"
        assert lat.grain[8, 1, 1] == 2, "a lone voxel stays where it is"
    assert len(visited) > 3, "it does move over the surface"


def test_draw_block_size_does_not_change_the_result(monkeypatch):
    """Pairs are listed across rows into a block before their draws; a block too small for two
    rows (flushed at almost every row) gives the same bits as one block per chunk."""
    base = mixed_lattice((10, 9, 12), seed=5)
    results = []
    for block in (0, 2048):
        monkeypatch.setattr(S, "DRAW_BLOCK", block)
        lat = base.copy()
        counters = [S.sinter_step(lat, 8, step, HALF, 1.0, 0.5, 2) for step in (1, 2)]
        results.append((digest(lat), counters))
    assert results[0] == results[1]
    assert sum(c["sinter_swaps"] for c in results[0][1]) > 20


def _tile_results(monkeypatch, cases):
    base = mixed_lattice((23, 19, 14), seed=6)
    results = []
    saved = numba.get_num_threads()
    try:
        for tile, threads in cases:
            monkeypatch.setattr(S, "TILE_ROWS", tile)
            numba.set_num_threads(threads)
            lat = base.copy()
            counters = [S.sinter_step(lat, 4, step, HALF, 1.0, 0.5, 3, parallel=True) for step in (1, 2)]
            results.append((digest(lat), counters))
    finally:
        numba.set_num_threads(saved)
    return results


def test_tile_size_does_not_change_the_result(monkeypatch):
    """The blocked sweep (tiles of rows, each pass's grid shifted by `pass_skews`) gives the bits
    of pass after pass over the whole box (one tile larger than box plus shift), for any tile
    size (tiles of 6 and 12 rows have their grid lines on one residue mod 6, the others on
    several), on one thread and in parallel by anti-diagonals."""
    two = min(2, numba.config.NUMBA_NUM_THREADS)
    cases = ((10 ** 6, 1), (1, 1), (2, 1), (5, 1), (6, 1), (12, 1), (7, two), (3, two), (6, two))
    results = _tile_results(monkeypatch, cases)
    assert all(r == results[0] for r in results[1:])
    assert sum(c["sinter_swaps"] + c["sinter_transfers"] for c in results[0][1]) > 100


def _out_of_order_pairs(passes, skews, tile, rows=40):
    """Pairs of rows (z', q') < (z, q) along z or y that interact (z' <= z + 1 + dz_q) but sit in
    a later tile of their pass than the later pass's row does: what would break pass order."""
    passes = list(passes)
    found = []
    for axis in (0, 1):
        spec = [S._pass_rows(p, axis) for p in passes]
        tile_of = (np.arange(rows)[None, :] + skews[:, axis][:, None]) // tile   # (Q, rows)
        has = np.array([[z % m == r for z in range(rows)] for r, m, _ in spec])
        for q in range(1, len(passes)):
            for z in np.flatnonzero(has[q]):
                for zp in range(z + 1, min(rows, z + 2 + spec[q][2])):
                    late = np.flatnonzero(has[:q, zp] & (tile_of[:q, zp] > tile_of[q, z]))
                    found += [(axis, q, int(z), int(k), zp) for k in late]
    return found


def test_pass_skews_keep_every_interacting_pair_in_pass_order():
    """Checked row by row for both pass orders of 1 and 7 sub-steps and tiles of 1-7, 12 and 48
    rows: no row of an earlier pass that interacts with a row of a later pass lies in a later
    tile; the skews are non-decreasing, and one row less at any pass where the skew grows makes
    such a pair appear (they are the least the rule allows). Over the 252 passes of a step the
    tile grid of 30 rows (`TILE_ROWS`) moves 105 rows along z and 147 along y (335 with 1 + d rows
    per pass)."""
    for n_sub, step, tile in itertools.product((1, 7), (0, 1), (1, 2, 3, 4, 5, 6, 7, 12, 48)):
        passes = [p for sub in range(n_sub) for p in S.pass_order(step, sub)]
        skews = S.pass_skews(np.array(passes), tile)
        assert (np.diff(skews, axis=0) >= 0).all()
        assert not _out_of_order_pairs(passes, skews, tile), (n_sub, step, tile)
        if n_sub == 1 and tile in (1, 6, 7):
            for q, axis in zip(*np.nonzero(np.diff(skews, axis=0) > 0)):
                less = skews.copy()
                less[q + 1:, axis] -= 1
                assert _out_of_order_pairs(passes, less, tile), (step, tile, q + 1, axis)
    full = [p for sub in range(7) for p in S.pass_order(0, sub)]
    assert S.pass_skews(np.array(full), S.TILE_ROWS)[-1].tolist() == [105, 147]


def test_an_unskewed_grid_changes_the_result(monkeypatch):
    """The skew is needed: tiles that hold the same rows in every pass run interacting pairs of
    neighbouring tiles out of pass order."""
    ref = _tile_results(monkeypatch, ((10 ** 6, 1),))[0]
    monkeypatch.setattr(S, "pass_skews", lambda passes, tile: np.zeros((len(passes), 2), dtype=np.int64))
    assert any(r != ref for r in _tile_results(monkeypatch, ((1, 1), (2, 1), (3, 1))))


def test_event_interface_and_low_temperature():
    """Proposed parameters: no sintering at 300 °C (< 1e-7 attempts per pair in 12 h, threshold
    exactly 0 for steps up to 1 min), some at 700 °C, ~1e3 attempts per pair in 6 h at 850 °C."""
    ev = Sintering(prefactor_per_s=3.4e10, activation_energy_kJ_per_mol=250.0, lattice_kT=2.0,
                   grain_boundary_energy=0.5)
    assert ev.mcs(300.0, 12 * 3600.0) < 1e-7
    assert not ev.thresholds(300.0, 60.0).any()
    assert ev.mcs(500.0, 3600.0) < 1e-2
    assert ev.mcs(600.0, 3600.0) < 0.3
    assert 1.0 < ev.mcs(700.0, 3600.0) < 30.0
    assert 500.0 < ev.mcs(850.0, 6 * 3600.0) < 5000.0
    assert ev.max_rate_per_s(850.0) == ev.rate_per_s(850.0)
    lat = mixed_lattice((6, 6, 6), seed=1)
    before = digest(lat)
    assert ev.cpu_pass(lat, 1, 0, ev.thresholds(300.0, 3600.0)) == dict.fromkeys(ev.COUNTERS, 0)
    assert digest(lat) == before
    out = ev.cpu_pass(lat, 1, 0, ev.thresholds(850.0, 1e5))
    assert set(out) == set(ev.COUNTERS) and out["sinter_swaps"] > 0
    with pytest.raises(ValueError):
        Sintering(1.0, 1.0, lattice_kT=-1.0)
    with pytest.raises(ValueError):
        Sintering(1.0, 1.0, grain_boundary_energy=2.5)


def test_from_params_reads_the_sintering_section():
    from kmc.params import ParameterSet

    data = {"sintering": {
        "prefactor": {"value": 3.4e10, "unit": "1/s", "source": "t"},
        "activation_energy": {"value": 250.0, "unit": "kJ/mol", "source": "t"},
        "lattice_kT": {"value": 2.0, "unit": "J", "source": "t"},
        "grain_boundary_energy": {"value": 0.5, "unit": "J", "source": "t"}}}
    ev = Sintering.from_params(ParameterSet.from_dict(data, "t"))
    assert ev == Sintering(3.4e10, 250.0, 2.0, 0.5)


# -- kinetics ---------------------------------------------------------------------------------

def test_two_small_pores_coalesce_or_leave():
    """Two 2-voxel pores 3 voxels apart inside a dense grain: after 300 steps at most one closed pore."""
    lat = dense_block(16, margin=2)
    c = 8
    for x0 in (c - 3, c + 2):
        sl = (c, c, slice(x0, x0 + 2))
        lat.phase[sl] = 0
        lat.tm[sl] = 0
        lat.grain[sl] = 0
    assert sorted(closed_pores(lat).tolist()) == [2, 2]
    run(lat, 300)
    assert len(closed_pores(lat)) <= 1


def test_isolated_pores_fall_in_number():
    """3 % single-voxel pores in a dense polycrystal: the number of closed pores falls steadily."""
    lat = dense_block(20, margin=2, grains=6, seed=2)
    rng = np.random.default_rng(3)
    holes = (rng.random(lat.shape) < 0.03) & (lat.phase != 0)
    for name in ("phase", "tm", "grain"):
        getattr(lat, name)[holes] = 0
    n0 = len(closed_pores(lat))
    counts = run(lat, 200, every=50, measure=lambda l: len(closed_pores(l)))
    assert n0 > 60
    assert counts[-1] < 0.5 * n0
    assert all(b <= a for a, b in zip([n0] + counts, counts))


def test_porous_compact_interface_area_falls():
    """Random 30 % pores in a dense polycrystal filling the box: the pore-solid face count falls
    (its means over windows of 10, 20, 40, 80 sub-steps decrease monotonically)."""
    lat = dense_block(20, margin=0, grains=8, seed=1)
    rng = np.random.default_rng(6)
    holes = rng.random(lat.shape) < 0.3
    for name in ("phase", "tm", "grain"):
        getattr(lat, name)[holes] = 0
    a0 = S.pore_solid_faces(lat)
    areas = np.array(run(lat, 150, every=1, measure=S.pore_solid_faces))
    windows = [areas[a:b].mean() for a, b in ((0, 10), (10, 30), (30, 70), (70, 150))]
    assert np.all(np.diff(windows) < 0), windows
    assert windows[-1] < 0.7 * a0


def test_core_shell_opens_a_central_void_small():
    """Finding 2, small: a 24^3 sphere, dense shell (2 voxels) around a half-filled rock-salt core
    (radius 8.5). The core consolidates, matter collects on the inside of the shell, the centre
    empties (1500 sub-steps, ~1000 attempts per pair)."""
    lat, r, core = core_shell(24, R=10.5, shell=2)
    t0, p0 = lat.totals(), phase_tm(lat)
    centre = r < 2.5
    near_shell = core & (r > 6.5)
    f0 = fill_fraction(lat)
    assert not (lat.phase[centre] == 0).any()
    run(lat, 1500)
    assert lat.totals() == t0 and phase_tm(lat) == p0
    f = fill_fraction(lat)
    assert (lat.phase[centre] == 0).mean() > 0.7
    assert f[near_shell].mean() > f0[near_shell].mean() + 0.2
    assert f[near_shell].mean() > f[centre].mean() + 0.5


# -- slow validation --------------------------------------------------------------------------

def _void_measures(lat, r, core):
    """(pore fraction at r < 3, inscribed radius of the largest empty ball in the core, its
    distance from the centre), voxels."""
    free = (lat.phase == 0) & core
    edt = ndimage.distance_transform_edt(free)
    k = np.unravel_index(int(np.argmax(edt)), edt.shape)
    return float(free[r < 3].mean()), float(edt[k]), float(r[k])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [5, 6])
def test_core_shell_central_void_grows_and_persists(seed):
    """Finding 2 on a 32^3 sphere (R = 14, shell 3, core radius 11): within 10500 sub-steps
    (~7300 attempts per pair) the core consolidates, the central agglomerate ripens away onto the
    shell and a void opens at the centre; once open it stays open and centred."""
    lat, r, core = core_shell(32, R=14.0, shell=3, grains=40, seed=seed)
    t0 = lat.totals()
    frac0, rad0, _ = _void_measures(lat, r, core)
    assert frac0 == 0.0 and rad0 == 0.0
    f0 = fill_fraction(lat)
    inner = core & (r > 8.0)
    hist = run(lat, 10500, seed=seed, every=700, measure=lambda l: _void_measures(l, r, core))
    assert lat.totals() == t0
    f = fill_fraction(lat)
    fracs = [h[0] for h in hist]
    opened = next((k for k, fr in enumerate(fracs) if fr > 0.9), None)
    assert opened is not None, hist
    assert all(fr > 0.9 for fr in fracs[opened:]), hist
    assert hist[-1][1] >= 4.5 and hist[-1][2] < 4.0, hist
    assert f[inner].mean() > f0[inner].mean() + 0.2


@pytest.mark.slow
def test_porous_compact_keeps_coarsening():
    """32^3 compact, 30 % pores, 20 grains: the pore-solid interface keeps falling over 1500
    sub-steps (window means over 50, 100, 200, 400, 750 sub-steps decrease) and the closed pores
    coalesce (fewer, larger)."""
    lat = dense_block(32, margin=0, grains=20, seed=4)
    rng = np.random.default_rng(9)
    holes = rng.random(lat.shape) < 0.3
    for name in ("phase", "tm", "grain"):
        getattr(lat, name)[holes] = 0
    a0 = S.pore_solid_faces(lat)
    n0 = len(closed_pores(lat))
    areas = np.array(run(lat, 1500, every=10, measure=S.pore_solid_faces))
    edges = [0, 5, 15, 35, 75, 150]
    windows = [areas[a:b].mean() for a, b in itertools.pairwise(edges)]
    assert np.all(np.diff(windows) < 0), windows
    assert windows[-1] < 0.5 * a0
    assert len(closed_pores(lat)) < 0.5 * n0
