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


def test_auto_and_cpu_select_the_cpu():
    assert select("auto").name == "cpu" and select("cpu", threads=1).name == "cpu"


def test_cuda_is_a_one_line_user_error(write_config, tmp_path):
    with pytest.raises(UserError, match="no CUDA kernels yet"):
        select("cuda")
    proc = run_kmc("run", write_config(tiny_dict()), "--backend", "cuda", "--out", tmp_path / "run", "--quiet")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "backend = 'cuda'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()
