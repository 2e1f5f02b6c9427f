"""Thermogravimetry: mass of the mixture, in % of its initial mass, from the released gases.

Stoichiometry (per mole; TM = Ni_x Co_y Mn_z, molar mass from the composition):

| step | reaction | gas per mol |
|---|---|---|
| crystal water of the source (~70-150 °C) | LiOH·H2O -> LiOH + H2O | 1 H2O per Li |
| dehydration of the precursor | TM(OH)2 -> TMO + H2O | 1 H2O per TM |
| Li release from LiOH | 2 LiOH -> Li2O + H2O | 0.5 H2O per Li |
| Li release from Li2CO3 | Li2CO3 -> Li2O + CO2 | 0.5 CO2 per Li |
| lithiation and oxidation | TMO + 0.5 Li2O + 0.25 O2 -> LiTMO2 | 0.25 O2 taken up per TM |

Topotactic lithiation, TM(OH)2 + LiOH + 0.25 O2 -> LiTMO2 + 1.5 H2O, is the sum of rows 2,
3 and 5 and releases the same gas. The TGA curve is

    m(t) = m0 - M(H2O) n_H2O(t) - M(CO2) n_CO2(t) + M(O2) n_O2(t),   mass_pct = 100 m / m0,

with the cumulative gas amounts n (mol) taken as inputs, so the curve does not depend on
which events exist. `counters_to_mol` reads them from a run's counters (quanta; 1 quantum =
`kmc.state.quantum_mol(voxel_nm)` mol): ``h2o_q`` and ``co2_q`` (released), plus 1/2 H2O
per Li in ``li_from_lioh_q`` and 1/2 CO2 per Li in ``li_from_li2co3_q`` (Li the source gave
away, `kmc.events.li_source`), and ``o2_uptake_q`` (or ``o2_q``) taken up; without an O2
counter the uptake is read off the lattice (`oxygen_uptake_q`).

The stoichiometric end state of a fully reacted mixture (`stoichiometric_end_mass_g`): min(Li,
TM) mol of LiTMO2; TM beyond the Li as rock-salt TMO; Li beyond the TM as Li2O when the
source is LiOH or LiOH·H2O (its water is driven off), as Li2CO3 when the source is Li2CO3
(Li2CO3 without a TM partner decomposes only far above the calcination temperatures).
Atomic masses (IUPAC abridged, g/mol): Ni 58.693, Co 58.933, Mn 54.938, O 15.999, H 1.008,
Li 6.94, C 12.011.
"""

from __future__ import annotations

import numpy as np

from kmc.state import Lattice, Phase, quantum_mol

ATOMIC_MASS = {"Ni": 58.693, "Co": 58.933, "Mn": 54.938, "O": 15.999, "H": 1.008, "Li": 6.94, "C": 12.011}
_A = ATOMIC_MASS
M_H2O = 2 * _A["H"] + _A["O"]
M_CO2 = _A["C"] + 2 * _A["O"]
M_O2 = 2 * _A["O"]
M_LI2O = 2 * _A["Li"] + _A["O"]

#: Mass of each Li source per mole of Li (g/mol): LiOH 23.947, LiOH·H2O 41.962, Li2CO3 73.888 / 2.
LI_SOURCE_MASS_PER_LI = {
    "LiOH": _A["Li"] + _A["O"] + _A["H"],
    "LiOH·H2O": _A["Li"] + _A["O"] + _A["H"] + M_H2O,
    "Li2CO3": (2 * _A["Li"] + _A["C"] + 3 * _A["O"]) / 2,
}

#: Mass per Li of the forms excess Li can end in (g/mol Li).
EXCESS_LI_MASS_PER_LI = {"Li2O": M_LI2O / 2, "Li2CO3": LI_SOURCE_MASS_PER_LI["Li2CO3"], "LiOH": LI_SOURCE_MASS_PER_LI["LiOH"]}
_DEFAULT_EXCESS = {"LiOH": "Li2O", "LiOH·H2O": "Li2O", "Li2CO3": "Li2CO3"}
#: Forms excess Li may end in, per source (Li cannot gain H or C from the O2 atmosphere).
_EXCESS_ALLOWED = {"LiOH": ("Li2O", "LiOH"), "LiOH·H2O": ("Li2O", "LiOH"), "Li2CO3": ("Li2CO3", "Li2O")}


def composition_fractions(composition) -> tuple[float, float, float]:
    """(ni, co, mn) mole fractions from a name ('NCM622') or a 3-tuple/mapping."""
    if isinstance(composition, str):
        from kmc.config import COMPOSITIONS

        return COMPOSITIONS[composition]
    if isinstance(composition, dict):
        return (float(composition.get("ni", 0.0)), float(composition.get("co", 0.0)), float(composition.get("mn", 0.0)))
    ni, co, mn = composition
    return float(ni), float(co), float(mn)


