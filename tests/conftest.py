"""Shared fixtures: tiny configs and a CLI runner."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

REPO = Path(__file__).resolve().parents[1]

TINY = {
    "seed": 7,
    "lattice": {"voxel_nm": 50.0, "shape": [24, 24, 24]},
    "particle": {"radius_um": 0.45, "grain_size_nm": 150.0, "aspect_ratio": 1.5, "porosity": 0.1},
    "chemistry": {"composition": "NCM622", "li_source": "LiOH", "li_to_tm": 1.05},
    "program": {"start_C": 25.0, "segments": [{"ramp_to_C": 320.0, "rate_C_per_min": 10.0}, {"hold_h": 0.25}]},
    "output": {"snapshot_every_min": 5.0, "snapshot_at_C": [230.0], "observe_every_min": 1.0},
    "numerics": {"max_dt_s": 30.0, "max_dT_C": 2.0},
}


def tiny_dict(**sections) -> dict:
    """A copy of the tiny config with sections updated (``lattice={...}`` merges into lattice)."""
    data = copy.deepcopy(TINY)
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return data


@pytest.fixture
def write_config(tmp_path):
    """write_config(data, name) -> path of a TOML file holding ``data``."""

    def _write(data: dict, name: str = "cfg.toml") -> Path:
        path = tmp_path / name
        path.write_text(tomli_w.dumps(data))
        return path

    return _write


def run_kmc(*args, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    """Run the kmc CLI in a subprocess (as a user would)."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "kmc", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def make_backend(name: str):
    """A fresh backend by name, or skip: 'cpu' (numba, 2 threads), 'emulated' (the CUDA
    kernels built by g++, needs g++), 'cuda' (needs CuPy and a device)."""
    from kmc.backends import CpuBackend

    if name == "cpu":
        return CpuBackend(threads=2)
    if name == "emulated":
        from kmc.backends.emulated import EmulatedBackend, compiler

        if compiler() is None:
            pytest.skip("g++ is not installed: the kernel emulation cannot be built")
        return EmulatedBackend()
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device is visible")
    except (ImportError, RuntimeError) as exc:  # no CuPy, or CUDARuntimeError without a driver
        pytest.skip(f"CuPy or a CUDA device is not available: {exc}")
    from kmc.backends.cuda import CudaBackend

    return CudaBackend()


@pytest.fixture(params=["cpu", "emulated", pytest.param("cuda", marks=pytest.mark.gpu)])
def backend(request):
    """Every backend present here (ARCHITECTURE.md convention 9); the others skip."""
    import numba

    threads = numba.get_num_threads()
    yield make_backend(request.param)
    numba.set_num_threads(threads)
