"""The simulation loop: the temperature program drives the events, a run store records them.

Order of operations (written down here once):

1. Build the lattice from the config (`kmc.build.build`), or load the last complete frame of
   a store when resuming.
2. Write frame 0 (t = 0) and its observable row.
3. Repeat until the end of the program, one step at a time:
   a. the step ends at the next *stop* (a frame time, an observation time, or a program
      breakpoint) or earlier: dt <= numerics.max_dt_s, the temperature changes by at
      most numerics.max_dT_C within the step, and competing reactions and Monte Carlo
      attempts fire with a probability of at most numerics.max_event_probability
      (`Simulation._longest_accurate_dt_s`; Li hops cap themselves at
      numerics.max_hop_probability per pass instead, docs/li_transport.md), and while
      hydroxide is present capped Li transport still outruns its dehydration
      (`Simulation._transport_resolving_dt_s`);
   b. each event of `kmc.events.build_events`, in its order, fires with probability p(T_mid, dt),
      T_mid the temperature at the middle of the step; p is turned into an integer
      threshold on the host, and the draws are keyed by (seed, step, pass, site, stream);
   c. at observation times a row of observables is computed; at frame times the lattice,
      the clock and the gas counters are written, the completion marker last.
4. Mark the store finished.

The backend owns the lattice arrays between frames (`kmc.backends.resident`): it is attached
once, the events run on the backend's copy, the step control and the observables read
small tables the backend reduces (`backend.phase_counts`, `backend.observation_tables`), and
the host arrays are brought up to date (`backend.sync`) only when a frame is written or code
reads `Simulation.lattice`. On the CPU backend all of these are the host arrays themselves.

dt depends only on the current time and the schedule, so a resumed run takes exactly the
steps an uninterrupted one would, and ends with the same bits.
"""

from __future__ import annotations

import bisect
import math
import os
import shutil
from pathlib import Path

import numpy as np

from kmc import events as event_registry
from kmc.events.li_source import net_release_counters
from kmc import params as param_sets
from kmc.backends import select as select_backend
from kmc.config import Config, parse_config
from kmc.observe import ObservationTables, Observer
from kmc.program import TemperatureProgram
from kmc.state import TM_PHASES, Lattice
from kmc.store import Clock, RunStore


#: The transport limit of the step applies while a phase that loses its Li route without Li
#: holds at least this fraction of the TM voxels (`Simulation._transport_resolving_dt_s`).
RACE_MIN_TM_FRACTION = 0.01


