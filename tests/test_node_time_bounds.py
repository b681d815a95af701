"""The time keys of ``[network.node]`` (dqc, trotter, cloud) are bounded, and so is a run's clock.

``gate_1q_duration_ps = 2**62`` (or the two-qubit gate's, or the measurement's) ran, then the timeline's int64
times overflowed: an ``OverflowError`` traceback after the whole run (2026-12-06). Each of the four time keys
is now refused outside 0..10**12 ps (1 s) before any work, in one line naming the file, the key, the value and
the range; a run that still passes the clock (hundreds of pairs over links that take hours each) stops in one
line when a node would schedule anything past 2**61 ps (the engine's refusal, ``tests/test_clock_limit.py``).
"""

import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.circuit.ir import Circuit
from dqsim.engine import ClockLimitError
from dqsim.jobs.network import MAX_NODE_DURATION_PS, MAX_PROCESSING_DELAY_PS
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.network.network import PROTOCOL_CLOCK_LIMIT_PS
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
    third's wait would end at 3·2**60 ps, past 2**61. Before, the run ended with times past the int64 range."""
    graph = topology.line(2, link=LinkSpec(distance_km=1.0, dark_count_rate_hz=0.0))
    slow = [NodeSpec(name=name, num_data_qubits=1, num_comm_qubits=2, gate_1q_duration_ps=2**60)
            for name in graph.nodes]
    circuit = Circuit(2, name="slow")
    for _ in range(4):
        circuit.gate("h", 0)
    circuit.gate("cx", 0, 1)
    with pytest.raises(ClockLimitError, match=r"node node0 would wait until 3458765 s of simulated time, past the "
                                              r"2\.306e\+06 s \(2\*\*61 ps\) .*; shorten \[network\.node\]'s "
                                              r"gate_1q_duration_ps"):
        run_dqc(circuit, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"), network=Network(graph, slow),
                scheme="telegate", assignment=[0, 1], seed=1, shots=0, timeline=True)
    assert 3 * 2**60 > PROTOCOL_CLOCK_LIMIT_PS == 2**61


# The job past the clock (400 remote CNOTs over 315 km), on one and two ranks: tests/test_clock_limit.py.
