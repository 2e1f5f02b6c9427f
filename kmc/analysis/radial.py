"""Radial profiles in shells of r/R, and the core-versus-shell summary.

r is the distance of a voxel centre from the particle centre, R the particle radius (see
`kmc.analysis.geometry`). Shell k of n holds the voxels with k <= n r / (r_max R) < k + 1
(the last shell also takes r = r_max R exactly); voxels beyond r_max R are left out.

Per region (shell, core or outer shell), with sums over the region's voxels:

- ``tm_frac_<p>``: TM quanta in phase p / TM quanta (TM basis), p in hydroxide, rock_salt,
  layered, plus layered_disordered / layered_ordered (`kmc.analysis.phases.DISORDER_THRESHOLD`);
- ``solid_fill``: mean derived fill of TM-bearing solid over all voxels of the region
  (pores count 0): the oxide's solid volume fraction, the "density" of a cross-section;
- ``porosity``: 1 - solid_fill (voxel pores plus intragranular fill deficits; Li source in
  pores counts as pore space, as in `kmc.analysis.pores`);
- ``li_source_fill``: mean fill of Li-source voxels (molten or solid salt in the region);
- ``li_to_tm``: Li quanta / TM quanta in TM-bearing voxels (Li inside the oxide), NaN without TM;
- ``li_ni_disorder``: TM-weighted mean disorder/255 of layered voxels, NaN without layered TM;
- ``grain_size_nm``: mean over grain voxels of the equivalent diameter of the grain each
  belongs to (a volume-weighted mean grain size; NaN without grain voxels);
- ``n_voxels`` and ``volume_um3``: the region's size.

Core versus shell (`core_shell`): the *core* is the inner half of the radius, r < R/2 (1/8 of
the particle volume); the *shell* is the rest of the particle, R/2 <= r <= R.
"""

from __future__ import annotations

import numpy as np

from kmc.analysis.geometry import particle, radial_distance
from kmc.analysis.grains import grain_size_map
from kmc.analysis.phases import DISORDER_THRESHOLD
from kmc.state import LI_SOURCE_PHASES, TM_PHASES, Lattice, Phase, fill_fraction

#: Columns of a region summary, in order (see the module docstring).
REGION_COLUMNS = ("tm_frac_hydroxide", "tm_frac_rock_salt", "tm_frac_layered", "tm_frac_layered_disordered",
                  "tm_frac_layered_ordered", "solid_fill", "porosity", "li_source_fill", "li_to_tm",
                  "li_ni_disorder", "grain_size_nm", "n_voxels", "volume_um3")


def _region_stats(lattice: Lattice, region: np.ndarray, n_regions: int, voxel_nm: float,
                  disorder_threshold: float) -> dict[str, np.ndarray]:
    """Stats per region; region int64 (nz, ny, nx) in 0..n_regions-1, or -1 for none."""
    sel = region.reshape(-1) >= 0
    reg = region.reshape(-1)[sel]
    phase = lattice.phase.reshape(-1)[sel]
    tm = lattice.tm.reshape(-1)[sel].astype(np.float64)
    li = lattice.li.reshape(-1)[sel].astype(np.float64)
    dis = lattice.disorder.reshape(-1)[sel].astype(np.float64) / 255.0
    fill = fill_fraction(lattice).reshape(-1)[sel].astype(np.float64)
    gsize = grain_size_map(lattice, voxel_nm).reshape(-1)[sel].astype(np.float64)

    def total(weights, mask=None):
        if mask is None:
            return np.bincount(reg, weights=weights, minlength=n_regions)
        return np.bincount(reg[mask], weights=weights[mask], minlength=n_regions)

    n = np.bincount(reg, minlength=n_regions).astype(np.float64)
    is_tm = np.isin(phase, [int(p) for p in TM_PHASES])
    is_src = np.isin(phase, [int(p) for p in LI_SOURCE_PHASES])
    layered = phase == int(Phase.LAYERED)
    tm_tot = total(tm)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for p in TM_PHASES:
            out[f"tm_frac_{p.name.lower()}"] = np.where(tm_tot > 0, total(tm, phase == int(p)) / tm_tot, 0.0)
        hi = layered & (dis >= disorder_threshold)
        out["tm_frac_layered_disordered"] = np.where(tm_tot > 0, total(tm, hi) / tm_tot, 0.0)
        out["tm_frac_layered_ordered"] = np.where(tm_tot > 0, total(tm, layered & ~hi) / tm_tot, 0.0)
        out["solid_fill"] = np.where(n > 0, total(fill, is_tm) / n, np.nan)
        out["porosity"] = 1.0 - out["solid_fill"]
        out["li_source_fill"] = np.where(n > 0, total(fill, is_src) / n, np.nan)
        out["li_to_tm"] = np.where(tm_tot > 0, total(li, is_tm) / tm_tot, np.nan)
        lay_tm = total(tm, layered)
        out["li_ni_disorder"] = np.where(lay_tm > 0, total(tm * dis, layered) / lay_tm, np.nan)
        has_g = ~np.isnan(gsize)
        ng = total(np.ones_like(gsize), has_g)
        out["grain_size_nm"] = np.where(ng > 0, total(np.nan_to_num(gsize), has_g) / ng, np.nan)
    out["n_voxels"] = n.astype(np.int64)
    out["volume_um3"] = n * (voxel_nm * 1e-3) ** 3
    return out


