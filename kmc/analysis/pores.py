"""Pores: porosity inside the particle, connectivity, the internal void, intragranular pores.

Definitions (R the particle radius, "inside" = voxel centre within R of the centre, see
`kmc.analysis.geometry`; V_p = number of voxels inside):

- *Pore space* is every voxel that holds no TM-bearing solid: empty (phase PORE) or Li source
  (a molten or solid Li salt sitting in a pore does not close it: it is consumed or melts).
  The oxide framework is the TM-bearing voxels (hydroxide, rock salt, layered).
- *Nanoporosity* is the fill deficit of TM-bearing voxels, sum(1 - fill) over them: sub-voxel
  pores, e.g. the -53 % solid volume that dehydration to rock salt leaves inside a grain.
- ``porosity_total = 1 - sum(fill of TM voxels inside) / V_p`` = porosity_macro + porosity_nano,
  with ``porosity_macro`` = pore-space voxels inside / V_p and ``porosity_nano`` = fill
  deficit of TM voxels inside / V_p. ``porosity_empty``: PORE voxels inside / V_p.
- Pore components: connected sets of pore-space voxels, face (6-) connectivity
  (`scipy.ndimage.label`). A component is *open* when it reaches the faces of the box (the
  box exterior: gas and Li source surround the particle, so this is "connected to the outside
  of the particle"), else *closed*. ``porosity_open`` / ``porosity_closed``: pore-space voxels
  inside in open / closed components, / V_p.
- The volume of a component is sum(1 - fill) over its voxels (a Li-source voxel counts only
  for its empty part); its equivalent radius is (3 V / 4 pi)^(1/3); its centroid the
  (1 - fill)-weighted mean of voxel centres.
- The *internal void* is the largest closed component (by volume): volume (µm^3), equivalent
  radius (nm), distance of its centroid from the particle centre (nm). 0, 0, NaN without one.
- ``void_inscribed_radius_nm``: the largest distance from a pore-space voxel centre inside
  the particle to the nearest voxel centre that is TM-bearing or outside the particle
  (Euclidean distance transform): the radius of the largest empty ball, which sees a central
  void even when a thin channel connects it to the surface. ``void_inscribed_offset_nm``: the
  distance of that voxel from the centre. ``void_inscribed_radius_core_nm`` /
  ``void_inscribed_radius_shell_nm``: the same, over the balls centred in the core
  (r < core_fraction R, as `kmc.analysis.radial.core_shell`) / in the shell; 0 without pore space there.
- *Intragranular pores*: closed components whose TM-bearing face neighbours all belong to
  one grain (one nonzero grain id): pores enclosed by a single primary grain.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from scipy import ndimage

from kmc.analysis.geometry import equivalent_diameter, equivalent_radius, particle, radial_distance, tm_mask
from kmc.state import Lattice, Phase, fill_fraction

_FACE = ndimage.generate_binary_structure(3, 1)
_FAR = 1e12                    # "no background on this line yet": above any squared distance in a box


@nb.njit(cache=True)
def _envelope_1d(f, n, d, v, z):
    """Squared distance transform of one line (Felzenszwalb & Huttenlocher 2012):
    d[q] = min_p (q - p)^2 + f[p], by the lower envelope of parabolas. f, d: float64 (n,); v, z scratch."""
    k = 0
    v[0] = 0
    z[0] = -np.inf
    z[1] = np.inf
    for q in range(1, n):
        p = v[k]
        s = ((f[q] + q * q) - (f[p] + p * p)) / (2.0 * q - 2.0 * p)
        while s <= z[k]:               # z[0] = -inf ends the loop at k = 0
            k -= 1
            p = v[k]
            s = ((f[q] + q * q) - (f[p] + p * p)) / (2.0 * q - 2.0 * p)
        k += 1
        v[k] = q
        z[k] = s
        z[k + 1] = np.inf
    k = 0
    for q in range(n):
        while z[k + 1] < q:
            k += 1
        p = v[k]
        d[q] = (q - p) * (q - p) + f[p]


@nb.njit(parallel=True, cache=True)
def _squared_edt(mask):
    """float64 (nz, ny, nx): squared Euclidean distance (voxels^2) from each True voxel to the
    nearest False voxel (0 on False voxels); exact, separable in z, y, x; lines in parallel."""
    nz, ny, nx = mask.shape
    out = np.empty((nz, ny, nx), dtype=np.float64)
    for i in nb.prange(nz):
        f, d = np.empty(nx), np.empty(nx)
        v, z = np.empty(nx, dtype=np.int64), np.empty(nx + 1)
        for j in range(ny):
            for k in range(nx):
                f[k] = _FAR if mask[i, j, k] else 0.0
            _envelope_1d(f, nx, d, v, z)
            out[i, j, :] = d
    for i in nb.prange(nz):
        f, d = np.empty(ny), np.empty(ny)
        v, z = np.empty(ny, dtype=np.int64), np.empty(ny + 1)
        for k in range(nx):
            for j in range(ny):
                f[j] = out[i, j, k]
            _envelope_1d(f, ny, d, v, z)
            for j in range(ny):
                out[i, j, k] = d[j]
    for j in nb.prange(ny):
        f, d = np.empty(nz), np.empty(nz)
        v, z = np.empty(nz, dtype=np.int64), np.empty(nz + 1)
        for k in range(nx):
            for i in range(nz):
                f[i] = out[i, j, k]
            _envelope_1d(f, nz, d, v, z)
            for i in range(nz):
                out[i, j, k] = d[i]
    return out


def distance_to_background(mask: np.ndarray) -> np.ndarray:
    """float64 (nz, ny, nx): Euclidean distance (voxels) from each True voxel of bool ``mask`` to
    the nearest False voxel, 0 on False voxels (as `scipy.ndimage.distance_transform_edt`;
    a mask without False voxels gives huge values)."""
    out = np.zeros(mask.shape, dtype=np.float64)
    box = _bbox(mask)
    if box is not None:                # beyond a 1-voxel False margin no voxel can be nearer
        out[box] = np.sqrt(_squared_edt(np.ascontiguousarray(mask[box], dtype=np.bool_)))
    return out


def _bbox(mask: np.ndarray, margin: int = 1) -> tuple[slice, slice, slice] | None:
    """Slices of the bounding box of the True voxels of ``mask`` grown by ``margin`` (clipped), None if none."""
    out = []
    for axis in range(3):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        if hit.size == 0:
            return None
        out.append(slice(max(int(hit[0]) - margin, 0), min(int(hit[-1]) + 1 + margin, mask.shape[axis])))
    return tuple(out)


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    a = np.sort(a)
    return a[np.r_[True, a[1:] != a[:-1]]] if a.size else a


def label_pore_space(lattice: Lattice) -> tuple[np.ndarray, int, np.ndarray]:
    """Label the pore space (non-TM voxels) by face connectivity.

    Returns (labels int32 (nz, ny, nx), 0 outside the pore space; n_components;
    open bool (n_components + 1,), open[k] for component k touching a box face, open[0] = False).
    """
    space = ~tm_mask(lattice)
    labels, n = ndimage.label(space, structure=_FACE)
    labels = labels.astype(np.int32, copy=False)
    faces = np.concatenate([labels[0].ravel(), labels[-1].ravel(), labels[:, 0].ravel(), labels[:, -1].ravel(),
                            labels[:, :, 0].ravel(), labels[:, :, -1].ravel()])
    is_open = np.zeros(n + 1, dtype=bool)
    is_open[_sorted_unique(faces)] = True
    is_open[0] = False
    return labels, int(n), is_open


def _neighbour_grain_counts(labels: np.ndarray, closed: np.ndarray, grain: np.ndarray, is_tm: np.ndarray,
                            n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per component: number of distinct grain ids among TM face neighbours, and the smallest id."""
    pairs = []
    for axis in range(3):
        for a, b in ((slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1))):
            src = [slice(None)] * 3
            dst = [slice(None)] * 3
            src[axis], dst[axis] = a, b
            lab, g, t = labels[tuple(src)], grain[tuple(dst)], is_tm[tuple(dst)]
            sel = (lab > 0) & t
            sel &= closed[lab]
            pairs.append(lab[sel].astype(np.int64) * (2**32) + g[sel].astype(np.int64))
    keys = _sorted_unique(np.concatenate(pairs))
    comp, gid = keys // (2**32), keys % (2**32)
    count = np.bincount(comp, minlength=n + 1)
    first = np.full(n + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, comp, gid)
    first[first == np.iinfo(np.int64).max] = -1
    return count, first


