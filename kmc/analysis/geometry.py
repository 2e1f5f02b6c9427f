"""Particle geometry shared by the analyses: centre, radius, voxel-centre distances.

Conventions (the same as `kmc.build`): voxel (z, y, x) has its centre at
(z + 0.5, y + 0.5, x + 0.5) in voxel units; the particle centre defaults to the box centre
c = (nz, ny, nx) / 2; a voxel is *inside the particle* when |x - c| <= R. Lengths are in
voxels unless the name says otherwise (``_nm``, ``_um``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kmc.state import TM_PHASES, Lattice


@dataclass(frozen=True)
class Particle:
    """Where the secondary particle is: centre (z, y, x) and radius R in voxels, voxel edge in nm."""

    centre: tuple[float, float, float]
    radius: float
    voxel_nm: float

    @property
    def radius_nm(self) -> float:
        return self.radius * self.voxel_nm

    @property
    def voxel_um3(self) -> float:
        """Volume of one voxel in µm^3."""
        return (self.voxel_nm * 1e-3) ** 3


def box_centre(shape: tuple[int, int, int]) -> tuple[float, float, float]:
    """Box centre (nz/2, ny/2, nx/2) in voxel units, the builder's particle centre."""
    return tuple(float(n) / 2.0 for n in shape)


def radial_distance(shape: tuple[int, int, int], centre: tuple[float, float, float] | None = None) -> np.ndarray:
    """float32 (nz, ny, nx): distance of each voxel centre from ``centre`` (voxels)."""
    c = box_centre(shape) if centre is None else centre
    axes = [((np.arange(n) + 0.5 - ci) ** 2).astype(np.float32) for n, ci in zip(shape, c)]
    r2 = axes[0][:, None, None] + axes[1][None, :, None] + axes[2][None, None, :]
    return np.sqrt(r2, dtype=np.float32)


def tm_mask(lattice: Lattice) -> np.ndarray:
    """bool (nz, ny, nx): voxels of a TM-bearing phase (hydroxide, rock salt, layered)."""
    return np.isin(lattice.phase, [int(p) for p in TM_PHASES])


def particle(lattice: Lattice, voxel_nm: float, centre: tuple[float, float, float] | None = None,
             radius: float | None = None) -> Particle:
    """Resolve the particle geometry of ``lattice``.

    centre: voxel units, default the box centre. radius: voxels, default the distance of the
    farthest TM-bearing voxel centre from the centre plus half a voxel (the smallest sphere
    about the centre that holds all TM); pass the configured radius_um * 1000 / voxel_nm
    when it is known (`particle_from_config`).
    """
    c = box_centre(lattice.shape) if centre is None else tuple(float(v) for v in centre)
    if radius is None:
        tm = tm_mask(lattice)
        radius = float(radial_distance(lattice.shape, c)[tm].max()) + 0.5 if tm.any() else min(lattice.shape) / 2.0
    return Particle(c, float(radius), float(voxel_nm))


def particle_from_config(config: dict) -> Particle:
    """Particle of a run from its resolved config mapping (store attrs["config"]).

    centre = box centre, R = particle.radius_um * 1000 / lattice.voxel_nm, as `kmc.build` places it.
    """
    lat = config.get("lattice", {})
    shape = tuple(int(n) for n in lat.get("shape", (64, 64, 64)))
    voxel_nm = float(lat.get("voxel_nm", 50.0))
    radius_um = float(config.get("particle", {}).get("radius_um", 1.0))
    return Particle(box_centre(shape), radius_um * 1000.0 / voxel_nm, voxel_nm)


def equivalent_diameter(voxels: np.ndarray | float, voxel_nm: float = 1.0) -> np.ndarray | float:
    """Equivalent-sphere diameter (6 V / pi)^(1/3) of ``voxels`` voxels, times voxel_nm (nm)."""
    return np.cbrt(6.0 / math.pi * np.asarray(voxels, dtype=np.float64)) * voxel_nm


def equivalent_radius(voxels: np.ndarray | float, voxel_nm: float = 1.0) -> np.ndarray | float:
    """Equivalent-sphere radius (3 V / (4 pi))^(1/3) of ``voxels`` voxels, times voxel_nm (nm)."""
    return np.cbrt(3.0 / (4.0 * math.pi) * np.asarray(voxels, dtype=np.float64)) * voxel_nm