def radial_profiles(lattice: Lattice, voxel_nm: float, centre: tuple[float, float, float] | None = None,
                    radius: float | None = None, n_shells: int = 10, r_max: float = 1.0,
                    disorder_threshold: float = DISORDER_THRESHOLD) -> dict[str, np.ndarray]:
    """Profiles in ``n_shells`` shells of equal width in r/R from 0 to ``r_max``.

    centre (voxels), radius R (voxels): see `kmc.analysis.geometry.particle` for the defaults.
    Returns arrays of shape (n_shells,): ``r_over_R_lo``, ``r_over_R_hi``, ``r_over_R_mid``,
    ``r_mid_nm`` (float64) and the `REGION_COLUMNS` of the module docstring (float64; n_voxels int64).
    """
    part = particle(lattice, voxel_nm, centre, radius)
    rr = radial_distance(lattice.shape, part.centre) / np.float32(part.radius)
    k = np.floor(rr.astype(np.float64) * n_shells / r_max).astype(np.int64)
    k[(rr > r_max)] = -1
    k[k == n_shells] = n_shells - 1                 # r == r_max exactly
    edges = np.linspace(0.0, r_max, n_shells + 1)
    out = {"r_over_R_lo": edges[:-1], "r_over_R_hi": edges[1:], "r_over_R_mid": 0.5 * (edges[:-1] + edges[1:])}
    out["r_mid_nm"] = out["r_over_R_mid"] * part.radius_nm
    out.update(_region_stats(lattice, k, n_shells, voxel_nm, disorder_threshold))
    return out


def core_shell(lattice: Lattice, voxel_nm: float, centre: tuple[float, float, float] | None = None,
               radius: float | None = None, core_fraction: float = 0.5,
               disorder_threshold: float = DISORDER_THRESHOLD) -> dict[str, float]:
    """Core (r < core_fraction R) versus shell (core_fraction R <= r <= R) summary.

    Returns floats ``core_<col>`` and ``shell_<col>`` for every column of `REGION_COLUMNS`
    (n_voxels as float), plus ``shell_minus_core_tm_frac_layered``.
    """
    part = particle(lattice, voxel_nm, centre, radius)
    r = radial_distance(lattice.shape, part.centre)
    region = np.full(lattice.shape, -1, dtype=np.int64)
    region[r <= part.radius] = 1
    region[r < core_fraction * part.radius] = 0
    stats = _region_stats(lattice, region, 2, voxel_nm, disorder_threshold)
    out = {}
    for i, name in enumerate(("core", "shell")):
        for col in REGION_COLUMNS:
            out[f"{name}_{col}"] = float(stats[col][i])
    out["shell_minus_core_tm_frac_layered"] = out["shell_tm_frac_layered"] - out["core_tm_frac_layered"]
    return out
