"""The published findings as pass/fail criteria: pure functions of analysed numbers.

Each function takes plain numbers or per-frame rows (dicts with the column names of
`kmc.analysis.run.frame_observables`: ``temperature_C``, ``tm_frac_layered``,
``shell_minus_core_tm_frac_layered``, ``core_porosity``, ``void_radius_nm``, ...) and returns
a `Verdict`: what the experiment found, what the simulation gives (numbers with units), and
whether the criterion holds. ``holds`` is None when an input is missing (the run was not
part of this validation), so a criterion is never passed by default.

Thresholds are the measurable forms of the findings in /work/shared/MODEL.md section 1 and
issue 6; they are module constants so tests and the report quote the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: A phase "appears" when it holds more than this fraction of the TM (in situ XRD detection).
APPEAR_TM_FRAC = 0.02
#: Window (°C) in which both LiOH onsets fall at 5 °C/min.
LIOH_ONSET_WINDOW_C = (180.0, 240.0)
#: Li2CO3: layered appears at least this much later (°C) than with LiOH.
LI2CO3_DELAY_C = 100.0
#: At 300 °C: shell minus core layered TM fraction at least this.
CORE_SHELL_MIN_DIFF = 0.4
#: "Some hydroxide left" at 300 °C: more than this TM fraction.
HYDROXIDE_LEFT_MIN = 0.01
#: Two-step vs direct: void volume and nanopore count lower by at least this fraction.
TWO_STEP_MIN_REDUCTION = 0.30
#: The smallest direct-program void (µm³) and nanopore count a 30 % reduction can be read
#: from: 8 voxels of the 50 nm lattice (1.4 of the 89 nm quick lattice), and 5 pores (one pore
#: less is then 20 %).
MIN_RESOLVED_VOID_UM3 = 0.001
MIN_RESOLVED_NANOPORES = 5
#: "More heterogeneous": the pre-dehydrated contrast exceeds the bare one by at least this
#: (TM fraction), above the seed-to-seed scatter of the quick runs (about 0.02).
PREDEHYDRATED_MIN_EXCESS = 0.05
#: Disorder peak "near 300 °C": the frame of highest Li/Ni mixing lies in this window (°C).
DISORDER_PEAK_WINDOW_C = (250.0, 350.0)
#: "Lithiated centre": core layered TM fraction at the end at least this.
LITHIATED_CENTRE_MIN = 0.9
#: "No internal void" (MODEL.md findings 2, 5, 6): no cavity at the centre that stands out from
#: the pores elsewhere. A cavity's size is the radius of the largest empty ball that fits in it
#: (``void_inscribed_radius_*_nm``), not the equivalent radius of a closed pore: a tortuous pore
#: network of ~1 660 voxels reads as a "656 nm void", and which network comes out largest and
#: where its centroid falls decided the verdict by lot (seeds 1 and 2 disagreed on both coated
#: particles). A void near the centre: the largest ball centred in the core (r < R/2) is at least
#: this much (nm) wider in radius than the largest centred in the shell: two voxel edges of the
#: 50 nm lattice, the smallest difference a cross-section resolves.
CENTRAL_VOID_MIN_EXCESS_NM = 100.0
#: A void open to the outside (or wetted by the Li melt) is no closed pore, but a cross-section
#: shows it as a dark centre: "no void near the centre" also needs the core (r < R/2) to be
#: at most this much more porous than the shell (volume fraction of TM-bearing solid missing).
CORE_POROSITY_EXCESS_MAX = 0.10


@dataclass(frozen=True)
class Verdict:
    """One row of the validation table. values: the numbers behind ``simulation`` (units in the keys)."""

    key: str
    finding: str
    experiment: str
    simulation: str
    holds: bool | None
    values: dict = field(default_factory=dict)
    note: str = ""

    @property
    def mark(self) -> str:
        return {True: "holds", False: "does not hold", None: "not evaluated"}[self.holds]


def _missing(*xs) -> bool:
    return any(x is None or (isinstance(x, float) and math.isnan(x)) for x in xs)


def _fmt(x, spec=".0f", unit="") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "none"
    return f"{x:{spec}}{unit}"


def change_text(reduction: float) -> str:
    """A reduction (ref - new) / ref in words: "26 % lower", "4 % higher", "none lower" (NaN)."""
    if reduction is None or (isinstance(reduction, float) and math.isnan(reduction)):
        return "none lower"
    return f"{100 * reduction:.0f} % lower" if reduction >= 0 else f"{-100 * reduction:.0f} % higher"


def onset_C(temperature_C, tm_frac, threshold: float = APPEAR_TM_FRAC) -> float:
    """First temperature (°C) at which ``tm_frac`` exceeds ``threshold`` on a heating record,
    linearly interpolated between rows; NaN when it never does. Rows in time order; only the
    first heating (up to the first maximum of temperature) counts."""
    T = [float(t) for t in temperature_C]
    f = [float(x) for x in tm_frac]
    if not T:
        return math.nan
    top = max(range(len(T)), key=lambda i: T[i])
    for i in range(top + 1):
        if f[i] > threshold:
            if i == 0 or f[i - 1] >= f[i]:
                return T[i]
            w = (threshold - f[i - 1]) / (f[i] - f[i - 1])
            return T[i - 1] + w * (T[i] - T[i - 1])
    return math.nan


def lioh_order(layered_onset_C: float | None, rock_salt_onset_C: float | None) -> Verdict:
    """Finding 1/4 (LiOH): layered appears (> 2 % of TM) before rock salt, both in 180-240 °C."""
    lo, hi = LIOH_ONSET_WINDOW_C
    holds = None
    if not _missing(layered_onset_C, rock_salt_onset_C):
        holds = bool(layered_onset_C < rock_salt_onset_C and lo <= layered_onset_C <= hi and lo <= rock_salt_onset_C <= hi)
    return Verdict("lioh_order", "1. With LiOH, lithiation starts before dehydration",
                   f"layered (> {APPEAR_TM_FRAC:.0%} of TM) before rock salt, both at {lo:.0f}-{hi:.0f} °C (5 °C/min)",
                   f"layered at {_fmt(layered_onset_C, unit=' °C')}, rock salt at {_fmt(rock_salt_onset_C, unit=' °C')}",
                   holds, {"layered_onset_C": layered_onset_C, "rock_salt_onset_C": rock_salt_onset_C})


def li2co3_order(lioh_layered_onset_C, layered_onset_C, rock_salt_onset_C) -> Verdict:
    """Finding 4: with Li2CO3 rock salt appears first and layered >= 100 °C later than with LiOH."""
    holds = None
    delay = math.nan
    if not _missing(lioh_layered_onset_C, rock_salt_onset_C):
        if _missing(layered_onset_C):
            holds = False
        else:
            delay = layered_onset_C - lioh_layered_onset_C
            holds = bool(rock_salt_onset_C < layered_onset_C and delay >= LI2CO3_DELAY_C)
    return Verdict("li2co3_order", "4. Li2CO3 reverses the order",
                   f"rock salt first; layered >= {LI2CO3_DELAY_C:.0f} °C later than with LiOH",
                   f"rock salt at {_fmt(rock_salt_onset_C, unit=' °C')}, layered at {_fmt(layered_onset_C, unit=' °C')} "
                   f"({_fmt(delay, '+.0f', ' °C')} vs LiOH)",
                   holds, {"layered_onset_C": layered_onset_C, "rock_salt_onset_C": rock_salt_onset_C, "delay_C": delay})


def core_shell_300(frame: dict | None) -> Verdict:
    """Finding 1 at 300 °C: shell - core layered >= 0.4, core porosity > shell porosity, hydroxide left."""
    holds, v = None, {}
    if frame is not None:
        v = {"shell_minus_core_layered": frame["shell_minus_core_tm_frac_layered"],
             "core_porosity": frame["core_porosity"], "shell_porosity": frame["shell_porosity"],
             "hydroxide_tm_frac": frame["tm_frac_hydroxide"]}
        holds = bool(v["shell_minus_core_layered"] >= CORE_SHELL_MIN_DIFF and v["core_porosity"] > v["shell_porosity"]
                     and v["hydroxide_tm_frac"] > HYDROXIDE_LEFT_MIN)
    sim = ("no frame at 300 °C" if frame is None else
           f"shell - core layered {v['shell_minus_core_layered']:+.2f}; porosity core {v['core_porosity']:.2f} / "
           f"shell {v['shell_porosity']:.2f}; hydroxide {v['hydroxide_tm_frac']:.1%} of TM")
    return Verdict("core_shell_300", "1. Kinetic competition makes a core-shell particle (300 °C)",
                   f"layered shell, porous rock-salt core, some hydroxide: shell - core layered >= {CORE_SHELL_MIN_DIFF}, "
                   f"core porosity > shell porosity, hydroxide > {HYDROXIDE_LEFT_MIN:.0%} of TM", sim, holds, v)


def healed_500(frame300: dict | None, frame500: dict | None) -> Verdict:
    """Finding 1 at 500 °C: the core-shell difference of 300 °C (shell - core layered >=
    CORE_SHELL_MIN_DIFF, as in `core_shell_300`) has shrunk; without a core-shell particle at
    300 °C there is nothing to heal and the criterion does not hold."""
    holds, v = None, {}
    if frame300 is not None and frame500 is not None:
        v = {"diff_300C": frame300["shell_minus_core_tm_frac_layered"], "diff_500C": frame500["shell_minus_core_tm_frac_layered"]}
        holds = bool(v["diff_300C"] >= CORE_SHELL_MIN_DIFF and abs(v["diff_500C"]) < v["diff_300C"])
    sim = "missing frames" if not v else f"shell - core layered {v['diff_300C']:+.2f} at 300 °C, {v['diff_500C']:+.2f} at 500 °C"
    return Verdict("healed_500", "1. By ~500 °C the heterogeneity is partly healed",
                   f"a core-shell particle at 300 °C (shell - core layered >= {CORE_SHELL_MIN_DIFF}) whose difference "
                   "is smaller at 500 °C", sim, holds, v)


def _reduction(ref: float, new: float) -> float:
    """(ref - new) / ref, NaN when ref <= 0 (nothing to reduce)."""
    return (ref - new) / ref if ref > 0 else math.nan


def two_step(direct_end: dict | None, two_step_end: dict | None) -> Verdict:
    """Finding 3: the two-step product has >= 30 % less internal void volume and >= 30 % fewer nanopores."""
    holds, v = None, {}
    if direct_end is not None and two_step_end is not None:
        v = {"void_direct_um3": direct_end["void_volume_um3"], "void_two_step_um3": two_step_end["void_volume_um3"],
             "nanopores_direct": direct_end["intragranular_pore_count"], "nanopores_two_step": two_step_end["intragranular_pore_count"]}
        v["void_reduction"] = _reduction(v["void_direct_um3"], v["void_two_step_um3"])
        v["nanopore_reduction"] = _reduction(v["nanopores_direct"], v["nanopores_two_step"])
        resolved = v["void_direct_um3"] >= MIN_RESOLVED_VOID_UM3 and v["nanopores_direct"] >= MIN_RESOLVED_NANOPORES
        holds = bool(resolved and v["void_reduction"] >= TWO_STEP_MIN_REDUCTION and v["nanopore_reduction"] >= TWO_STEP_MIN_REDUCTION)
    sim = "missing runs" if not v else (
        f"internal void {v['void_direct_um3']:.4f} -> {v['void_two_step_um3']:.4f} µm³ ({change_text(v['void_reduction'])}); "
        f"nanopores {v['nanopores_direct']:.0f} -> {v['nanopores_two_step']:.0f} ({change_text(v['nanopore_reduction'])})")
    note = ""
    if v and not (v["void_direct_um3"] >= MIN_RESOLVED_VOID_UM3 and v["nanopores_direct"] >= MIN_RESOLVED_NANOPORES):
        note = (f"the direct product has less void or fewer nanopores than a 30 % reduction can be read from "
                f"(>= {MIN_RESOLVED_VOID_UM3} µm³ and >= {MIN_RESOLVED_NANOPORES} pores)")
    return Verdict("two_step", "3. A low-temperature hold gives denser particles",
                   f"two-step (250 °C 6 h + 850 °C 6 h) vs direct (850 °C 12 h): internal void volume and nanopore count "
                   f">= {TWO_STEP_MIN_REDUCTION:.0%} lower", sim, holds, v, note)


def disorder_peak(temperature_C, disorder, layered_frac) -> Verdict:
    """Li/Ni disorder vs T on the heating ramp: highest in 250-350 °C, every later frame below the peak.

    Frames where layered holds <= 2 % of the TM carry no measurable disorder and are skipped."""
    lo, hi = DISORDER_PEAK_WINDOW_C
    pts = [(float(t), float(d)) for t, d, f in zip(temperature_C, disorder, layered_frac)
           if f > APPEAR_TM_FRAC and not math.isnan(float(d))]
    holds, v = None, {}
    if pts:
        T_peak, d_peak = max(pts, key=lambda p: p[1])
        after = [d for t, d in pts if t > T_peak]
        last = pts[-1]
        v = {"peak_C": T_peak, "peak_disorder": d_peak, "last_C": last[0], "last_disorder": last[1]}
        holds = bool(lo <= T_peak <= hi and (not after or max(after) < d_peak) and last[1] < d_peak)
    sim = "no layered phase" if not v else (
        f"highest {v['peak_disorder']:.1%} Ni on Li sites at {v['peak_C']:.0f} °C; {v['last_disorder']:.1%} at {v['last_C']:.0f} °C")
    return Verdict("disorder_peak", "Li/Ni disorder highest near 300 °C, decreasing above",
                   f"Li/Ni mixing peaks at {lo:.0f}-{hi:.0f} °C and falls at higher temperature", sim, holds, v)


def central_void_excess_nm(frame: dict) -> float:
    """Radius (nm) of the largest empty ball centred in the core minus that of the largest centred
    in the shell (`CENTRAL_VOID_MIN_EXCESS_NM`)."""
    return float(frame["void_inscribed_radius_core_nm"] - frame["void_inscribed_radius_shell_nm"])


def _has_open_centre(frame: dict) -> bool:
    """Lithiated centre without a void near it: no wider cavity in the core than in the shell
    (`central_void_excess_nm`) and no more porous core."""
    return (frame["core_tm_frac_layered"] >= LITHIATED_CENTRE_MIN and central_void_excess_nm(frame) < CENTRAL_VOID_MIN_EXCESS_NM
            and frame["core_porosity"] - frame["shell_porosity"] < CORE_POROSITY_EXCESS_MAX)


def coated_centre(bare_end: dict | None, coated_end: dict | None, label: str) -> Verdict:
    """Finding 5/6: the coated particle has a lithiated centre and no central void at the end."""
    holds, v, note = None, {}, ""
    if coated_end is not None:
        v = {"core_layered": coated_end["core_tm_frac_layered"], "central_void_excess_nm": central_void_excess_nm(coated_end),
             "core_porosity_excess": coated_end["core_porosity"] - coated_end["shell_porosity"],
             "bare_core_layered": math.nan if bare_end is None else bare_end["core_tm_frac_layered"],
             "bare_central_void_excess_nm": math.nan if bare_end is None else central_void_excess_nm(bare_end),
             "bare_core_porosity_excess": math.nan if bare_end is None else bare_end["core_porosity"] - bare_end["shell_porosity"]}
        holds = _has_open_centre(coated_end)
        if holds and bare_end is not None and _has_open_centre(bare_end):
            note = "the bare particle meets it too, so finding 5's contrast is not reproduced"
    sim = "missing run" if not v else (
        f"{label}: core layered {v['core_layered']:.1%}, largest cavity radius core - shell {v['central_void_excess_nm']:+.0f} nm, "
        f"core porosity - shell porosity {v['core_porosity_excess']:+.2f} (bare: {_fmt(100 * v['bare_core_layered'], '.1f', ' %')}, "
        f"{_fmt(v['bare_central_void_excess_nm'], '+.0f', ' nm')}, {_fmt(v['bare_core_porosity_excess'], '+.2f')})")
    return Verdict(f"coated_centre_{label}", "6. A boundary phase keeps the Li highway open (end of program)",
                   f"coated NCM90: lithiated centre (core layered >= {LITHIATED_CENTRE_MIN:.0%}), no void near the centre "
                   f"(largest empty ball centred in the core (r < R/2) less than {CENTRAL_VOID_MIN_EXCESS_NM:.0f} nm wider in "
                   f"radius than the shell's; core porosity - shell porosity < {CORE_POROSITY_EXCESS_MAX})",
                   sim, holds, v, note)


def coated_grains_500(bare500: dict | None, coated500: dict | None, label: str) -> Verdict:
    """Finding 6: at 500 °C the coated particle has more grains and smaller crystallites than the
    bare one. Crystallite size: ``crystallite_size_nm``, the volume-weighted mean diameter of the
    lithiated grains, which is what the (003) peak width (Scherrer) of the finding measures; the
    number mean would count the remnants of precursor grains that recrystallisation is consuming."""
    holds, v = None, {}
    if bare500 is not None and coated500 is not None:
        v = {"grains_bare": bare500["grain_count"], "grains_coated": coated500["grain_count"],
             "d_bare_nm": bare500["crystallite_size_nm"], "d_coated_nm": coated500["crystallite_size_nm"]}
        holds = None if _missing(v["d_bare_nm"], v["d_coated_nm"]) else bool(
            v["grains_coated"] > v["grains_bare"] and v["d_coated_nm"] < v["d_bare_nm"])
    sim = "missing frames" if not v else (
        f"{label}: {v['grains_coated']:.0f} grains, crystallites {v['d_coated_nm']:.0f} nm vs bare "
        f"{v['grains_bare']:.0f}, {v['d_bare_nm']:.0f} nm")
    return Verdict(f"coated_grains_{label}", "6. Coating: more, smaller grains (500 °C)",
                   "coated NCM90 at 500 °C: more grains, smaller crystallites (volume-weighted mean diameter of the "
                   "lithiated grains, as the (003) peak width measures it) than bare", sim, holds, v)


def heterogeneity(frames: list[dict], max_C: float = 600.0) -> float:
    """Largest shell - core layered TM fraction (signed: a layered shell around a less
    layered core) over the heating frames at or below ``max_C`` (°C); NaN if none."""
    vals = [f["shell_minus_core_tm_frac_layered"] for f in frames
            if f["temperature_C"] <= max_C and f.get("heating", True)]
    return max(vals) if vals else math.nan


def predehydrated(bare_frames: list[dict] | None, pre_frames: list[dict] | None) -> Verdict:
    """Finding 7: the pre-dehydrated surface speeds up the dense layered shell: its largest
    shell - core layered difference exceeds the bare one's. Signed: a rock-salt shell around a
    layered core is heterogeneous too, but it is not the dense shell of the finding."""
    holds, v = None, {}
    if bare_frames and pre_frames:
        v = {"bare": heterogeneity(bare_frames), "pre_dehydrated": heterogeneity(pre_frames)}
        holds = None if _missing(v["bare"], v["pre_dehydrated"]) else bool(v["pre_dehydrated"] >= v["bare"] + PREDEHYDRATED_MIN_EXCESS)
    sim = "missing runs" if not v else (
        f"largest shell - core layered difference up to 600 °C: pre-dehydrated {v['pre_dehydrated']:+.2f}, bare {v['bare']:+.2f}")
    return Verdict("predehydrated", "7. A pre-dehydrated surface makes it worse",
                   f"pre-dehydrated NCM90 forms its layered shell faster: largest shell - core layered difference on heating up to "
                   f"600 °C larger by >= {PREDEHYDRATED_MIN_EXCESS}", sim, holds, v)
