"""Primary grains: count, equivalent diameters, lithiated grains, crystallite size.

A grain is the set of voxels that carry one nonzero ``grain`` id (any phase; pores and Li
source carry 0). Its size is the equivalent-sphere diameter of its voxel count,
``d = (6 n / pi)^(1/3) * voxel_nm`` (nm), as in `kmc.build.BuildReport`.

A grain is *lithiated* when the layered phase holds at least `LITHIATED_THRESHOLD` of its TM
(its TM is "mostly" layered). The *crystallite size* is the volume-weighted mean equivalent
diameter of the lithiated grains, ``sum(n_i d_i) / sum(n_i)`` (nm), the average that a
Scherrer analysis of the layered peaks weighs the same way (by diffracting volume).
"""

from __future__ import annotations

import numpy as np

from kmc.analysis.geometry import equivalent_diameter
from kmc.state import Lattice, TM_PHASES

#: A grain is lithiated when layered TM / grain TM >= this ("mostly layered").
LITHIATED_THRESHOLD = 0.5


def _grain_index(grain: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids int64 (G,), flat voxel indices int64 (m,) of grain voxels, their grain index int64 (m,) into ids)."""
    flat = grain.reshape(-1)
    where = np.flatnonzero(flat > 0)
    g = flat[where].astype(np.int64)
    if g.size == 0:
        return np.zeros(0, np.int64), where, np.zeros(0, np.int64)
    if g.max() <= 4 * g.size + 1024:               # dense ids: bincount beats a sort
        present = np.flatnonzero(np.bincount(g))
        lookup = np.full(int(g.max()) + 1, -1, np.int64)
        lookup[present] = np.arange(present.size)
        return present.astype(np.int64), where, lookup[g]
    ids, inverse = np.unique(g, return_inverse=True)
    return ids.astype(np.int64), where, inverse.reshape(-1)


def grain_table(lattice: Lattice, voxel_nm: float, lithiated_threshold: float = LITHIATED_THRESHOLD) -> dict[str, np.ndarray]:
    """One row per grain, columns as arrays of length G (grains present, ascending id):

    - ``grain_id`` int64; ``n_voxels`` int64; ``d_nm`` float64 equivalent diameter (nm);
    - ``tm_q`` float64 TM quanta; ``tm_frac_<p>`` float64 for the TM phases (NaN for a grain without TM);
    - ``lithiated`` bool: tm_frac_layered >= lithiated_threshold.
    """
    ids, where, idx = _grain_index(lattice.grain)
    G = ids.size
    n = np.bincount(idx, minlength=G).astype(np.int64)
    phase = lattice.phase.reshape(-1)[where]
    tm = lattice.tm.reshape(-1)[where].astype(np.float64)
    tm_q = np.bincount(idx, weights=tm, minlength=G)
    out = {"grain_id": ids, "n_voxels": n, "d_nm": equivalent_diameter(n, voxel_nm), "tm_q": tm_q}
    with np.errstate(invalid="ignore", divide="ignore"):
        for p in TM_PHASES:
            sel = phase == int(p)
            out[f"tm_frac_{p.name.lower()}"] = np.bincount(idx[sel], weights=tm[sel], minlength=G) / tm_q
        out["lithiated"] = np.nan_to_num(out["tm_frac_layered"], nan=0.0) >= lithiated_threshold
    return out


def grain_size_map(lattice: Lattice, voxel_nm: float) -> np.ndarray:
    """float32 (nz, ny, nx): equivalent diameter (nm) of the grain each voxel belongs to, NaN for grain 0."""
    ids, where, idx = _grain_index(lattice.grain)
    out = np.full(lattice.grain.size, np.nan, dtype=np.float32)
    if ids.size:
        n = np.bincount(idx, minlength=ids.size)
        out[where] = equivalent_diameter(n, voxel_nm)[idx]
    return out.reshape(lattice.shape)


def grain_stats(lattice: Lattice, voxel_nm: float, lithiated_threshold: float = LITHIATED_THRESHOLD) -> dict:
    """Grain summary. Floats unless noted:

    - ``grain_count`` (int), ``grain_d_mean_nm`` (number mean), ``grain_d_median_nm``,
      ``grain_d_vol_mean_nm`` (volume-weighted mean, sum n d / sum n);
    - ``lithiated_grain_count`` (int), ``lithiated_grain_frac`` (of grain_count);
    - ``crystallite_size_nm``: volume-weighted mean d of lithiated grains (NaN if none);
    - ``d_nm``: float64 (G,) all equivalent diameters (nm), for size distributions.
    """
    t = grain_table(lattice, voxel_nm, lithiated_threshold)
    d, n, lit = t["d_nm"], t["n_voxels"].astype(np.float64), t["lithiated"]
    G = int(d.size)
    nan = float("nan")
    return {
        "grain_count": G,
        "grain_d_mean_nm": float(d.mean()) if G else nan,
        "grain_d_median_nm": float(np.median(d)) if G else nan,
        "grain_d_vol_mean_nm": float((n * d).sum() / n.sum()) if G else nan,
        "lithiated_grain_count": int(lit.sum()),
        "lithiated_grain_frac": float(lit.sum()) / G if G else 0.0,
        "crystallite_size_nm": float((n[lit] * d[lit]).sum() / n[lit].sum()) if lit.any() else nan,
        "d_nm": d,
    }


def phase_domain_sizes(lattice: Lattice, voxel_nm: float) -> dict[str, float]:
    """Volume-weighted mean equivalent diameter (nm) of coherent domains per TM phase.

    A domain is the set of voxels of one grain in one phase (a grain half turned to rock salt
    holds a rock-salt and a hydroxide domain). Keys are phase names; NaN for an absent phase.
    Used as the crystallite size of each phase in the simulated XRD.
    """
    ids, where, idx = _grain_index(lattice.grain)
    phase = lattice.phase.reshape(-1)[where].astype(np.int64)
    out = {}
    for p in TM_PHASES:
        sel = phase == int(p)
        if not sel.any():
            out[p.name.lower()] = float("nan")
            continue
        n = np.bincount(idx[sel], minlength=ids.size).astype(np.float64)
        n = n[n > 0]
        out[p.name.lower()] = float((n * equivalent_diameter(n, voxel_nm)).sum() / n.sum())
    return out
