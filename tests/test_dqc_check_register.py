"""``dqsim check``'s register line for a ``dqc`` job gives the qubits of the run's largest register
(``register_qubits``), or at most how many where only a bound is known: the data qubits, two scratch bits, and the
network qubits the run's plan can hold in it at once beyond them (:func:`dqsim.scenarios.dqc.extra_register_qubits`).
Before 2026-12-07 (afternoon) check counted the data register + 2 always: one qubit short under TeleData or with a
teleported SWAP or dense gate; until 2026-12-07 (late afternoon) one more where a node held two communication
qubits at once, short where gates ran at once (``tests/test_register_peak.py``)."""

from pathlib import Path

import pytest

from dqsim import comm as comm_mod
from dqsim.cli import check
from dqsim.jobs import load_job_text
from dqsim.scenarios import dqc

from conftest import TEST_BACKEND

pytestmark = pytest.mark.skipif(TEST_BACKEND is None, reason="no GPU for the cupy backend")

JOBS = Path(__file__).resolve().parent.parent / "jobs"

#: Two QPUs of two data qubits each, qubits 0, 1 on the first and 2, 3 on the second.
TWO_QPUS = """[run]
name = "a"
scenario = "dqc"
seed = 1
[network]
topology = "line"
num_nodes = 2
[network.link]
distance_km = 1.0
source_fidelity = 1.0
dark_count_rate_hz = 0.0
[network.node]
num_data_qubits = 2
num_comm_qubits = {comm}
[circuit]
{circuit}
[distribution]
scheme = "{scheme}"
assignment = [0, 0, 1, 1]
[simulation]
shots = 10
timeline = false
"""

#: A controlled U between the QPUs (two controlled gates: teleported under TeleData only) and a SWAP between
#: them (teleported where both QPUs have two communication qubits).
QASM = """OPENQASM 3.0;
include "stdgates.inc";
qubit[4] q;
h q[0];
ctrl @ u(0.3, 0.5, 0.7) q[0], q[2];
{swap}cx q[1], q[3];
"""


def _ghz_4qpu(**replace):
    text = (JOBS / "dqc_ghz_4qpu.toml").read_text().replace("shots = 1000", "shots = 10")
    text = text.replace("timeline = true", "timeline = false")
    for old, new in replace.items():
        text = text.replace(old, new)
    return load_job_text(text)


def _two_qpus(tmp_path, *, comm, scheme, circuit=None, swap=False):
    if circuit is None:
        path = tmp_path / "c.qasm"
        path.write_text(QASM.format(swap="swap q[1], q[3];\n" if swap else ""))
        circuit = f'qasm = "{path}"'
    return load_job_text(TWO_QPUS.format(comm=comm, scheme=scheme, circuit=circuit))


CASES = {  # name: (job maker, register qubits measured by the run[, check's bound where it says "at most"])
    "ghz_4qpu": (lambda tmp: _ghz_4qpu(), 10),
    # (a return pair's last qubit may wait, by the causal order alone, while the next two gates run)
    "ghz_4qpu teledata": (lambda tmp: _ghz_4qpu(**{'scheme = "telegate"': 'scheme = "teledata"'}), 11, 13),
    "ghz_4qpu routed": (lambda tmp: _ghz_4qpu(**{"[0, 0, 1, 1, 2, 2, 3, 3]": "[0, 0, 0, 0, 3, 3, 3, 3]"}), 11, 11),
    "ctrl-u telegate": (lambda tmp: _two_qpus(tmp, comm=2, scheme="telegate"), 6),
    "ctrl-u teledata": (lambda tmp: _two_qpus(tmp, comm=2, scheme="teledata"), 7),
    "swap, one comm": (lambda tmp: _two_qpus(tmp, comm=1, scheme="telegate", swap=True), 6),
    "swap teleported": (lambda tmp: _two_qpus(tmp, comm=2, scheme="telegate", swap=True), 7),
    "qft teleported swaps": (lambda tmp: _two_qpus(tmp, comm=2, scheme="telegate",
                                                   circuit='generator = "qft"\nnum_qubits = 4'), 7),
}


@pytest.mark.parametrize("name", list(CASES))
def test_check_counts_the_register_the_run_holds(name, tmp_path):
    make, qubits, *bound = CASES[name]
    job = make(tmp_path)
    line = next(text for text in check.work_lines(job, 1) if text.startswith("memory per rank"))
    assert (f": at most {bound[0]} qubits," if bound else f": {qubits} qubits,") in line, line
    out = dqc.run_job(job, comm=comm_mod.SingleComm(), backend=TEST_BACKEND)
    assert out.attrs["register_qubits"] == qubits
