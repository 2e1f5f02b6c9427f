"""Analysed numbers of one validation run: onsets from the observation rows, one row per frame.

`measure_run(run_dir)` reads a finished run store and returns a JSON-ready dict:

- ``name``, ``config`` (the stored, resolved config);
- ``rows``: the run's observation rows (every ``observe_every_min``), columns
  ``temperature_C``, ``time_h``, ``tm_frac_hydroxide``, ``tm_frac_rock_salt``, ``tm_frac_layered``;
- ``onset_C``: {'layered', 'rock_salt'}: first temperature (°C) on the first heating at which
  the phase holds more than `kmc.validation.criteria.APPEAR_TM_FRAC` of the TM (NaN if never);
- ``frames``: per stored frame the scalars of `kmc.analysis.run.frame_observables` (no XRD),
  plus ``frame``, ``time_h`` and ``heating`` (True while the furnace has not yet passed its
  highest temperature, i.e. the frame lies on the way up).

`frame_at(frames, T)` picks the first heating frame at T (within 1 °C); `end_frame` the last.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from kmc.validation.criteria import onset_C

ROW_COLUMNS = ("temperature_C", "time_h", "tm_frac_hydroxide", "tm_frac_rock_salt", "tm_frac_layered")
FRAME_TOLERANCE_C = 1.0


def _clean(v):
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return int(v)
    return v


def measure_run(run_dir: str | Path, progress=None) -> dict:
    """The measurements of the module docstring for the finished run store at ``run_dir``."""
    from kmc.analysis import frame_observables, particle_from_config
    from kmc.program import TemperatureProgram
    from kmc.config import parse_config
    from kmc.store import RunStore

    store = RunStore.open(run_dir, mode="r")
    cfg_map = store.attrs["config"]
    cfg = parse_config(cfg_map, source="stored config")
    program = TemperatureProgram(cfg.program)
    t_top = program.first_time_at(program.max_T_C()) if program.max_T_C() > cfg.program.start_C else 0.0
    part = particle_from_config(cfg_map)
    composition = cfg_map.get("chemistry", {}).get("composition", "NCM622")

    obs = store.observables()
    rows = {k: [float(x) for x in obs[k]] for k in ROW_COLUMNS if k in obs}
    onsets = {p: onset_C(rows["temperature_C"], rows[f"tm_frac_{p}"]) for p in ("layered", "rock_salt")}

    frames = []
    for i in range(store.n_frames):
        fr = store.frame(i)
        values = frame_observables(fr.lattice, part.voxel_nm, centre=part.centre, radius=part.radius,
                                   composition=composition, xrd=False)
        row = {"frame": i, "time_h": fr.clock.time_s / 3600.0, "temperature_C": float(fr.clock.temperature_C),
               "heating": bool(t_top is None or fr.clock.time_s <= t_top + 1e-6)}
        row.update({k: _clean(v) for k, v in values.items()})
        frames.append(row)
        if progress is not None:
            progress(i + 1, store.n_frames)
    return {"name": Path(run_dir).name, "config": cfg_map, "rows": rows, "onset_C": onsets, "frames": frames}


def frame_at(frames: list[dict], T_C: float) -> dict | None:
    """The first heating frame within `FRAME_TOLERANCE_C` of ``T_C`` (°C), or None."""
    for f in frames:
        if f["heating"] and abs(f["temperature_C"] - T_C) <= FRAME_TOLERANCE_C:
            return f
    return None


def end_frame(frames: list[dict]) -> dict | None:
    """The last frame (the product), or None for an empty list."""
    return frames[-1] if frames else None


def heating_series(frames: list[dict], column: str) -> tuple[list[float], list[float]]:
    """(temperatures °C, values) of ``column`` over the heating frames, NaN where undefined."""
    sel = [f for f in frames if f["heating"]]
    return [f["temperature_C"] for f in sel], [float(f.get(column, math.nan)) for f in sel]
