"""Li hops: the rule against a Python reference, exact invariants, tracer MSD = 6 D t,
boundary/bulk contrast, detailed balance, determinism, and (slow) the rate-cap convergence."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmc.events.li_hop import (
    CDF_ENTRIES,
    ENV_BOUNDARY,
    ENV_EXPOSED,
    MEDIA,
    HopTables,
    LiHop,
    Medium,
    binomial_cdf_table,
    binomial_guide_table,
    capacity,
    diffusivity_from_hop_rate,
    environment,
    hop_probability,
    hop_rate_from_diffusivity,
    hop_rate_from_probability,
    hop_step,
    kind_table,
    melt_capacity_q,
    source_capacity_q,
)
from kmc.rng import Stream, draw4
from kmc.state import Lattice, Phase, dense_li_quanta_per_voxel

H_NM = 50.0
H2 = (H_NM * 1e-9) ** 2
TM_PHASES = (Phase.HYDROXIDE, Phase.ROCK_SALT, Phase.LAYERED)


def approx(expected, rel=1e-9):
    """pytest.approx without its absolute tolerance (1e-12 would swallow every m^2/s value)."""
    return pytest.approx(expected, rel=rel, abs=0)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny lattices, many steps: thread start-up would dominate, so run on one thread.
    Results do not depend on it (test_same_bits_on_one_and_two_threads)."""
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


def event_for(p: dict | float, dt_s: float = 1.0, cap: float = 0.5, excess: int = 8) -> LiHop:
    """An event whose per-pass probabilities at any T (Ea = 0) and ``dt_s`` are ``p`` (dict by medium or one value)."""
    p = {m: p for m in MEDIA} if not isinstance(p, dict) else {m: p.get(m, 0.0) for m in MEDIA}
    D0 = {m: diffusivity_from_hop_rate(hop_rate_from_probability(v, dt_s), H_NM) for m, v in p.items()}
    return LiHop.from_media(D0, voxel_nm=H_NM, capacity_excess_q=excess, max_hop_probability=cap)


def uniform_lattice(shape, phase=Phase.LAYERED, tm=200, grain=1) -> Lattice:
    lat = Lattice.empty(shape)
    lat.phase[:] = phase
    if phase in TM_PHASES:
        lat.tm[:] = tm
        lat.grain[:] = grain
    return lat


def random_lattice(rng: np.random.Generator, shape, phases=tuple(Phase), n_grains=3, fill=0.5, excess=8) -> Lattice:
    """Mixed phases and grains; Li within capacity in mobile voxels, arbitrary in sources."""
    lat = Lattice.empty(shape)
    lat.phase[:] = rng.choice(np.array([int(p) for p in phases], dtype=np.uint8), size=shape)
    tmv = np.isin(lat.phase, [int(p) for p in TM_PHASES])
    lat.tm[tmv] = rng.integers(1, 90, size=int(tmv.sum()))
    lat.grain[tmv] = rng.integers(1, n_grains + 1, size=int(tmv.sum()))
    cap = capacity(lat.phase, lat.tm, excess)
    lat.li[:] = np.minimum(rng.random(shape) * fill * (cap + 1), 255).astype(np.uint8)
    src = np.isin(lat.phase, [int(Phase.LIOH_H2O), int(Phase.LIOH), int(Phase.LI2CO3)])
    lat.li[src] = rng.integers(0, 92, size=int(src.sum()))
    lat.flags[:] = rng.integers(0, 2, size=shape)
    lat.disorder[:] = rng.integers(0, 256, size=shape)
    return lat


# -- a Python reference of the rule, written from the module docstring ---------------------------
def ref_environment(phase, grain):
    kind = kind_table()
    env = np.zeros(phase.shape, dtype=np.uint8)
    nz, ny, nx = phase.shape
    for z, y, x in np.ndindex(phase.shape):
        if kind[phase[z, y, x]] != 1:
            continue
        for dz, dy, dx in ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)):
            a, b, c = z + dz, y + dy, x + dx
            if not (0 <= a < nz and 0 <= b < ny and 0 <= c < nx):
                continue
            if phase[a, b, c] in (Phase.PORE, Phase.LIOH_MELT):
                env[z, y, x] |= ENV_EXPOSED
            elif kind[phase[a, b, c]] == 1 and grain[a, b, c] != grain[z, y, x]:
                env[z, y, x] |= ENV_BOUNDARY
    return env


BULK = {Phase.LAYERED: Medium.LAYERED, Phase.ROCK_SALT: Medium.ROCK_SALT, Phase.HYDROXIDE: Medium.HYDROXIDE}


def ref_medium(thr, phase, grain, env, a, b):
    """Medium of the pair (a, b) (index tuples) or None when Li cannot hop between them."""
    pa, pb = Phase(phase[a]), Phase(phase[b])
    if Phase.LIOH in (pa, pb):   # solid LiOH: only with solid LiOH (to TM: the li_source release)
        return Medium.SOURCE if pa == pb else None
    melt_a, melt_b = pa == Phase.LIOH_MELT, pb == Phase.LIOH_MELT
    if not ((pa in BULK or melt_a) and (pb in BULK or melt_b)):
        return None
    if melt_a and melt_b:
        return Medium.MELT
    if melt_a or melt_b:
        return None              # melt - TM: the li_source release, one way; no hop
    slower = min((BULK[pa], BULK[pb]), key=lambda m: (thr[m], m))
    open_paths = [slower]
    if grain[a] != grain[b] or (env[a] & ENV_BOUNDARY and env[b] & ENV_BOUNDARY):
        open_paths.append(Medium.GRAIN_BOUNDARY)
    if env[a] & ENV_EXPOSED and env[b] & ENV_EXPOSED:
        open_paths.append(Medium.SURFACE)
    return max(open_paths, key=lambda m: thr[m])  # first of equals: bulk before boundary before surface


