"""Nucleation and growth of recrystallised layered grains: rule, invariants, JMAK kinetics."""

import math

import numba
import numpy as np
import pytest
from scipy import ndimage

from kmc.events.nucleation import (
    NEIGHBOURS,
    PHASE_PASS,
    PHI32,
    Nucleation,
    nucleation_step,
    recrystallised_fraction,
)
from kmc.params import ParameterSet
from kmc.rng import Stream, draw4, probability_threshold
from kmc.state import Lattice, Phase

N_PREC = 40


def layered_box(n: int, n_prec: int = 1) -> Lattice:
    """All-LAYERED (n, n, n) lattice in precursor grain 1 (tm = li = 73, disorder 100)."""
    lat = Lattice.empty((n, n, n))
    lat.phase[:] = Phase.LAYERED
    lat.grain[:] = 1
    lat.tm[:] = 73
    lat.li[:] = 73
    lat.disorder[:] = 100
    return lat


def mixed_lattice(n: int = 20, seed: int = 3) -> Lattice:
    """Random phases (70 % LAYERED), precursor grains 1..N_PREC, random li/tm/disorder/flags."""
    rng = np.random.default_rng(seed)
    shape = (n, n + 2, n + 5)
    lat = Lattice.empty(shape)
    lat.phase[:] = rng.choice([Phase.PORE, Phase.HYDROXIDE, Phase.ROCK_SALT, Phase.LAYERED, Phase.LIOH],
                              size=shape, p=[0.1, 0.05, 0.1, 0.7, 0.05]).astype(np.uint8)
    lat.grain[:] = rng.integers(1, N_PREC + 1, size=shape, dtype=np.int32)
    lat.grain[lat.phase == Phase.PORE] = 0
    lat.li[:] = rng.integers(0, 100, size=shape, dtype=np.uint8)
    lat.tm[:] = rng.integers(1, 100, size=shape, dtype=np.uint8)
    lat.disorder[:] = rng.integers(0, 256, size=shape, dtype=np.uint8)
    lat.flags[:] = (rng.random(shape) < 0.02).astype(np.uint8)     # a few Li-W-O (pinned) sites
    return lat


def event(I_dt: float = 0.0, G_dt: float = 0.0, **kw) -> Nucleation:
    """An event whose rates per second equal I_dt and G_dt (use dt = 1 s, T irrelevant: Ea = 0)."""
    return Nucleation(kw.pop("n_precursor_grains", N_PREC), I_dt, 0.0, G_dt, 0.0, **kw)


def run(ev: Nucleation, lat: Lattice, steps: int, seed: int = 11, first: int = 0) -> dict:
    totals = {c: 0 for c in ev.COUNTERS}
    for step in range(first, first + steps):
        for k, v in ev.cpu_pass(lat, seed, step, ev.thresholds(25.0, 1.0)).items():
            totals[k] += v
    return totals


def with_threads(n: int, fn):
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        return fn()
    finally:
        numba.set_num_threads(old)


# -- rates and thresholds --------------------------------------------------------------------

def test_rates_and_thresholds():
    ev = Nucleation(10, 1e9, 150.0, 2e8, 120.0)
    T_K = 600 + 273.15
    I = 1e9 * math.exp(-150e3 / (8.314462618 * T_K))
    G = 2e8 * math.exp(-120e3 / (8.314462618 * T_K))
    assert ev.nucleation_rate_per_s(600.0) == pytest.approx(I)
    assert ev.growth_rate_per_s(600.0) == pytest.approx(G)
    thr = ev.thresholds(600.0, 0.05)
    assert G * 0.05 < 1
    assert thr.dtype == np.uint64 and thr.shape == (3,)
    assert thr[0] == probability_threshold(1 - math.exp(-I * 0.05))
    assert thr[1] == probability_threshold(G * 0.05) and thr[2] == 0
    assert ev.max_rate_per_s(600.0) == pytest.approx(max(I, G))
    assert ev.SELF_CAPPED, "exact for any dt (up to 31 ticks per step): it does not limit the step"
    sat = Nucleation(10, 1e9, 150.0, 2e8, 120.0, mode="site_saturated", nucleus_density=0.01)
    assert sat.thresholds(600.0, 0.5)[0] == probability_threshold(0.01)
    assert sat.max_rate_per_s(600.0) == pytest.approx(G)
    thr = Nucleation(10, 1.0, 0.0, 3.25, 0.0).thresholds(25.0, 2.0)     # G dt = 6.5 ticks
    assert thr[2] == 6 and thr[1] == probability_threshold(0.5)
    assert Nucleation(10, 1.0, 0.0, 1e6, 0.0).thresholds(25.0, 1.0)[2] == 30, "at most 30 full ticks per step"


