"""Backend selection: 'auto' runs anywhere, 'cuda' says in one line why it cannot run."""

import pytest

from kmc import params
from kmc.backends import EVENTS_WITHOUT_KERNELS, select
from kmc.backends.cuda import KERNEL_EVENTS
from kmc.errors import UserError
from kmc.events import EventContext, build_events

from conftest import run_kmc, tiny_dict


def test_events_without_kernels_is_exactly_the_missing_set():
    names = {ev.NAME for ev in build_events(params.load("default"), EventContext(voxel_nm=50.0, n_precursor_grains=10))}
    assert set(EVENTS_WITHOUT_KERNELS) == names - set(KERNEL_EVENTS)


def test_auto_picks_cuda_only_when_it_can_and_cpu_is_the_cpu():
    from kmc.backends import cuda_unavailable_reason

    assert select("auto").name == ("cuda" if cuda_unavailable_reason() is None else "cpu")
    assert select("cpu", threads=1).name == "cpu"


def _has_cuda_device() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no CuPy, or no driver
        return False


@pytest.mark.skipif(_has_cuda_device(), reason="checks the messages of a machine without a CUDA device")
def test_cuda_says_which_requirement_fails():
    from kmc.backends import cuda_unavailable_reason, missing_kernels

    assert missing_kernels() == EVENTS_WITHOUT_KERNELS
    assert missing_kernels(KERNEL_EVENTS) == ()
    kernels = "".join(f".*the events? {', '.join(EVENTS_WITHOUT_KERNELS)} ha(s|ve) no CUDA kernel yet"
                      for _ in EVENTS_WITHOUT_KERNELS[:1])
    with pytest.raises(UserError, match=r"(CuPy is not installed|no CUDA device|no usable CUDA)" + kernels):
        select("cuda")
    only_kernels = cuda_unavailable_reason(KERNEL_EVENTS, shape=(8, 8, 8))
    assert "kernel" not in only_kernels and only_kernels.endswith("use 'cpu' or 'auto'")
    assert select("auto", events=KERNEL_EVENTS).name == "cpu"  # no device: auto stays on the CPU


@pytest.mark.skipif(_has_cuda_device(), reason="checks the error of a machine without a CUDA device")
def test_cuda_is_a_one_line_user_error(write_config, tmp_path):
    with pytest.raises(UserError, match="CuPy is not installed|no CUDA device|no usable CUDA"):
        select("cuda")
    proc = run_kmc("run", write_config(tiny_dict()), "--backend", "cuda", "--out", tmp_path / "run", "--quiet")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "backend = 'cuda'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


# -- the device-resident loop, proven with the g++ emulation (no GPU needed) ---------------------------
import shutil  # noqa: E402

import numpy as np  # noqa: E402

from kmc.backends import CpuBackend  # noqa: E402
from kmc.backends.resident import PhaseSums  # noqa: E402
from kmc.observe import ObservationTables  # noqa: E402
from kmc.build import build  # noqa: E402
from kmc.config import parse_config  # noqa: E402
from kmc.simulation import Simulation, lattice_digest  # noqa: E402
from kmc.state import Lattice  # noqa: E402

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed (kernel emulation)")

#: A hot, short program on a small particle: every event with a kernel fires (checked below).
HOT = tiny_dict(lattice={"shape": [14, 14, 14]}, particle={"radius_um": 0.3, "grain_size_nm": 120.0,
                                                          "aspect_ratio": 1.5, "porosity": 0.1},
                program={"start_C": 150.0, "segments": [{"ramp_to_C": 900.0, "rate_C_per_min": 50.0},
                                                        {"hold_h": 0.05}]},
                output={"snapshot_every_min": 4.0, "snapshot_at_C": [300.0], "observe_every_min": 1.0},
                numerics={"max_dt_s": 30.0, "max_dT_C": 10.0})


def _with_kernels_only(sim):
    """``sim`` without the events that have no CUDA kernel yet (both runs leave them out)."""
    from kmc.backends import missing_kernels

    missing = missing_kernels(sim.events)
    sim.events = tuple(ev for ev in sim.events if ev.NAME not in missing)
    kept = {c for ev in sim.events for c in ev.COUNTERS}
    sim.counters = {k: v for k, v in sim.counters.items() if k in kept}
    return sim