def ref_binomial(n, u, table):
    row = table[n * (n - 1) // 2: n * (n - 1) // 2 + n]
    return int(np.searchsorted(row, np.uint64(u), side="right"))


def ref_step(lat: Lattice, seed: int, step: int, tables: HopTables, capacity_excess: int) -> None:
    thr = [int(t) for t in tables.threshold]
    env = ref_environment(lat.phase, lat.grain)
    cap = capacity(lat.phase, lat.tm, capacity_excess)
    shape = lat.shape
    for axis in range(3):
        for parity in range(2):
            for i in np.ndindex(shape):
                if i[axis] % 2 != parity or i[axis] + 1 >= shape[axis]:
                    continue
                j = tuple(c + (d == axis) for d, c in enumerate(i))
                m = ref_medium(thr, lat.phase, lat.grain, env, i, j)
                ni, nj = int(lat.li[i]), int(lat.li[j])
                if m is None or thr[m] == 0 or ni + nj == 0:
                    continue
                t = (i[axis] - parity) // 2                   # pairs 2u and 2u + 1 share the draw of 2u
                key = tuple(c - 2 * (t % 2) * (d == axis) for d, c in enumerate(i))
                r = draw4(seed, step, 2 * axis + parity, int(np.ravel_multi_index(key, shape)), int(Stream.LI_HOP))
                ra, rb = (r[0], r[1]) if t % 2 == 0 else (r[2], r[3])
                net = ref_binomial(ni, ra, tables.cdf[m]) - ref_binomial(nj, rb, tables.cdf[m])
                ni2, nj2 = ni - net, nj + net
                if net != 0 and (ni2 <= cap[i] or ni2 <= ni) and (nj2 <= cap[j] or nj2 <= nj):
                    lat.li[i], lat.li[j] = ni2, nj2
                    for v in (i, j):                   # an emptied solid source becomes a pore
                        if m == Medium.SOURCE and lat.li[v] == 0:
                            lat.phase[v] = Phase.PORE
                            cap[v] = 0


# -- tables and relations -------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.0, 1e-6, 0.01, 0.1, 0.25, 0.5])
def test_binomial_table_is_the_binomial_cdf(p):
    from scipy.stats import binom

    thr = round(p * 2**32)
    table = binomial_cdf_table(thr)
    assert table.shape == (CDF_ENTRIES,) and table.dtype == np.uint64
    for n in (1, 2, 7, 64, 91, 200, 255):
        row = table[n * (n - 1) // 2: n * (n - 1) // 2 + n].astype(np.float64)
        expected = binom.cdf(np.arange(n), n, thr / 2**32) * 2**32
        assert np.all(np.abs(row - expected) <= 1.0), n
        assert np.all(np.diff(row) >= 0) and row[-1] <= 2**32


@pytest.mark.parametrize("p", [1e-6, 0.01, 0.25, 0.5])
def test_guided_binomial_draw_equals_the_cdf_rule(p):
    """The CPU draw starts its scan at the guide entry of u's bucket; it must give K = #{cdf <= u}
    (the rule the CUDA kernel scans from floor(n p)) for every n, at bucket edges and in between."""
    from kmc.events.li_hop import GUIDE_SHIFT, _binomial

    thr = round(p * 2**32)
    cdf = binomial_cdf_table(thr)
    guide = binomial_guide_table(cdf)
    rng = np.random.default_rng(7)
    edges = (np.arange(256, dtype=np.uint64) << np.uint64(GUIDE_SHIFT))
    us = np.concatenate([edges, edges - np.uint64(1), rng.integers(0, 2**32, 512, dtype=np.uint64)])
    us = us[us < 2**32]
    cdf2, guide2 = cdf[None, :], guide[None, :, :]
    for n in (0, 1, 2, 7, 91, 200, 255):
        row = cdf[n * (n - 1) // 2: n * (n - 1) // 2 + n]
        for u in us:
            assert _binomial(n, np.uint64(u), cdf2, guide2, 0) == np.searchsorted(row, u, side="right"), (n, int(u))


def test_rates_probabilities_and_diffusivities_are_consistent():
    ev = LiHop.from_media({m: 1e-6 * (k + 1) for k, m in enumerate(MEDIA)}, {m: 80.0 + 10 * k for k, m in enumerate(MEDIA)},
                          voxel_nm=H_NM, max_hop_probability=0.25)
    T = 300.0
    D = ev.diffusivity_m2_per_s("grain_boundary", T)
    assert D == approx(5e-6 * math.exp(-120e3 / (8.314462618 * 573.15)))
    assert ev.temperature_C_for_diffusivity("grain_boundary", D) == approx(T)
    assert ev.hop_rate_per_s(Medium.GRAIN_BOUNDARY, T) == approx(D / H2)
    assert hop_rate_from_diffusivity(diffusivity_from_hop_rate(3.0, H_NM), H_NM) == approx(3.0)
    for w_dt in (1e-4, 0.1, 1.0, 30.0):
        p = hop_probability(w_dt, 1.0)
        assert hop_rate_from_probability(p, 1.0) == approx(w_dt)
    # the cap: media faster than p_cap run at p_cap, and are reported with their effective D
    w = {m: ev.hop_rate_per_s(m, T) for m in Medium}
    dt = ev.max_uncapped_dt_s("layered", T)
    assert hop_probability(w[Medium.LAYERED], dt) == approx(0.25)
    capped = ev.capped_media(T, 2 * dt)
    assert set(capped) == {m.name.lower() for m in Medium if w[m] > 0.5 * w[Medium.LAYERED]}
    assert "layered" in capped and "melt" not in capped
    for D_true, D_eff in capped.values():
        assert D_eff == approx(diffusivity_from_hop_rate(hop_rate_from_probability(0.25, 2 * dt), H_NM))
        assert D_eff < D_true
    p = ev.hop_probabilities(T, 2 * dt)
    assert p.max() == 0.25 and ev.probability(T, 2 * dt) == 0.25
    assert ev.max_rate_per_s(T) == max(w.values())
    # the step limit: every medium either uncapped, or capped but still spreading over 3 L within t
    L, t_react = 2e-6, 600.0

    def ok(dt, sel):
        for m in sel:
            capped_m = hop_probability(w[m], dt) > 0.25 * (1 + 1e-12)
            if capped_m and math.sqrt(2 * ev.effective_diffusivity_m2_per_s(m, T, dt) * t_react) < 3 * L * (1 - 1e-9):
                return False
        return True

    for media in (None, ("layered", "rock_salt"), ("melt", "surface")):
        sel = [Medium[m.upper()] for m in media] if media else list(Medium)
        dt_max = ev.max_dt_s(T, L, t_react, media=media)
        assert ok(dt_max, sel) and not ok(dt_max * 1.01, sel)
    assert ev.effective_diffusivity_m2_per_s("layered", T, 0.5 * dt) == approx(ev.diffusivity_m2_per_s("layered", T))


def test_from_params_scales_boundary_and_surface_by_their_width():
    from kmc.params import ParameterSet

    section = {f"diffusivity_prefactor_{m}": {"value": 1e-6, "unit": "m^2/s", "source": "test"} for m in MEDIA}
    section |= {f"activation_energy_{m}": {"value": 100.0, "unit": "kJ/mol", "source": "test"} for m in MEDIA}
    section |= {"grain_boundary_width": {"value": 1.0, "unit": "nm", "source": "test"},
                "surface_width": {"value": 0.5, "unit": "nm", "source": "test"},
                "capacity_excess": {"value": 6, "unit": "quanta", "source": "test"}}
    ev = LiHop.from_params(ParameterSet.from_dict({"li_hop": section}, "t"), voxel_nm=25.0)
    D0 = dict(zip(MEDIA, ev.diffusivity_prefactor_m2_per_s))
    assert D0["layered"] == D0["melt"] == 1e-6
    assert D0["grain_boundary"] == approx(1e-6 * 1.0 / 50.0)
    assert D0["surface"] == approx(1e-6 * 0.5 / 25.0)
    assert ev.capacity_excess_q == 6 and ev.voxel_nm == 25.0
    assert set(LiHop.PARAMETERS) == set(section)


def test_capacity_rule():
    phase = np.array([p for p in Phase], dtype=np.uint8)
    tm = np.full(phase.shape, 60, dtype=np.uint8)
    cap = dict(zip(Phase, capacity(phase, tm, 8)))
    assert cap[Phase.LAYERED] == cap[Phase.ROCK_SALT] == cap[Phase.HYDROXIDE] == 68
    assert cap[Phase.LIOH_MELT] == melt_capacity_q() == 91
    assert cap[Phase.LIOH] == source_capacity_q() == dense_li_quanta_per_voxel("LiOH") == 91
    assert cap[Phase.PORE] == cap[Phase.LIOH_H2O] == cap[Phase.LI2CO3] == 0
    assert capacity(np.array([Phase.LAYERED], np.uint8), np.array([250], np.uint8), 8)[0] == 255


def test_cpu_pass_takes_the_per_medium_thresholds():
    ev = event_for({"layered": 0.2, "melt": 0.4})
    thr = ev.thresholds(500.0, 1.0)
    assert thr.dtype == np.uint64 and thr.shape == (7,) and thr[Medium.MELT] == round(0.4 * 2**32)
    a = random_lattice(np.random.default_rng(3), (6, 6, 6), phases=(Phase.LAYERED, Phase.LIOH_MELT))
    b = a.copy()
    assert ev.cpu_pass(a, 1, 0, thr) == {}
    hop_step(b, 1, 0, ev.step_tables(500.0, 1.0))
    assert np.array_equal(a.li, b.li) and a.totals() == b.totals()
    with pytest.raises(ValueError, match="thresholds"):
        ev.cpu_pass(a, 1, 0, np.zeros(1, np.uint64))
    assert not event_for(0.0).thresholds(500.0, 1.0).any()
    assert not event_for(0.0).step_tables(500.0, 1.0)


# -- the medium rule --------------------------------------------------------------------------
def test_environment_flags_and_pair_media():
    lat = uniform_lattice((3, 3, 6))
    lat.grain[:, :, 3:] = 2                       # boundary between x = 2 and x = 3
    lat.phase[1, 1, 0] = Phase.PORE               # a pore at the x = 0 face
    lat.phase[0, 0, 5] = Phase.LIOH_MELT
    lat.phase[0, 1, 5] = Phase.LIOH_MELT
    lat.phase[2, 2, 4] = Phase.LIOH
    env = environment(lat)
    assert np.array_equal(env, ref_environment(lat.phase, lat.grain))
    assert env[1, 1, 1] & ENV_EXPOSED and env[0, 1, 0] & ENV_EXPOSED and not env[0, 0, 0] & ENV_EXPOSED
    assert np.all(env[..., 2] & ENV_BOUNDARY) and np.all(env[..., 3][lat.phase[..., 3] == Phase.LAYERED] & ENV_BOUNDARY)
    assert not np.any(env[..., 1] & ENV_BOUNDARY)
    thr = [int(t) for t in event_for({"layered": 0.001, "rock_salt": 0.0001, "hydroxide": 0.0005, "melt": 0.4,
                                      "grain_boundary": 0.2, "surface": 0.3}).step_tables(0, 1).threshold]
    med = lambda a, b: ref_medium(thr, lat.phase, lat.grain, env, a, b)
    assert med((0, 0, 0), (1, 0, 0)) == Medium.LAYERED                     # bulk
    assert med((0, 0, 2), (0, 0, 3)) == Medium.GRAIN_BOUNDARY              # across the boundary
    assert med((0, 0, 2), (1, 0, 2)) == Medium.GRAIN_BOUNDARY              # along it
    assert med((0, 1, 0), (0, 2, 0)) == Medium.LAYERED                     # one exposed voxel only
    assert med((1, 0, 0), (1, 1, 0)) is None                               # into the pore
    assert med((1, 1, 1), (0, 1, 1)) == Medium.LAYERED
    assert med((0, 0, 5), (0, 1, 5)) == Medium.MELT
    assert med((0, 0, 4), (0, 0, 5)) is None                               # melt - solid: release, not a hop
    assert med((2, 2, 3), (2, 2, 4)) is None                               # solid source: immobile
    lat.phase[0, 0, 1] = Phase.ROCK_SALT
    assert ref_medium(thr, lat.phase, lat.grain, env, (0, 0, 0), (0, 0, 1)) == Medium.ROCK_SALT  # the slower side
    lat.phase[1, 0, 0] = lat.phase[1, 0, 1] = Phase.PORE
    env = ref_environment(lat.phase, lat.grain)
    assert ref_medium(thr, lat.phase, lat.grain, env, (0, 0, 0), (0, 0, 1)) == Medium.SURFACE   # both exposed


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**63 - 1), shape=st.tuples(*[st.integers(1, 6)] * 3),
       ps=st.lists(st.sampled_from([0.0, 0.001, 0.05, 0.2, 0.5]), min_size=7, max_size=7), fill=st.floats(0.0, 1.2))
def test_kernel_equals_python_reference(seed, shape, ps, fill):
    rng = np.random.default_rng(seed % 2**32)
    lat = random_lattice(rng, shape, fill=fill)
    ev = event_for(dict(zip(MEDIA, ps)))
    tables = ev.step_tables(400.0, 1.0)
    thr = [int(t) for t in tables.threshold]
    env = ref_environment(lat.phase, lat.grain)
    for i in np.ndindex(shape):                          # the rule does not depend on orientation
        for axis in range(3):
            j = tuple(c + (d == axis) for d, c in enumerate(i))
            if j[axis] < shape[axis]:
                assert ref_medium(thr, lat.phase, lat.grain, env, i, j) == ref_medium(thr, lat.phase, lat.grain, env, j, i)
    ref = lat.copy()
    for step in range(3):
        hop_step(lat, seed, step, tables)
        ref_step(ref, seed, step, tables, ev.capacity_excess_q)
        assert np.array_equal(lat.li, ref.li)
        assert np.array_equal(lat.phase, ref.phase)


# -- exact invariants ---------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**63 - 1), shape=st.tuples(*[st.integers(1, 9)] * 3),
       ps=st.lists(st.floats(0.0, 0.5), min_size=7, max_size=7), fill=st.floats(0.0, 1.5))
