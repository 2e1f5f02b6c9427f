"""Which presets the validation runs, and the reduced-size form of each.

The validation runs the preset files of runs/ unchanged except for size:

- ``full``: the preset as written (112^3 voxels of 50 nm, a 5 µm particle).
- ``quick``: a box of ``QUICK_BOX`` ^3 voxels around the presets' particle: the radius stays
  (2.5 µm) and the voxel edge grows so that the particle spans ``PARTICLE_FILL`` x half the
  box (89 nm for 64^3 instead of 50 nm), which leaves the Li source its room around the
  particle. The race of Li transport with dehydration goes with the square of the radius
  (docs/li_transport.md, section 6), so the particle keeps its size and the lattice is what
  is coarser: grains of 250-300 nm span ~3 voxels instead of 5-6, and pores, voids and
  boundaries are resolved at 89 nm. Grain size, aspect ratio, porosity, the pre-dehydrated
  shell, chemistry, program and numerics are the presets'; every rate law is per physical
  volume, length or boundary width, so it does not depend on the voxel edge. (Until
  2026-12-01 the quick size kept the 50 nm voxel and shrank the particle to 0.7 µm, which Li
  crosses before the hydroxide dehydrates.)
- ``box=N`` (tests): as quick with an N^3 box; the grain size is raised to at least 2.5 voxels
  so that grains still span several voxels.

The quenched series (200..850 °C) is one 5 °C/min ramp: its frames are taken from the
direct run, which passes every quench temperature on the same ramp before its hold
(`QUENCH_SOURCE`); the quench presets stay runnable on their own.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from kmc.config import Config, parse_config, read_toml

RUNS_DIR = Path(__file__).resolve().parents[2] / "runs"

#: Presets the validation runs, in order (cheapest information first).
VALIDATION_RUNS = ("ncm622_lioh_direct", "ncm622_li2co3", "ncm622_lioh_two_step", "ncm90_bare", "ncm90_ald10",
                   "ncm90_ald25", "ncm90_predehydrated", "ncm90_operando")

#: The quench presets and the run whose ramp provides their frames.
QUENCH_PRESETS = {T: f"ncm622_lioh_quench_{T}C" for T in (200, 250, 300, 500, 700, 850)}
QUENCH_SOURCE = "ncm622_lioh_direct"

QUICK_BOX = 64
PARTICLE_FILL = 0.875


@dataclass(frozen=True)
class Size:
    """How big the validation runs are: 'full', 'quick' or a box edge in voxels."""

    name: str
    box: int | None = None

    @classmethod
    def parse(cls, quick: bool, box: int | None) -> "Size":
        if box is not None:
            return cls(f"box{box}", box)
        return cls("quick", QUICK_BOX) if quick else cls("full", None)


def preset_path(name: str) -> Path:
    return RUNS_DIR / f"{name}.toml"


def preset_data(name: str) -> dict:
    path = preset_path(name)
    return read_toml(path, "preset", "a preset in runs/", value=name)


def reduce(data: dict, box: int) -> dict:
    """The preset mapping ``data`` on a box^3 lattice around the same particle (module docstring)."""
    data = copy.deepcopy(data)
    lat = data.setdefault("lattice", {})
    part = data.setdefault("particle", {})
    radius_nm = 1000.0 * float(part.get("radius_um", 1.0))
    voxel_nm = max(float(lat.get("voxel_nm", 50.0)), radius_nm / (PARTICLE_FILL * box / 2.0))
    lat["shape"] = [box, box, box]
    lat["voxel_nm"] = voxel_nm
    part["grain_size_nm"] = max(float(part.get("grain_size_nm", 300.0)), 2.5 * voxel_nm)
    return data


def config_for(name: str, size: Size, seed: int, params: str | None = None) -> Config:
    """The validated config of preset ``name`` at ``size`` with ``seed`` (and parameter set ``params``)."""
    data = preset_data(name)
    if params is not None:
        data["params"] = params
    if size.box is not None:
        data = reduce(data, size.box)
    data["seed"] = int(seed)
    return parse_config(data, source=f"{name}.toml ({size.name})")
