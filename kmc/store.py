"""The run store: a run directory DIR holding one zarr v3 group, ``DIR/store.zarr``.

``xarray.open_zarr("DIR/store.zarr")`` opens it (or `open_dataset`). Layout of the group
(docs/store.md is the long form):

- ``phase, grain, li, tm, disorder, flags``: (t, z, y, x), chunks (1, 64, 64, 64), zstd.
- ``time_s``, ``temperature_C``, ``step`` and one ``<counter>`` per gas counter: (t,),
  coordinates of the fields (``coordinates`` attribute, so xarray attaches them).
- ``observables/<column>``: (row,), the observable table, copied to ``DIR/observables.csv``.
- root attributes: kmc version, resolved config, parameter set, backend, seed, build report,
  and the completion marker ``n_complete_frames`` / ``n_observation_rows``.

Crash safety (data before index): a frame's arrays are resized and its chunks written
first; the marker is updated last, in one write of the group's zarr.json (LocalStore writes
each file atomically by rename; zarr's ``attrs.update`` would write once per key). A
reader trusts only the first ``n_complete_frames`` frames; `RunStore.trim` removes what
lies beyond, so a resumed run continues from the last complete frame.
"""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from kmc.errors import Problem, UserError
from kmc.state import Lattice

FORMAT_VERSION = 1
CHUNK_EDGE = 64
ZARR_NAME = "store.zarr"
_COORDS = ("time_s", "temperature_C", "step")
_UNITS = {"time_s": "s", "temperature_C": "degC", "step": "1", "phase": "kmc.state.Phase code",
          "grain": "grain id", "li": "Li quanta", "tm": "TM quanta", "disorder": "1/255 Li/Ni mixing",
          "flags": "kmc.state.Flag bits"}


@dataclass(frozen=True)
class Clock:
    """Where the run stands: integer step, furnace time (s) and temperature (°C)."""

    step: int
    time_s: float
    temperature_C: float


@dataclass
class Frame:
    """One complete snapshot read back from a store."""

    index: int
    clock: Clock
    lattice: Lattice
    counters: dict[str, int]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kmc")
    except PackageNotFoundError:
        return "0+unknown"


