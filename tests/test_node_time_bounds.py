"""The time keys of ``[network.node]`` (dqc, trotter, cloud) are bounded, and so is a run's clock.

``gate_1q_duration_ps = 2**62`` (or the two-qubit gate's, or the measurement's) ran, then the timeline's int64
times overflowed: an ``OverflowError`` traceback after the whole run (2026-12-06). Each of the four time keys
is now refused outside 0..10**12 ps (1 s) before any work, in one line naming the file, the key, the value and
the range; a run that still passes the clock (hundreds of pairs over links that take hours each) stops in one
line when a node would start a step past 2**61 ps.
"""

import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit.ir import Circuit
from dqsim.errors import DqsimError
from dqsim.jobs.network import MAX_NODE_DURATION_PS, MAX_PROCESSING_DELAY_PS
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.protocols.distributed import STEP_START_MAX_PS
from dqsim.scenarios.dqc import run_dqc
from mpi_helper import run_here

JOB = "jobs/dqc_teleport_feedforward.toml"
LIMITS = {"gate_1q_duration_ps": MAX_NODE_DURATION_PS, "gate_2q_duration_ps": MAX_NODE_DURATION_PS,
          "measure_duration_ps": MAX_NODE_DURATION_PS, "classical_processing_delay_ps": MAX_PROCESSING_DELAY_PS}


def refused(args, tmp_path):
    """``dqsim ARGS`` (``-o`` into ``tmp_path`` for a run): exit status 2, one line on stderr, no output file."""
    out = tmp_path / "out.h5"
    if args[0] == "run":
        args = [*args, "-o", out, "-q"]
    result = run_here(args, check=False)
    assert result.returncode == 2, result.stderr
    assert not out.exists()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dqsim: error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("key", list(LIMITS))
@pytest.mark.parametrize("value", ["-1", "1000000000001", str(2**62)])
def test_repro_a_node_time_outside_its_range_is_refused_in_one_line(tmp_path, command, key, value):
    """Each time key of ``[network.node]``, past 1 s, negative or 2**62 (which ran, then overflowed)."""
    line = refused([command, JOB, "--set", f"network.node.{key}={value}"], tmp_path)
    assert JOB in line
    assert f"[network.node].{key} = {value}: must be an integer in [0, {LIMITS[key]:_}] (at most 1 s)" in line


@pytest.mark.parametrize("job", ["dqc_teleport_feedforward.toml", "ising_trotter_4qpu.toml", "cloud_queue.toml"])
def test_the_longest_times_pass_and_one_more_is_refused_in_every_networked_job(tmp_path, job):
    """The ``[network]`` section is shared by dqc, trotter and cloud: 10**12 ps passes, 10**12 + 1 does not."""
    for key, limit in LIMITS.items():
        assert run_here(["check", f"jobs/{job}", "--set", f"network.node.{key}={limit}"]).returncode == 0
        line = refused(["check", f"jobs/{job}", "--set", f"network.node.{key}={limit + 1}"], tmp_path)
        assert f"[network.node].{key} = {limit + 1}: must be an integer" in line


def test_repro_a_node_past_the_clock_stops_the_run():
    """Four H gates of 2**60 ps each on one node (a NodeSpec takes any duration; only the job bounds it): the
    fourth would start at 3·2**60 ps, past 2**61. Before, the run ended with times past the int64 range."""
    graph = topology.line(2, link=LinkSpec(distance_km=1.0, dark_count_rate_hz=0.0))
    slow = [NodeSpec(name=name, num_data_qubits=1, num_comm_qubits=2, gate_1q_duration_ps=2**60)
            for name in graph.nodes]
    circuit = Circuit(2, name="slow")
    for _ in range(4):
        circuit.gate("h", 0)
    circuit.gate("cx", 0, 1)
    with pytest.raises(DqsimError, match=r"node node0 would start step 4 of its 5 at 3458765 s of simulated "
                                         r"time, past the 2\.306e\+06 s \(2\*\*61 ps\)"):
        run_dqc(circuit, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"), network=Network(graph, slow),
                scheme="telegate", assignment=[0, 1], seed=1, shots=0, timeline=True)
    assert 3 * 2**60 > STEP_START_MAX_PS == 2**61


def test_repro_a_job_past_the_clock_is_refused_in_one_line(tmp_path):
    """400 remote CNOTs over a 315 km double-click link (7,600 s per pair on average, within the 9,000 s a link
    may take): the pairs alone pass 2**61 ps (2.3e6 s) near the 300th gate. Refused in one line, exit 2, no
    output (on one rank it ran to 3e18 ps; on two, past 2**62 ps the engine's promises went wrong)."""
    (tmp_path / "cx400.qasm").write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\n' + "cx q[0],q[1];\n" * 400)
    job = tmp_path / "slow.toml"
    job.write_text('[run]\nname = "slow"\nscenario = "dqc"\nseed = 1\n'
                   '[network]\ntopology = "line"\nnum_nodes = 2\n[network.link]\ndistance_km = 315.0\n'
                   '[network.node]\nnum_data_qubits = 1\nnum_comm_qubits = 2\n'
                   '[circuit]\nqasm = "cx400.qasm"\n[distribution]\nassignment = [0, 1]\n[simulation]\nshots = 10\n')
    line = refused(["run", str(job)], tmp_path)
    assert "would start step" in line and "past the 2.306e+06 s (2**61 ps)" in line
    assert "gate_1q_duration_ps" in line
