"""Phase amounts of a lattice: TM-mole, volume and Li bases; Li/Ni disorder.

All functions are pure: a `kmc.state.Lattice` in, a dict of Python floats out. Phase names
are the lower-case `kmc.state.Phase` names ('hydroxide', 'rock_salt', 'layered', 'lioh', ...),
so a phase added to `Phase` appears here without a change.

Definitions (n = number, sums over the whole box unless a mask is given):

- TM basis (what Rietveld refinement of in situ XRD reports, per mole of TM):
  ``tm_frac_<p> = sum(tm[phase == p]) / sum(tm)``.
- volume basis: ``vol_frac_<p> = V_p / sum_q V_q`` with V_p the solid volume of phase p, the
  derived fill (`kmc.state.fill_fraction`) summed over its voxels: TM phases and Li sources.
- Li basis: ``li_frac_<p> = sum(li[phase == p]) / sum(li)``.
- Li/Ni disorder: ``x = sum(tm * disorder / 255) / sum(tm)`` over layered voxels, the
  TM-weighted mean fraction of Li (3a) sites occupied by Ni (`kmc.state` stores it as 0..255).
- ordered / disordered layered: a layered voxel is *disordered* when disorder / 255 >=
  `DISORDER_THRESHOLD`, else *ordered*.
"""

from __future__ import annotations

import numpy as np

from kmc.state import LI_SOURCE_PHASES, TM_PHASES, Lattice, Phase, fill_lookup

#: A layered voxel with Li/Ni mixing disorder/255 >= this counts as 'layered_disordered'.
#: 0.10: well-calcined Ni-rich NCM has 2-5 % Ni on Li sites; freshly (topotactically) formed
#: layered oxide at 200-400 °C has well above 10 %, so 10 % separates the two populations.
DISORDER_THRESHOLD = 0.10

PHASE_NAMES = {int(p): p.name.lower() for p in Phase}
TM_PHASE_NAMES = tuple(p.name.lower() for p in TM_PHASES)
LI_SOURCE_NAMES = tuple(p.name.lower() for p in LI_SOURCE_PHASES)
SOLID_PHASE_NAMES = TM_PHASE_NAMES + LI_SOURCE_NAMES


def phase_name(code: int) -> str:
    """Lower-case name of a phase code ('rock_salt'); 'phase<code>' for an unknown code."""
    return PHASE_NAMES.get(int(code), f"phase{int(code)}")