class RunStore:
    """Append-only frames and observable rows with a completion marker."""

    def __init__(self, path: Path, group: zarr.Group):
        self.path = Path(path)  #: the run directory
        self.group = group

    @property
    def zarr_path(self) -> Path:
        return self.path / ZARR_NAME

    # -- creation and opening -------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, shape: tuple[int, int, int], counters: tuple[str, ...],
               attrs: dict) -> "RunStore":
        """Make a new, empty store at ``path``, which must not exist or be empty."""
        path = Path(path)
        cls.check_new(path)
        group = zarr.open_group(str(path / ZARR_NAME), mode="w", zarr_format=3)
        chunks = tuple(min(CHUNK_EDGE, n) for n in shape)
        coords = " ".join((*_COORDS, *counters))
        for name, dtype in Lattice.DTYPES.items():
            arr = group.create_array(name, shape=(0, *shape), chunks=(1, *chunks), dtype=dtype,
                                     dimension_names=("t", "z", "y", "x"), compressors=ZstdCodec(level=3),
                                     fill_value=0)
            arr.attrs.update({"units": _UNITS[name], "coordinates": coords})
        for name in (*_COORDS, *counters):
            dtype = "int64" if name == "step" or name in counters else "float64"
            arr = group.create_array(name, shape=(0,), chunks=(4096,), dtype=dtype, dimension_names=("t",), fill_value=0)
            arr.attrs["units"] = _UNITS.get(name, "quanta")
        group.create_group("observables")
        group.update_attributes({**attrs, "kmc_version": _version(), "format_version": FORMAT_VERSION,
                                 "counters": list(counters), "observable_columns": [],
                                 "n_complete_frames": 0, "n_observation_rows": 0})
        return cls(path, group)

    @staticmethod
    def partial_path(path: Path, pid: int) -> Path:
        """Where process ``pid`` builds a new run before renaming it to ``path``."""
        return path.with_name(f".{path.name}.partial-{pid}")

    @staticmethod
    def stale_partials(path: Path) -> list[Path]:
        """Partial directories for ``path`` left by processes that died during set-up."""
        return sorted(path.parent.glob(f".{path.name}.partial-*"))

    @staticmethod
    def check_new(path: Path) -> None:
        """Refuse a run directory that already holds something."""
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise UserError(Problem("--out", str(path), "a directory that does not exist yet or is empty (use 'kmc run --resume DIR' to continue a run)"))

    @classmethod
    def open(cls, path: str | Path, mode: str = "r+") -> "RunStore":
        path = Path(path)
        if not (path / ZARR_NAME / "zarr.json").is_file():
            raise UserError(Problem("run directory", str(path), "a kmc run directory (written by 'kmc run')"))
        group = zarr.open_group(str(path / ZARR_NAME), mode=mode, zarr_format=3)
        if "n_complete_frames" not in group.attrs:
            raise UserError(Problem("run directory", str(path), "a kmc run store (no completion marker found)"))
        return cls(path, group)

    # -- reading -----------------------------------------------------------------------------
    @property
    def attrs(self) -> dict:
        return dict(self.group.attrs)

    @property
    def n_frames(self) -> int:
        return int(self.group.attrs["n_complete_frames"])

    @property
    def n_rows(self) -> int:
        return int(self.group.attrs["n_observation_rows"])

    @property
    def counters(self) -> tuple[str, ...]:
        return tuple(self.group.attrs["counters"])

    @property
    def finished(self) -> bool:
        return bool(self.group.attrs.get("finished", False))

    def frame(self, index: int = -1) -> Frame:
        """Complete frame ``index`` (negative counts from the last complete one)."""
        n = self.n_frames
        if n == 0:
            raise UserError(Problem("run directory", str(self.path), "a run store with at least one complete frame"))
        i = index % n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"frame {index} not in 0..{n - 1}")
        g = self.group
        lattice = Lattice(**{name: np.ascontiguousarray(g[name][i]) for name in Lattice.DTYPES})
        clock = Clock(int(g["step"][i]), float(g["time_s"][i]), float(g["temperature_C"][i]))
        return Frame(i, clock, lattice, {c: int(g[c][i]) for c in self.counters})

    def coordinate(self, name: str) -> np.ndarray:
        return np.asarray(self.group[name][: self.n_frames])

    def observables(self) -> dict[str, np.ndarray]:
        """Observable table: column name -> (n_rows,) array."""
        obs, n = self.group["observables"], self.n_rows
        return {c: np.asarray(obs[c][:n]) for c in self.group.attrs["observable_columns"]}

    # -- writing -----------------------------------------------------------------------------
    def append_frame(self, lattice: Lattice, clock: Clock, counters: dict[str, int], rows: list[dict]) -> None:
        """Write one frame and the observable rows since the last frame; marker last."""
        g, i = self.group, self.n_frames
        self._append_rows(rows)
        for name, arr in lattice.arrays().items():
            g[name].resize((i + 1, *arr.shape))
            g[name][i] = arr
        for name, value in (("time_s", clock.time_s), ("temperature_C", clock.temperature_C), ("step", clock.step),
                            *counters.items()):
            g[name].resize((i + 1,))
            g[name][i] = value
        # One write of zarr.json for both counts: `attrs.update` would write once per key, and a
        # crash between the two writes would leave a frame counted without its rows.
        g.update_attributes({"n_complete_frames": i + 1, "n_observation_rows": self.n_rows + len(rows)})
        self.write_csv()

    def _append_rows(self, rows: list[dict]) -> None:
        if not rows:
            return
        obs, n0 = self.group["observables"], self.n_rows
        columns = list(self.group.attrs["observable_columns"]) or list(rows[0])
        if not self.group.attrs["observable_columns"]:
            for c in columns:
                obs.create_array(c, shape=(0,), chunks=(4096,), dtype="float64", dimension_names=("row",), fill_value=0)
            self.group.attrs["observable_columns"] = columns
        for c in columns:
            obs[c].resize((n0 + len(rows),))
            obs[c][n0:] = np.array([r[c] for r in rows], dtype=np.float64)

    def write_csv(self) -> Path:
        """Write DIR/observables.csv from the complete rows (atomically, via rename)."""
        table = self.observables()
        target = self.path / "observables.csv"
        tmp = target.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(list(table))
            for row in zip(*table.values()):
                w.writerow([repr(float(v)) for v in row])
        os.replace(tmp, target)
        return target

    def mark_finished(self) -> None:
        self.group.attrs["finished"] = True

    def trim(self) -> int:
        """Drop everything beyond the marker (a frame or rows half-written by a crash).

        Returns the number of complete frames kept.
        """
        g, n, rows = self.group, self.n_frames, self.n_rows
        for name in (*Lattice.DTYPES, *_COORDS, *self.counters):
            if g[name].shape[0] != n:
                g[name].resize((n, *g[name].shape[1:]))
            chunk_dir = self.zarr_path / name / "c"
            if chunk_dir.is_dir():
                for entry in chunk_dir.iterdir():
                    if name in Lattice.DTYPES and entry.name.isdigit() and int(entry.name) >= n:
                        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        obs = g["observables"]
        for c in g.attrs["observable_columns"]:
            if obs[c].shape[0] != rows:
                obs[c].resize((rows,))
        for leftover in self.path.glob("*.tmp"):
            leftover.unlink()
        if self.n_frames:
            self.write_csv()
        return n
