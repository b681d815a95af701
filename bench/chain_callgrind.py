"""Instructions per Python function of one warm run of the repeater chain, under valgrind's callgrind.

A measurement, not a test. CPython runs every Python function in one C
function (the eval loop), so callgrind alone cannot say which Python function
did the work. This tool builds a small C extension (gcc, Python headers) of
distinct trampolines ``tramp_K``; the chosen engine and scenario functions are
called through them, so ``callgrind_annotate --inclusive=yes`` gives each its
own inclusive count. The chain runs ``--runs`` times in the process (the
first warms it up); callgrind's counters are zeroed before each run and dumped
after it (client requests), so imports and set-up of the process cancel out.
With several ranks the exchange's wait and the collectives poll with 2 ms
sleeps, so that waiting (MPICH spins) costs few instructions: what is left is
work. The number of exchanges still depends on timing (a few either way).

Each wrapped call costs the wrapper's own few thousand instructions (counted in
the caller), so compare runs with the same wrappers; ``--plain`` wraps nothing
(totals only).

Usage (from the repository root; ``OUT`` an existing folder, which also gets
the compiled trampolines and ``trampolines.json``, their names)::

    valgrind --tool=callgrind --callgrind-out-file=OUT/cg-1r-%p.out \\
        .venv/bin/python bench/chain_callgrind.py --out-dir OUT
    .venv/bin/mpiexec -n 2 valgrind --tool=callgrind --callgrind-out-file=OUT/cg-2r-%p.out \\
        .venv/bin/python -m mpi4py bench/chain_callgrind.py --out-dir OUT
    .venv/bin/python bench/chain_callgrind.py --table OUT/cg-1r-*.out.2 OUT/cg-2r-*.out.2 --out-dir OUT

Results of 2026-12-05: ``bench/results/chain-vm-overhead-20261205.md``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: Functions called through a trampoline: (module, owner in the module or "", attribute).
WRAPPED = [
    ("dqsim.engine.simulator", "Simulator", "_post_exchange"),
    ("dqsim.engine.simulator", "Simulator", "_complete_exchange"),
    ("dqsim.engine.simulator", "Simulator", "_promises"),
    ("dqsim.engine.simulator", "Simulator", "_frontier"),
    ("dqsim.engine.simulator", "Simulator", "_resolve"),
    ("dqsim.engine.simulator", "Simulator", "_starved_peers"),
    ("dqsim.engine.simulator", "Simulator", "_run_local"),
    ("dqsim.engine.simulator", "Simulator", "_flush"),
    ("dqsim.comm", "PendingAlltoall", "test"),
    ("dqsim.comm", "MPIComm", "start_alltoall"),
    ("dqsim.comm", "PendingAlltoall", "wait"),
    ("dqsim.comm", "MPIComm", "allgather"),
    ("dqsim.engine.simulator", "Simulator", "_hand_back"),
    ("dqsim.engine.simulator", "Simulator", "__init__"),
    ("dqsim.protocols.repeater", "ChainSpec", "network"),
    ("dqsim.engine.simulator", "", "apply_qop"),
    ("dqsim.engine.simulator", "Simulator", "run"),
    ("dqsim.scenarios.repeater", "", "run_chain"),
    ("dqsim.engine.simulator", "", "_sum_statistics"),
    ("dqsim.engine.simulator", "Simulator", "_deliver_counted"),
    ("dqsim.engine.simulator", "Simulator", "_broadcast"),
    ("dqsim.engine.quantum", "QuantumMemory", "finish"),
    ("dqsim.engine.quantum", "QuantumMemory", "decohere"),
    ("dqsim.network.network", "Network", "rank_distances_ps"),
    ("dqsim.network.network", "Network", "from_links"),
    ("dqsim.engine.simulator", "Simulator", "_issue"),
    ("dqsim.engine.simulator", "Simulator", "_send"),
    ("dqsim.engine.simulator", "Simulator", "_end_parts"),
    ("dqsim.engine.simulator", "Simulator", "_quiet_floor_ps"),
    ("dqsim.engine.simulator", "Simulator", "_fill_latency_row"),
    ("dqsim.comm", "MPIComm", "alltoall"),
    # set-up and the end of a run, in parts (each called once or a few times per run)
    ("dqsim.network.network", "Network", "_set_nodes"),
    ("dqsim.network.network", "Network", "_set_links"),
    ("dqsim.network.network", "Network", "_rooted_forest"),
    ("dqsim.engine.quantum", "QuantumMemory", "__post_init__"),
    ("dqsim.protocols.repeater", "ChainRecords", "merged"),
    ("dqsim.protocols.repeater", "ChainRecords", "unpacked"),
]

_C_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <valgrind/callgrind.h>
#define T(K) __attribute__((noinline)) static PyObject *tramp_##K(PyObject *s, PyObject *a, PyObject *kw) { \
    PyObject *rest = PyTuple_GetSlice(a, 1, PyTuple_GET_SIZE(a)); \
    PyObject *r = PyObject_Call(PyTuple_GET_ITEM(a, 0), rest, kw); \
    Py_DECREF(rest); __asm__ volatile("" ::: "memory"); return r; }
#define M(K) {"t" #K, (PyCFunction)(void (*)(void))tramp_##K, METH_VARARGS | METH_KEYWORDS, NULL},
%(defs)s
static PyObject *zero(PyObject *s, PyObject *a) { CALLGRIND_ZERO_STATS; Py_RETURN_NONE; }
static PyObject *dump(PyObject *s, PyObject *a) {
    const char *n; if (!PyArg_ParseTuple(a, "s", &n)) return NULL; CALLGRIND_DUMP_STATS_AT(n); Py_RETURN_NONE; }
static PyMethodDef methods[] = { %(table)s {"zero", zero, METH_NOARGS, NULL},
    {"dump", dump, METH_VARARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "cgtramp", NULL, -1, methods};
PyMODINIT_FUNC PyInit_cgtramp(void) { return PyModule_Create(&mod); }
"""


