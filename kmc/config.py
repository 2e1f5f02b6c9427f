"""Run configuration: TOML -> frozen, validated models.

Every field carries its unit in its name (``voxel_nm``, ``rate_C_per_min``, ``hold_h``).
`load_config` raises `UserError` with one `Problem` per mistake (unknown keys included), so
the CLI can print one line each and exit 2 before anything is written. The full key
reference is docs/config.md.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kmc.errors import Problem, UserError

#: W added per ALD cycle of WO3, mol% of TM (MODEL.md section 1, finding 6).
W_MOL_PERCENT_PER_ALD_CYCLE = 0.11

#: Named compositions, Ni:Co:Mn mole fractions.
COMPOSITIONS = {
    "NCM111": (1 / 3, 1 / 3, 1 / 3),
    "NCM523": (0.5, 0.2, 0.3),
    "NCM622": (0.6, 0.2, 0.2),
    "NCM811": (0.8, 0.1, 0.1),
    "NCM90": (0.9, 0.05, 0.05),
    "LNO": (1.0, 0.0, 0.0),
}

LI_SOURCES = ("LiOH", "LiOH·H2O", "Li2CO3")
_LI_SOURCE_ALIASES = {"LiOH.H2O": "LiOH·H2O", "LiOH_H2O": "LiOH·H2O", "LiOHH2O": "LiOH·H2O"}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatticeConfig(_Frozen):
    """Voxel edge and box size. shape is (nz, ny, nx) voxels."""

    voxel_nm: Annotated[float, Field(gt=0, le=1000)] = 50.0
    shape: tuple[Annotated[int, Field(ge=8, le=4096)], Annotated[int, Field(ge=8, le=4096)], Annotated[int, Field(ge=8, le=4096)]] = (64, 64, 64)

    @property
    def n_voxels(self) -> int:
        return int(math.prod(self.shape))


class ParticleConfig(_Frozen):
    """One spherical secondary particle of Voronoi primary grains.

    grain_size_nm is the mean equivalent-sphere diameter of a primary grain; aspect_ratio > 1
    elongates grains along the particle radius; porosity is the intergranular pore volume
    fraction inside the particle; pre_dehydrated_shell_nm turns an outer shell to rock salt.
    """

    radius_um: Annotated[float, Field(gt=0, le=100)] = 1.0
    grain_size_nm: Annotated[float, Field(gt=0)] = 300.0
    aspect_ratio: Annotated[float, Field(ge=1, le=10)] = 1.0
    porosity: Annotated[float, Field(ge=0, lt=0.6)] = 0.1
    pre_dehydrated_shell_nm: Annotated[float, Field(ge=0)] = 0.0


class CompositionRatio(_Frozen):
    ni: Annotated[float, Field(ge=0, le=1)]
    co: Annotated[float, Field(ge=0, le=1)] = 0.0
    mn: Annotated[float, Field(ge=0, le=1)] = 0.0

    @model_validator(mode="after")
    def _sums_to_one(self):
        if abs(self.ni + self.co + self.mn - 1.0) > 1e-6:
            raise ValueError("ni + co + mn must equal 1")
        return self


class ChemistryConfig(_Frozen):
    """Precursor composition, Li source and ratio, W coating (mol% or ALD cycles)."""

    composition: str | CompositionRatio = "NCM622"
    li_source: str = "LiOH"
    li_to_tm: Annotated[float, Field(gt=0, le=2.0)] = 1.05
    w_mol_percent: Annotated[float, Field(ge=0, le=10)] = 0.0
    ald_cycles: Annotated[int, Field(ge=0, le=200)] = 0

    @field_validator("composition")
    @classmethod
    def _known_composition(cls, v):
        if isinstance(v, str) and v not in COMPOSITIONS:
            raise ValueError(f"one of {', '.join(COMPOSITIONS)} or a table {{ni, co, mn}}")
        return v

    @field_validator("li_source")
    @classmethod
    def _known_source(cls, v: str):
        v = _LI_SOURCE_ALIASES.get(v, v)
        if v not in LI_SOURCES:
            raise ValueError(f"one of {', '.join(LI_SOURCES)}")
        return v

    @model_validator(mode="after")
    def _one_w_spec(self):
        if self.w_mol_percent > 0 and self.ald_cycles > 0:
            raise ValueError("give either w_mol_percent or ald_cycles, not both")
        return self

    @property
    def ni_co_mn(self) -> tuple[float, float, float]:
        c = self.composition
        return COMPOSITIONS[c] if isinstance(c, str) else (c.ni, c.co, c.mn)

    @property
    def w_mol_percent_total(self) -> float:
        """W per TM in mol%, from w_mol_percent or ald_cycles x 0.11 mol%/cycle."""
        return self.w_mol_percent or self.ald_cycles * W_MOL_PERCENT_PER_ALD_CYCLE


class Segment(_Frozen):
    """One program segment. Exactly one of these shapes:

    - ramp:   ``{ramp_to_C, rate_C_per_min}`` heat at a constant rate to a higher temperature
    - hold:   ``{hold_h}``                   stay at the current temperature
    - cool:   ``{cool_to_C, rate_C_per_min}`` cool at a constant rate to a lower temperature
    - quench: ``{quench_to_C}``              drop instantly (ends the furnace program's chemistry)
    """

    ramp_to_C: Annotated[float, Field(ge=-273.15, le=2000)] | None = None
    cool_to_C: Annotated[float, Field(ge=-273.15, le=2000)] | None = None
    quench_to_C: Annotated[float, Field(ge=-273.15, le=2000)] | None = None
    rate_C_per_min: Annotated[float, Field(gt=0, le=1000)] | None = None
    hold_h: Annotated[float, Field(gt=0, le=1000)] | None = None

    @model_validator(mode="after")
    def _one_shape(self):
        given = {k for k, v in self.__dict__.items() if v is not None}
        shapes = [{"ramp_to_C", "rate_C_per_min"}, {"hold_h"}, {"cool_to_C", "rate_C_per_min"}, {"quench_to_C"}]
        if given not in shapes:
            raise ValueError(
                "a segment is one of {ramp_to_C, rate_C_per_min} | {hold_h} | "
                "{cool_to_C, rate_C_per_min} | {quench_to_C}"
            )
        return self

    @property
    def kind(self) -> str:
        for k, name in (("ramp_to_C", "ramp"), ("cool_to_C", "cool"), ("quench_to_C", "quench")):
            if getattr(self, k) is not None:
                return name
        return "hold"


class ProgramConfig(_Frozen):
    """Furnace temperature program: start temperature and segments in order."""

    start_C: Annotated[float, Field(ge=-273.15, le=2000)] = 25.0
    segments: tuple[Segment, ...]

    @field_validator("segments")
    @classmethod
    def _not_empty(cls, v):
        if not v:
            raise ValueError("at least one segment")
        return v


class OutputConfig(_Frozen):
    """When to write snapshots (frames) and observable rows, in furnace time or temperature.

    A frame is always written at the start and at the end of the program.
    """

    snapshot_every_min: Annotated[float, Field(gt=0)] | None = 30.0
    snapshot_at_C: tuple[float, ...] = ()
    observe_every_min: Annotated[float, Field(gt=0)] = 5.0


class NumericsConfig(_Frozen):
    """Time-step control: dt never exceeds max_dt_s, the time for max_dT_C of change, nor
    max_event_probability / (fastest reaction rate); Li hops are capped at max_hop_probability
    per step instead (docs/li_transport.md), and while a phase that a reaction takes off the Li
    path without Li is present (hydroxide: dehydration), dt stays short enough that capped Li
    transport still spreads over transport_length_factor x the particle radius within that
    reaction's time 1/k (0 switches this limit off; docs/li_transport.md section 6)."""

    max_dt_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    max_dT_C: Annotated[float, Field(gt=0, le=50)] = 1.0
    max_event_probability: Annotated[float, Field(gt=0, le=1)] = 0.1
    max_hop_probability: Annotated[float, Field(gt=0, le=1)] = 0.25
    transport_length_factor: Annotated[float, Field(ge=0, le=10)] = 3.0


class Config(_Frozen):
    """A whole run: what to build, which program, which physics, where randomness starts."""

    seed: Annotated[int, Field(ge=0, lt=2**63)] = 1
    backend: Literal["auto", "cpu", "cuda"] = "auto"
    params: str = "default"
    lattice: LatticeConfig = LatticeConfig()
    particle: ParticleConfig = ParticleConfig()
    chemistry: ChemistryConfig = ChemistryConfig()
    program: ProgramConfig
    output: OutputConfig = OutputConfig()
    numerics: NumericsConfig = NumericsConfig()

    def to_dict(self) -> dict:
        """Fully resolved config as plain TOML/JSON-compatible data (None values dropped)."""
        return self.model_dump(mode="json", exclude_none=True)


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _allowed_for(model: type[BaseModel] | None) -> str:
    return ", ".join(model.model_fields) if model is not None else "see docs/config.md"


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model class whose field set applies at ``loc`` (for 'unknown key' messages)."""
    model: type[BaseModel] | None = Config
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        for arg in list(candidates):
            candidates += list(getattr(arg, "__args__", ()))
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return model


def problems_from_validation(err: ValidationError) -> list[Problem]:
    problems = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p in ("str", "CompositionRatio")))
        key = _key_path(loc)
        value = e.get("input") if e["type"] != "missing" else None
        if e["type"] == "extra_forbidden":
            allowed = f"unknown key; allowed here: {_allowed_for(_model_at(loc))}"
        else:
            allowed = e["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
        problems.append(Problem(key, value, allowed))
    # a union field reports once per alternative; keep one line per key
    seen, unique = set(), []
    for p in problems:
        if p.key not in seen:
            seen.add(p.key)
            unique.append(p)
    return unique


def cross_check(cfg: Config) -> list[Problem]:
    """Checks that need several fields: the program's direction, fit of the particle and source."""
    from kmc.state import dense_li_quanta_per_voxel, TM_QUANTA_PER_HYDROXIDE_VOXEL

    problems: list[Problem] = []
    T = cfg.program.start_C
    for i, seg in enumerate(cfg.program.segments):
        key = f"program.segments[{i}]"
        if seg.kind == "ramp":
            if seg.ramp_to_C <= T:
                problems.append(Problem(f"{key}.ramp_to_C", seg.ramp_to_C, f"must be above the temperature before it ({T:g} °C); use cool_to_C to cool"))
            T = seg.ramp_to_C
        elif seg.kind == "cool":
            if seg.cool_to_C >= T:
                problems.append(Problem(f"{key}.cool_to_C", seg.cool_to_C, f"must be below the temperature before it ({T:g} °C); use ramp_to_C to heat"))
            T = seg.cool_to_C
        elif seg.kind == "quench":
            if seg.quench_to_C >= T:
                problems.append(Problem(f"{key}.quench_to_C", seg.quench_to_C, f"must be below the temperature before it ({T:g} °C)"))
            T = seg.quench_to_C

    lat, part = cfg.lattice, cfg.particle
    diameter_vox = 2 * part.radius_um * 1000.0 / lat.voxel_nm
    if diameter_vox > min(lat.shape):
        max_r = min(lat.shape) * lat.voxel_nm / 2000.0
        problems.append(Problem("particle.radius_um", part.radius_um, f"the particle must fit in the box: at most {max_r:g} µm for shape {list(lat.shape)} at voxel_nm = {lat.voxel_nm:g}"))
    if part.grain_size_nm < 2 * lat.voxel_nm:
        problems.append(Problem("particle.grain_size_nm", part.grain_size_nm, f"grains must span at least 2 voxels: at least {2 * lat.voxel_nm:g} nm at voxel_nm = {lat.voxel_nm:g}"))
    if part.pre_dehydrated_shell_nm >= part.radius_um * 1000.0:
        problems.append(Problem("particle.pre_dehydrated_shell_nm", part.pre_dehydrated_shell_nm, f"must be thinner than the particle radius ({part.radius_um * 1000:g} nm)"))
    if diameter_vox <= min(lat.shape):
        particle_vox = 4.0 / 3.0 * math.pi * (diameter_vox / 2) ** 3
        tm_quanta = particle_vox * (1 - part.porosity) * TM_QUANTA_PER_HYDROXIDE_VOXEL
        need = cfg.chemistry.li_to_tm * tm_quanta / dense_li_quanta_per_voxel(cfg.chemistry.li_source)
        room = lat.n_voxels - particle_vox
        if need > room:
            problems.append(Problem("lattice.shape", list(lat.shape), f"too small to hold the Li source around the particle: about {need:.0f} source voxels needed, {room:.0f} free"))
    for i, T_snap in enumerate(cfg.output.snapshot_at_C):
        if not (-273.15 <= T_snap <= 2000):
            problems.append(Problem(f"output.snapshot_at_C[{i}]", T_snap, "a temperature between -273.15 and 2000 °C"))
    return problems


def parse_config(data: dict, source: str = "config") -> Config:
    """Validate a config mapping; raise `UserError` listing every problem."""
    try:
        cfg = Config.model_validate(data)
    except ValidationError as err:
        raise UserError([Problem(f"{source}: {p.key}", p.value, p.allowed) for p in problems_from_validation(err)]) from None
    problems = cross_check(cfg)
    if problems:
        raise UserError([Problem(f"{source}: {p.key}", p.value, p.allowed) for p in problems])
    return cfg


def read_toml(path: Path, key: str, allowed: str, value: object = None, prefix: str = "") -> dict:
    """The TOML file at ``path`` as a dict. A missing file is a `UserError` on ``key`` (value
    ``value``, default the path); a syntax error names the file and the line."""
    if not path.is_file():
        raise UserError(Problem(key, str(path) if value is None else value, allowed))
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{prefix}{path}: not valid TOML: {err}") from None


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML run configuration."""
    path = Path(path)
    return parse_config(read_toml(path, "CONFIG", "an existing TOML file"), source=path.name)