def test_li_conserved_capacity_respected_other_fields_untouched(seed, shape, ps, fill):
    rng = np.random.default_rng(seed % 2**32)
    lat = random_lattice(rng, shape, fill=fill)
    ev = event_for(dict(zip(MEDIA, ps)))
    tables = ev.step_tables(600.0, 1.0)
    cap = ev.capacity(lat)
    mobile = kind_table()[lat.phase] > 0
    over = lat.li.astype(np.int64) - cap          # voxels above capacity may only drain
    before = lat.copy()
    total = lat.totals()["li"]
    solid_source = before.phase == Phase.LIOH
    for step in range(4):
        hop_step(lat, seed, step, tables)
        assert lat.totals()["li"] == total
        excess = lat.li.astype(np.int64) - cap
        assert np.all(excess[mobile] <= np.maximum(over[mobile], 0))
        over = np.minimum(over, excess)
        # the only phase change: a solid LiOH voxel emptied (li 0) becomes a pore, and every
        # solid LiOH voxel left empty by a hop did (an untouched empty one may stay LiOH)
        changed = lat.phase != before.phase
        assert np.all(solid_source[changed]) and np.all(lat.phase[changed] == Phase.PORE)
        assert np.all(lat.li[changed] == 0)
    assert np.array_equal(lat.li[~mobile], before.li[~mobile])
    moved_from = (lat.li != before.li) & solid_source
    assert np.all(lat.phase[moved_from & (lat.li == 0)] == Phase.PORE)
    for name in ("grain", "tm", "disorder", "flags"):
        assert np.array_equal(getattr(lat, name), getattr(before, name)), name