def tm_molar_mass(composition="NCM622") -> float:
    """Mean molar mass of the TM (g/mol): ni M(Ni) + co M(Co) + mn M(Mn)."""
    ni, co, mn = composition_fractions(composition)
    return ni * _A["Ni"] + co * _A["Co"] + mn * _A["Mn"]


def molar_masses(composition="NCM622") -> dict[str, float]:
    """Molar masses (g/mol) of TM(OH)2, TMO, LiTMO2 (per TM), the Li sources (per formula),
    Li2O, H2O, CO2, O2. NCM622: TM(OH)2 92.00, TMO 73.99, LiTMO2 96.93."""
    tm = tm_molar_mass(composition)
    return {"TM": tm, "TM(OH)2": tm + 2 * (_A["O"] + _A["H"]), "TMO": tm + _A["O"],
            "LiTMO2": _A["Li"] + tm + 2 * _A["O"], "LiOH": LI_SOURCE_MASS_PER_LI["LiOH"],
            "LiOH·H2O": LI_SOURCE_MASS_PER_LI["LiOH·H2O"], "Li2CO3": 2 * LI_SOURCE_MASS_PER_LI["Li2CO3"],
            "Li2O": M_LI2O, "H2O": M_H2O, "CO2": M_CO2, "O2": M_O2}


def initial_mixture_mass_g(tm_mol: float, li_mol: float, composition="NCM622", li_source: str = "LiOH") -> float:
    """Mass (g) of tm_mol TM as TM(OH)2 plus li_mol Li as the Li source."""
    return tm_mol * molar_masses(composition)["TM(OH)2"] + li_mol * LI_SOURCE_MASS_PER_LI[li_source]


def _excess_form(li_source: str, excess_li_as: str | None) -> str:
    if li_source not in _DEFAULT_EXCESS:
        raise ValueError(f"li_source must be one of {', '.join(_DEFAULT_EXCESS)}, not {li_source!r}")
    form = excess_li_as or _DEFAULT_EXCESS[li_source]
    if form not in _EXCESS_ALLOWED[li_source]:
        raise ValueError(f"excess Li from {li_source} ends as one of {', '.join(_EXCESS_ALLOWED[li_source])}, not {form!r}")
    return form


def stoichiometric_end_mass_g(tm_mol: float, li_mol: float, composition="NCM622", li_source: str = "LiOH",
                              excess_li_as: str | None = None) -> float:
    """Mass (g) of the fully reacted mixture (see the module docstring for the end state).

    excess_li_as: default Li2O for LiOH and LiOH·H2O (or 'LiOH': kept as LiOH), Li2CO3 for
    Li2CO3 (or 'Li2O': decomposed).
    """
    m = molar_masses(composition)
    n_lay = min(tm_mol, li_mol)
    return (n_lay * m["LiTMO2"] + (tm_mol - n_lay) * m["TMO"]
            + (li_mol - n_lay) * EXCESS_LI_MASS_PER_LI[_excess_form(li_source, excess_li_as)])


def full_reaction_gas_mol(tm_mol: float, li_mol: float, li_source: str = "LiOH",
                          excess_li_as: str | None = None) -> dict[str, float]:
    """Cumulative gas (mol) of the complete reaction to `stoichiometric_end_mass_g`'s end state:
    ``h2o_mol``, ``co2_mol`` released and ``o2_uptake_mol`` taken up."""
    n_lay = min(tm_mol, li_mol)
    excess = li_mol - n_lay
    form = _excess_form(li_source, excess_li_as)
    h2o, co2 = tm_mol, 0.0
    if li_source in ("LiOH", "LiOH·H2O"):
        if li_source == "LiOH·H2O":
            h2o += li_mol                                   # crystal water
        h2o += 0.5 * n_lay
        if form == "Li2O":
            h2o += 0.5 * excess
    else:
        co2 += 0.5 * n_lay
        if form == "Li2O":
            co2 += 0.5 * excess
    return {"h2o_mol": h2o, "co2_mol": co2, "o2_uptake_mol": 0.25 * n_lay}


def tga_curve(temperature_C, h2o_mol, co2_mol=0.0, o2_uptake_mol=0.0, *, initial_mass_g: float) -> dict[str, np.ndarray]:
    """TGA curve from cumulative gas amounts.

    temperature_C, h2o_mol, co2_mol, o2_uptake_mol: float arrays (n,) (or scalars broadcast),
    cumulative mol released (H2O, CO2) or taken up (O2) since the start. Returns float64 (n,)
    arrays ``temperature_C``, ``mass_g`` and ``mass_pct`` (100 m / m0) and ``dtg_pct_per_C``,
    d(mass_pct)/dT by central differences (NaN where T does not change, as in a hold).
    """
    T = np.atleast_1d(np.asarray(temperature_C, dtype=np.float64))
    h2o, co2, o2 = (np.broadcast_to(np.asarray(v, dtype=np.float64), T.shape) for v in (h2o_mol, co2_mol, o2_uptake_mol))
    mass = initial_mass_g - M_H2O * h2o - M_CO2 * co2 + M_O2 * o2
    pct = 100.0 * mass / initial_mass_g
    if T.size >= 2:
        dT, dm = np.gradient(T), np.gradient(pct)
        with np.errstate(invalid="ignore", divide="ignore"):
            dtg = np.where(np.abs(dT) > 1e-12, dm / dT, np.nan)
    else:
        dtg = np.full(T.shape, np.nan)
    return {"temperature_C": T, "mass_g": mass, "mass_pct": pct, "dtg_pct_per_C": dtg}