def test_from_params_and_validation():
    ps = ParameterSet.from_dict({"nucleation": {
        "nucleation_rate_prefactor": {"value": 8e31, "unit": "1/(m^3 s)", "source": "test"},
        "activation_energy": {"value": 200.0, "unit": "kJ/mol", "source": "test"},
        "growth_velocity_prefactor": {"value": 5.0, "unit": "m/s", "source": "test"},
        "growth_activation_energy": {"value": 150.0, "unit": "kJ/mol", "source": "test"}}}, "test")
    ev = Nucleation.from_params(ps, n_precursor_grains=7, voxel_nm=50.0, mode="site_saturated", nucleus_density=0.1)
    assert (ev.n_precursor_grains, ev.growth_activation_energy_kJ_per_mol) == (7, 150.0)
    # per voxel: I = I_v h^3, G = v / h, so halving h divides I by 8 and doubles G
    assert ev.prefactor_per_s == pytest.approx(8e31 * (50e-9) ** 3) and ev.growth_prefactor_per_s == pytest.approx(1e8)
    fine = Nucleation.from_params(ps, n_precursor_grains=7, voxel_nm=25.0)
    assert fine.prefactor_per_s == pytest.approx(ev.prefactor_per_s / 8) and fine.growth_prefactor_per_s == pytest.approx(2e8)
    assert ev.mode == "site_saturated"
    with pytest.raises(ValueError):
        Nucleation(1, 1.0, 0.0, 1.0, 0.0, mode="bogus")
    with pytest.raises(ValueError):
        Nucleation(1, 1.0, 0.0, 1.0, 0.0, mode="site_saturated", nucleus_density=1.5)
    lat = layered_box(4)
    with pytest.raises(ValueError, match="overflow int32"):
        nucleation_step(lat.phase, lat.grain, 2**31 - 10, 1, 0, np.zeros(3, np.uint64))
    with pytest.raises(TypeError):
        nucleation_step(lat.phase, lat.grain.astype(np.int64), 1, 1, 0, np.zeros(3, np.uint64))


# -- invariants ------------------------------------------------------------------------------

def test_only_layered_unrecrystallised_voxels_change_grain_and_other_fields_are_untouched():
    lat = mixed_lattice()
    before = lat.copy()
    totals = run(event(0.01, 0.3), lat, 12)
    assert totals["rx_nuclei"] > 0 and totals["rx_grown"] > 0
    changed = lat.grain != before.grain
    assert changed.sum() == totals["rx_nuclei"] + totals["rx_grown"]
    assert np.all(before.phase[changed] == Phase.LAYERED)
    assert np.all(before.grain[changed] <= N_PREC), "a recrystallised voxel never changes grain"
    assert np.all(lat.grain[changed] > N_PREC)
    assert lat.grain.min() >= 0, "no transient negative id survives the step"
    for name in ("phase", "li", "tm", "disorder", "flags"):
        assert np.array_equal(getattr(lat, name), getattr(before, name)), name
    assert lat.totals() == before.totals()
    assert recrystallised_fraction(lat.phase, lat.grain, N_PREC) == pytest.approx(
        changed.sum() / (lat.phase == Phase.LAYERED).sum())


