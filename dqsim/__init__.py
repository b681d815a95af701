"""dqsim: distributed quantum computing over optical networks, simulated on HPC clusters.

One MPI rank plays one quantum processor; the register is a state vector
sharded over all ranks (NumPy on CPUs, CuPy on GPUs, the same code path).
See ``docs/architecture.md`` for the layers and the invariants they keep.
"""

__version__ = "0.1.0"

#: Version of the layout of the HDF5 files dqsim writes. Bump on any change
#: a reader would notice.
SCHEMA_VERSION = 1