def oxygen_uptake_q(lattice: Lattice) -> float:
    """O2 (in quanta) that the layered phase of ``lattice`` has taken up: 0.5 tm - 0.25 li over
    layered voxels, i.e. TMO -> TMO2 (one O per TM) less the 0.5 O per Li that Li brings as
    Li2O. 0.25 per TM at Li:TM = 1 (TMO + 0.5 Li2O + 0.25 O2 -> LiTMO2). The same O
    bookkeeping as `lattice_mass_g`, so the two agree."""
    layered = lattice.phase == int(Phase.LAYERED)
    return 0.5 * float(lattice.tm[layered].sum(dtype=np.int64)) - 0.25 * float(lattice.li[layered].sum(dtype=np.int64))


def counters_to_mol(counters: dict, voxel_nm: float, lattice: Lattice | None = None) -> dict[str, np.ndarray]:
    """Gas amounts (mol, float64, scalars or arrays like the counters) from a run's counters (quanta):

    - ``h2o_mol`` = h2o_q + 0.5 li_from_lioh_q (2 LiOH -> Li2O + H2O for Li the LiOH source gave);
    - ``co2_mol`` = co2_q + 0.5 li_from_li2co3_q (Li2CO3 -> Li2O + CO2);
    - ``o2_uptake_mol`` = o2_uptake_q (or o2_q) when counted, else `oxygen_uptake_q` of
      ``lattice`` when given, else 0.

    A counter the run does not have counts 0; everything is times `kmc.state.quantum_mol`.
    """
    q = quantum_mol(voxel_nm)
    get = lambda *names: np.asarray(next((counters[n] for n in names if n in counters), 0.0), dtype=np.float64)
    if "o2_uptake_q" in counters or "o2_q" in counters:
        o2 = get("o2_uptake_q", "o2_q")
    else:
        o2 = np.asarray(oxygen_uptake_q(lattice) if lattice is not None else 0.0)
    return {"h2o_mol": (get("h2o_q") + 0.5 * get("li_from_lioh_q")) * q,
            "co2_mol": (get("co2_q") + 0.5 * get("li_from_li2co3_q")) * q,
            "o2_uptake_mol": o2 * q}


def lattice_mass_g(lattice: Lattice, voxel_nm: float, composition="NCM622") -> float:
    """Mass (g) of the solid the lattice state holds, phase by phase:

    TM in hydroxide voxels as TM(OH)2, in rock salt as TMO, in layered as TMO2 (its Li
    added per Li); Li in source voxels as the source (LiOH·H2O, LiOH and its melt, Li2CO3,
    per Li); Li in layered voxels as Li; Li elsewhere (in transit through hydroxide, rock
    salt or pores) as Li2O, 0.5 O per Li. For a run whose events count every gas this
    equals m0 - gases (the `tga_curve` mass), so the two are a check on each other.
    """
    m = molar_masses(composition)
    q = quantum_mol(voxel_nm)
    tm = np.bincount(lattice.phase.reshape(-1), weights=lattice.tm.reshape(-1), minlength=256)
    li = np.bincount(lattice.phase.reshape(-1), weights=lattice.li.reshape(-1), minlength=256)
    mass = (tm[int(Phase.HYDROXIDE)] * m["TM(OH)2"] + tm[int(Phase.ROCK_SALT)] * m["TMO"]
            + tm[int(Phase.LAYERED)] * (m["TM"] + 2 * _A["O"]))
    per_li = {Phase.LIOH_H2O: LI_SOURCE_MASS_PER_LI["LiOH·H2O"], Phase.LIOH: LI_SOURCE_MASS_PER_LI["LiOH"],
              Phase.LIOH_MELT: LI_SOURCE_MASS_PER_LI["LiOH"], Phase.LI2CO3: LI_SOURCE_MASS_PER_LI["Li2CO3"],
              Phase.LAYERED: _A["Li"]}
    counted = 0.0
    for ph, mm in per_li.items():
        mass += li[int(ph)] * mm
        counted += li[int(ph)]
    mass += (li.sum() - counted) * (_A["Li"] + 0.5 * _A["O"])
    return float(mass * q)


def mixture_mol(lattice: Lattice, voxel_nm: float) -> dict[str, float]:
    """Total TM and Li of the lattice in mol: {'tm_mol', 'li_mol'}."""
    t = lattice.totals()
    q = quantum_mol(voxel_nm)
    return {"tm_mol": t["tm"] * q, "li_mol": t["li"] * q}