def test_overfull_voxel_only_drains_and_full_voxels_refuse():
    lat = uniform_lattice((1, 1, 4), tm=10)
    lat.li[0, 0, :] = [18, 18, 30, 0]       # capacity 18: full, full, overfull, empty
    ev = event_for(0.5, excess=8)
    tables = ev.step_tables(0, 1)
    for step in range(200):
        prev = lat.li.copy()
        hop_step(lat, 3, step, tables)
        assert lat.li.sum() == 66
        assert lat.li[0, 0, 2] <= max(prev[0, 0, 2], 18)
        assert np.all(lat.li[0, 0, [0, 1, 3]] <= 18)
    assert lat.li[0, 0, 2] <= 18            # it drained into the empty voxel


def test_source_contacts_and_immobile_phases():
    """Solid LiOH exchanges Li only with solid LiOH: not with the TM solid it touches (that is the
    li_source release), not with melt; pores, LiOH·H2O and Li2CO3 keep their Li."""
    lat = uniform_lattice((6, 4, 4), tm=64)
    lat.li[:] = 40
    lat.phase[0] = Phase.LIOH                     # a solid LiOH layer on the TM solid
    lat.li[0] = np.where(np.indices((4, 4)).sum(axis=0) % 2 == 0, 91, 30)
    lat.phase[3:] = Phase.PORE                    # pores around the layer z = 4
    lat.tm[3:] = 0
    lat.li[3:] = 0
    lat.grain[0] = lat.grain[3:] = 0
    lat.phase[4, 0, :2] = Phase.LIOH_H2O
    lat.phase[4, 1, :2] = Phase.LI2CO3
    lat.phase[4, 2, :2] = Phase.LIOH_MELT         # melt next to solid LiOH (does not occur in a run)
    lat.phase[4, 2, 2:] = Phase.LIOH
    lat.li[4, :3, :] = 50
    before = lat.copy()
    ev = event_for(0.5, excess=60)
    for step in range(40):
        hop_step(lat, 5, step, ev.step_tables(0, 1))
    assert lat.li[0].sum() == 8 * 91 + 8 * 30 and not np.array_equal(lat.li[0], before.li[0])  # mixed within
    assert np.all(lat.li[0] <= source_capacity_q())
    assert lat.li[1:3].sum() == 2 * 16 * 40
    assert np.array_equal(lat.li[4, :2], before.li[4, :2])                    # hydrate, carbonate
    assert lat.li[4, 2, :2].sum() == 100 and lat.li[4, 2, 2:].sum() == 100    # melt | LiOH: no exchange
    assert np.all(lat.li[3] == 0) and np.all(lat.li[5] == 0) and np.all(lat.li[4, 3] == 0)