def test_new_ids_are_the_nucleus_site_and_unique():
    lat = mixed_lattice()
    totals = run(event(0.02, 0.0), lat, 3)
    new = np.flatnonzero(lat.grain.reshape(-1) > N_PREC)
    assert len(new) == totals["rx_nuclei"] > 20
    ids = lat.grain.reshape(-1)[new]
    assert np.array_equal(ids, N_PREC + 1 + new), "grain id = n_precursor + 1 + site"
    assert len(np.unique(ids)) == len(ids)


def test_every_grain_is_connected_and_contains_its_nucleus():
    lat = mixed_lattice(n=24)
    run(event(0.003, 0.4), lat, 25)
    flat = lat.grain.reshape(-1)
    ids = np.unique(flat[flat > N_PREC])
    assert len(ids) > 10
    for g in ids:
        assert flat[g - N_PREC - 1] == g, "the nucleus site keeps its grain"
        _, n_parts = ndimage.label(lat.grain == g, structure=np.ones((3, 3, 3)))
        assert n_parts == 1, f"grain {g} is not 26-connected"


def test_same_bits_on_one_and_two_threads():
    def go():
        lat = mixed_lattice(n=22)
        run(event(0.004, 0.35), lat, 15)
        return lat.grain.copy()

    assert np.array_equal(with_threads(1, go), with_threads(2, go))


def test_site_saturated_nucleates_only_at_the_saturation_step():
    lat = layered_box(30)
    ev = event(0.0, 0.0, n_precursor_grains=1, mode="site_saturated", nucleus_density=0.01, saturation_step=2)
    counts = [ev.cpu_pass(lat, 5, s, ev.thresholds(25.0, 1.0))["rx_nuclei"] for s in range(5)]
    assert counts[0] == counts[1] == counts[3] == counts[4] == 0
    n = 30**3
    assert abs(counts[2] - 0.01 * n) < 5 * math.sqrt(0.01 * 0.99 * n)


def test_constant_nucleation_probability_per_step():
    lat = layered_box(40)
    I_dt = 0.02
    nuclei = run(event(I_dt, 0.0, n_precursor_grains=1), lat, 1)["rx_nuclei"]
    n, p = 40**3, 1 - math.exp(-I_dt)
    assert abs(nuclei - p * n) < 5 * math.sqrt(p * (1 - p) * n)


# -- the growth rule -------------------------------------------------------------------------

