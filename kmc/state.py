"""The lattice state: structure of arrays, compact integer dtypes, exact invariants.

Every field has shape (nz, ny, nx), C order. Amounts are integer *quanta* so that Li and TM
are conserved exactly: one quantum is 1/64 of the TM moles in a voxel filled with dense
TM(OH)2, and Li uses the same mole unit, so Li:TM of a voxel is li/tm.

| field    | dtype  | meaning                                                   |
|----------|--------|-----------------------------------------------------------|
| phase    | uint8  | `Phase` code                                              |
| grain    | int32  | primary-grain id, 0 for none (pore, Li source)            |
| li       | uint8  | Li quanta in the voxel                                    |
| tm       | uint8  | TM quanta in the voxel                                    |
| disorder | uint8  | Li/Ni site mixing of layered voxels, 0 (ordered)..255     |
| flags    | uint8  | bit field, `Flag`                                         |

9 bytes per voxel. The solid fill of a voxel is derived, not stored:
``fill = amount * V_m(phase) / (64 * V_m(TM(OH)2))`` with amount = tm for TM phases and
li for Li sources (see `fill_fraction`). docs/state.md is the long form of this table.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum, IntFlag

import numpy as np


class Phase(IntEnum):
    PORE = 0            #: gas or empty space
    HYDROXIDE = 1       #: TM(OH)2, P-3m1 precursor
    ROCK_SALT = 2       #: TMO, Fm-3m
    LAYERED = 3         #: Li(TM)O2, R-3m; Li/Ni disorder in `disorder`
    LIOH_H2O = 4        #: LiOH·H2O source
    LIOH = 5            #: anhydrous LiOH source
    LIOH_MELT = 6       #: molten LiOH (above 462 °C)
    LI2CO3 = 7          #: Li2CO3 source


class Flag(IntFlag):
    W_COATED = 1        #: voxel carries W from the coating (forms Li-W-O with Li)


TM_PHASES = (Phase.HYDROXIDE, Phase.ROCK_SALT, Phase.LAYERED)
LI_SOURCE_PHASES = (Phase.LIOH_H2O, Phase.LIOH, Phase.LIOH_MELT, Phase.LI2CO3)

#: TM quanta in a voxel of dense TM(OH)2.
TM_QUANTA_PER_HYDROXIDE_VOXEL = 64

#: Molar volume per TM (TM phases) or per Li (sources), cm^3/mol.
#: TM phases: MODEL.md anchors (Ni(OH)2 23.5, NiO 11.0, LiNiO2 20.4).
#: Sources, from M / rho (CRC Handbook): LiOH·H2O 41.96/1.51, LiOH 23.95/1.46,
#: LiOH melt 23.95/1.38 (liquid density near the melting point), Li2CO3 73.89/2.11 per 2 Li.
MOLAR_VOLUME_CM3 = {
    Phase.HYDROXIDE: 23.5,
    Phase.ROCK_SALT: 11.0,
    Phase.LAYERED: 20.4,
    Phase.LIOH_H2O: 41.96 / 1.51,
    Phase.LIOH: 23.95 / 1.46,
    Phase.LIOH_MELT: 23.95 / 1.38,
    Phase.LI2CO3: 73.89 / 2.11 / 2,
}

_SOURCE_PHASE = {"LiOH": Phase.LIOH, "LiOH·H2O": Phase.LIOH_H2O, "Li2CO3": Phase.LI2CO3}


def source_phase(li_source: str) -> Phase:
    """Phase code of a configured Li source name ('LiOH', 'LiOH·H2O', 'Li2CO3')."""
    return _SOURCE_PHASE[li_source]


def dense_quanta_per_voxel(phase: Phase) -> int:
    """Quanta (TM or Li) in a voxel completely filled with ``phase``, rounded down."""
    return int(TM_QUANTA_PER_HYDROXIDE_VOXEL * MOLAR_VOLUME_CM3[Phase.HYDROXIDE] / MOLAR_VOLUME_CM3[phase])


def dense_li_quanta_per_voxel(li_source: str) -> int:
    return dense_quanta_per_voxel(source_phase(li_source))


def quantum_mol(voxel_nm: float) -> float:
    """Moles in one quantum for a voxel of edge ``voxel_nm`` (nm)."""
    voxel_cm3 = (voxel_nm * 1e-7) ** 3
    return voxel_cm3 / MOLAR_VOLUME_CM3[Phase.HYDROXIDE] / TM_QUANTA_PER_HYDROXIDE_VOXEL


def fill_lookup() -> np.ndarray:
    """float64 (256,): solid volume per quantum of each phase code, in voxel volumes."""
    table = np.zeros(256)
    for ph, vm in MOLAR_VOLUME_CM3.items():
        table[int(ph)] = vm / (TM_QUANTA_PER_HYDROXIDE_VOXEL * MOLAR_VOLUME_CM3[Phase.HYDROXIDE])
    return table


@dataclass
class Lattice:
    """The six per-voxel fields; see the module docstring for dtypes and meaning."""

    phase: np.ndarray
    grain: np.ndarray
    li: np.ndarray
    tm: np.ndarray
    disorder: np.ndarray
    flags: np.ndarray

    DTYPES = {"phase": np.uint8, "grain": np.int32, "li": np.uint8, "tm": np.uint8,
              "disorder": np.uint8, "flags": np.uint8}

    @classmethod
    def empty(cls, shape: tuple[int, int, int]) -> "Lattice":
        return cls(**{name: np.zeros(shape, dtype=dt) for name, dt in cls.DTYPES.items()})

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.field_names()}

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.phase.shape

    def check(self) -> None:
        """Raise AssertionError if a field has the wrong dtype, shape or layout."""
        for name, arr in self.arrays().items():
            assert arr.dtype == self.DTYPES[name], f"{name}: dtype {arr.dtype}"
            assert arr.shape == self.shape, f"{name}: shape {arr.shape}"
            assert arr.flags.c_contiguous, f"{name}: not C-contiguous"

    def copy(self) -> "Lattice":
        return Lattice(**{k: v.copy() for k, v in self.arrays().items()})

    def totals(self) -> dict[str, int]:
        """Conserved totals in quanta: Li and TM summed over the lattice (int)."""
        return {"li": int(self.li.sum(dtype=np.int64)), "tm": int(self.tm.sum(dtype=np.int64))}


#: (26, 3) int64: neighbour k's (dz, dy, dx), lexicographic over {-1,0,1}^3 without (0,0,0);
#: the one order every 26-neighbour rule (and its CUDA kernel) uses.
NEIGHBOURS_26 = np.array([(dz, dy, dx) for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                          if (dz, dy, dx) != (0, 0, 0)], dtype=np.int64)


def neighbour_offsets(shape: tuple[int, int, int]) -> np.ndarray:
    """int64 (26,): flat-index offset of neighbour k (`NEIGHBOURS_26`) in a C-order (nz, ny, nx) array."""
    _, ny, nx = shape
    return (NEIGHBOURS_26 @ np.array([ny * nx, nx, 1], dtype=np.int64)).astype(np.int64)


def bytes_per_voxel() -> int:
    """Bytes of lattice state per voxel (all fields)."""
    return sum(np.dtype(dt).itemsize for dt in Lattice.DTYPES.values())


def fill_fraction(lattice: Lattice) -> np.ndarray:
    """float32 (nz, ny, nx): solid volume fraction of each voxel, 0 for pores."""
    table = fill_lookup()
    amount = np.where(np.isin(lattice.phase, [int(p) for p in LI_SOURCE_PHASES]), lattice.li, lattice.tm)
    return (table[lattice.phase] * amount).astype(np.float32)
