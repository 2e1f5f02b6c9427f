"""CUDA kernels without a GPU: nvcc compiles them, and their g++ emulation equals numba bit for bit.

(a) every kernels/*.cu compiles with nvcc for sm_80 and sm_90 and with NVRTC as CuPy calls it
    (skipped without nvcc or libnvrtc);
(b) the emulated kernels, driven by the launch plans of kmc.backends.cuda, give the same
    fields and counters as the numba reference on random mixed lattices over several steps;
(c) kernels/philox.cuh reproduces the Random123 known-answer vectors and kmc.rng.draw4.
(b) and (c) are skipped without g++. docs/cuda.md explains the harness; the same comparisons
on a real device are in tests/test_gpu.py.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from kmc.backends import cuda as cuda_backend
from kmc.events.dehydration import Dehydration
from kmc.events.grain_growth import GrainGrowth
from kmc.events.li_hop import LiHop, capacity_tables, hop_step, tables_from_thresholds
from kmc.events.li_source import LiSource
from kmc.events.lithiation import Lithiation
from kmc.events.nucleation import Nucleation
from kmc.events.ordering import Ordering
from kmc.rng import Stream, draw4
from kmc.state import Lattice

KERNELS = sorted(cuda_backend.KERNEL_DIR.glob("*.cu"))
NVCC = shutil.which("nvcc")
GXX = shutil.which("g++")

needs_gxx = pytest.mark.skipif(GXX is None, reason="g++ is not installed: the kernel emulation cannot be built")

TWO32 = 2**32
SHAPES = [(12, 10, 9), (16, 16, 16), (1, 3, 2)]


# -- (a) nvcc ------------------------------------------------------------------------------------
@pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
def test_every_kernel_compiles_with_nvcc_for_sm80_and_sm90(tmp_path):
    assert {k.name for k in KERNELS} >= {"dehydration.cu", "lithiation.cu", "ordering.cu", "li_source.cu", "li_hop.cu",
                                       "nucleation.cu", "grain_growth.cu"}

    def compile_one(path):
        cmd = [NVCC, "-std=c++17", "-gencode", "arch=compute_80,code=sm_80", "-gencode", "arch=compute_90,code=sm_90",
               "-Werror", "all-warnings", "-c", str(path), "-o", str(tmp_path / f"{path.stem}.o")]
        return path.name, subprocess.run(cmd, check=False, capture_output=True, text=True)

    with ThreadPoolExecutor(max_workers=len(KERNELS)) as pool:
        for name, res in pool.map(compile_one, KERNELS):
            assert res.returncode == 0, f"nvcc failed on {name}:\n{res.stderr}"


def _nvrtc_library():
    """libnvrtc (the compiler CuPy's RawModule uses): from the nvidia-cuda-nvrtc wheel that
    cupy-cuda12x[ctk] installs, $CUDA_PATH, or the loader path; None if there is none."""
    import ctypes.util
    import glob
    import os

    candidates = []
    try:
        import nvidia.cuda_nvrtc

        candidates += sorted(glob.glob(os.path.join(list(nvidia.cuda_nvrtc.__path__)[0], "lib", "libnvrtc.so*")))
    except ImportError:
        pass
    if os.environ.get("CUDA_PATH"):
        candidates += sorted(glob.glob(os.path.join(os.environ["CUDA_PATH"], "lib64", "libnvrtc.so*")))
    found = ctypes.util.find_library("nvrtc")
    candidates += [found] if found else []
    for path in candidates:
        if "builtins" in path or ".alt." in path:
            continue
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def test_every_kernel_compiles_with_nvrtc_as_cupy_calls_it():
    """What CuPy's RawModule does at first use, without a GPU: NVRTC compiles kernel_source(name)
    with our options plus the two CuPy adds (NVRTC >= 12), without a warning, and every
    extern "C" kernel of the file is an unmangled .entry of the PTX."""
    import ctypes
    import re

    lib = _nvrtc_library()
    if lib is None:
        pytest.skip("no libnvrtc (pip install nvidia-cuda-nvrtc-cu12, or a CUDA toolkit with CUDA_PATH)")
    for path in KERNELS:
        for arch in ("compute_80", "compute_90"):
            prog = ctypes.c_void_p()
            assert lib.nvrtcCreateProgram(ctypes.byref(prog), cuda_backend.kernel_source(path.name).encode(),
                                          path.name.encode(), 0, None, None) == 0
            options = cuda_backend.NVRTC_OPTIONS + (f"-I{cuda_backend.KERNEL_DIR}", "--device-as-default-execution-space",
                                                    f"-arch={arch}")
            argv = (ctypes.c_char_p * len(options))(*(o.encode() for o in options))
            status = lib.nvrtcCompileProgram(prog, len(options), argv)
            size = ctypes.c_size_t()
            lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
            log = ctypes.create_string_buffer(size.value)
            lib.nvrtcGetProgramLog(prog, log)
            assert status == 0 and b"warning" not in log.value, f"NVRTC on {path.name} ({arch}):\n{log.value.decode()}"
            lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
            ptx = ctypes.create_string_buffer(size.value)
            lib.nvrtcGetPTX(prog, ptx)
            lib.nvrtcDestroyProgram(ctypes.byref(prog))
            for name in re.findall(r'extern "C" __global__ void (\w+)\(', path.read_text()):
                assert f".entry {name}(" in ptx.value.decode(), f"{path.name}: no PTX entry {name}"


def test_kernel_source_has_line_directive_and_every_planned_kernel_exists():
    for path in KERNELS:
        assert cuda_backend.kernel_source(path.name).startswith(f'#line 1 "kernels/{path.name}"\n')
    events = make_events()
    for ev, thr in ((ev, thresholds_for(ev, 0)) for ev in events):
        for launch in cuda_backend.plan(ev, (4, 5, 6), 1, 2, thr):
            assert f'extern "C" __global__ void {launch.kernel}(' in (cuda_backend.KERNEL_DIR / launch.source).read_text()


def test_plan_refuses_events_without_kernels_and_untyped_thresholds():
    class Unported:
        NAME = "unported_event"

    with pytest.raises(cuda_backend.MissingKernelError, match="unported_event"):
        cuda_backend.plan(Unported(), (4, 4, 4), 0, 0, np.zeros(1, dtype=np.uint64))
    with pytest.raises(TypeError, match="uint64"):
        cuda_backend.plan(make_events()[0], (4, 4, 4), 0, 0, np.zeros(1, dtype=np.int64))
    nucleation = Nucleation(2**31 - 100, 1.0, 0.0, 1.0, 0.0)  # ids n_precursor + 1 + site would overflow int32
    with pytest.raises(ValueError, match="overflow int32"):
        cuda_backend.plan(nucleation, (4, 5, 6), 0, 0, np.array([1, 1, 1], dtype=np.uint64))
    assert cuda_backend.plan(make_events()[7], (4, 4, 4), 0, 0, np.zeros(28, dtype=np.uint64)) == []


def test_cuda_module_imports_without_cupy():
    # importing kmc.backends.cuda never imports cupy (it is imported when a CudaBackend is made)
    code = "import sys, kmc.backends.cuda; assert 'cupy' not in sys.modules"
    subprocess.run([shutil.which("python") or "python", "-c", code], check=True, cwd=cuda_backend.KERNEL_DIR.parent)


# -- (b) emulation == numba --------------------------------------------------------------------
CAP_BASE, CAP_PER_TM = capacity_tables(8)


def make_events():
    return (
        Dehydration(1e10, 120.0),
        Lithiation((1e8, 90.0), (1e7, 120.0), 0.3, 0.1, 0.9),
        Ordering(1e9, 150.0, 0.04, 0.5),
        LiSource((1.2e10, 90.0), 462.0, (1.78e12, 120.0), (9.2e5, 60.0), (9.2e10, 200.0), (1.8e4, 60.0),
                 CAP_BASE, CAP_PER_TM),
        LiHop((1e-12,) * 7, (100.0,) * 7, voxel_nm=50.0, capacity_excess_q=8),
        Nucleation(N_PREC, 1e3, 100.0, 1e5, 100.0),
        Nucleation(N_PREC, 1e3, 100.0, 1e5, 100.0, mode="site_saturated", nucleus_density=0.2, saturation_step=1),
        GrainGrowth(1e4, 100.0, 1.0, n_precursor_grains=3),
        GrainGrowth(1e4, 100.0, 0.0),
    )


def event_id(ev) -> str:
    if ev.NAME == "nucleation":
        return f"nucleation-{ev.mode}"
    if ev.NAME == "grain_growth":
        return f"grain_growth-kT{ev.lattice_kT:g}"
    return ev.NAME


#: Precursor grain ids of the nucleation lattices are 0..N_PREC.
N_PREC = 7


def thresholds_for(ev, step: int) -> np.ndarray:
    """Thresholds that make every branch fire often, varied by step (edge values included)."""
    rng = np.random.default_rng(1000 + step)
    half = rng.integers(TWO32 // 8, 7 * TWO32 // 8)
    if ev.NAME == "dehydration":
        return np.array([(half, TWO32, 0, 1)[step % 4]], dtype=np.uint64)
    if ev.NAME == "lithiation":
        return np.array([(half, 0, TWO32)[step % 3], (rng.integers(0, TWO32), TWO32, 0)[step % 3]], dtype=np.uint64)
    if ev.NAME == "ordering":
        if step % 3 == 2:
            return np.array([TWO32, 200 << 16, 255 << 16, 255 << 16], dtype=np.uint64)  # full relaxation, E clipped
        return ev.thresholds((700.0, 850.0)[step % 3], (30.0, 300.0)[step % 3])
    if ev.NAME == "li_source":
        return np.array([half, step % 2, rng.integers(0, TWO32), 3, rng.integers(0, TWO32), 40, half,
                         (0, 255)[step % 2], rng.integers(0, TWO32)], dtype=np.uint64)
    if ev.NAME == "li_hop":  # per-medium thresholds <= 2^31; ties, frozen media, all frozen
        cases = (rng.integers(0, 2**31 + 1, 7), [2**28, 2**28, 0, 2**31, 2**28, 2**28, 2**28],
                 [2**30, 2**29, 2**27, 2**31, 0, 2**30, 2**31], [0] * 7, rng.integers(0, 2**26, 7), [2**31] * 7)
        return np.array(cases[step % 6], dtype=np.uint64)
    if ev.NAME == "nucleation":  # [T_nuc, T_frac, n_full]: nucleation, fractional and full ticks, early exit
        cases = ([rng.integers(0, 2**26), rng.integers(0, TWO32), 0], ev.thresholds(600.0, 10.0), [2**27, half, 1],
                 [0, 0, 30], [0, TWO32, 2], ev.thresholds(850.0, 20.0))
        return np.array(cases[step % 6], dtype=np.uint64)
    if ev.NAME == "grain_growth":  # [T_attempt, T_B[0..26]], or a bare attempt threshold
        cases = (ev.thresholds(700.0, 30.0), np.r_[TWO32, ev.boltzmann_thresholds()], np.array([half]),
                 np.r_[half, GrainGrowth(1.0, 1.0, 0.4).boltzmann_thresholds()], ev.thresholds(850.0, 5.0),
                 np.r_[half, ev.boltzmann_thresholds()])
        return np.asarray(cases[step % 6], dtype=np.uint64)
    raise AssertionError(ev.NAME)


def lattice_for(ev, shape, seed: int) -> Lattice:
    """random_lattice, with grains and phases that let nucleation and grain growth act."""
    lat = random_lattice(shape, seed)
    rng = np.random.default_rng(50 + seed)
    n = lat.phase.size
    if ev.NAME == "nucleation":  # mostly LAYERED precursor grains, some recrystallised seeds
        lat.phase[...] = np.where(rng.random(shape) < 0.75, 3, rng.integers(0, 8, shape))
        kind = rng.random(shape)
        lat.grain[...] = rng.integers(0, N_PREC + 1, shape)
        for s in rng.choice(n, max(1, n // 100), replace=False):  # seeds: grain N_PREC+1+s around site s
            c = np.unravel_index(s, shape)
            box = tuple(slice(max(0, v - 1), v + 2) for v in c)
            lat.grain[box] = np.where(rng.random(lat.grain[box].shape) < 0.5, N_PREC + 1 + s, lat.grain[box])
            lat.grain[c] = N_PREC + 1 + s
        lat.grain[...] = np.where(kind > 0.995, N_PREC + n + rng.integers(1, 1000, shape), lat.grain)
        lat.flags[...] = (rng.random(shape) < 0.03).astype(np.uint8)   # a few pinned (Li-W-O) sites
    elif ev.NAME == "grain_growth":  # TM phases, a few grains on both sides of n_pre, coated voxels
        lat.phase[...] = np.where(rng.random(shape) < 0.85, rng.integers(1, 4, shape), rng.integers(0, 8, shape))
        base = rng.integers(0, 7, (shape[0], shape[1], 1))  # runs along x: interior and boundary sites
        lat.grain[...] = np.where(rng.random(shape) < 0.7, base, rng.integers(0, 7, shape))
        lat.flags[...] = (rng.random(shape) < 0.08).astype(np.uint8)
    return lat


def random_lattice(shape, seed: int) -> Lattice:
    """Mixed phases (all 8 codes), random li/tm/disorder/grain/flags, extremes included."""
    rng = np.random.default_rng(seed)
    lat = Lattice.empty(shape)
    lat.phase[...] = rng.integers(0, 8, shape)
    lat.grain[...] = rng.integers(-3, 2**31 - 1, shape, dtype=np.int32)
    if seed % 3 == 0:  # crowded: voxels near 255 quanta, where capacities clip at 255
        lat.li[...] = rng.integers(240, 256, shape)
        lat.tm[...] = rng.integers(244, 256, shape)
    else:
        lat.li[...] = rng.choice([0, 1, 2, 3, 60, 64, 70, 91, 200, 254, 255], shape) if seed % 2 else rng.integers(0, 256, shape)
        lat.tm[...] = rng.choice([0, 1, 40, 63, 64, 72, 250, 255], shape)
    lat.disorder[...] = rng.integers(0, 256, shape)
    lat.flags[...] = rng.integers(0, 2, shape)
    return lat


@pytest.fixture(scope="module")
def emulated():
    if GXX is None:
        pytest.skip("g++ is not installed: the kernel emulation cannot be built")
    from kmc.backends.emulated import EmulatedBackend

    return EmulatedBackend()


@needs_gxx
@pytest.mark.parametrize("event", make_events(), ids=event_id)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_emulated_kernels_equal_numba_bit_for_bit(emulated, event, shape):
    for lattice_seed in (1, 2, 3):
        ref = lattice_for(event, shape, lattice_seed)
        emu = ref.copy()
        seed = 0x1234_5678_9ABC_DEF0 + lattice_seed
        changed = False
        for step in range(6):
            thr = thresholds_for(event, step)
            step_id = step + (2**32 + 7 if step == 5 else 0)  # a step above 2^32 uses the high counter word
            before = ref.copy()
            want = event.cpu_pass(ref, seed, step_id, thr)
            got = emulated.apply(event, emu, seed, step_id, thr)
            assert got == want, f"step {step}: counters {got} != {want}"
            for name, a in ref.arrays().items():
                b = emu.arrays()[name]
                assert np.array_equal(a, b), f"step {step}: field {name} differs at {np.argwhere(a != b)[:5].tolist()}"
            changed |= any(not np.array_equal(a, before.arrays()[k]) for k, a in ref.arrays().items())
        if shape != (1, 3, 2):
            assert changed, "the thresholds should make the event change the lattice"


@needs_gxx
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_emulated_li_hop_statistics_equal_numba(emulated, shape):
    event = make_events()[4]
    for lattice_seed in (1, 2, 3):
        ref = random_lattice(shape, lattice_seed)
        emu = ref.copy()
        for step in range(6):
            thr = thresholds_for(event, step)
            stats = hop_step(ref, 77, step, tables_from_thresholds(thr, event.capacity_excess_q))
            got = emulated.apply(event, emu, 77, step, thr, extra=("_moved_q", "_refused"))
            assert got == {"_moved_q": stats.moved_q, "_refused": stats.refused}
            for name, a in ref.arrays().items():
                assert np.array_equal(a, emu.arrays()[name]), f"step {step}: field {name} differs"
        if shape != (1, 3, 2):
            assert stats.moved_q > 0 and stats.refused > 0  # last step: every medium at p = 1/2


@needs_gxx
def test_result_does_not_depend_on_the_emulated_launch_shape():
    from kmc.backends.emulated import EmulatedBackend

    event = make_events()[3]
    results = []
    for grid, block in ((1, 1), (3, 5), (64, 32)):
        lat = random_lattice((12, 10, 9), 3)
        counters = EmulatedBackend(grid, block).apply(event, lat, 9, 4, thresholds_for(event, 1))
        results.append((counters, [a.copy() for a in lat.arrays().values()]))
    for counters, arrays in results[1:]:
        assert counters == results[0][0]
        assert all(np.array_equal(a, b) for a, b in zip(arrays, results[0][1]))


# -- (c) Philox ---------------------------------------------------------------------------------
from test_rng import KAT  # noqa: E402  (the Random123 vectors, one copy)


@needs_gxx
def test_philox_known_answer_vectors_and_key_layout():
    from kmc.backends import emulated

    for ctr, key, expected in KAT:
        assert emulated.philox4x32_10(*ctr, *key) == expected
    rng = np.random.default_rng(5)
    for _ in range(200):
        seed, step, site = (int(v) for v in rng.integers(0, 2**63, 3, dtype=np.uint64))
        site %= 2**40
        pass_, stream = int(rng.integers(0, 256)), int(rng.choice(list(Stream)))
        assert emulated.draw4(seed, step, pass_, site, stream) == tuple(int(v) for v in draw4(seed, step, pass_, site, stream))
