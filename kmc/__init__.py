"""kmc: lattice kinetic Monte Carlo of Ni-rich cathode calcination (see README.md)."""

import os

# numba's OpenMP workers spin while waiting by default; on a machine whose cores are shared
# that spinning costs more than the work (measured: 85 vs 30 ms per quickstart step at load 4).
# Passive waiting costs microseconds per parallel loop. A value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