def _masked(arr: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return arr.reshape(-1) if mask is None else arr[mask]


def tm_by_phase(lattice: Lattice, mask: np.ndarray | None = None) -> np.ndarray:
    """float64 (256,): TM quanta per phase code (in ``mask`` only, if given)."""
    return np.bincount(_masked(lattice.phase, mask), weights=_masked(lattice.tm, mask), minlength=256)


def li_by_phase(lattice: Lattice, mask: np.ndarray | None = None) -> np.ndarray:
    """float64 (256,): Li quanta per phase code (in ``mask`` only, if given)."""
    return np.bincount(_masked(lattice.phase, mask), weights=_masked(lattice.li, mask), minlength=256)


def solid_volume_by_phase(lattice: Lattice, mask: np.ndarray | None = None) -> np.ndarray:
    """float64 (256,): solid volume per phase code, in voxel volumes (derived fill summed).

    Fill of a voxel = amount * V_m(phase) / (64 V_m(TM(OH)2)), amount = li for Li sources
    and tm otherwise (the rule of `kmc.state.fill_fraction`).
    """
    phase = _masked(lattice.phase, mask)
    is_source = np.isin(phase, [int(p) for p in LI_SOURCE_PHASES])
    amount = np.where(is_source, _masked(lattice.li, mask), _masked(lattice.tm, mask)).astype(np.float64)
    per_quantum = fill_lookup()
    return np.bincount(phase, weights=amount, minlength=256) * per_quantum


def layered_split(lattice: Lattice, threshold: float = DISORDER_THRESHOLD,
                  mask: np.ndarray | None = None) -> dict[str, float]:
    """TM quanta of layered voxels split by disorder: {'ordered_q', 'disordered_q'} (floats).

    disordered: disorder / 255 >= threshold.
    """
    phase, tm, dis = _masked(lattice.phase, mask), _masked(lattice.tm, mask), _masked(lattice.disorder, mask)
    layered = phase == int(Phase.LAYERED)
    hi = layered & (dis.astype(np.float64) / 255.0 >= threshold)
    return {"ordered_q": float(tm[layered & ~hi].sum(dtype=np.int64)),
            "disordered_q": float(tm[hi].sum(dtype=np.int64))}


def li_ni_disorder(lattice: Lattice, mask: np.ndarray | None = None) -> float:
    """TM-weighted mean Li/Ni mixing x = sum(tm * disorder/255) / sum(tm) over layered voxels.

    Fraction of Li (3a) sites holding Ni, 0..1; NaN when there is no layered TM.
    """
    phase, tm, dis = _masked(lattice.phase, mask), _masked(lattice.tm, mask), _masked(lattice.disorder, mask)
    layered = phase == int(Phase.LAYERED)
    w = tm[layered].astype(np.float64)
    total = w.sum()
    return float((w * dis[layered]).sum() / 255.0 / total) if total > 0 else float("nan")


def phase_fractions(lattice: Lattice, mask: np.ndarray | None = None,
                    disorder_threshold: float = DISORDER_THRESHOLD) -> dict[str, float]:
    """Phase fractions of ``lattice`` (or of the voxels in bool ``mask``), all floats.

    Keys (units: fractions 0..1 unless named otherwise):

    - ``tm_frac_<p>`` for p in the TM phases, plus ``tm_frac_layered_disordered`` and
      ``tm_frac_layered_ordered`` (split at ``disorder_threshold``; they sum to tm_frac_layered);
    - ``vol_frac_<p>`` for every solid phase (TM phases and Li sources), of the total solid volume;
    - ``li_frac_<p>`` for every phase that can hold Li (all codes of `Phase`), of the total Li;
    - ``li_ni_disorder``: `li_ni_disorder` (NaN without layered TM);
    - ``li_to_tm_layered``: Li / TM quanta in layered voxels (NaN without layered TM);
    - ``tm_total_q``, ``li_total_q`` (quanta), ``solid_volume_vox`` (voxel volumes).

    Fractions of an empty total are 0.
    """
    tm = tm_by_phase(lattice, mask)
    li = li_by_phase(lattice, mask)
    vol = solid_volume_by_phase(lattice, mask)
    tm_total, li_total, vol_total = float(tm.sum()), float(li.sum()), float(vol.sum())
    out: dict[str, float] = {}
    for p in TM_PHASES:
        out[f"tm_frac_{p.name.lower()}"] = float(tm[int(p)]) / tm_total if tm_total else 0.0
    split = layered_split(lattice, disorder_threshold, mask)
    out["tm_frac_layered_disordered"] = split["disordered_q"] / tm_total if tm_total else 0.0
    out["tm_frac_layered_ordered"] = split["ordered_q"] / tm_total if tm_total else 0.0
    for p in (*TM_PHASES, *LI_SOURCE_PHASES):
        out[f"vol_frac_{p.name.lower()}"] = float(vol[int(p)]) / vol_total if vol_total else 0.0
    for p in Phase:
        out[f"li_frac_{p.name.lower()}"] = float(li[int(p)]) / li_total if li_total else 0.0
    out["li_ni_disorder"] = li_ni_disorder(lattice, mask)
    lay_tm = float(tm[int(Phase.LAYERED)])
    out["li_to_tm_layered"] = float(li[int(Phase.LAYERED)]) / lay_tm if lay_tm else float("nan")
    out["tm_total_q"] = tm_total
    out["li_total_q"] = li_total
    out["solid_volume_vox"] = vol_total
    return out