@needs_gxx
@pytest.mark.parametrize("shape", [(14, 11, 9), (1, 3, 2)], ids=lambda s: "x".join(map(str, s)))
def test_emulated_reduction_kernels_equal_numpy(shape):
    from kmc.backends.emulated import EmulatedBackend

    rng = np.random.default_rng(sum(shape))
    lat = Lattice.empty(shape)
    lat.phase[...] = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 9, 200], shape)  # codes >= 8 take the atomic path
    lat.tm[...] = rng.integers(0, 256, shape)
    lat.li[...] = rng.integers(0, 256, shape)
    lat.disorder[...] = rng.integers(0, 256, shape)
    lat.grain[...] = rng.integers(0, 30, shape) * rng.choice([1, 10**7], shape)  # dense and sparse ids
    backend = EmulatedBackend()
    backend.attach(lat)
    assert backend.phase_sums() == PhaseSums.of(lat)
    assert np.array_equal(backend.phase_counts(lat), np.bincount(lat.phase.reshape(-1), minlength=256))
    tables = backend.observation_tables(lat)           # the disorder-level kernel and the grain counts
    assert tables == ObservationTables.of(lat)
    assert tables.layered_tm_by_disorder.sum() == lat.tm[lat.phase == 3].sum(dtype=np.int64)


@needs_gxx
def test_resident_backend_keeps_the_state_until_sync():
    from kmc.backends.emulated import EmulatedBackend
    from kmc.events.dehydration import Dehydration

    lat = Lattice.empty((4, 5, 6))
    lat.phase[...] = 1
    lat.tm[...] = 64
    backend = EmulatedBackend()
    backend.attach(lat)
    thr = np.array([2**32], dtype=np.uint64)  # every hydroxide voxel dehydrates
    assert backend.apply(Dehydration(1e10, 120.0), lat, 1, 0, thr) == {"h2o_q": 64 * lat.phase.size}
    assert (lat.phase == 1).all()                       # the host copy is stale ...
    assert backend.phase_sums().count[2] == lat.phase.size  # ... the held state is not
    tables = backend.observation_tables(lat)            # observers read reductions of the held state ...
    assert (lat.phase == 1).all()                       # ... without copying the fields back
    assert tables.tm_by_phase[2] == 64 * lat.phase.size and tables.tm_by_phase[1] == 0
    backend.sync(lat)
    assert (lat.phase == 2).all() and backend.observation_tables(lat) == ObservationTables.of(lat)
    lat.phase[0, 0, 0] = 7  # clean now: a second sync copies nothing
    backend.sync(lat)
    assert lat.phase[0, 0, 0] == 7
    other = Lattice.empty((2, 2, 2))
    other.phase[...] = 1
    backend.apply(Dehydration(1e10, 120.0), other, 1, 0, thr)  # not attached: updated in place
    assert (other.phase == 2).all()


def assert_same_runs(reference, other) -> None:
    """Two (Simulation, RunStore) pairs: every frame, counter, clock and observable column,
    and the final lattice, equal bit for bit."""
    (ref_sim, ref_store), (other_sim, other_store) = reference, other
    assert ref_store.n_frames == other_store.n_frames >= 4
    for i in range(ref_store.n_frames):
        a, b = ref_store.frame(i), other_store.frame(i)
        assert lattice_digest(a.lattice) == lattice_digest(b.lattice), f"frame {i} differs"
        assert a.counters == b.counters and a.clock == b.clock
    obs_ref, obs_other = ref_store.observables(), other_store.observables()
    assert obs_ref.keys() == obs_other.keys()
    for key, col in obs_ref.items():
        assert np.array_equal(col, obs_other[key], equal_nan=True), key
    assert lattice_digest(ref_sim.lattice) == lattice_digest(other_sim.lattice)


def test_the_simulation_is_the_same_on_every_backend(backend, tmp_path):
    """A hot full-physics program (150 to 900 °C) through `Simulation` gives every frame, every
    observable and the final lattice bit for bit as the 1-thread CPU reference; on a device
    backend the state stays resident, so this fails if an observation reads stale host arrays."""
    cfg = parse_config(HOT, source="HOT")
    stores = {}
    for name, chosen in (("reference", CpuBackend(threads=1)), (backend.name, backend)):
        lattice, report = build(cfg)
        sim = _with_kernels_only(Simulation(cfg, lattice, build_report=report.to_dict(), backend=chosen))
        stores[name] = (sim, sim.run(tmp_path / name))
    assert stores[backend.name][0].backend is backend
    assert_same_runs(stores["reference"], stores[backend.name])
    cpu = stores["reference"][0]
    fired = {k for k, v in cpu.counters.items() if v > 0}
    assert {"h2o_q", "li_handed_lioh", "rx_nuclei", "rx_grown", "gg_flips"} <= fired, cpu.counters