def pore_analysis(lattice: Lattice, voxel_nm: float, centre: tuple[float, float, float] | None = None,
                  radius: float | None = None, core_fraction: float = 0.5) -> dict:
    """Porosity, void and pore-size measures of the particle (see the module docstring).

    Scalars (float unless noted): ``porosity_total``, ``porosity_macro``, ``porosity_nano``,
    ``porosity_empty``, ``porosity_open``, ``porosity_closed``, ``li_source_in_particle_frac``
    (Li-source solid volume inside / V_p), ``particle_volume_um3``, ``pore_volume_um3``,
    ``nanopore_volume_um3``, ``void_volume_um3``, ``void_radius_nm``, ``void_offset_nm``,
    ``void_inscribed_radius_nm``, ``void_inscribed_offset_nm``, ``void_inscribed_radius_core_nm``,
    ``void_inscribed_radius_shell_nm``, ``closed_pore_count`` (int),
    ``intragranular_pore_count`` (int), ``intragranular_pore_volume_um3``,
    ``intragranular_pore_d_mean_nm`` (NaN if none).
    Arrays: ``closed_pore_d_nm`` and ``intragranular_pore_d_nm`` float64 (k,), equivalent
    diameters (nm) for size distributions; ``void_centroid_vox`` float64 (3,) (z, y, x), NaN if no void.
    """
    part = particle(lattice, voxel_nm, centre, radius)
    vox_um3 = part.voxel_um3
    r = radial_distance(lattice.shape, part.centre)
    inside = r <= part.radius
    n_in = max(int(inside.sum()), 1)
    is_tm = tm_mask(lattice)
    fill = np.clip(fill_fraction(lattice).astype(np.float64), 0.0, 1.0)
    space = ~is_tm
    is_src = space & (lattice.phase != int(Phase.PORE))

    tm_in = is_tm & inside
    nano = float((1.0 - fill[tm_in]).sum())
    macro = int((space & inside).sum())
    out: dict = {
        "porosity_total": 1.0 - float(fill[tm_in].sum()) / n_in,
        "porosity_macro": macro / n_in,
        "porosity_nano": nano / n_in,
        "porosity_empty": int(((lattice.phase == int(Phase.PORE)) & inside).sum()) / n_in,
        "li_source_in_particle_frac": float(fill[is_src & inside].sum()) / n_in,
        "particle_volume_um3": n_in * vox_um3,
    }
    out["pore_volume_um3"] = out["porosity_total"] * n_in * vox_um3
    out["nanopore_volume_um3"] = nano * vox_um3

    labels, n, is_open = label_pore_space(lattice)
    lab_in = labels[space & inside]
    out["porosity_open"] = int(is_open[lab_in].sum()) / n_in
    out["porosity_closed"] = int((~is_open[lab_in]).sum()) / n_in

    # closed components: volume, centroid
    closed = ~is_open
    closed[0] = False
    sel = labels > 0
    sel &= closed[labels]
    lab = labels[sel].astype(np.int64)
    empty = 1.0 - fill[sel]
    vol = np.bincount(lab, weights=empty, minlength=n + 1)
    cnt = np.bincount(lab, minlength=n + 1)
    ids = np.flatnonzero(closed & (cnt > 0))
    out["closed_pore_count"] = int(ids.size)
    out["closed_pore_d_nm"] = equivalent_diameter(vol[ids], voxel_nm)

    if ids.size:
        k = int(ids[np.argmax(vol[ids])])
        coords = np.nonzero(labels == k)
        w = 1.0 - fill[coords]
        if w.sum() <= 0:
            w = np.ones_like(w)
        centroid = np.array([float(np.average(c + 0.5, weights=w)) for c in coords])
        out["void_volume_um3"] = float(vol[k]) * vox_um3
        out["void_radius_nm"] = float(equivalent_radius(vol[k], voxel_nm))
        out["void_offset_nm"] = float(np.linalg.norm(centroid - np.array(part.centre))) * voxel_nm
        out["void_centroid_vox"] = centroid
    else:
        out.update(void_volume_um3=0.0, void_radius_nm=0.0, void_offset_nm=float("nan"),
                   void_centroid_vox=np.full(3, np.nan))

    # largest empty ball inside the particle
    free = space & inside
    if free.any():
        edt = distance_to_background(free)
        where = np.unravel_index(int(np.argmax(edt)), edt.shape)
        out["void_inscribed_radius_nm"] = float(edt[where]) * voxel_nm
        out["void_inscribed_offset_nm"] = float(r[where]) * voxel_nm
    else:
        edt = np.zeros(lattice.shape)
        out["void_inscribed_radius_nm"] = 0.0
        out["void_inscribed_offset_nm"] = float("nan")
    core = r < core_fraction * part.radius
    for name, region in (("core", free & core), ("shell", free & ~core)):
        out[f"void_inscribed_radius_{name}_nm"] = float(edt[region].max()) * voxel_nm if region.any() else 0.0

    # intragranular: closed components bounded by one grain
    box = _bbox(sel)
    if box is None:
        count, first = np.zeros(n + 1, np.int64), np.full(n + 1, -1, np.int64)
    else:
        count, first = _neighbour_grain_counts(labels[box], closed, lattice.grain[box], is_tm[box], n)
    intra = ids[(count[ids] == 1) & (first[ids] > 0)]
    d_intra = equivalent_diameter(vol[intra], voxel_nm)
    out["intragranular_pore_count"] = int(intra.size)
    out["intragranular_pore_volume_um3"] = float(vol[intra].sum()) * vox_um3
    out["intragranular_pore_d_mean_nm"] = float(d_intra.mean()) if intra.size else float("nan")
    out["intragranular_pore_d_nm"] = d_intra
    return out
