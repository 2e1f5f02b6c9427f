"""kmc.build: determinism, asked-vs-achieved, geometry of grains, shell, coating and source."""

from __future__ import annotations

import json
import math

import numba
import numpy as np
import pytest

from kmc.build import W_PER_TM_IN_COATED_VOXEL, _voronoi, build
from kmc.config import parse_config
from kmc.errors import UserError
from kmc.state import (
    TM_QUANTA_PER_HYDROXIDE_VOXEL,
    Flag,
    Phase,
    dense_li_quanta_per_voxel,
    source_phase,
)

PROGRAM = {"segments": [{"ramp_to_C": 300, "rate_C_per_min": 5}]}


def make(n=32, seed=1, particle=None, chemistry=None, voxel_nm=50.0):
    """Config for an n^3 box; the particle radius defaults to 0.8 of the half box."""
    p = {"radius_um": 0.8 * n * voxel_nm / 2000, "grain_size_nm": 250.0, **(particle or {})}
    return parse_config({"seed": seed, "lattice": {"shape": [n, n, n], "voxel_nm": voxel_nm},
                         "particle": p, "chemistry": chemistry or {}, "program": PROGRAM})


def radius2(shape):
    """float64 (nz, ny, nx): squared distance of voxel centres from the box centre, voxels^2."""
    axes = [(np.arange(n) + 0.5 - n / 2) ** 2 for n in shape]
    return axes[0][:, None, None] + axes[1][None, :, None] + axes[2][None, None, :]


def radius_vox(cfg):
    return cfg.particle.radius_um * 1000 / cfg.lattice.voxel_nm


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.arrays().values(), b.arrays().values()))


def test_same_seed_same_lattice_other_seed_differs():
    cfg = make(seed=7, particle={"pre_dehydrated_shell_nm": 100}, chemistry={"w_mol_percent": 1.0})
    (a, ra), (b, rb) = build(cfg), build(cfg)
    a.check()
    assert same(a, b) and ra == rb
    c, _ = build(make(seed=8, particle={"pre_dehydrated_shell_nm": 100}, chemistry={"w_mol_percent": 1.0}))
    assert not np.array_equal(a.grain, c.grain)
    assert not np.array_equal(a.li, c.li)  # the source's tie-breaking differs too


def test_thread_count_does_not_change_the_lattice():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs at least 2 numba threads")
    cfg = make(n=48, particle={"aspect_ratio": 3.0}, chemistry={"w_mol_percent": 1.0})
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one, _ = build(cfg)
        numba.set_num_threads(2)
        two, _ = build(cfg)
    finally:
        numba.set_num_threads(before)
    assert same(one, two)