def frame_times_s(cfg: Config, program: TemperatureProgram) -> list[float]:
    """Furnace times (s) at which frames are written, sorted, including 0 and the end."""
    end = program.duration_s
    times = {0.0, end}
    if cfg.output.snapshot_every_min:
        every = cfg.output.snapshot_every_min * 60.0
        times.update(k * every for k in range(1, int(end // every) + 1) if k * every < end)
    for T in cfg.output.snapshot_at_C:
        t = program.first_time_at(T)
        if t is not None:
            times.add(t)
    return sorted(times)


def observation_times_s(cfg: Config, program: TemperatureProgram, frames: list[float]) -> list[float]:
    end = program.duration_s
    every = cfg.output.observe_every_min * 60.0
    times = set(frames)
    times.update(k * every for k in range(1, int(end // every) + 1) if k * every < end)
    return sorted(times)


class Simulation:
    """One calcination run: lattice + program + events + backend, from a validated config.

    Use `Simulation.from_config(cfg).run(out)` for a new run and `Simulation.resume(out)` to
    continue a crashed one.
    """

    def __init__(self, cfg: Config, lattice: Lattice, *, clock: Clock | None = None,
                 counters: dict[str, int] | None = None, build_report: dict | None = None,
                 n_precursor_grains: int | None = None, threads: int | None = None, backend=None):
        self.cfg = cfg
        self._lattice = lattice
        self.params = param_sets.load(cfg.params)
        self.build_report = dict(build_report or {})
        #: grain ids above this formed during the run (the builder's largest id)
        self.n_precursor_grains = int(lattice.grain.max() if n_precursor_grains is None else n_precursor_grains)
        ctx = event_registry.EventContext(voxel_nm=cfg.lattice.voxel_nm, n_precursor_grains=self.n_precursor_grains,
                                          max_hop_probability=cfg.numerics.max_hop_probability)
        self.events = event_registry.build_events(self.params, ctx)
        #: `backend` if given (tests), else the one `cfg.backend` selects for these events and this lattice
        self.backend = backend or select_backend(cfg.backend, threads=threads, events=self.events, shape=lattice.shape)
        self.backend.attach(lattice)
        self.program = TemperatureProgram(cfg.program)
        self.clock = clock or Clock(0, 0.0, self.program.T_C(0.0))
        names = [c for ev in self.events for c in ev.COUNTERS]
        self.counters = {c: int((counters or {}).get(c, 0)) for c in names}
        self.observer = Observer(self.build_report.get("particle_voxels", lattice.phase.size), cfg.lattice.voxel_nm)

    @property
    def lattice(self) -> Lattice:
        """The lattice (host arrays), current: a device backend copies its fields back if they changed."""
        self.backend.sync(self._lattice)
        return self._lattice

    @classmethod
    def from_config(cls, cfg: Config, threads: int | None = None) -> "Simulation":
        from kmc.build import build

        lattice, report = build(cfg)
        return cls(cfg, lattice, build_report=report.to_dict(), threads=threads)

    @classmethod
    def resume(cls, path: str | Path, threads: int | None = None) -> tuple["Simulation", RunStore]:
        """Open a store, drop anything beyond its last complete frame, load that frame."""
        store = RunStore.open(path)
        store.trim()
        attrs = store.attrs
        cfg = parse_config(attrs["config"], source="stored config")
        frame = store.frame(-1)
        sim = cls(cfg, frame.lattice, clock=frame.clock, counters=frame.counters, build_report=attrs.get("build", {}),
                  n_precursor_grains=attrs["n_precursor_grains"], threads=threads)
        return sim, store

    # -- the loop --------------------------------------------------------------------------
    def _store_attrs(self) -> dict:
        return {"config": self.cfg.to_dict(), "params": self.params.to_dict(), "backend": self.backend.name,
                "seed": self.cfg.seed, "build": self.build_report, "n_precursor_grains": self.n_precursor_grains}

    def run(self, out: str | Path | None = None, *, store: RunStore | None = None, progress: bool = False,
            on_step=None) -> RunStore | None:
        """Run the program to its end. Writes to a new store at ``out``, to ``store`` (resume),
        or nowhere when both are None (tests). ``on_step(clock)``, if given, is called after
        every step (progress reports from another process). Returns the store."""
        frames, observations, stops = self._schedule()
        frame_set, observe_set = set(frames), set(observations)

        partial = None
        if store is None and out is not None:
            out = Path(out)
            partial = RunStore.partial_path(out, os.getpid())
            RunStore.check_new(out)
            shutil.rmtree(partial, ignore_errors=True)
            store = RunStore.create(partial, shape=self._lattice.shape, counters=tuple(self._output_counters()),
                                    attrs=self._store_attrs())
        try:
            if store is not None and store.n_frames == 0:
                tables = self.backend.observation_tables(self._lattice)
                self._write_frame(store, [self._row(tables)], tables)
            if partial is not None:
                if out.exists():
                    out.rmdir()
                os.replace(partial, out)
                store = RunStore.open(out)
                partial = None
        except BaseException:
            if partial is not None:
                shutil.rmtree(partial, ignore_errors=True)
            raise

        bar = _progress_bar(self.program, self.clock.time_s) if progress else None
        rows: list[dict] = []
        try:
            for clock in self.steps(stops):
                tables = None  # the reductions of this step's lattice, made once for its row and frame
                if clock.time_s in observe_set:
                    tables = self.backend.observation_tables(self._lattice)
                    rows.append(self._row(tables))
                if clock.time_s in frame_set and store is not None:
                    self._write_frame(store, rows, tables)
                    rows = []
                if on_step is not None:
                    on_step(clock)
                if bar is not None:
                    bar.n = round(clock.time_s / 60.0, 3)
                    bar.set_description_str(f"T = {clock.temperature_C:6.1f} °C", refresh=False)
                    bar.refresh()
        finally:
            if bar is not None:
                bar.close()
        if store is not None:
            store.mark_finished()
        return store

    def _schedule(self) -> tuple[list[float], list[float], list[float]]:
        """(frame times, observation times, all stops) in s; stops add the program breakpoints."""
        frames = frame_times_s(self.cfg, self.program)
        observations = observation_times_s(self.cfg, self.program, frames)
        return frames, observations, sorted(set(observations) | set(self.program.breakpoints_s()))

    def steps(self, stops: list[float] | None = None):
        """Advance to the end of the program one step at a time, yielding the `Clock` after
        each step (nothing is written). ``stops``: times (s) steps must end on, default the
        frame and observation times and the program's breakpoints."""
        stops = self._schedule()[2] if stops is None else sorted(set(stops) | set(self.program.breakpoints_s()))
        end = self.program.duration_s
        while self.clock.time_s < end:
            t = self.clock.time_s
            self._step(t, self._next_time(t, stops))
            yield self.clock

    def _next_time(self, t: float, stops: list[float]) -> float:
        """End of the step from t: the next stop, or earlier (dt limits in the module doc)."""
        num = self.cfg.numerics
        next_stop = stops[bisect.bisect_right(stops, t)]
        dt = min(num.max_dt_s, next_stop - t)
        piece = self.program.piece_at(t)
        if piece.rate_C_per_s != 0:
            dt = min(dt, num.max_dT_C / abs(piece.rate_C_per_s))
        T_hi = max(self.program.T_C(t), self.program.T_C(t + dt))
        counts = self.backend.phase_counts(self._lattice)
        dt = min(dt, self._longest_accurate_dt_s(T_hi, counts > 0), self._transport_resolving_dt_s(T_hi, counts))
        return next_stop if t + dt >= next_stop else t + dt

    def _transport_resolving_dt_s(self, T_C: float, counts: np.ndarray) -> float:
        """The longest step (s) at which capped Li transport still resolves its race with the
        reactions that take a phase off the Li path without Li (events with
        COMPETES_WITH_LI_TRANSPORT: dehydration of the hydroxide, which loses the topotactic
        route). counts: int (256,) voxels per phase code. With k the sum of their rates over
        the phases that still hold at least RACE_MIN_TM_FRACTION of the TM voxels (a last
        percent decides too little of the product to pay for steps that shrink as 1/k), every
        capped Li-hop medium must still spread Li over F x the particle radius within 1/k,
        F = numerics.transport_length_factor (`LiHop.max_dt_s`); inf when no such phase is
        present or F = 0. Without this limit the cap slows grain-boundary transport by orders of
        magnitude at dt ~ 10 s, and Li loses races it wins (docs/li_transport.md section 6).
        """
        factor = self.cfg.numerics.transport_length_factor
        if factor <= 0:
            return math.inf
        tm_voxels = sum(int(counts[int(p)]) for p in TM_PHASES)
        k = sum(rate for ev in self.events if getattr(ev, "COMPETES_WITH_LI_TRANSPORT", False)
                for phase, rate in ev.consumption_rates_per_s(T_C).items()
                if tm_voxels > 0 and counts[phase] >= RACE_MIN_TM_FRACTION * tm_voxels)
        if k <= 0:
            return math.inf
        hop = next((ev for ev in self.events if ev.NAME == "li_hop"), None)
        if hop is None:
            return math.inf
        return hop.max_dt_s(T_C, self.cfg.particle.radius_um * 1e-6, 1.0 / k, factor)

    def _longest_accurate_dt_s(self, T_C: float, present: np.ndarray) -> float:
        """The longest step (s) the events resolve at T.

        A first-order transformation alone is exact at any dt (p = 1 - exp(-k dt)). Events
        applied one after the other that compete for the same parent phase split it between
        them with an absolute error of at most the per-step probability of the slower channels
        (the fastest channel takes a site first), so for every phase present on the lattice the
        sum of its consumers' rates except the largest counts. Monte Carlo events
        (`max_rate_per_s`) count always: their attempt probability per step must stay small
        for their clock to be physical time.
        """
        p_max = self.cfg.numerics.max_event_probability
        by_phase: dict[int, list[float]] = {}
        dt = math.inf
        for ev in self.events:
            if hasattr(ev, "consumption_rates_per_s"):
                for phase, k in ev.consumption_rates_per_s(T_C).items():
                    by_phase.setdefault(phase, []).append(k)
            elif not getattr(ev, "SELF_CAPPED", False):
                k = ev.max_rate_per_s(T_C)
                if k > 0:
                    dt = min(dt, getattr(ev, "MAX_ATTEMPTS_PER_STEP", p_max) / k)
        for phase, rates in by_phase.items():
            k = sum(rates) - max(rates)
            if k > 0 and present[phase]:
                dt = min(dt, p_max / k)
        return dt

    def _step(self, t: float, t_new: float) -> None:
        dt = t_new - t
        T_mid = self.program.T_C(t + 0.5 * dt)
        step = self.clock.step
        for ev in self.events:
            thresholds = ev.thresholds(T_mid, dt)
            if not thresholds.any():
                continue
            for name, value in self.backend.apply(ev, self._lattice, self.cfg.seed, step, thresholds).items():
                self.counters[name] += value
        if self.program.quenches_at(t_new):   # instantaneous rules (melting) at the quenched temperature
            T_after = self.program.T_C(t_new)
            for ev in self.events:
                if getattr(ev, "INSTANT_RULES", False):
                    th = ev.thresholds(T_after, 0.0)
                    for name, value in self.backend.apply(ev, self._lattice, self.cfg.seed, step, th).items():
                        self.counters[name] += value
        self.clock = Clock(step + 1, t_new, self.program.T_C(t_new))

    def _output_counters(self, tables: ObservationTables | None = None) -> dict[str, int]:
        """The events' counters plus those derived from the state (net Li a source gave away),
        from ``tables`` (the backend's reductions of the current lattice, made if not given)."""
        tables = tables or self.backend.observation_tables(self._lattice)
        return self.counters | net_release_counters(tables.li_by_phase, self.cfg.chemistry.li_source)

    def _row(self, tables: ObservationTables | None = None) -> dict:
        """The observable row of the current lattice, from ``tables`` (made if not given)."""
        c = self.clock
        tables = tables or self.backend.observation_tables(self._lattice)
        return self.observer.row(tables, c.step, c.time_s, c.temperature_C, self._output_counters(tables))

    def _write_frame(self, store: RunStore, rows: list[dict], tables: ObservationTables | None = None) -> None:
        store.append_frame(self.lattice, self.clock, self._output_counters(tables), rows)


def _progress_bar(program: TemperatureProgram, start_s: float):
    from tqdm.auto import tqdm

    return tqdm(total=round(program.duration_s / 60.0, 3), initial=round(start_s / 60.0, 3), dynamic_ncols=True,
                mininterval=0.5, bar_format="{desc} {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} furnace min "
                                            "[{elapsed} elapsed, ETA {remaining}]")


def lattice_digest(lattice: Lattice) -> str:
    """SHA-256 over every field's bytes, in field order (for bit-identity checks)."""
    import hashlib

    h = hashlib.sha256()
    for name, arr in lattice.arrays().items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def estimate_memory_bytes(cfg: Config) -> int:
    """Bytes of lattice state for this config (fields only)."""
    from kmc.state import bytes_per_voxel

    return cfg.lattice.n_voxels * bytes_per_voxel()


