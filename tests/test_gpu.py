"""The CUDA backend on a real device: every kernel compiles with NVRTC, every event alone and
all events together through `Simulation` give the CPU's bits, the lattice stays on the device,
and a lattice that does not fit is refused before allocation.

Marked ``gpu``; every test skips cleanly without CuPy or a visible device. Run on a GPU host
with ``python -m pytest -m gpu`` (with the cuda case of the ``backend`` fixture, docs/cuda.md).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from kmc.backends import cuda as cuda_backend
from kmc.backends import missing_kernels, select
from kmc.backends.resident import PhaseSums
from kmc.observe import ObservationTables
from kmc.config import parse_config
from kmc.errors import UserError
from kmc.simulation import Simulation
from kmc.state import Lattice

from test_backends import HOT, assert_same_runs
from test_kernels import SHAPES, event_id, lattice_for, make_events, thresholds_for
from test_kernels_sintering import EVENTS as SINTERING_EVENTS
from test_kernels_sintering import sintering_lattice
from test_kernels_sintering import thresholds_for as sintering_thresholds

pytestmark = pytest.mark.gpu

#: The test shapes of the emulation plus one whose colour passes need many blocks.
GPU_SHAPES = SHAPES + [(33, 40, 70)]


@pytest.fixture(scope="module")
def device():
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device is visible")
    except (ImportError, RuntimeError) as exc:  # no CuPy, or CUDARuntimeError without a driver
        pytest.skip(f"CuPy or a CUDA device is not available: {exc}")
    return cuda_backend.CudaBackend()


def _assert_same(ref: Lattice, got: Lattice, where: str) -> None:
    for name, a in ref.arrays().items():
        b = got.arrays()[name]
        assert np.array_equal(a, b), f"{where}: field {name} differs at {np.argwhere(a != b)[:5].tolist()}"


def test_every_kernel_compiles_with_nvrtc(device):
    for path in sorted(cuda_backend.KERNEL_DIR.glob("*.cu")):
        names = re.findall(r'extern "C" __global__ void (\w+)\(', path.read_text())
        assert names, path.name
        module = cuda_backend.raw_module(path.name)
        for name in names:
            module.get_function(name)


@pytest.mark.parametrize("event", make_events(), ids=event_id)
@pytest.mark.parametrize("shape", GPU_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_each_event_alone_equals_numba_bit_for_bit(device, event, shape):
    for lattice_seed in (1, 2, 3):
        ref = lattice_for(event, shape, lattice_seed)
        held, trip = ref.copy(), ref.copy()
        seed = 0x1234_5678_9ABC_DEF0 + lattice_seed
        steps = [(step + (2**32 + 7 if step == 5 else 0), thresholds_for(event, step)) for step in range(6)]
        wants, states = [], []
        for step_id, thr in steps:
            wants.append(event.cpu_pass(ref, seed, step_id, thr))
            states.append(ref.copy())
        # attached: the lattice stays on the device for the 6 steps, reductions on the device
        device.attach(held)
        for k, (step_id, thr) in enumerate(steps):
            assert device.apply(event, held, seed, step_id, thr) == wants[k], f"step {k}: held counters"
            assert device.phase_sums() == PhaseSums.of(states[k]), f"step {k}: device reduction"
        device.sync(held)
        _assert_same(states[-1], held, "held on the device")
        device.release()
        # not attached: the CpuBackend contract, a round trip per call
        for k, (step_id, thr) in enumerate(steps):
            assert device.apply(event, trip, seed, step_id, thr) == wants[k], f"step {k}: round-trip counters"
            _assert_same(states[k], trip, f"round trip, step {k}")


@pytest.mark.parametrize("event", SINTERING_EVENTS, ids=lambda ev: f"kT{ev.lattice_kT:g}-gb{ev.grain_boundary_energy:g}")
@pytest.mark.parametrize("shape", GPU_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_sintering_alone_equals_numba_bit_for_bit(device, event, shape):
    for lattice_seed in (1, 2, 3):
        ref = sintering_lattice(shape, lattice_seed)
        held = ref.copy()
        device.attach(held)
        seed = 0x0FED_CBA9_8765_4321 + lattice_seed
        for step in range(6):
            thr = sintering_thresholds(event, step)
            step_id = step + (2**32 + 11 if step == 5 else 0)
            assert device.apply(event, held, seed, step_id, thr) == event.cpu_pass(ref, seed, step_id, thr), \
                f"step {step}: counters"
        device.sync(held)
        _assert_same(ref, held, "sintering held on the device")
        device.release()


def test_reductions_on_device_equal_numpy(device):
    rng = np.random.default_rng(3)
    lat = Lattice.empty((70, 64, 33))
    lat.phase[...] = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 9, 200], lat.shape)
    lat.tm[...] = rng.integers(0, 256, lat.shape)
    lat.li[...] = rng.integers(0, 256, lat.shape)
    lat.disorder[...] = rng.integers(0, 256, lat.shape)
    lat.grain[...] = rng.integers(0, 500, lat.shape) * rng.choice([1, 10**6], lat.shape)  # dense and sparse ids
    device.attach(lat)
    assert device.phase_sums() == PhaseSums.of(lat)
    assert device.observation_tables(lat) == ObservationTables.of(lat)
    device.release()


def test_full_physics_simulation_on_cuda_equals_the_cpu_run(device, tmp_path):
    missing = missing_kernels()
    if missing:
        pytest.skip(f"events without a CUDA kernel yet: {', '.join(missing)}")
    cpu_cfg = parse_config(dict(HOT, backend="cpu"), source="HOT")
    gpu_cfg = parse_config(dict(HOT, backend="cuda"), source="HOT")
    cpu = Simulation.from_config(cpu_cfg, threads=1)
    gpu = Simulation.from_config(gpu_cfg)
    assert gpu.backend.name == "cuda"
    assert_same_runs((cpu, cpu.run(tmp_path / "cpu")), (gpu, gpu.run(tmp_path / "gpu")))


def test_auto_picks_cuda_exactly_when_every_event_has_a_kernel(device):
    assert select("auto", events=cuda_backend.KERNEL_EVENTS).name == "cuda"
    assert select("auto").name == ("cpu" if missing_kernels() else "cuda")


def test_a_lattice_that_does_not_fit_is_refused_before_allocation(device):
    huge = (8192, 8192, 8192)  # 5.5 TB of state
    before = device.memory_report()
    with pytest.raises(MemoryError, match="needs"):
        device.check_fits(huge)
    with pytest.raises(UserError, match="needs .* GiB on CUDA device"):
        select("cuda", events=cuda_backend.KERNEL_EVENTS, shape=huge)
    assert select("auto", events=cuda_backend.KERNEL_EVENTS, shape=huge).name == "cpu"
    after = device.memory_report()
    assert after["lattice"] == before["lattice"]
    lat = Lattice.empty((16, 16, 16))
    device.attach(lat)
    assert device.memory_report()["lattice"] >= lat.phase.size * 9
    assert "GiB on device" in device.describe()
    device.release()
