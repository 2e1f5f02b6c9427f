"""Events: one module per mechanism, each declaring its rate law, parameters and reach.

An event module provides a frozen class with
- ``NAME``, ``STREAM`` (a `kmc.rng.Stream`), ``REACH`` (which voxels a pass reads/writes),
- ``PARAMETERS``: {entry name: unit} read from the parameter set section ``NAME``,
- ``COUNTERS``: names of the integer counters its pass returns (gas released, in quanta),
- ``from_params(ParameterSet)``,
- for the step-size control, one of:
  ``consumption_rates_per_s(T_C) -> {parent phase: rate}`` for first-order transformations
  (exact at any dt unless two events consume the same phase), or
  ``max_rate_per_s(T_C)``, the attempt rate of a Monte Carlo event whose time mapping needs a
  small probability per step (or at most ``MAX_ATTEMPTS_PER_STEP`` attempts, if it declares
  how many one step realises exactly), or ``SELF_CAPPED = True`` (it caps itself),
- ``thresholds(T_C, dt_s) -> uint64 array``: the integer firing thresholds for one step
  (probabilities turned into integers on the host, so backends compare integers only),
- ``cpu_pass(lattice, seed, step, thresholds) -> dict[counter name, int]``: the numba rule.

`build_events` constructs them in the order they act within a step. docs/adding_an_event.md says how
to add one.
"""

from __future__ import annotations

from dataclasses import dataclass

from kmc.events.arrhenius import arrhenius_per_s  # noqa: F401  (re-exported)
from kmc.events.dehydration import Dehydration
from kmc.events.grain_growth import GrainGrowth
from kmc.events.li_hop import LiHop, capacity_tables
from kmc.events.li_source import LiSource
from kmc.events.lithiation import Lithiation
from kmc.events.nucleation import Nucleation
from kmc.events.ordering import Ordering
from kmc.events.sintering import Sintering


@dataclass(frozen=True)
class EventContext:
    """What events need besides their parameters.

    voxel_nm: voxel edge h (nm). n_precursor_grains: the largest grain id the builder gave
    (ids above it are grains that formed during the run). max_hop_probability: the Li-hop
    cap per pass (numerics).
    """

    voxel_nm: float
    n_precursor_grains: int
    max_hop_probability: float = 0.25


def build_events(params, ctx: EventContext) -> tuple:
    """The events of a run, in the order they act within a step:

    Li supply (source) -> Li transport (hops) -> lithiation -> dehydration ->
    recrystallisation (nucleation and growth of layered grains) -> grain growth (Potts, with
    Li-W-O pinning) -> cation ordering -> sintering.
    """
    hop = LiHop.from_params(params, voxel_nm=ctx.voxel_nm, max_hop_probability=ctx.max_hop_probability)
    cap_base, cap_per_tm = capacity_tables(hop.capacity_excess_q)
    return (
        LiSource.from_params(params, cap_base, cap_per_tm),
        hop,
        Lithiation.from_params(params),
        Dehydration.from_params(params),
        Nucleation.from_params(params, n_precursor_grains=ctx.n_precursor_grains, voxel_nm=ctx.voxel_nm),
        GrainGrowth.from_params(params, voxel_nm=ctx.voxel_nm, n_precursor_grains=ctx.n_precursor_grains),
        Ordering.from_params(params),
        Sintering.from_params(params),
    )