def test_source_capacity_and_emptied_voxel_becomes_pore():
    """Hops between solid LiOH voxels never fill one above a dense LiOH voxel (91 quanta); a
    voxel a hop empties becomes PORE (the li_source rule) and then holds no Li."""
    lat = uniform_lattice((1, 3, 4), phase=Phase.LIOH)
    lat.phase[0, 1] = Phase.PORE                  # row 0: near-full voxels; row 2: one quantum
    lat.li[0, 0] = [91, 91, 85, 80]
    lat.li[0, 2] = [1, 0, 0, 0]
    ev = event_for(0.5)
    emptied_at = {}
    refused = 0
    for step in range(100):
        refused += hop_step(lat, 8, step, ev.step_tables(0, 1)).refused
        assert lat.li[0, 0].sum() == 347 and lat.li[0, 2].sum() == 1 and np.all(lat.li <= 91)
        for x in range(4):
            if lat.li[0, 2, x] == 0 and lat.phase[0, 2, x] == Phase.PORE:
                emptied_at.setdefault(x, step)
            if x in emptied_at:                   # once a pore, always an empty pore
                assert lat.phase[0, 2, x] == Phase.PORE and lat.li[0, 2, x] == 0
        assert np.all(lat.phase[0, 0] == Phase.LIOH)
    assert refused > 0                            # row 0: exchanges that would overfill are refused
    assert 0 in emptied_at                        # the quantum left x = 0, which became a pore
    holder = int(np.flatnonzero(lat.li[0, 2])[0])
    assert lat.phase[0, 2, holder] == Phase.LIOH and len(emptied_at) >= 1
    full = uniform_lattice((2, 2, 2), phase=Phase.LIOH)
    full.li[:] = 91
    assert hop_step(full, 1, 0, ev.step_tables(0, 1)).moved_q == 0 and np.all(full.li == 91)