def single_nucleus(n: int) -> tuple[Lattice, int, tuple[int, int, int]]:
    lat = layered_box(n)
    c = (n // 2, n // 2 - 1, n // 2 + 1)
    site = (c[0] * n + c[1]) * n + c[2]
    lat.grain[c] = 1 + 1 + site
    return lat, 1 + 1 + site, c


def test_a_grain_that_ticks_every_step_is_the_digital_ball_of_radius_ticks():
    lat, g, c = single_nucleus(21)
    run(event(0.0, 1.0, n_precursor_grains=1), lat, 7)
    zz, yy, xx = np.indices(lat.shape)
    d2 = (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2
    assert np.array_equal(lat.grain == g, d2 <= 7**2)


def test_tick_count_is_the_integral_of_G_dt_within_one():
    # a grain ticks in step s iff (u_g + s PHI) mod 2^32 < thr: a low-discrepancy count
    # (an iid draw per step would give errors of sqrt(G_dt * length), 11 at length 1766)
    G_dt = 0.07
    thr = int(probability_threshold(G_dt))
    errors = []
    for site in range(0, 5000, 97):
        u = int(draw4(11, 0, PHASE_PASS, site, int(Stream.NUCLEATION))[0])
        s = np.arange(3000, dtype=np.uint64)
        hits = np.cumsum(((np.uint64(u) + s * np.uint64(PHI32)) & np.uint64(0xFFFFFFFF)) < np.uint64(thr))
        for start in (0, 500, 1234):
            for length in (10, 100, 1000, 1766):
                count = hits[start + length - 1] - (hits[start - 1] if start else 0)
                errors.append(count - G_dt * length)
    errors = np.array(errors)
    assert np.abs(errors).max() < 3.0
    assert np.sqrt(np.mean(errors**2)) < 0.8
    # and the lattice: after the steps, the grain is the ball of radius (its tick count)
    lat, g, c = single_nucleus(27)
    steps = 150
    run(event(0.0, G_dt, n_precursor_grains=1), lat, steps)
    u = int(draw4(11, 0, PHASE_PASS, g - 2, int(Stream.NUCLEATION))[0])
    ticks = sum(((u + s * PHI32) & 0xFFFFFFFF) < thr for s in range(steps))
    assert abs(ticks - G_dt * steps) < 3.0
    zz, yy, xx = np.indices(lat.shape)
    d2 = (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2
    assert np.array_equal(lat.grain == g, d2 <= ticks**2)


def test_growth_wraps_around_obstacles_and_consumes_the_connected_layered_region():
    rng = np.random.default_rng(9)
    lat, g, c = single_nucleus(24)
    block = rng.random(lat.shape) < 0.25
    block[c] = False
    lat.phase[block] = Phase.ROCK_SALT
    lat.phase[8:16, 5:19, 15] = Phase.PORE          # a wall beside the nucleus
    run(event(0.0, 1.0, n_precursor_grains=1), lat, 60)
    layered = lat.phase == Phase.LAYERED
    labels, _ = ndimage.label(layered, structure=np.ones((3, 3, 3)))
    reachable = labels == labels[c]
    assert np.array_equal(lat.grain == g, reachable)


def test_two_grains_share_the_box_without_leftovers():
    lat = layered_box(20)
    sites = []
    for c in ((5, 5, 5), (14, 13, 12)):
        site = (c[0] * 20 + c[1]) * 20 + c[2]
        lat.grain[c] = 2 + site
        sites.append(2 + site)
    run(event(0.0, 1.0, n_precursor_grains=1), lat, 40)
    assert set(np.unique(lat.grain)) == set(sites)
    # each voxel went to a nearest nucleus, up to ties and the lattice discreteness of one tick
    zz, yy, xx = np.indices(lat.shape)
    d = [np.sqrt((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2) for c in ((5, 5, 5), (14, 13, 12))]
    own = np.where(lat.grain == sites[0], d[0], d[1])
    assert np.all(own <= np.minimum(d[0], d[1]) + 1.0 + 1e-9)


def python_reference_sub_step(phase, grain, flags, n_prec, seed, step, thr_nuc, thr_tick, m=0):
    """One sub-step m of the documented rule in plain Python (synchronous: decisions see the
    grains at the start of the sub-step); thr_tick None: every grain ticks (full sub-step)."""
    nz, ny, nx = phase.shape
    coated = (flags & 1) != 0
    pinned = coated.copy()                 # W_COATED on the site or on an in-box face neighbour
    for ax in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax], hi[ax] = slice(0, -1), slice(1, None)
        pinned[tuple(lo)] |= coated[tuple(hi)]
        pinned[tuple(hi)] |= coated[tuple(lo)]
    n = phase.size
    old = grain.copy()
    new = grain.copy()

    def member(z, y, x):
        return phase[z, y, x] == Phase.LAYERED and old[z, y, x] > n_prec

    def ticks(g):
        if thr_tick is None:
            return True
        u = int(draw4(seed, 0, PHASE_PASS, g - n_prec - 1, int(Stream.NUCLEATION))[0])
        return ((u + (step & 0xFFFFFFFF) * PHI32) & 0xFFFFFFFF) < thr_tick

    def ceil_sqrt(v):
        return math.isqrt(v - 1) + 1 if v > 0 else 0

    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                if phase[z, y, x] != Phase.LAYERED or old[z, y, x] > n_prec or pinned[z, y, x]:
                    continue
                i = (z * ny + y) * nx + x
                colour = 4 * (z % 2) + 2 * (y % 2) + (x % 2)
                r0, r1, _, _ = (int(v) for v in draw4(seed, step, 8 * m + colour, i, int(Stream.NUCLEATION)))
                if r0 < thr_nuc:
                    new[z, y, x] = n_prec + 1 + i
                    continue
                if thr_tick == 0:
                    continue
                nbrs = [(z + dz, y + dy, x + dx) for dz, dy, dx in NEIGHBOURS
                        if 0 <= z + dz < nz and 0 <= y + dy < ny and 0 <= x + dx < nx]
                grains = []
                for p in nbrs:
                    if member(*p) and old[p] not in grains:
                        grains.append(int(old[p]))
                eligible = []
                for g in grains:
                    if not ticks(g):
                        continue
                    s = g - n_prec - 1
                    cz, cy, cx = s // (nx * ny), (s // nx) % ny, s % nx
                    D = (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2
                    mem = [p for p in nbrs if member(*p) and old[p] == g]
                    M = max((p[0] - cz) ** 2 + (p[1] - cy) ** 2 + (p[2] - cx) ** 2 for p in mem)
                    closer = any(phase[p] == Phase.LAYERED and old[p] <= n_prec
                                 and (p[0] - cz) ** 2 + (p[1] - cy) ** 2 + (p[2] - cx) ** 2 < D for p in nbrs)
                    if not closer or ceil_sqrt(D) <= ceil_sqrt(M) + 1:
                        eligible.append(g)
                if eligible:
                    new[z, y, x] = eligible[(r1 * len(eligible)) >> 32]
    assert n_prec + n < 2**31
    return new


def python_reference_step(phase, grain, flags, n_prec, seed, step, thr_nuc, thr_frac, n_full):
    grain = python_reference_sub_step(phase, grain, flags, n_prec, seed, step, thr_nuc, thr_frac)
    for m in range(1, n_full + 1):
        new = python_reference_sub_step(phase, grain, flags, n_prec, seed, step, 0, None, m)
        if np.array_equal(new, grain):
            break
        grain = new
    return grain


def assert_steps_match_the_reference(lat: Lattice, thr: np.ndarray, seed: int, steps: int) -> None:
    """nucleation_step on lat, step after step, gives the grains of `python_reference_step`."""
    for step in range(steps):
        expected = python_reference_step(lat.phase, lat.grain, lat.flags, N_PREC, seed, step, int(thr[0]),
                                         int(thr[1]), int(thr[2]))
        nucleation_step(lat.phase, lat.grain, N_PREC, seed, step, thr, flags=lat.flags)
        assert np.array_equal(lat.grain, expected), f"step {step}"


@pytest.mark.parametrize("G_dt", [0.6, 2.3])
def test_kernel_matches_the_python_reference(G_dt):
    lat = mixed_lattice(n=9, seed=5)
    assert_steps_match_the_reference(lat, Nucleation(N_PREC, 0.03, 0.0, G_dt, 0.0).thresholds(25.0, 1.0), 21, 6)
    assert (lat.grain > N_PREC).sum() > 50


def test_kernel_matches_the_python_reference_where_rows_are_partly_empty():
    """A row is looked at only between its unrecrystallised voxels: a lattice whose layered
    material is a ball in pores (rows empty, half empty, or with gaps) gives the reference's grains."""
    lat = mixed_lattice(n=14, seed=8)
    z, y, x = np.indices(lat.shape)
    outside = (z - 6.5) ** 2 + (y - 8) ** 2 + (x - 9) ** 2 > 6.2 ** 2
    lat.phase[outside], lat.grain[outside] = Phase.PORE, 0
    assert_steps_match_the_reference(lat, Nucleation(N_PREC, 0.05, 0.0, 1.7, 0.0).thresholds(25.0, 1.0), 4, 5)
    assert (lat.grain > N_PREC).sum() > 100


def test_a_coated_boundary_stops_the_recrystallisation_front():
    """Two precursor grains meet at the plane x = 12; a nucleus grows in grain 1 (x < 12). With
    Li-W-O on grain 1's boundary voxels (x = 11) the front stops at the pinned layer x = 10..12
    and grain 2 stays unrecrystallised; without the coating it consumes both grains."""
    results = {}
    for coated in (False, True):
        lat = layered_box(24, n_prec=2)
        lat.grain[:, :, 12:] = 2
        if coated:
            lat.flags[:, :, 11] = 1
        c = (12, 12, 4)
        site = (c[0] * 24 + c[1]) * 24 + c[2]
        lat.grain[c] = 3 + site
        run(event(0.0, 1.0, n_precursor_grains=2), lat, 40)
        results[coated] = lat.grain
    assert np.all(results[False] == 3 + (12 * 24 + 12) * 24 + 4), "uncoated: one grain takes the box"
    g = results[True]
    assert np.all(g[:, :, :10] > 2), "coated: grain 1 recrystallises up to the pinned layer"
    assert np.all(g[:, :, 10:13] <= 2) and np.all(g[:, :, 13:] == 2), "and the front does not cross it"


def test_several_ticks_per_step_keep_the_front_velocity():
    lat, g, c = single_nucleus(41)
    G_dt, steps = 3.4, 5
    run(event(0.0, G_dt, n_precursor_grains=1), lat, steps)
    u = int(draw4(11, 0, PHASE_PASS, g - 2, int(Stream.NUCLEATION))[0])
    thr = int(probability_threshold(0.4))
    ticks = 3 * steps + sum(((u + s * PHI32) & 0xFFFFFFFF) < thr for s in range(steps))
    zz, yy, xx = np.indices(lat.shape)
    d2 = (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2
    assert np.array_equal(lat.grain == g, d2 <= ticks**2)
    # a very fast front fills the box in one step and stops its sub-steps early
    lat, g, _ = single_nucleus(16)
    assert run(event(0.0, 1e4, n_precursor_grains=1), lat, 1)["rx_grown"] == 16**3 - 1
    assert np.all(lat.grain == g)


# -- JMAK (Avrami) kinetics ------------------------------------------------------------------

def avrami_exponent(L: int, ev: Nucleation, margin: int, seed: int = 1, max_steps: int = 2000):
    """Run an all-layered L^3 box, dt = 1 s, until 90 % of the interior has recrystallised.

    Returns (n_interior, n_box, nuclei): slopes of ln(-ln(1 - X)) vs ln t over 0.05 <= X <= 0.7,
    with X measured in the interior (a margin of ``margin`` voxels left out: the box is not
    periodic and a voxel near a face has no nuclei beyond it) and in the whole box.
    """
    lat = layered_box(L)
    inner = (slice(margin, L - margin),) * 3
    t, x_in, x_box, nuclei = [], [], [], 0
    for step in range(max_steps):
        nuclei += ev.cpu_pass(lat, seed, step, ev.thresholds(25.0, 1.0))["rx_nuclei"]
        t.append(step + 1.0)
        x_in.append((lat.grain[inner] > 1).mean())
        x_box.append((lat.grain > 1).mean())
        if x_in[-1] > 0.9:
            break
    t = np.log(np.array(t))

    def slope(x):
        x = np.array(x)
        m = (x >= 0.05) & (x <= 0.7)
        assert m.sum() >= 20, "too few points in the fit range"
        return float(np.polyfit(t[m], np.log(-np.log(1 - x[m])), 1)[0])

    return slope(x_in), slope(x_box), nuclei


@pytest.mark.slow
def test_avrami_exponent_site_saturated_is_3():
    ev = event(0.0, 0.1, n_precursor_grains=1, mode="site_saturated", nucleus_density=1.5e-4)
    n_in, n_box, nuclei = avrami_exponent(128, ev, margin=12)
    print(f"site-saturated: n = {n_in:.3f} (interior), {n_box:.3f} (box), {nuclei} nuclei")
    assert nuclei > 200
    assert abs(n_in - 3.0) <= 0.3
    assert abs(n_box - 3.0) <= 0.3


@pytest.mark.slow
def test_avrami_exponent_constant_nucleation_is_4():
    ev = event(1.15e-5, 0.1, n_precursor_grains=1)
    n_in, n_box, nuclei = avrami_exponent(96, ev, margin=8)
    print(f"constant nucleation: n = {n_in:.3f} (interior), {n_box:.3f} (box), {nuclei} nuclei")
    assert nuclei > 500
    assert abs(n_in - 4.0) <= 0.4
    assert abs(n_box - 4.0) <= 0.4