@pytest.mark.parametrize("aspect", [1.0, 3.0])
def test_voronoi_kernel_is_the_exact_nearest_and_second_nearest(aspect):
    shape, centre, radius = (20, 20, 20), np.full(3, 10.0), 9.5
    rng = np.random.default_rng(3)
    direction = rng.normal(size=(40, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    seeds = centre + direction * (radius * rng.random(40) ** (1 / 3))[:, None]
    seeds[0] = centre  # the guarded seed: isotropic distance
    owner, gap = _voronoi(shape, centre, radius, seeds, aspect)

    x = np.stack(np.indices(shape), -1).reshape(-1, 3) + 0.5
    inside = ((x - centre) ** 2).sum(1) <= radius**2
    delta = x[inside, None, :] - seeds[None]
    off = seeds - centre
    r_hat = np.divide(off, np.linalg.norm(off, axis=1, keepdims=True), out=np.zeros_like(off),
                      where=np.linalg.norm(off, axis=1, keepdims=True) > 0)
    t = (delta * r_hat[None]).sum(-1)
    d2 = (delta**2).sum(-1) - (1 - 1 / aspect**2) * t**2
    nearest = np.sort(np.sqrt(d2), axis=1)
    assert np.array_equal(owner.reshape(-1)[inside], d2.argmin(1))
    assert np.allclose(gap.reshape(-1)[inside], nearest[:, 1] - nearest[:, 0])
    assert (owner.reshape(-1)[~inside] == -1).all()


def test_porosity_is_exact_to_one_voxel_and_pores_are_empty():
    cfg = make(particle={"porosity": 0.23})
    lat, rep = build(cfg)
    inside = radius2(lat.shape) <= radius_vox(cfg) ** 2
    pores = inside & (lat.phase == Phase.PORE)
    assert rep.particle_voxels == inside.sum()
    assert abs(pores.sum() / inside.sum() - 0.23) <= 1 / inside.sum()
    assert rep.porosity_achieved == pores.sum() / inside.sum()
    assert (lat.grain[pores] == 0).all() and (lat.tm[pores] == 0).all() and (lat.li[pores] == 0).all()
    solid = inside & ~pores
    assert (lat.phase[solid] == Phase.HYDROXIDE).all()
    assert (lat.tm[solid] == TM_QUANTA_PER_HYDROXIDE_VOXEL).all() and (lat.grain[solid] > 0).all()


def test_pores_lie_on_grain_boundaries():
    lat, _ = build(make(particle={"porosity": 0.1}))
    g = np.pad(lat.grain, 1)
    neighbour_ids = [np.roll(g, s, axis=ax)[1:-1, 1:-1, 1:-1] for ax in range(3) for s in (-1, 1)]
    ids = np.stack(neighbour_ids)
    # a pore voxel touching two different grains is on a boundary; for voxels at random
    # positions in this lattice the fraction is 0.77, for the pores 0.98
    pores = (lat.phase == Phase.PORE) & (radius2(lat.shape) <= (0.7 * 16) ** 2)
    between = [len(set(v[v > 0])) >= 2 for v in ids[:, pores].T]
    assert np.mean(between) > 0.9


def test_li_source_totals_and_placement():
    cfg = make(chemistry={"li_to_tm": 1.07, "li_source": "LiOH·H2O"})
    lat, rep = build(cfg)
    tot = lat.totals()
    assert tot["li"] == round(1.07 * tot["tm"])
    assert abs(rep.li_to_tm_achieved - 1.07) <= 1 / tot["tm"]
    source = lat.phase == source_phase("LiOH·H2O")
    q = dense_li_quanta_per_voxel("LiOH·H2O")
    assert source.sum() == rep.source_voxels == math.ceil(tot["li"] / q)
    li = np.sort(lat.li[source])
    assert (li[1:] == q).all() and 0 < li[0] <= q
    assert (lat.grain[source] == 0).all() and (lat.tm[source] == 0).all()
    # a shell: every source voxel is at least as close to the centre as every free voxel left
    r2 = radius2(lat.shape)
    free_left = (r2 > radius_vox(cfg) ** 2) & ~source
    assert r2[source].max() <= r2[free_left].min()
    assert (r2[source] > radius_vox(cfg) ** 2).all()


def test_grain_count_and_size():
    cfg = make(n=64, particle={"grain_size_nm": 300.0, "porosity": 0.1})
    lat, rep = build(cfg)
    ids = np.unique(lat.grain[lat.grain > 0])
    assert rep.grain_count == len(ids) and np.array_equal(ids, np.arange(1, len(ids) + 1))
    n_seeds = round(rep.particle_voxels / (math.pi / 6 * (300.0 / 50.0) ** 3))
    assert 0.9 * n_seeds <= rep.grain_count <= n_seeds
    diameters = (6 / math.pi * np.bincount(lat.grain.ravel())[1:]) ** (1 / 3) * 50.0
    assert rep.grain_size_nm_achieved == pytest.approx(diameters.mean())
    assert abs(rep.grain_size_nm_achieved / 300.0 - 1) < 0.25


def radial_elongation(lat, radius):
    """Median over grains with centroid at 0.3..0.7 R of sqrt(second moment along r / across r)."""
    g = lat.grain.ravel()
    m = g > 0
    pos = (np.stack(np.indices(lat.shape), -1).reshape(-1, 3) + 0.5 - np.array(lat.shape) / 2)[m]
    g = g[m]
    count = np.bincount(g)[1:]
    centroid = np.stack([np.bincount(g, pos[:, i])[1:] for i in range(3)], 1) / count[:, None]
    d = pos - centroid[g - 1]
    moment = np.array([[np.bincount(g, d[:, i] * d[:, j])[1:] / count for j in range(3)] for i in range(3)])
    rc = np.linalg.norm(centroid, axis=1)
    u = centroid / rc[:, None]
    along = np.einsum("gi,ijg,gj->g", u, moment, u)
    across = (np.einsum("iig->g", moment) - along) / 2
    sel = (rc > 0.3 * radius) & (rc < 0.7 * radius) & (count > 20)
    assert sel.sum() > 50
    return float(np.median(np.sqrt(along[sel] / across[sel])))


def test_aspect_ratio_elongates_grains_along_the_radius():
    ratios = {}
    for a in (1.0, 3.0):
        cfg = make(n=64, particle={"grain_size_nm": 400.0, "aspect_ratio": a, "porosity": 0.0})
        lat, _ = build(cfg)
        ratios[a] = radial_elongation(lat, radius_vox(cfg))
    assert ratios[1.0] < 1.2
    assert ratios[3.0] > 1.5 * ratios[1.0] and ratios[3.0] > 1.5


def test_pre_dehydrated_shell_converts_exactly_the_outer_voxels():
    plain, _ = build(make())
    cfg = make(particle={"pre_dehydrated_shell_nm": 120.0})
    lat, rep = build(cfg)
    solid = lat.tm > 0
    beyond = radius2(lat.shape) > (radius_vox(cfg) - 120.0 / 50.0) ** 2
    assert np.array_equal(lat.phase == Phase.ROCK_SALT, solid & beyond)
    assert np.array_equal(lat.phase == Phase.HYDROXIDE, solid & ~beyond)
    assert np.array_equal(lat.tm, plain.tm) and lat.totals() == plain.totals()
    assert rep.pre_dehydrated_fraction == pytest.approx((solid & beyond).sum() / solid.sum())
    assert 0 < rep.pre_dehydrated_fraction < 1


def test_w_coating_amount_and_place():
    lat, rep = build(make(chemistry={"w_mol_percent": 1.5}))
    tm = lat.totals()["tm"]
    per_voxel = W_PER_TM_IN_COATED_VOXEL * TM_QUANTA_PER_HYDROXIDE_VOXEL
    coated = (lat.flags & Flag.W_COATED) > 0
    assert abs(rep.w_mol_percent_achieved - 1.5) <= 100 * per_voxel / tm
    assert rep.w_mol_percent_achieved == pytest.approx(100 * coated.sum() * per_voxel / tm)
    assert (lat.tm[coated] > 0).all()
    g = np.pad(lat.grain, 1)
    other = np.zeros(lat.shape, dtype=bool)
    for ax in range(3):
        for s in (-1, 1):
            other |= np.roll(g, s, axis=ax)[1:-1, 1:-1, 1:-1] != lat.grain
    assert other[coated].all()
    assert not ((lat.flags & ~np.uint8(Flag.W_COATED)) > 0).any()


@pytest.mark.parametrize("chemistry, key", [({"w_mol_percent": 10.0}, "chemistry.w_mol_percent"),
                                             ({"ald_cycles": 200}, "chemistry.ald_cycles")])
def test_too_much_w_for_the_boundaries_is_refused(chemistry, key):
    with pytest.raises(UserError) as err:
        build(make(particle={"grain_size_nm": 400.0, "porosity": 0.0}, chemistry=chemistry))
    assert err.value.problems[0].key == key


def test_box_too_small_for_the_source_is_refused():
    # passes config.cross_check (a continuous estimate) but the exact voxel count does not fit
    cfg = make(n=12, particle={"radius_um": 0.2875, "grain_size_nm": 100.0, "porosity": 0.1},
               chemistry={"li_to_tm": 1.05, "li_source": "LiOH·H2O"})
    with pytest.raises(UserError) as err:
        build(cfg)
    assert err.value.problems[0].key == "lattice.shape"
    assert "source voxels needed" in err.value.problems[0].allowed


def test_particle_without_a_voxel_is_refused():
    with pytest.raises(UserError) as err:
        build(make(n=8, particle={"radius_um": 0.01, "grain_size_nm": 100.0}))
    assert err.value.problems[0].key == "particle.radius_um"


def test_report_lines_and_dict():
    _, rep = build(make(chemistry={"w_mol_percent": 1.0}))
    d = rep.to_dict()
    assert json.loads(json.dumps(d)) == d  # plain types, for the run store's attributes
    assert d["grain_count"] == rep.grain_count and set(d) >= {"porosity_asked", "source_voxels"}
    lines = rep.lines()
    assert len(lines) == 9 and all(line.count("|") == 2 for line in lines)
    assert any("mol%" in line for line in lines) and any("nm" in line for line in lines)
