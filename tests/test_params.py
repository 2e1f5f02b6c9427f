"""The shipped parameter set: every entry has a unit and a source, every event finds its
entries in the units it expects, and docs/parameters.md shows the set as it is."""

from pathlib import Path

import pytest

from kmc import params
from kmc.errors import UserError
from kmc.events import EventContext, build_events

DOCS = Path(__file__).resolve().parents[1] / "docs" / "parameters.md"


def test_every_event_reads_its_entries_in_its_units():
    events = build_events(params.load("default"), EventContext(voxel_nm=50.0, n_precursor_grains=100))
    assert len(events) == 8


def test_every_entry_has_a_unit_and_a_source():
    ps = params.load("default")
    assert len(ps.entries) > 40
    for (section, name), entry in ps.entries.items():
        assert entry.unit.strip() and len(entry.source.strip()) > 10, f"{section}.{name}"


def test_a_wrong_unit_is_refused_naming_the_key():
    ps = params.load("default")
    with pytest.raises(UserError, match=r"dehydration.activation_energy.unit"):
        ps.get("dehydration", "activation_energy", "eV")


def test_docs_parameters_md_is_current():
    assert DOCS.read_text() == params.load("default").markdown(), "regenerate: kmc params > docs/parameters.md"
