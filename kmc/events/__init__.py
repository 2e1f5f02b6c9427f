"""Events: one module per mechanism, each declaring its rate law, parameters and reach.

An event module provides a frozen class with
- ``NAME``, ``STREAM`` (a `kmc.rng.Stream`), ``REACH`` (which voxels a pass reads/writes),
- ``PARAMETERS``: {entry name: unit} read from the parameter set section ``NAME``,
- ``COUNTERS``: names of the integer counters its pass returns (gas released, in quanta),
- ``from_params(ParameterSet)``,
- ``max_rate_per_s(T_C)``: its fastest per-site rate, for the step-size control,
- ``thresholds(T_C, dt_s) -> uint64 array``: the integer firing thresholds for one step
  (probabilities turned into integers on the host, so backends compare integers only),
- ``cpu_pass(lattice, seed, step, thresholds) -> dict[counter name, int]``: the numba rule.

`Simulation.run` applies events in the order of `ORDER`. docs/adding_an_event.md says how
to add one.
"""

from __future__ import annotations

from kmc.events.arrhenius import arrhenius_per_s  # noqa: F401  (re-exported)
from kmc.events.dehydration import Dehydration

#: Events in the order they act within a step.
ORDER = (Dehydration,)