# -- detailed balance ---------------------------------------------------------------------------
def test_mixed_media_relax_to_uniform_occupancy():
    """Detailed balance: both directions of a pair hop with the same p, so the stationary state of
    independent quanta is uniform over the mobile voxels whatever the media. Start with the Li in a
    quarter of the voxels; the time-averaged occupancy of every class of voxel (bulk phases,
    boundary, surface, melt) must reach the global mean."""
    rng = np.random.default_rng(11)
    shape = (8, 8, 8)
    z, y, x = np.indices(shape)
    lat = Lattice.empty(shape)
    lat.phase[:] = rng.choice(np.array([Phase.LAYERED, Phase.ROCK_SALT, Phase.HYDROXIDE], np.uint8), size=shape)
    lat.phase[x < 2] = Phase.LIOH_MELT
    tmv = x >= 2
    lat.tm[tmv] = 100
    lat.grain[tmv] = (1 + (y >= 4) + 2 * (z >= 4))[tmv]
    for p in ((1, 1, 5), (6, 2, 4), (3, 6, 6), (5, 5, 3)):     # isolated pores inside the solid
        lat.phase[p], lat.tm[p], lat.grain[p] = Phase.PORE, 0, 0
    mobile = kind_table()[lat.phase] > 0
    n_mobile = int(mobile.sum())
    mean = 8
    idx = np.flatnonzero(mobile.ravel())[:n_mobile // 4]
    lat.li.ravel()[idx] = 4 * mean                       # a quarter of the voxels hold everything
    ev = event_for({"layered": 0.05, "rock_salt": 0.02, "hydroxide": 0.03, "melt": 0.3, "grain_boundary": 0.15, "surface": 0.2},
                   excess=155)
    tables = ev.step_tables(0, 1)
    env = environment(lat)
    classes = {"layered": (lat.phase == Phase.LAYERED) & (env == 0), "rock_salt": (lat.phase == Phase.ROCK_SALT) & (env == 0),
               "hydroxide": (lat.phase == Phase.HYDROXIDE) & (env == 0), "boundary": (env & ENV_BOUNDARY) > 0,
               "surface": (env & ENV_EXPOSED) > 0, "melt": lat.phase == Phase.LIOH_MELT}
    classes = {k: v & mobile for k, v in classes.items()}
    assert min(v.sum() for v in classes.values()) >= 20
    total = lat.li.sum(dtype=np.int64)
    acc = np.zeros(shape)
    burn, n_steps = 400, 3000
    for step in range(n_steps):
        hop_step(lat, 21, step, tables)
        if step >= burn:
            acc += lat.li
    avg = acc / (n_steps - burn)
    assert lat.li.sum(dtype=np.int64) == total
    for name, sel in classes.items():
        assert avg[sel].mean() == approx(total / n_mobile, rel=0.03), name


# -- physics: tracer MSD = 6 D t -----------------------------------------------------------------
def point_source_msd(lat: Lattice, sources: list[tuple[int, int, int]], cell: int) -> float:
    """Second moment of the Li field about the source of each cell of edge ``cell``, in voxel^2."""
    z, y, x = np.indices(lat.shape)
    r2 = np.zeros(lat.shape)
    for s in sources:
        sel = (z // cell == s[0] // cell) & (y // cell == s[1] // cell) & (x // cell == s[2] // cell)
        r2[sel] = ((z - s[0]) ** 2 + (y - s[1]) ** 2 + (x - s[2]) ** 2)[sel]
    li = lat.li.astype(np.float64)
    return float((li * r2).sum() / li.sum())


@pytest.mark.parametrize("phase, w_dt, cap", [(Phase.LAYERED, 1 / 9, 0.25), (Phase.LIOH_MELT, 1 / 9, 0.25),
                                              (Phase.LAYERED, 1.0, 0.25)], ids=["layered", "melt", "layered-capped"])
def test_tracer_msd_is_6Dt(phase, w_dt, cap):
    """64 point sources of N quanta in a homogeneous medium; <r^2> = sum li r^2 / sum li = 6 D t,
    D = p/(1-p) h^2/dt: the medium's D when uncapped (w dt = 1/9), the capped D_eff otherwise."""
    cell, dt = 16, 2.0
    medium = "melt" if phase == Phase.LIOH_MELT else "layered"
    D = diffusivity_from_hop_rate(w_dt / dt, H_NM)
    ev = LiHop.from_media({m: D for m in MEDIA}, voxel_nm=H_NM, capacity_excess_q=55, max_hop_probability=cap)
    tables = ev.step_tables(700.0, dt)
    D_eff = ev.effective_diffusivity_m2_per_s(medium, 700.0, dt)
    assert (D_eff == approx(D)) == (w_dt < 0.3)
    lat = uniform_lattice((4 * cell,) * 3, phase=phase)
    n0 = 240 if phase != Phase.LIOH_MELT else 80
    sources = [(a, b, c) for a in range(cell // 2, 4 * cell, cell) for b in range(cell // 2 + 1, 4 * cell, cell)
               for c in range(cell // 2, 4 * cell, cell)]
    for s in sources:
        lat.li[s] = n0
    n_steps = round(5.0 / (2 * D_eff * dt / H2))  # about 5 voxel^2 per axis
    refused = 0
    for step in range(n_steps):
        refused += hop_step(lat, 1234, step, tables).refused
    t = n_steps * dt
    msd = point_source_msd(lat, sources, cell) * H2
    assert refused == 0
    assert msd == approx(6 * D_eff * t, rel=0.05)


@pytest.mark.parametrize("w_dt", [1 / 9, 1.0], ids=["source", "source-capped"])
@pytest.mark.parametrize("axis", [0, 2])
def test_source_tracer_msd_is_6Dt(w_dt, axis):
    """Solid LiOH (Medium.SOURCE). A voxel a hop empties becomes a pore, so point sources in empty
    LiOH (the MSD test above) would leave a trail of pores; here every voxel holds 40 +- 25 quanta
    (never 0, below the 91 of a full voxel), a cosine of wavelength 16 h along one axis. The
    expected field is linear in li, so the excess spreads as a tracer, and the Fourier form of
    MSD = 6 D t on the cubic lattice is that the mode decays as exp(-2 (1 - cos kh) D t / h^2).
    D is read from the decay between 1 and 7 voxel^2 of spread (after the walk's initial
    persistence transient): uncapped (w dt = 1/9) and capped (p = 0.25: D_eff). Scatter over
    seeds 0.3 %; an error in the medium, the cap or the time mapping shows as >= several %."""
    n, dt, lam, B, A = 48, 2.0, 16, 40, 25
    D = diffusivity_from_hop_rate(w_dt / dt, H_NM)
    ev = LiHop.from_media({m: (D if m == "source" else 0.0) for m in MEDIA}, voxel_nm=H_NM, max_hop_probability=0.25)
    D_eff = ev.effective_diffusivity_m2_per_s("source", 700.0, dt)
    assert (D_eff == approx(D)) == (w_dt < 0.3)
    c = np.cos(2 * np.pi * (np.arange(n) + 0.5) / lam)  # an eigenmode with the box's reflecting faces
    shape = [1, 1, 1]
    shape[axis] = n
    lat = uniform_lattice((n,) * 3, phase=Phase.LIOH)
    lat.li[:] = np.rint(B + A * c).astype(np.uint8).reshape(shape)
    total = lat.li.sum(dtype=np.int64)
    other = tuple(a for a in range(3) if a != axis)

    def amplitude():
        return float((lat.li.sum(axis=other, dtype=np.int64) * c).sum())

    per_step = 2 * D_eff * dt / H2                  # voxel^2 per axis per step
    n1, n2 = round(1.0 / per_step), round(6.0 / per_step)
    tables = ev.step_tables(700.0, dt)
    refused = 0
    for step in range(n1 + n2):
        if step == n1:
            a1 = amplitude()
        refused += hop_step(lat, 4321 + axis, step, tables).refused
    assert np.all(lat.phase == Phase.LIOH) and lat.li.sum(dtype=np.int64) == total
    assert refused < 1e-4 * n ** 3 * 3 * (n1 + n2)  # (almost) never at capacity: the rule stays linear
    rate = -math.log(amplitude() / a1) / (n2 * dt)  # 1/s
    D_measured = rate * H2 / (2 * (1 - math.cos(2 * math.pi / lam)))
    assert D_measured == approx(D_eff, rel=0.02)


# -- physics: grain boundaries are the highway ------------------------------------------------------
def spreads_from_point_source(two_grains: bool, n_steps: int = 150):
    shape = (32, 64, 64)
    lat = uniform_lattice(shape)
    if two_grains:
        lat.grain[16:] = 2
    lat.li[15, 32, 32] = lat.li[16, 32, 32] = 255
    ev = event_for({"layered": 0.005, "grain_boundary": hop_probability(0.5, 1.0)}, excess=55)
    for step in range(n_steps):
        hop_step(lat, 99, step, ev.step_tables(0, 1))
    z, y, x = np.indices(shape)
    li = lat.li.astype(np.float64)
    along = math.sqrt((li * ((y - 32) ** 2 + (x - 32) ** 2) / 2).sum() / li.sum())
    across = math.sqrt((li * (z - 15.5) ** 2).sum() / li.sum() - 0.25)
    return along, across


def test_li_spreads_along_the_boundary_much_further_than_into_the_grains():
    along, across = spreads_from_point_source(True)
    ratio = along / across
    expected = math.sqrt(0.5 / 0.005)                  # sqrt(D_gb / D_bulk) = 10
    assert expected / 2.5 < ratio < expected * 1.5
    along1, across1 = spreads_from_point_source(False)  # control: one grain, isotropic
    assert along1 / across1 == pytest.approx(1.0, abs=0.25)
    assert along > 4 * along1


# -- determinism --------------------------------------------------------------------------------
def test_same_bits_on_one_and_two_threads_same_seed_same_bits_different_seed_differs():
    rng = np.random.default_rng(5)
    lat0 = random_lattice(rng, (24, 20, 28), phases=(Phase.LAYERED, Phase.ROCK_SALT, Phase.HYDROXIDE, Phase.LIOH_MELT,
                                                     Phase.PORE, Phase.LIOH), n_grains=6, fill=0.8)
    ev = event_for({"layered": 0.02, "rock_salt": 0.005, "hydroxide": 0.01, "melt": 0.4, "grain_boundary": 0.25, "surface": 0.3})
    tables = ev.step_tables(500.0, 1.0)

    def run(seed, threads):
        numba.set_num_threads(threads)
        lat = lat0.copy()
        stats = [hop_step(lat, seed, step, tables) for step in range(8)]
        return lat.li, stats

    li1, s1 = run(42, 1)
    li2, s2 = run(42, 2)
    li3, _ = run(42, 2)
    li4, _ = run(43, 2)
    assert s1[0].moved_q > 0
    assert np.array_equal(li1, li2) and s1 == s2
    assert np.array_equal(li2, li3)
    assert not np.array_equal(li1, li4)


# -- slow: the rate cap does not change the result when boundaries stay fast -------------------------
def bicrystal_profile(p_cap: float, dt: float, t_end: float, w_gb: float, w_bulk: float, seed: int):
    """Li per voxel vs distance from a planar boundary after t_end, with Li fed at one face.

    Box (nz, ny, nx) = (24, 16, 16); grains 1 (z < 12) and 2 (z >= 12), all layered, tm 200,
    capacity 255; the y = 0 face starts with 255 quanta per voxel. Returns (float64 (12,): mean li
    at 0..11 voxel layers from the boundary, averaged over y >= 2, x and both sides; capped media).
    """
    shape = (24, 16, 16)
    lat = uniform_lattice(shape)
    lat.grain[12:] = 2
    lat.li[:, 0, :] = 255
    D0 = {m: diffusivity_from_hop_rate(w_bulk, H_NM) for m in MEDIA}
    D0["grain_boundary"] = diffusivity_from_hop_rate(w_gb, H_NM)
    ev = LiHop.from_media(D0, voxel_nm=H_NM, capacity_excess_q=55, max_hop_probability=p_cap)
    tables = ev.step_tables(0.0, dt)
    for step in range(round(t_end / dt)):
        hop_step(lat, seed, step, tables)
    li = lat.li[:, 2:, :].astype(np.float64).mean(axis=(1, 2))
    return 0.5 * (li[11::-1] + li[12:]), ev.capped_media(0.0, dt)


@pytest.mark.slow
def test_rate_cap_convergence_bicrystal():
    """True rates w_gb = 2/s, w_bulk = 0.002/s, t = 3000 s: bulk w t = 6 (a few voxels into the
    grains), boundary diffusion length sqrt(2 w_gb t) = 110 voxels >> the 16 along the boundary.
    Reference: dt = 1/4 s, nothing capped (p_gb = 1/3 under a cap of 0.5). Capped: dt = 1 s, the
    boundary runs at p_cap. While the capped boundary still spreads over a few times its 16
    voxels within t (p_cap 0.5, 0.25: 77 and 45 voxels) the profile matches the reference; a
    cap that slows it to ~bulk speed (p_cap 0.01: 5x bulk, 8 voxels) does not."""
    w_gb, w_bulk, t_end = 2.0, 0.002, 3000.0
    ref, capped = bicrystal_profile(0.5, 0.25, t_end, w_gb, w_bulk, seed=7)
    assert capped == {}
    near = ref[:4].sum()                       # Li fed into the grains from the boundary
    for p_cap in (0.5, 0.25):
        prof, capped = bicrystal_profile(p_cap, 1.0, t_end, w_gb, w_bulk, seed=8)
        assert set(capped) == {"grain_boundary"}
        assert prof[:4].sum() == approx(near, rel=0.025), (p_cap, prof, ref)
        assert np.abs(prof - ref).max() < 0.05 * ref[0], (p_cap, prof, ref)
    prof, _ = bicrystal_profile(0.01, 1.0, t_end, w_gb, w_bulk, seed=8)
    assert prof[:4].sum() < 0.92 * near


@pytest.mark.slow
@pytest.mark.parametrize("w_dt, seed", [(0.01, 71), (0.1, 72), (0.3333, 73), (3.0, 74)])
def test_tracer_msd_large(w_dt, seed):
    """Larger, longer version of the MSD check at several w dt (the last one capped at p = 0.25):
    64 sources of 240 quanta (statistical error 0.7 %), 9 voxel^2 per axis; within 2.5 %."""
    cell, dt = 20, 1.0
    ev = LiHop.from_media({m: diffusivity_from_hop_rate(w_dt / dt, H_NM) for m in MEDIA}, voxel_nm=H_NM,
                          capacity_excess_q=55, max_hop_probability=0.25)
    tables = ev.step_tables(0.0, dt)
    D = ev.effective_diffusivity_m2_per_s("layered", 0.0, dt)
    lat = uniform_lattice((4 * cell,) * 3)
    sources = [(a, b, c) for a in range(cell // 2, 4 * cell, cell) for b in range(cell // 2, 4 * cell, cell)
               for c in range(cell // 2 + 1, 4 * cell, cell)]
    for s in sources:
        lat.li[s] = 240
    n_steps = round(9.0 / (2 * D * dt / H2))
    for step in range(n_steps):
        hop_step(lat, seed, step, tables)
    msd = point_source_msd(lat, sources, cell) * H2
    assert msd == approx(6 * D * n_steps * dt, rel=0.025)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_li_reach_changes_no_result(seed, monkeypatch):
    """A pass looks only at the couples in the Li reach of their row (the Li at the step's start,
    widened by REACH_MARGIN voxels along z, y and x): a lattice with Li in a few small clusters
    gives, over steps in which the Li spreads at the largest hop probability, the bits of passes
    that look at every couple (a margin larger than the box)."""
    import kmc.events.li_hop as li_hop_module

    def lattice():
        rng = np.random.default_rng(seed)
        lat = random_lattice(rng, (17, 19, 23), phases=(Phase.LAYERED, Phase.ROCK_SALT, Phase.LIOH_MELT, Phase.PORE),
                             fill=0.0)
        for _ in range(3):      # a few Li clusters, the rest without Li
            z, y, x = (int(rng.integers(0, n)) for n in lat.shape)
            box = (slice(z, z + 2), slice(y, y + 2), slice(x, x + 3))
            cap = capacity(lat.phase[box], lat.tm[box], 8)
            lat.li[box] = np.minimum(cap, 40).astype(np.uint8)
        return lat

    tables = event_for(dict.fromkeys(MEDIA, 0.5)).step_tables(0, 1)
    fast = lattice()
    for step in range(5):
        hop_step(fast, seed, step, tables)
    monkeypatch.setattr(li_hop_module, "REACH_MARGIN", 10**6)
    full = lattice()
    for step in range(5):
        hop_step(full, seed, step, tables)
    assert np.array_equal(fast.li, full.li) and np.array_equal(fast.phase, full.phase)
    assert (fast.li > 0).sum() > (lattice().li > 0).sum(), "the Li spread beyond its clusters"


def li_hop_module_reach(li, margin):
    from kmc.events.li_hop import li_reach

    return li_reach(li.reshape(-1), li.shape, margin)


def test_li_reach_holds_the_dilated_li_extent():
    li = np.zeros((9, 10, 30), dtype=np.uint8)
    li[4, 5, 12] = 3
    reach = li_hop_module_reach(li, margin=2).reshape(9, 10, 2)
    for z in range(9):
        for y in range(10):
            lo, hi = reach[z, y]
            if abs(z - 4) <= 2 and abs(y - 5) <= 2:
                assert (lo, hi) == (10, 14)
            else:
                assert lo > hi