def build_trampolines(out_dir: Path, count: int):
    """Compile and import the ``cgtramp`` extension (``count`` trampolines) in ``out_dir``."""
    source = out_dir / "cgtramp.c"
    source.write_text(_C_SOURCE % {"defs": " ".join(f"T({k})" for k in range(count)),
                                   "table": " ".join(f"M({k})" for k in range(count))})
    target = out_dir / ("cgtramp" + sysconfig.get_config_var("EXT_SUFFIX"))
    if not target.exists():
        subprocess.run(["gcc", "-O2", "-fPIC", "-shared", "-fno-ipa-icf", f"-I{sysconfig.get_paths()['include']}",
                        str(source), "-o", str(target)], check=True)
    sys.path.insert(0, str(out_dir))
    return importlib.import_module("cgtramp")


def wrap_all(cgt, wrapped=None) -> dict[str, str]:
    """Route every function of ``wrapped`` (default :data:`WRAPPED`) through its trampoline; ``tramp_K`` -> its name."""
    names = {}
    for k, (module_name, owner_name, attr) in enumerate(WRAPPED if wrapped is None else wrapped):
        module = importlib.import_module(module_name)
        owner = getattr(module, owner_name) if owner_name else module
        original, trampoline = getattr(owner, attr), getattr(cgt, f"t{k}")

        def wrapper(*args, _original=original, _trampoline=trampoline, **kwargs):
            return _trampoline(_original, *args, **kwargs)

        setattr(owner, attr, wrapper)
        names[f"tramp_{k}"] = f"{owner_name or module_name}.{attr}"
    return names


def poll_waits() -> None:
    """Make the exchange's wait and the blocking collectives poll with 2 ms sleeps (MPICH would spin)."""
    import dqsim.comm as comm_module

    def wait(self):
        while not self.test():
            time.sleep(0.002)
        if self._sends:
            self._mpi.Request.waitall(self._sends)
            self._sends = []
        return self._parts

    def polled(original):
        def collective(self, *args, **kwargs):
            request = self._comm.Ibarrier()
            while not request.Test():
                time.sleep(0.002)
            return original(self, *args, **kwargs)
        return collective

    comm_module.PendingAlltoall.wait = wait
    for name in ("allgather", "gather", "barrier"):
        setattr(comm_module.MPIComm, name, polled(getattr(comm_module.MPIComm, name)))


def measure(args) -> None:
    from chain_ranks import chain_of

    from dqsim import comm as comm_mod

    out_dir = Path(args.out_dir)
    build_dir = out_dir / f"trampolines-{os.environ.get('PMI_RANK', os.environ.get('OMPI_COMM_WORLD_RANK', '0'))}"  # (ranks compile side by side)
    build_dir.mkdir(parents=True, exist_ok=True)
    cgt = build_trampolines(build_dir, len(WRAPPED))
    poll_waits()
    names = {} if args.plain else wrap_all(cgt)
    from dqsim.scenarios import repeater  # (after wrap_all: run_chain is looked up here at call time)

    comm = comm_mod.init()
    chain = chain_of(args)
    for index in range(args.runs):
        if comm.size > 1:
            comm.allgather(None)
        cgt.zero()
        run = repeater.run_chain(chain, comm=comm, seed=args.seed)
        cgt.dump(f"run{index}")
    if comm.rank == 0:
        (out_dir / "trampolines.json").write_text(json.dumps(names, indent=1))
        print(json.dumps({"delivery_ps": [p.delivery_ps for p in run.pairs], "exchanges": run.engine.num_windows}))


def inclusive(path: str) -> tuple[int, dict[str, int]]:
    """Total and inclusive instructions per function name of one callgrind dump."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path], capture_output=True,
                          text=True, check=True).stdout
    total, counts = 0, {}
    for line in text.splitlines():
        match = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(\S.*)", line)
        if match is None:
            continue
        value = int(match.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = value
            continue
        name = match.group(2).split(" [")[0].rsplit(":", 1)[-1]
        counts[name] = counts.get(name, 0) + value
    return total, counts


def table(args) -> None:
    names = json.loads((Path(args.out_dir) / "trampolines.json").read_text())
    columns = [inclusive(path) for path in args.table]
    print("| function (inclusive, M instructions) | " + " | ".join(Path(p).name for p in args.table) + " |")
    print("|--|" + "--|" * len(columns))
    print("| whole run | " + " | ".join(f"{total / 1e6:.1f}" for total, _ in columns) + " |")
    for key, name in sorted(names.items(), key=lambda item: int(item[0].split("_")[1])):
        print(f"| {name} | " + " | ".join(f"{counts.get(key, 0) / 1e6:.2f}" for _, counts in columns) + " |")


def main() -> int:
    from chain_ranks import add_workload_arguments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_workload_arguments(parser)
    parser.add_argument("--runs", type=int, default=2, help="chain runs in the process; each is dumped (default 2)")
    parser.add_argument("--plain", action="store_true", help="wrap nothing: whole-run totals only")
    parser.add_argument("--out-dir", default="callgrind-chain", help="trampolines and their names go here")
    parser.add_argument("--table", nargs="+", help="print the table of these callgrind dumps instead of running")
    args = parser.parse_args()
    if args.table:
        table(args)
    else:
        measure(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
