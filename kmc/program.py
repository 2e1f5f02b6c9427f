"""Temperature program: piecewise-linear T(t) in °C over furnace time t in s.

Segments are ramps and cools (constant rate), holds, and quenches (an instantaneous drop,
zero duration). `TemperatureProgram` gives exact T(t), the first time a temperature is
reached, t(T), and the total duration. The engine, the store and the plots all use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kmc.config import ProgramConfig

KELVIN = 273.15


@dataclass(frozen=True)
class Piece:
    """One linear piece: T goes from T0_C to T1_C between t0_s and t1_s (t1_s == t0_s: quench)."""

    kind: str
    t0_s: float
    t1_s: float
    T0_C: float
    T1_C: float

    def T_at(self, t_s: float) -> float:
        if self.t1_s == self.t0_s:
            return self.T1_C
        f = (t_s - self.t0_s) / (self.t1_s - self.t0_s)
        return self.T0_C + f * (self.T1_C - self.T0_C)

    @property
    def rate_C_per_s(self) -> float:
        return 0.0 if self.t1_s == self.t0_s else (self.T1_C - self.T0_C) / (self.t1_s - self.t0_s)


class TemperatureProgram:
    """Exact T(t) for a validated `ProgramConfig`."""

    def __init__(self, cfg: ProgramConfig):
        pieces, t, T = [], 0.0, cfg.start_C
        for seg in cfg.segments:
            if seg.kind == "ramp":
                dt = (seg.ramp_to_C - T) / seg.rate_C_per_min * 60.0
                pieces.append(Piece("ramp", t, t + dt, T, seg.ramp_to_C))
            elif seg.kind == "cool":
                dt = (T - seg.cool_to_C) / seg.rate_C_per_min * 60.0
                pieces.append(Piece("cool", t, t + dt, T, seg.cool_to_C))
            elif seg.kind == "hold":
                dt = seg.hold_h * 3600.0
                pieces.append(Piece("hold", t, t + dt, T, T))
            else:
                dt = 0.0
                pieces.append(Piece("quench", t, t, T, seg.quench_to_C))
            t, T = t + dt, pieces[-1].T1_C
        self.pieces: tuple[Piece, ...] = tuple(pieces)
        self.start_C = cfg.start_C

    @property
    def duration_s(self) -> float:
        return self.pieces[-1].t1_s

    def quenches_at(self, t_s: float) -> bool:
        """Whether a quench (an instantaneous drop) takes effect at furnace time t (s)."""
        return any(p.kind == "quench" and p.t0_s == t_s for p in self.pieces)

    def piece_at(self, t_s: float) -> Piece:
        """The piece in force at t (the later one at a boundary; quenches have taken effect)."""
        current = self.pieces[0]
        for p in self.pieces:
            if p.t0_s <= t_s:
                current = p
            else:
                break
        return current

    def T_C(self, t_s: float) -> float:
        """Temperature in °C at furnace time t (s); after a quench at t, the quenched value."""
        if t_s <= 0.0:
            return self.pieces[0].T0_C if self.pieces[0].t1_s > 0 else self.pieces[0].T1_C
        if t_s >= self.duration_s:
            return self.pieces[-1].T1_C
        return self.piece_at(t_s).T_at(t_s)

    def T_C_array(self, t_s: np.ndarray) -> np.ndarray:
        return np.array([self.T_C(float(t)) for t in np.ravel(t_s)]).reshape(np.shape(t_s))

    def first_time_at(self, T_C: float) -> float | None:
        """Earliest furnace time (s) at which the program reaches T_C, or None if never."""
        for p in self.pieces:
            lo, hi = sorted((p.T0_C, p.T1_C))
            if lo <= T_C <= hi:
                if p.T1_C == p.T0_C or p.t1_s == p.t0_s:
                    return p.t0_s
                return p.t0_s + (T_C - p.T0_C) / (p.T1_C - p.T0_C) * (p.t1_s - p.t0_s)
        return None

    def breakpoints_s(self) -> list[float]:
        """Times where the program changes slope or jumps, including 0 and the end."""
        return sorted({0.0, *(p.t1_s for p in self.pieces)})

    def max_T_C(self) -> float:
        return max(max(p.T0_C, p.T1_C) for p in self.pieces)

    def describe(self) -> str:
        lines = []
        for p in self.pieces:
            if p.kind == "hold":
                lines.append(f"hold {p.T0_C:g} °C for {(p.t1_s - p.t0_s) / 3600:g} h")
            elif p.kind == "quench":
                lines.append(f"quench {p.T0_C:g} -> {p.T1_C:g} °C")
            else:
                lines.append(f"{p.kind} {p.T0_C:g} -> {p.T1_C:g} °C at {abs(p.rate_C_per_s) * 60:g} °C/min")
        return "; ".join(lines) + f"  (total {self.duration_s / 3600:.3g} h)"
