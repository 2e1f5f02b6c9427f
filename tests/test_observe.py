"""The run's own observable table (kmc.observe): known values on a hand-made lattice, and
every column of a real run documented in docs/observables.md."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from kmc.config import parse_config
from kmc.analysis.grains import grain_stats
from kmc.analysis.phases import layered_split, li_ni_disorder
from kmc.observe import ObservationTables, Observer, grain_voxel_counts
from kmc.simulation import Simulation
from kmc.state import Lattice, Phase

from conftest import tiny_dict

VOXEL_NM = 50.0


def hand_made() -> Lattice:
    """4 x 4 x 4 box: 16 hydroxide voxels (grain 1), 16 rock salt (grain 2), 8 ordered and 8
    disordered layered (grain 3), 16 LiOH voxels; known TM, Li and disorder."""
    lat = Lattice.empty((4, 4, 4))
    lat.phase[0], lat.grain[0], lat.tm[0] = Phase.HYDROXIDE, 1, 64
    lat.phase[1], lat.grain[1], lat.tm[1] = Phase.ROCK_SALT, 2, 64
    lat.phase[2], lat.grain[2], lat.tm[2], lat.li[2] = Phase.LAYERED, 3, 64, 60
    lat.disorder[2, :2] = 255 * 3 // 100        # 8 voxels at 3 % mixing: ordered
    lat.disorder[2, 2:] = 255 * 40 // 100       # 8 voxels at 40 %: disordered
    lat.phase[3], lat.li[3] = Phase.LIOH, 50
    return lat


def test_hand_made_lattice_gives_the_known_row():
    row = Observer(particle_voxels=48, voxel_nm=VOXEL_NM).row(ObservationTables.of(hand_made()), 3, 60.0, 250.0, {"h2o_q": 10, "gg_flips": 4})
    assert row["tm_frac_hydroxide"] == pytest.approx(1 / 3) and row["tm_frac_rock_salt"] == pytest.approx(1 / 3)
    assert row["tm_frac_layered_ordered"] == pytest.approx(1 / 6)
    assert row["tm_frac_layered_disordered"] == pytest.approx(1 / 6)
    assert row["tm_frac_layered_ordered"] + row["tm_frac_layered_disordered"] == pytest.approx(row["tm_frac_layered"])
    assert row["li_ni_disorder"] == pytest.approx((7 + 102) / 2 / 255)
    assert row["li_in_layered_q"] == 16 * 60 and row["li_in_lioh_q"] == 16 * 50 and row["li_in_hydroxide_q"] == 0
    assert row["li_total_q"] == 16 * 110 and row["tm_total_q"] == 48 * 64
    assert row["grain_count"] == 3
    assert row["grain_d_mean_nm"] == pytest.approx((6 * 16 / math.pi) ** (1 / 3) * VOXEL_NM)
    assert row["gg_flips"] == 4 and row["h2o_released_mol"] > 0


def test_no_layered_and_no_grains_give_nan_not_errors():
    row = Observer(particle_voxels=1, voxel_nm=VOXEL_NM).row(ObservationTables.of(Lattice.empty((3, 3, 3))), 0, 0.0, 25.0, {})
    assert math.isnan(row["li_ni_disorder"]) and math.isnan(row["grain_d_mean_nm"]) and row["grain_count"] == 0


@pytest.mark.parametrize("sparse_ids", [False, True])
def test_rows_from_tables_agree_with_the_analysis_of_the_lattice(sparse_ids):
    """The reductions lose nothing the row needs: layered split, mixing and grain sizes equal
    those `kmc.analysis` computes from the full lattice."""
    rng = np.random.default_rng(5)
    lat = Lattice.empty((10, 11, 12))
    lat.phase[...] = rng.choice([0, 1, 2, 3, 3, 5], size=lat.shape)
    tm_phase = np.isin(lat.phase, [1, 2, 3])
    lat.tm[tm_phase] = rng.integers(1, 137, size=int(tm_phase.sum()))
    lat.li[...] = rng.integers(0, 80, size=lat.shape)
    lat.disorder[...] = rng.integers(0, 256, size=lat.shape)
    lat.grain[tm_phase] = rng.integers(1, 40, size=int(tm_phase.sum())) * (10**6 if sparse_ids else 1)
    row = Observer(particle_voxels=lat.phase.size, voxel_nm=VOXEL_NM).row(ObservationTables.of(lat), 0, 0.0, 500.0, {})
    tm_total = float(lat.tm.sum(dtype=np.int64))
    split = layered_split(lat)
    assert row["tm_frac_layered_disordered"] == pytest.approx(split["disordered_q"] / tm_total, rel=1e-12)
    assert row["tm_frac_layered_ordered"] == pytest.approx(split["ordered_q"] / tm_total, rel=1e-12)
    assert row["li_ni_disorder"] == pytest.approx(li_ni_disorder(lat), rel=1e-12)
    stats = grain_stats(lat, VOXEL_NM)
    assert row["grain_count"] == stats["grain_count"] == 39
    assert row["grain_d_mean_nm"] == pytest.approx(stats["grain_d_mean_nm"], rel=1e-12)
    ids, counts = np.unique(lat.grain[lat.grain > 0], return_counts=True)
    np.testing.assert_array_equal(grain_voxel_counts(lat.grain), counts)


def test_every_column_of_a_run_is_documented():
    sim = Simulation.from_config(parse_config(tiny_dict()))
    row = sim._row()
    doc = (Path(__file__).resolve().parents[1] / "docs" / "observables.md").read_text()
    section = doc[doc.index("## The run's own table"):]
    documented = set(re.findall(r"`([A-Za-z0-9_]+)`", section))
    missing = sorted(c for c in row if c not in documented)
    assert not missing, f"undocumented run observables: {missing}"
    assert np.isfinite(row["grain_d_mean_nm"]) and row["grain_count"] > 10
