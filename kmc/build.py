"""Microstructure builder: one secondary particle of Voronoi primary grains in a Li source.

`build(cfg)` returns the initial `Lattice` and a `BuildReport` (asked vs achieved). Lengths
inside are in voxel units; voxel (z, y, x) has its centre at (z + 0.5, y + 0.5, x + 0.5) and
the particle centre is the box centre c = (nz, ny, nx) / 2. The steps, in order:

1. particle: voxels with |x - c| <= R, R = radius_um * 1000 / voxel_nm;
2. grains: N = max(1, round(n_particle / (pi/6 d^3))), d = grain_size_nm / voxel_nm, seeds
   uniform in the sphere; each particle voxel belongs to the seed s of least
   d_s(x)^2 = |D|^2 - (1 - 1/a^2) (D . r_s)^2, D = x - s, r_s the unit radial vector of s
   (0 for a seed at the centre), a = aspect_ratio (the exact nearest, found on a cell grid);
3. pores: the round(porosity * n_particle) particle voxels of least gap + jitter, where
   gap = d_second - d_nearest (voxels) and jitter ~ U[0, PORE_JITTER_VOXELS);
4. solid voxels: HYDROXIDE, tm = TM_QUANTA_PER_HYDROXIDE_VOXEL; grains renumbered 1..G;
5. pre-dehydrated shell: solid voxels with |x - c| > R - shell become ROCK_SALT (tm kept);
6. W coating: boundary voxels (a 6-neighbour of another grain id, pore or gas) in seeded
   random order get Flag.W_COATED, each carrying W_PER_TM_IN_COATED_VOXEL * tm of W, until
   W / TM is nearest the request;
7. Li source: L = round(li_to_tm * TM) quanta in ceil(L / q) dense voxels, q from
   `dense_li_quanta_per_voxel`, the last holding the remainder, filling the free voxels in
   order of distance from the centre, ties in seeded random order.

All randomness comes from one `np.random.Generator` seeded with (cfg.seed, Stream.BUILD),
spawned into one child per step, so a step's draws do not depend on other steps' options.
The grain kernel computes every voxel independently: results do not depend on thread count.
docs/build.md is the long form.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numba as nb
import numpy as np

from kmc.config import W_MOL_PERCENT_PER_ALD_CYCLE, Config
from kmc.errors import Problem, UserError
from kmc.rng import Stream
from kmc.state import (
    TM_QUANTA_PER_HYDROXIDE_VOXEL,
    Flag,
    Lattice,
    Phase,
    dense_li_quanta_per_voxel,
    source_phase,
)

#: W carried by a coated voxel per TM in it (mol/mol), i.e. 10 mol%. A placeholder, to be
#: calibrated later against the ALD experiments (MODEL.md section 1, finding 6).
W_PER_TM_IN_COATED_VOXEL = 0.10

#: Amplitude of the uniform random jitter added to the boundary gap when choosing pores
#: (voxels), so pores are not perfectly planar slabs along the Voronoi faces.
PORE_JITTER_VOXELS = 1.0


@dataclass(frozen=True)
class BuildReport:
    """What was asked and what the lattice achieved; units in the field names.

    porosity: intergranular pore volume fraction inside the particle sphere.
    li_to_tm: total Li quanta / total TM quanta. grain_size_nm: mean equivalent-sphere
    diameter (6 n / pi)^(1/3) * voxel_nm over grains of n solid voxels. w_mol_percent:
    100 * W / TM. pre_dehydrated_fraction: rock-salt TM / total TM.
    """

    porosity_asked: float
    porosity_achieved: float
    li_to_tm_asked: float
    li_to_tm_achieved: float
    grain_count: int
    grain_size_nm_asked: float
    grain_size_nm_achieved: float
    w_mol_percent_asked: float
    w_mol_percent_achieved: float
    pre_dehydrated_fraction: float
    particle_voxels: int
    source_voxels: int

    def lines(self) -> list[str]:
        """Human-readable 'what | asked | achieved' lines with units."""
        rows = [
            ("what", "asked", "achieved"),
            ("porosity (pore volume fraction)", f"{self.porosity_asked:.4f}", f"{self.porosity_achieved:.4f}"),
            ("Li:TM (mol/mol)", f"{self.li_to_tm_asked:.4f}", f"{self.li_to_tm_achieved:.4f}"),
            ("grain size (nm, equiv. sphere diameter)", f"{self.grain_size_nm_asked:.1f}", f"{self.grain_size_nm_achieved:.1f}"),
            ("grains (count)", "-", f"{self.grain_count}"),
            ("W (mol% of TM)", f"{self.w_mol_percent_asked:.3f}", f"{self.w_mol_percent_achieved:.3f}"),
            ("pre-dehydrated (fraction of TM)", "-", f"{self.pre_dehydrated_fraction:.4f}"),
            ("particle (voxels)", "-", f"{self.particle_voxels}"),
            ("Li source (voxels)", "-", f"{self.source_voxels}"),
        ]
        return [f"{what:<40} | {asked:>9} | {achieved:>9}" for what, asked, achieved in rows]

    def to_dict(self) -> dict:
        return asdict(self)


@nb.njit(parallel=True, cache=True)
def _nearest_two(shape, centre, radius, seeds, radial, aspect, lo, cell_size, n_cells,
                 cell_start, cell_seeds, owner, gap):
    """Nearest and second-nearest seed of every particle voxel in the anisotropic metric.

    shape: (nz, ny, nx); centre, lo: float64 (3,) voxel units, lo the cell grid corner;
    seeds, radial: float64 (N, 3) positions and unit radial vectors; cell_start: int64
    (n_cells^3 + 1,) and cell_seeds: int64 (N,), seeds grouped by cell. Writes owner int32
    (nz, ny, nx), the nearest seed index (-1 outside the particle), and gap float64, the
    distance difference second - nearest in voxels (0 when N == 1). Ties go to the lower seed
    index. Rings of cells are searched outward until d_iso / aspect, a lower bound of the
    anisotropic distance, exceeds the second-nearest distance, so the result is exact.
    """
    shrink = 1.0 - 1.0 / (aspect * aspect)
    inv_a2 = 1.0 / (aspect * aspect)
    n_seeds = seeds.shape[0]
    for z in nb.prange(shape[0]):
        for y in range(shape[1]):
            for x in range(shape[2]):
                p0, p1, p2 = z + 0.5, y + 0.5, x + 0.5
                if (p0 - centre[0]) ** 2 + (p1 - centre[1]) ** 2 + (p2 - centre[2]) ** 2 > radius * radius:
                    owner[z, y, x] = -1
                    continue
                c0 = min(max(int((p0 - lo[0]) / cell_size), 0), n_cells - 1)
                c1 = min(max(int((p1 - lo[1]) / cell_size), 0), n_cells - 1)
                c2 = min(max(int((p2 - lo[2]) / cell_size), 0), n_cells - 1)
                d1, i1, d2, i2 = np.inf, n_seeds, np.inf, n_seeds
                for k in range(n_cells):
                    if ((k - 1) * cell_size) ** 2 * inv_a2 > d2:
                        break
                    for a in range(max(c0 - k, 0), min(c0 + k, n_cells - 1) + 1):
                        for b in range(max(c1 - k, 0), min(c1 + k, n_cells - 1) + 1):
                            # on the ring's a or b faces every c is in the ring, else only c2 -+ k
                            step = 1 if max(abs(a - c0), abs(b - c1)) == k else 2 * k
                            for c in range(c2 - k, c2 + k + 1, step):
                                if c < 0 or c >= n_cells:
                                    continue
                                g0 = max(lo[0] + a * cell_size - p0, p0 - lo[0] - (a + 1) * cell_size, 0.0)
                                g1 = max(lo[1] + b * cell_size - p1, p1 - lo[1] - (b + 1) * cell_size, 0.0)
                                g2 = max(lo[2] + c * cell_size - p2, p2 - lo[2] - (c + 1) * cell_size, 0.0)
                                if (g0 * g0 + g1 * g1 + g2 * g2) * inv_a2 > d2:
                                    continue
                                cell = (a * n_cells + b) * n_cells + c
                                for j in range(cell_start[cell], cell_start[cell + 1]):
                                    s = cell_seeds[j]
                                    e0, e1, e2 = p0 - seeds[s, 0], p1 - seeds[s, 1], p2 - seeds[s, 2]
                                    t = e0 * radial[s, 0] + e1 * radial[s, 1] + e2 * radial[s, 2]
                                    d = e0 * e0 + e1 * e1 + e2 * e2 - shrink * t * t
                                    if d < d1 or (d == d1 and s < i1):
                                        d2, i2, d1, i1 = d1, i1, d, s
                                    elif d < d2 or (d == d2 and s < i2):
                                        d2, i2 = d, s
                owner[z, y, x] = i1
                gap[z, y, x] = math.sqrt(d2) - math.sqrt(d1) if d2 < np.inf else 0.0


def _voronoi(shape, centre, radius, seeds, aspect):
    """Owner seed index int32 (nz, ny, nx) (-1 outside the sphere) and gap float64 (voxels)."""
    n = len(seeds)
    offset = seeds - centre
    norm = np.linalg.norm(offset, axis=1, keepdims=True)
    radial = np.divide(offset, norm, out=np.zeros_like(offset), where=norm > 0)
    spacing = (4.0 / 3.0 * math.pi * radius**3 / n) ** (1.0 / 3.0)
    # cells of about two seed spacings: fastest measured for aspect 1..10 (fewer cells to visit)
    n_cells = max(1, int(radius / spacing))
    cell_size = 2 * radius / n_cells
    lo = centre - radius
    idx = np.clip(((seeds - lo) / cell_size).astype(np.int64), 0, n_cells - 1)
    cell = (idx[:, 0] * n_cells + idx[:, 1]) * n_cells + idx[:, 2]
    cell_seeds = np.argsort(cell, kind="stable").astype(np.int64)
    cell_start = np.zeros(n_cells**3 + 1, dtype=np.int64)
    np.cumsum(np.bincount(cell, minlength=n_cells**3), out=cell_start[1:])
    owner = np.empty(shape, dtype=np.int32)
    gap = np.zeros(shape, dtype=np.float64)
    _nearest_two(shape, centre, float(radius), seeds, radial, float(aspect), lo, cell_size, n_cells,
                 cell_start, cell_seeds, owner, gap)
    return owner, gap


def _boundary(grain: np.ndarray) -> np.ndarray:
    """bool (nz, ny, nx): solid voxels with a 6-neighbour of another grain id (0: pore, gas, beyond the box)."""
    g = np.pad(grain, 1)
    core = g[1:-1, 1:-1, 1:-1]
    out = np.zeros(grain.shape, dtype=bool)
    for axis in range(3):
        for step in (-1, 1):
            out |= np.roll(g, step, axis=axis)[1:-1, 1:-1, 1:-1] != core
    return out & (grain > 0)


def _smallest(primary: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Flat indices int64 (n,) of the n least entries of ``primary``, ties at the cut in random
    order from ``rng``; the last index is a greatest of them. O(len) by partition (a full sort
    of a 256^3 box takes seconds)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    kth = np.partition(primary, n - 1)[n - 1]
    below = np.flatnonzero(primary < kth)
    tied = np.flatnonzero(primary == kth)
    tied = tied[np.argsort(rng.random(len(tied)), kind="stable")]
    return np.concatenate((below, tied[: n - len(below)]))


def _refuse(key: str, value, allowed: str) -> UserError:
    return UserError(Problem(key, value, allowed))


def _grains_and_pores(cfg: Config, rng_seeds, rng_pores, centre, radius, inside) -> tuple[np.ndarray, np.ndarray]:
    """Steps 2 and 3: flat indices int64 (n_solid,) of the solid particle voxels in C order, and
    their grain ids int32 (n_solid,), renumbered 1..G in seed order over the seeds left a voxel."""
    part = cfg.particle
    n_particle = int(inside.sum())
    d = part.grain_size_nm / cfg.lattice.voxel_nm
    n_seeds = max(1, round(n_particle / (math.pi / 6 * d**3)))
    direction = rng_seeds.normal(size=(n_seeds, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    seeds = centre + direction * (radius * rng_seeds.random(n_seeds) ** (1.0 / 3.0))[:, None]
    owner, gap = _voronoi(inside.shape, centre, radius, seeds, part.aspect_ratio)

    particle_idx = np.flatnonzero(inside)
    key = gap.ravel()[particle_idx] + PORE_JITTER_VOXELS * rng_pores.random(n_particle)
    is_solid = np.ones(n_particle, dtype=bool)
    is_solid[_smallest(key, round(part.porosity * n_particle), rng_pores)] = False
    solid_idx = particle_idx[is_solid]
    if len(solid_idx) == 0:
        raise _refuse("particle.porosity", part.porosity, f"must leave a solid voxel in a particle of {n_particle} voxels")
    solid_owner = owner.ravel()[solid_idx]
    new_id = np.cumsum(np.bincount(solid_owner, minlength=n_seeds) > 0, dtype=np.int32)
    return solid_idx, new_id[solid_owner]


def _coat(lattice: Lattice, cfg: Config, rng) -> float:
    """Step 6: flag W_COATED on boundary voxels in random order; returns the W placed (quanta)."""
    chem = cfg.chemistry
    tm_total = lattice.totals()["tm"]
    candidates = rng.permutation(np.flatnonzero(_boundary(lattice.grain)))
    w_cum = np.concatenate(([0.0], np.cumsum(W_PER_TM_IN_COATED_VOXEL * lattice.tm.ravel()[candidates])))
    target = chem.w_mol_percent_total / 100.0 * tm_total
    if target > w_cum[-1] + 0.5 * W_PER_TM_IN_COATED_VOXEL * TM_QUANTA_PER_HYDROXIDE_VOXEL:
        w_max = 100.0 * w_cum[-1] / tm_total
        where = f"the {len(candidates)} boundary and surface voxels carry {100 * W_PER_TM_IN_COATED_VOXEL:g} mol% W of their TM each"
        if chem.ald_cycles > 0:
            raise _refuse("chemistry.ald_cycles", chem.ald_cycles, f"at most {int(w_max / W_MOL_PERCENT_PER_ALD_CYCLE)} cycles: {where}")
        raise _refuse("chemistry.w_mol_percent", chem.w_mol_percent, f"at most {w_max:.3g} mol%: {where}")
    n_coated = int(np.argmin(np.abs(w_cum - target)))
    lattice.flags.ravel()[candidates[:n_coated]] |= np.uint8(Flag.W_COATED)
    return float(w_cum[n_coated])


def build(cfg: Config) -> tuple[Lattice, BuildReport]:
    """Build the initial lattice of shape cfg.lattice.shape (nz, ny, nx) and its report.

    Raises `UserError` when the lattice cannot honour the request: no particle voxel
    (particle.radius_um), no solid voxel (particle.porosity), more W than the boundary voxels
    can carry (chemistry.w_mol_percent or chemistry.ald_cycles), too few free voxels for the
    Li source (lattice.shape).
    """
    lat, part, chem = cfg.lattice, cfg.particle, cfg.chemistry
    shape = tuple(int(n) for n in lat.shape)
    rng_seeds, rng_pores, rng_coat, rng_source = np.random.default_rng(
        np.random.SeedSequence([cfg.seed, int(Stream.BUILD)])).spawn(4)
    lattice = Lattice.empty(shape)

    # 1. particle
    centre = np.array(shape, dtype=np.float64) / 2
    radius = part.radius_um * 1000.0 / lat.voxel_nm
    axes = [(np.arange(n) + 0.5 - c) ** 2 for n, c in zip(shape, centre)]
    r2 = axes[0][:, None, None] + axes[1][None, :, None] + axes[2][None, None, :]
    inside = r2 <= radius * radius
    n_particle = int(inside.sum())
    if n_particle == 0:
        raise _refuse("particle.radius_um", part.radius_um, f"the particle must contain a voxel centre: at least {lat.voxel_nm * math.sqrt(3) / 2000:g} µm at voxel_nm = {lat.voxel_nm:g}")

    # 2.-4. grains, pores, solid voxels
    solid_idx, solid_grain = _grains_and_pores(cfg, rng_seeds, rng_pores, centre, radius, inside)
    lattice.phase.ravel()[solid_idx] = Phase.HYDROXIDE
    lattice.tm.ravel()[solid_idx] = TM_QUANTA_PER_HYDROXIDE_VOXEL
    lattice.grain.ravel()[solid_idx] = solid_grain
    grain_voxels = np.bincount(solid_grain)[1:]
    tm_total = lattice.totals()["tm"]

    # 5. pre-dehydrated shell
    shell = part.pre_dehydrated_shell_nm / lat.voxel_nm
    if shell > 0:
        lattice.phase[(lattice.phase == Phase.HYDROXIDE) & (r2 > (radius - shell) ** 2)] = Phase.ROCK_SALT
    rock_salt_tm = int(lattice.tm[lattice.phase == Phase.ROCK_SALT].sum(dtype=np.int64))

    # 6. W coating
    w_total = _coat(lattice, cfg, rng_coat) if chem.w_mol_percent_total > 0 else 0.0

    # 7. Li source
    li_total = round(chem.li_to_tm * tm_total)
    per_voxel = dense_li_quanta_per_voxel(chem.li_source)
    n_source = -(-li_total // per_voxel)
    n_free = r2.size - n_particle
    if n_source > n_free:
        raise _refuse("lattice.shape", list(lat.shape), f"too small to hold the Li source around the particle: {n_source} source voxels needed, {n_free} free")
    r2[inside] = np.inf
    source_idx = _smallest(r2.ravel(), n_source, rng_source)
    lattice.phase.ravel()[source_idx] = source_phase(chem.li_source)
    lattice.li.ravel()[source_idx] = per_voxel
    lattice.li.ravel()[source_idx[-1]] = li_total - per_voxel * (n_source - 1)

    report = BuildReport(
        porosity_asked=part.porosity,
        porosity_achieved=(n_particle - len(solid_idx)) / n_particle,
        li_to_tm_asked=chem.li_to_tm,
        li_to_tm_achieved=li_total / tm_total,
        grain_count=len(grain_voxels),
        grain_size_nm_asked=part.grain_size_nm,
        grain_size_nm_achieved=float(np.mean((6.0 / math.pi * grain_voxels) ** (1.0 / 3.0)) * lat.voxel_nm),
        w_mol_percent_asked=chem.w_mol_percent_total,
        w_mol_percent_achieved=100.0 * w_total / tm_total,
        pre_dehydrated_fraction=rock_salt_tm / tm_total,
        particle_voxels=n_particle,
        source_voxels=n_source,
    )
    return lattice, report
