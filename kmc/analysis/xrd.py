"""Simulated powder XRD (Cu Kα1 by default) of the phases in the furnace.

Model, in the order it is applied:

1. *Positions.* Each phase is a crystal structure (`Structure`: cell a, b, c, α, β, γ in Å
   and degrees, and sites of fractional positions with element occupancies). For every
   integer triple (h, k, l) with d >= d_min (2θ <= 2θ_max), 1/d^2 = h G* h^T with G* the
   reciprocal metric tensor of the cell (general: cubic, hexagonal, tetragonal and
   monoclinic cells alike), and 2θ = 2 asin(λ / 2d).
2. *Structure factors.* F(hkl) = sum_sites f_site(s) exp(-B s^2) sum_positions
   exp(2πi (h x + k y + l z)), s = sinθ/λ = 1/(2d), f_site = sum_elements occ f_element, with
   neutral-atom Cromer-Mann form factors f(s) = sum_i a_i exp(-b_i s^2) + c (International
   Tables for Crystallography Vol. C, Table 6.1.1.4) and one isotropic displacement factor B
   (`B_ISO_A2`, Å^2) for all atoms. Anomalous dispersion is neglected.
3. *Powder lines.* All triples with the same d (to 1e-7 Å^-2 in 1/d^2) make one line:
   its intensity is sum |F|^2 over the triples, which is multiplicity x |F|^2 for
   symmetry-equivalent reflections and also adds accidental overlaps, as a powder does.
   Lines with sum |F|^2 below 1e-6 of the strongest (systematic absences) are dropped. The
   label is the triple with nonzero F that has the fewest negative indices, then the
   largest h, k, l: the R-3m lines are (003), (101), (006), (012), (104), (015), (107),
   (018), (110), (113) in the obverse setting (-h + k + l = 3n), the lines often written
   (102), (105), (108).
4. *Intensity.* I = V_phase / V_cell^2 x sum|F|^2 x LP(2θ), LP = (1 + cos^2 2θ) /
   (sin^2 θ cos θ) (unpolarised beam, no monochromator); V_phase is the phase's volume (any
   unit, the same for all phases: intensities are proportional to diffracting volume).
   No absorption, preferred orientation or background.
5. *Widths.* Scherrer: FWHM(2θ) = K λ / (L cos θ) radians, K = 0.9, L the crystallite
   size, combined in quadrature with an instrumental FWHM (default 0). Profiles are
   area-normalised pseudo-Voigt functions (η = 0.5 Lorentzian fraction by default; η = 0
   gives Gaussians) on the caller's 2θ grid, so a line's area is its intensity.

Structures (Li/Ni mixing x = fraction of Li 3a sites occupied by Ni, exchanged with Li on
3b; the TM site holds the composition Ni:Co:Mn):

| phase | group | cell (Å) | sites |
|---|---|---|---|
| layered | R-3m (hex.) | a 2.87, c 14.2 | 3a (0,0,0) Li(1-x) Ni(x); 3b (0,0,1/2) TM, Li(x) for Ni(x); O 6c (0,0,0.2412) |
| rock_salt | Fm-3m | a 4.17 | TM 4a (0,0,0); O 4b (1/2,1/2,1/2) |
| hydroxide | P-3m1 | a 3.13, c 4.60 | TM 1a (0,0,0); O, H 2d (1/3,2/3,z) z_O 0.223, z_H 0.425 |
| lioh | P4/nmm (origin 2) | a 3.549, c 4.334 | Li 2a (3/4,1/4,0); O, H 2c (1/4,1/4,z) z_O 0.194, z_H 0.407 |
| li2co3 | C2/c | a 8.359, b 4.973, c 6.197, β 114.8° | Li 8f (0.1965,0.4484,0.8344); C 4e (0,0.0657,1/4); O1 4e (0,0.3213,1/4); O2 8f (0.1459,-0.0635,0.3127) |

Li2CO3 positions are those of zabuyelite (Effenberger & Zemann, Z. Kristallogr. 150, 133
(1979)); the others are the usual structure types with literature-like z parameters
(approximate: they change intensities by a few %, positions not at all). LiOH·H2O and the
LiOH melt have no lines here (the melt is amorphous; LiOH·H2O is not modelled yet).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Cu Kα1 wavelength, Å.
WAVELENGTH_CU_KA1_A = 1.5406
#: Scherrer constant for the FWHM of roughly equiaxed crystallites.
SCHERRER_K = 0.9
#: Isotropic displacement parameter used for all atoms, Å^2.
B_ISO_A2 = 0.5
#: Crystallite size (nm) of a phase when none is given.
DEFAULT_SIZE_NM = 100.0
#: 2θ range (degrees) of the simulated patterns.
TWO_THETA_RANGE_DEG = (10.0, 70.0)

#: Neutral-atom Cromer-Mann coefficients (a1, a2, a3, a4, b1, b2, b3, b4, c), ITC Vol. C Table 6.1.1.4.
CROMER_MANN = {
    "H": (0.489918, 0.262003, 0.196767, 0.049879, 20.6593, 7.74039, 49.5519, 2.20159, 0.001305),
    "Li": (1.1282, 0.7508, 0.6175, 0.4653, 3.9546, 1.0524, 85.3905, 168.261, 0.0377),
    "C": (2.31, 1.02, 1.5886, 0.865, 20.8439, 10.2075, 0.5687, 51.6512, 0.2156),
    "O": (3.0485, 2.2868, 1.5463, 0.867, 13.2771, 5.7011, 0.3239, 32.9089, 0.2508),
    "Mn": (11.2819, 7.3573, 3.0193, 2.2441, 5.3409, 0.3432, 17.8674, 83.7543, 1.0896),
    "Co": (12.2841, 7.3409, 4.0034, 2.3488, 4.2791, 0.2784, 13.5359, 71.1692, 1.0118),
    "Ni": (12.8376, 7.292, 4.4438, 2.38, 3.8785, 0.2565, 12.1763, 66.3421, 1.0341),
}


def form_factor(element: str, s) -> np.ndarray:
    """Atomic scattering factor f (electrons) of a neutral atom at s = sinθ/λ (Å^-1), float64 like s."""
    a1, a2, a3, a4, b1, b2, b3, b4, c = CROMER_MANN[element]
    s2 = np.asarray(s, dtype=np.float64) ** 2
    return a1 * np.exp(-b1 * s2) + a2 * np.exp(-b2 * s2) + a3 * np.exp(-b3 * s2) + a4 * np.exp(-b4 * s2) + c


# -- structures -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Site:
    """Equivalent positions float64 (m, 3) (fractional) sharing one occupancy {element: fraction}."""

    positions: np.ndarray
    occupancy: dict


@dataclass(frozen=True)
class Structure:
    """A crystal: name, cell (a, b, c in Å; alpha, beta, gamma in degrees) and sites."""

    name: str
    cell: tuple[float, float, float, float, float, float]
    sites: tuple[Site, ...] = field(default_factory=tuple)

    @property
    def volume_A3(self) -> float:
        return float(math.sqrt(np.linalg.det(metric_tensor(self.cell))))


def metric_tensor(cell) -> np.ndarray:
    """float64 (3, 3) real-space metric tensor G of a cell (a, b, c Å; α, β, γ degrees)."""
    a, b, c, al, be, ga = cell
    ca, cb, cg = (math.cos(math.radians(x)) for x in (al, be, ga))
    return np.array([[a * a, a * b * cg, a * c * cb], [a * b * cg, b * b, b * c * ca], [a * c * cb, b * c * ca, c * c]])


def d_spacing(hkl, cell) -> np.ndarray:
    """d (Å) of reflections hkl int (n, 3) (or one triple) in ``cell``: 1/d^2 = h G* h^T."""
    h = np.atleast_2d(np.asarray(hkl, dtype=np.float64))
    gstar = np.linalg.inv(metric_tensor(cell))
    return 1.0 / np.sqrt(np.einsum("ni,ij,nj->n", h, gstar, h))


def bragg_two_theta(d_A, wavelength_A: float = WAVELENGTH_CU_KA1_A) -> np.ndarray:
    """2θ (degrees) of spacing d (Å): λ = 2 d sin θ; NaN where λ > 2d."""
    x = wavelength_A / (2.0 * np.asarray(d_A, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        return np.degrees(2.0 * np.arcsin(np.where(x <= 1.0, x, np.nan)))


def _frac(*positions) -> np.ndarray:
    return np.mod(np.array(positions, dtype=np.float64), 1.0)


_R_CENTRING = ((0.0, 0.0, 0.0), (2 / 3, 1 / 3, 1 / 3), (1 / 3, 2 / 3, 2 / 3))
_F_CENTRING = ((0.0, 0.0, 0.0), (0.0, 0.5, 0.5), (0.5, 0.0, 0.5), (0.5, 0.5, 0.0))


def _centred(base, centring) -> np.ndarray:
    return _frac(*[(p[0] + t[0], p[1] + t[1], p[2] + t[2]) for p in base for t in centring])


def _tm_occupancy(composition, scale: float = 1.0) -> dict:
    from kmc.analysis.tga import composition_fractions

    ni, co, mn = composition_fractions(composition)
    return {k: v * scale for k, v in (("Ni", ni), ("Co", co), ("Mn", mn)) if v > 0}


def layered_structure(a: float = 2.87, c: float = 14.2, z_O: float = 0.2412, mixing: float = 0.0,
                      composition="NCM622") -> Structure:
    """R-3m Li(TM)O2, hexagonal setting, with Li/Ni exchange ``mixing`` x (0 <= x <= Ni fraction)."""
    tm = _tm_occupancy(composition)
    x = float(mixing)
    if not 0.0 <= x <= tm.get("Ni", 0.0) + 1e-12:
        raise ValueError(f"Li/Ni mixing must lie in 0..{tm.get('Ni', 0.0):g} (the Ni fraction), not {x:g}")
    site_3a = {"Li": 1.0 - x, "Ni": x}
    site_3b = dict(tm)
    site_3b["Ni"] = site_3b.get("Ni", 0.0) - x
    site_3b["Li"] = x
    return Structure("layered", (a, a, c, 90.0, 90.0, 120.0), (
        Site(_centred([(0, 0, 0)], _R_CENTRING), site_3a),
        Site(_centred([(0, 0, 0.5)], _R_CENTRING), site_3b),
        Site(_centred([(0, 0, z_O), (0, 0, -z_O)], _R_CENTRING), {"O": 1.0}),
    ))


def rock_salt_structure(a: float = 4.17, composition="NCM622") -> Structure:
    """Fm-3m TMO (cation-disordered rock salt without Li)."""
    return Structure("rock_salt", (a, a, a, 90.0, 90.0, 90.0), (
        Site(_centred([(0, 0, 0)], _F_CENTRING), _tm_occupancy(composition)),
        Site(_centred([(0.5, 0.5, 0.5)], _F_CENTRING), {"O": 1.0}),
    ))


def hydroxide_structure(a: float = 3.13, c: float = 4.60, z_O: float = 0.223, z_H: float = 0.425,
                        composition="NCM622") -> Structure:
    """P-3m1 β-TM(OH)2 (brucite type)."""
    return Structure("hydroxide", (a, a, c, 90.0, 90.0, 120.0), (
        Site(_frac((0, 0, 0)), _tm_occupancy(composition)),
        Site(_frac((1 / 3, 2 / 3, z_O), (2 / 3, 1 / 3, -z_O)), {"O": 1.0}),
        Site(_frac((1 / 3, 2 / 3, z_H), (2 / 3, 1 / 3, -z_H)), {"H": 1.0}),
    ))


def lioh_structure(a: float = 3.549, c: float = 4.334, z_O: float = 0.194, z_H: float = 0.407, **_) -> Structure:
    """P4/nmm LiOH, origin choice 2."""
    return Structure("lioh", (a, a, c, 90.0, 90.0, 90.0), (
        Site(_frac((0.75, 0.25, 0), (0.25, 0.75, 0)), {"Li": 1.0}),
        Site(_frac((0.25, 0.25, z_O), (0.75, 0.75, -z_O)), {"O": 1.0}),
        Site(_frac((0.25, 0.25, z_H), (0.75, 0.75, -z_H)), {"H": 1.0}),
    ))


def _c2c_orbit(x, y, z) -> np.ndarray:
    ops = [(x, y, z), (-x, y, 0.5 - z), (-x, -y, -z), (x, -y, 0.5 + z)]
    pts = _frac(*[(p[0] + t[0], p[1] + t[1], p[2]) for p in ops for t in ((0, 0), (0.5, 0.5))])
    # special positions (4e) map onto themselves: keep each point once
    keys = np.round(pts * 1e6).astype(np.int64) % 1_000_000
    _, first = np.unique(keys, axis=0, return_index=True)
    return pts[np.sort(first)]


def li2co3_structure(a: float = 8.359, b: float = 4.973, c: float = 6.197, beta: float = 114.8, **_) -> Structure:
    """C2/c Li2CO3 (zabuyelite), Z = 4."""
    return Structure("li2co3", (a, b, c, 90.0, beta, 90.0), (
        Site(_c2c_orbit(0.1965, 0.4484, 0.8344), {"Li": 1.0}),
        Site(_c2c_orbit(0.0, 0.0657, 0.25), {"C": 1.0}),
        Site(_c2c_orbit(0.0, 0.3213, 0.25), {"O": 1.0}),
        Site(_c2c_orbit(0.1459, -0.0635, 0.3127), {"O": 1.0}),
    ))


#: Builders by phase name; the keyword arguments of each are its lattice parameters.
STRUCTURES = {"layered": layered_structure, "rock_salt": rock_salt_structure, "hydroxide": hydroxide_structure,
              "lioh": lioh_structure, "li2co3": li2co3_structure}
#: Default lattice parameters (Å, degrees) per phase, NCM622 values for the TM phases.
DEFAULT_LATTICE = {"layered": {"a": 2.87, "c": 14.2}, "rock_salt": {"a": 4.17}, "hydroxide": {"a": 3.13, "c": 4.60},
                   "lioh": {"a": 3.549, "c": 4.334}, "li2co3": {"a": 8.359, "b": 4.973, "c": 6.197, "beta": 114.8}}


def structure(phase: str, lattice_params: dict | None = None, mixing: float = 0.0, composition="NCM622") -> Structure:
    """The `Structure` of ``phase`` with ``lattice_params`` (a, c, ...) over `DEFAULT_LATTICE`."""
    if phase not in STRUCTURES:
        raise ValueError(f"no XRD model for phase {phase!r}; known: {', '.join(STRUCTURES)}")
    params = dict(DEFAULT_LATTICE[phase]) | dict(lattice_params or {})
    if phase == "layered":
        return layered_structure(mixing=mixing, composition=composition, **params)
    if phase in ("rock_salt", "hydroxide"):
        return STRUCTURES[phase](composition=composition, **params)
    return STRUCTURES[phase](**params)


# -- reflections ------------------------------------------------------------------------------
def structure_factors(struct: Structure, hkl, b_iso: float = B_ISO_A2) -> np.ndarray:
    """complex128 (n,): F of reflections hkl int (n, 3), in electrons per cell."""
    h = np.atleast_2d(np.asarray(hkl, dtype=np.float64))
    s = 0.5 / d_spacing(h, struct.cell)
    F = np.zeros(len(h), dtype=np.complex128)
    for site in struct.sites:
        f = sum(occ * form_factor(el, s) for el, occ in site.occupancy.items() if occ != 0)
        F += f * np.exp(2j * np.pi * (h @ site.positions.T)).sum(axis=1)
    return F * np.exp(-b_iso * s * s)


def lorentz_polarization(two_theta_deg) -> np.ndarray:
    """LP(2θ) = (1 + cos^2 2θ) / (sin^2 θ cos θ), float64."""
    tt = np.radians(np.asarray(two_theta_deg, dtype=np.float64))
    th = tt / 2
    return (1 + np.cos(tt) ** 2) / (np.sin(th) ** 2 * np.cos(th))


def reflections(struct: Structure, wavelength_A: float = WAVELENGTH_CU_KA1_A,
                two_theta_range: tuple[float, float] = TWO_THETA_RANGE_DEG, b_iso: float = B_ISO_A2) -> dict[str, np.ndarray]:
    """Powder lines of ``struct`` inside ``two_theta_range`` (degrees), sorted by 2θ.

    Columns (n,): ``h, k, l`` int64 (the label triple), ``hkl`` str '(h k l)', ``d_A``,
    ``two_theta_deg``, ``multiplicity`` int64 (triples in the line), ``f2_sum`` (sum |F|^2,
    electrons^2), ``lp`` (Lorentz-polarisation), all float64 unless noted.
    """
    lo, hi = two_theta_range
    d_min = wavelength_A / (2 * math.sin(math.radians(hi) / 2))
    d_max = wavelength_A / (2 * math.sin(math.radians(lo) / 2))
    lengths = np.sqrt(np.diag(metric_tensor(struct.cell)))
    n = [int(math.floor(L / d_min)) for L in lengths]
    grid = np.stack(np.meshgrid(*[np.arange(-m, m + 1) for m in n], indexing="ij"), axis=-1).reshape(-1, 3)
    grid = grid[np.any(grid != 0, axis=1)]
    d = d_spacing(grid, struct.cell)
    keep = (d >= d_min) & (d <= d_max)
    grid, d = grid[keep], d[keep]
    F2 = np.abs(structure_factors(struct, grid, b_iso)) ** 2
    key = np.round(1e7 / d**2).astype(np.int64)
    groups, inverse = np.unique(key, return_inverse=True)
    f2_sum = np.bincount(inverse, weights=F2, minlength=groups.size)
    mult = np.bincount(inverse, minlength=groups.size)
    d_group = np.zeros(groups.size)
    d_group[inverse] = d
    strong = f2_sum > 1e-6 * f2_sum.max() if f2_sum.size else np.zeros(0, bool)
    # label: among triples with nonzero F, fewest negative indices, then largest h, k, l
    nonzero = F2 > 1e-8 * F2.max() if F2.size else F2 > 0
    order = np.lexsort((-grid[:, 2], -grid[:, 1], -grid[:, 0], (grid < 0).sum(axis=1), ~nonzero, inverse))
    first = order[np.r_[True, inverse[order][1:] != inverse[order][:-1]]]
    label = np.zeros((groups.size, 3), dtype=np.int64)
    label[inverse[first]] = grid[first]
    idx = np.flatnonzero(strong)
    idx = idx[np.argsort(-d_group[idx])]
    tt = bragg_two_theta(d_group[idx], wavelength_A)
    return {"h": label[idx, 0], "k": label[idx, 1], "l": label[idx, 2],
            "hkl": np.array([f"({h} {k} {l})" for h, k, l in label[idx]]),
            "d_A": d_group[idx], "two_theta_deg": tt, "multiplicity": mult[idx].astype(np.int64),
            "f2_sum": f2_sum[idx], "lp": lorentz_polarization(tt)}


# -- widths ----------------------------------------------------------------------------------
def size_to_fwhm(size_nm, two_theta_deg, wavelength_A: float = WAVELENGTH_CU_KA1_A, K: float = SCHERRER_K,
                 instrument_fwhm_deg: float = 0.0) -> np.ndarray:
    """Scherrer FWHM (degrees 2θ) of crystallites of ``size_nm`` (nm): K λ / (L cos θ), in quadrature
    with ``instrument_fwhm_deg``. An infinite size gives the instrumental width."""
    L_A = 10.0 * np.asarray(size_nm, dtype=np.float64)
    th = np.radians(np.asarray(two_theta_deg, dtype=np.float64)) / 2
    with np.errstate(divide="ignore"):
        beta = np.degrees(K * wavelength_A / (L_A * np.cos(th)))
    return np.sqrt(beta**2 + instrument_fwhm_deg**2)


def fwhm_to_size(fwhm_deg, two_theta_deg, wavelength_A: float = WAVELENGTH_CU_KA1_A, K: float = SCHERRER_K,
                 instrument_fwhm_deg: float = 0.0) -> np.ndarray:
    """Scherrer crystallite size (nm) from a FWHM (degrees 2θ): L = K λ / (β cos θ), with
    β^2 = FWHM^2 - instrument^2 (NaN when the peak is not broader than the instrument)."""
    fwhm = np.asarray(fwhm_deg, dtype=np.float64)
    beta2 = fwhm**2 - instrument_fwhm_deg**2
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = np.radians(np.sqrt(np.where(beta2 > 0, beta2, np.nan)))
        th = np.radians(np.asarray(two_theta_deg, dtype=np.float64)) / 2
        return K * wavelength_A / (beta * np.cos(th)) / 10.0


# -- tables and patterns -----------------------------------------------------------------------
def peaks(phase_amounts: dict[str, float], lattice_params: dict[str, dict] | None = None, mixing: float = 0.0,
          sizes_nm: dict[str, float] | None = None, composition="NCM622",
          wavelength_A: float = WAVELENGTH_CU_KA1_A, two_theta_range: tuple[float, float] = TWO_THETA_RANGE_DEG,
          b_iso: float = B_ISO_A2, K: float = SCHERRER_K, instrument_fwhm_deg: float = 0.0) -> dict[str, np.ndarray]:
    """Peak table of a phase mixture.

    phase_amounts: {phase name: volume} (any one unit; phases of `STRUCTURES`; others are
    ignored and zero amounts skipped). lattice_params: {phase: {a, c, ...}} over
    `DEFAULT_LATTICE`. mixing: Li/Ni mixing x of the layered phase. sizes_nm: {phase:
    crystallite size nm}, `DEFAULT_SIZE_NM` for a phase not given (NaN too).

    Returns columns (n,) sorted by 2θ: ``phase`` str, the `reflections` columns, ``intensity``
    (= amount / V_cell^2 x f2_sum x lp, arbitrary units proportional to diffracting volume)
    and ``fwhm_deg`` (Scherrer, `size_to_fwhm`).
    """
    lattice_params, sizes_nm = lattice_params or {}, sizes_nm or {}
    parts = []
    for ph, amount in phase_amounts.items():
        if ph not in STRUCTURES or not amount or amount <= 0:
            continue
        st = structure(ph, lattice_params.get(ph), mixing if ph == "layered" else 0.0, composition)
        t = reflections(st, wavelength_A, two_theta_range, b_iso)
        size = sizes_nm.get(ph, DEFAULT_SIZE_NM)
        size = DEFAULT_SIZE_NM if size is None or not np.isfinite(size) else size
        t["phase"] = np.full(len(t["d_A"]), ph)
        t["intensity"] = float(amount) / st.volume_A3**2 * t["f2_sum"] * t["lp"]
        t["fwhm_deg"] = size_to_fwhm(size, t["two_theta_deg"], wavelength_A, K, instrument_fwhm_deg)
        parts.append(t)
    columns = ("phase", "hkl", "h", "k", "l", "d_A", "two_theta_deg", "multiplicity", "f2_sum", "lp", "intensity", "fwhm_deg")
    if not parts:
        return {c: np.zeros(0, dtype=object if c in ("phase", "hkl") else np.float64) for c in columns}
    table = {c: np.concatenate([p[c] for p in parts]) for c in columns}
    order = np.argsort(table["two_theta_deg"], kind="stable")
    return {c: v[order] for c, v in table.items()}


def default_two_theta(step_deg: float = 0.01, two_theta_range: tuple[float, float] = TWO_THETA_RANGE_DEG) -> np.ndarray:
    """float64 grid from 2θ_min to 2θ_max (inclusive) in steps of ``step_deg``."""
    lo, hi = two_theta_range
    return np.linspace(lo, hi, int(round((hi - lo) / step_deg)) + 1)


def pattern(two_theta, table: dict[str, np.ndarray], eta: float = 0.5) -> np.ndarray:
    """float64 (m,): intensity on the 2θ grid ``two_theta`` (degrees, (m,)) from a `peaks` table.

    Each line is an area-normalised pseudo-Voigt of FWHM w: η L + (1 - η) G with
    G = (2/w) sqrt(ln2/π) exp(-4 ln2 x^2/w^2), L = (2/(π w)) / (1 + 4 x^2/w^2), times its
    intensity; so the integrated area of a line equals its table intensity (per degree 2θ).
    """
    tt = np.asarray(two_theta, dtype=np.float64)
    out = np.zeros_like(tt)
    pos, area, w = table["two_theta_deg"], table["intensity"], table["fwhm_deg"]
    for start in range(0, len(pos), 64):
        x = tt[None, :] - pos[start:start + 64, None]
        ww = w[start:start + 64, None]
        u = 4.0 * x * x / (ww * ww)
        g = (2.0 / ww) * math.sqrt(math.log(2) / math.pi) * np.exp(-math.log(2) * u)
        lor = (2.0 / (math.pi * ww)) / (1.0 + u)
        out += (area[start:start + 64, None] * (eta * lor + (1 - eta) * g)).sum(axis=0)
    return out


def simulate(phase_amounts: dict[str, float], two_theta=None, eta: float = 0.5, **kwargs) -> dict[str, np.ndarray]:
    """`peaks` then `pattern`: {'two_theta_deg', 'intensity', 'peaks'} (kwargs go to `peaks`)."""
    tt = default_two_theta(two_theta_range=kwargs.get("two_theta_range", TWO_THETA_RANGE_DEG)) if two_theta is None else np.asarray(two_theta, dtype=np.float64)
    table = peaks(phase_amounts, **kwargs)
    return {"two_theta_deg": tt, "intensity": pattern(tt, table, eta), "peaks": table}


# -- reading patterns ----------------------------------------------------------------------------
def peak_position_fwhm(two_theta, intensity, near: float = 18.7, window: float = 0.75,
                       baseline: float | None = None) -> dict[str, float]:
    """Position, height and FWHM of the highest peak within ``near`` ± ``window`` (degrees 2θ).

    The maximum is refined by a parabola through the highest sample and its neighbours;
    the half-maximum level is baseline + (height - baseline) / 2 with the baseline the
    lowest intensity in the window unless given; the FWHM is the distance between the
    linearly interpolated crossings of that level on either side. Returns floats
    ``two_theta_deg``, ``fwhm_deg``, ``height``, ``baseline`` (NaN where a crossing lies
    outside the window or there are no samples).
    """
    tt = np.asarray(two_theta, dtype=np.float64)
    y = np.asarray(intensity, dtype=np.float64)
    idx = np.flatnonzero(np.abs(tt - near) <= window)
    nan = float("nan")
    if idx.size < 3:
        return {"two_theta_deg": nan, "fwhm_deg": nan, "height": nan, "baseline": nan}
    i = int(idx[np.argmax(y[idx])])
    base = float(y[idx].min()) if baseline is None else float(baseline)
    pos, height = tt[i], y[i]
    if idx[0] < i < idx[-1]:
        y0, y1, y2 = y[i - 1], y[i], y[i + 1]
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            off = 0.5 * (y0 - y2) / denom
            step = 0.5 * (tt[i + 1] - tt[i - 1])
            pos = tt[i] + off * step
            height = y1 - 0.25 * (y0 - y2) * off
    half = base + 0.5 * (height - base)
    left = right = nan
    j = i
    while j > idx[0] and y[j] >= half:
        j -= 1
    if y[j] < half:
        left = tt[j] + (half - y[j]) * (tt[j + 1] - tt[j]) / (y[j + 1] - y[j])
    j = i
    while j < idx[-1] and y[j] >= half:
        j += 1
    if y[j] < half:
        right = tt[j - 1] + (y[j - 1] - half) * (tt[j] - tt[j - 1]) / (y[j - 1] - y[j])
    return {"two_theta_deg": float(pos), "fwhm_deg": float(right - left), "height": float(height), "baseline": base}


def size_from_pattern(two_theta, intensity, near: float = 18.7, window: float = 0.75,
                      wavelength_A: float = WAVELENGTH_CU_KA1_A, K: float = SCHERRER_K,
                      instrument_fwhm_deg: float = 0.0) -> float:
    """Scherrer crystallite size (nm) from the peak near ``near`` (default the layered (003)):
    `peak_position_fwhm` then `fwhm_to_size`."""
    p = peak_position_fwhm(two_theta, intensity, near, window)
    return float(fwhm_to_size(p["fwhm_deg"], p["two_theta_deg"], wavelength_A, K, instrument_fwhm_deg))


def _line(table, phase, hkl) -> float:
    sel = (table["phase"] == phase) & (table["h"] == hkl[0]) & (table["k"] == hkl[1]) & (table["l"] == hkl[2])
    return float(table["intensity"][sel].sum())


def i003_i104(table: dict[str, np.ndarray]) -> float:
    """Integrated intensity ratio I(003) / I(104) of the layered phase in a `peaks` table (NaN without it)."""
    i104 = _line(table, "layered", (1, 0, 4))
    return _line(table, "layered", (0, 0, 3)) / i104 if i104 > 0 else float("nan")


def i003_i104_from_pattern(two_theta, intensity, a: float = 2.87, c: float = 14.2,
                           wavelength_A: float = WAVELENGTH_CU_KA1_A, half_width_deg: float = 0.4) -> float:
    """I(003) / I(104) from a pattern: areas (trapezoid, above the window's lowest intensity)
    within ± half_width_deg of the maxima found near the Bragg angles of (003) and (104)."""
    tt = np.asarray(two_theta, dtype=np.float64)
    y = np.asarray(intensity, dtype=np.float64)
    cell = (a, a, c, 90.0, 90.0, 120.0)
    areas = []
    for hkl in ((0, 0, 3), (1, 0, 4)):
        guess = float(bragg_two_theta(d_spacing(hkl, cell), wavelength_A)[0])
        centre = peak_position_fwhm(tt, y, guess, window=half_width_deg)["two_theta_deg"]
        sel = np.abs(tt - centre) <= half_width_deg
        if sel.sum() < 2:
            return float("nan")
        areas.append(float(np.trapezoid(y[sel] - y[sel].min(), tt[sel])))
    return areas[0] / areas[1] if areas[1] > 0 else float("nan")


# -- from a lattice --------------------------------------------------------------------------
#: Lattice phase -> XRD phase (phases not listed give no lines).
LATTICE_XRD_PHASES = {"hydroxide": "hydroxide", "rock_salt": "rock_salt", "layered": "layered",
                      "lioh": "lioh", "li2co3": "li2co3"}


def xrd_from_lattice(lattice, voxel_nm: float, composition="NCM622", lattice_params: dict | None = None,
                     two_theta=None, mask: np.ndarray | None = None, eta: float = 0.5,
                     instrument_fwhm_deg: float = 0.0, li_source_size_nm: float = DEFAULT_SIZE_NM) -> dict:
    """Simulated pattern of a lattice (or of the voxels in bool ``mask``).

    Amounts: solid volume of each phase (derived fill, voxel volumes). Mixing: the
    TM-weighted mean disorder of layered voxels (`kmc.analysis.phases.li_ni_disorder`),
    capped at the Ni fraction. Sizes: TM phases the volume-weighted mean domain size
    (`kmc.analysis.grains.phase_domain_sizes`, grain x phase domains), Li salts
    ``li_source_size_nm`` (the lattice does not resolve salt crystallites).

    Returns {'two_theta_deg', 'intensity' float64 (m,), 'peaks' table, 'mixing' float,
    'sizes_nm' dict, 'amounts' dict, 'i003_i104' float (from the table)}.
    """
    from kmc.analysis.grains import phase_domain_sizes
    from kmc.analysis.phases import li_ni_disorder, phase_name, solid_volume_by_phase
    from kmc.analysis.tga import composition_fractions

    vol = solid_volume_by_phase(lattice, mask)
    amounts = {}
    for code in np.flatnonzero(vol > 0):
        name = LATTICE_XRD_PHASES.get(phase_name(code))
        if name:
            amounts[name] = amounts.get(name, 0.0) + float(vol[code])
    mixing = li_ni_disorder(lattice, mask)
    mixing = 0.0 if not np.isfinite(mixing) else min(mixing, composition_fractions(composition)[0])
    sizes = {k: v for k, v in phase_domain_sizes(lattice, voxel_nm).items() if np.isfinite(v)}
    sizes.update({"lioh": li_source_size_nm, "li2co3": li_source_size_nm})
    sim = simulate(amounts, two_theta, eta, lattice_params=lattice_params, mixing=mixing, sizes_nm=sizes,
                   composition=composition, instrument_fwhm_deg=instrument_fwhm_deg)
    sim.update(mixing=mixing, sizes_nm=sizes, amounts=amounts, i003_i104=i003_i104(sim["peaks"]))
    return sim
