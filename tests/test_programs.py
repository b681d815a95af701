"""Node programs of the user's own (dqsim.api): the distillation example against BBPSSW theory,
identical on 1, 2 and 4 ranks; errors of run_node_programs."""

import contextlib
import importlib.util
import io
import json
import math

import pytest

from dqsim import comm as comm_mod
from dqsim.api import LinkSpec, counter, run_node_programs
from dqsim.errors import DqsimError, ResourceError
from mpi_helper import ROOT, run_mpi

EXAMPLE = "examples/distillation.py"
PROBE_EXAMPLE = "examples/probe_memory.py"


def distill(num_ranks: int, rounds: int) -> dict:
    """The line the example prints: one rank in this process (its ``main``, what ``python EXAMPLE`` calls, no
    interpreter to start), more under mpiexec."""
    if num_ranks == 1:
        spec = importlib.util.spec_from_file_location("distillation", ROOT / EXAMPLE)
        example = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(example)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            example.main(rounds, 0.8)
        return json.loads(out.getvalue().strip().splitlines()[-1])
    proc = run_mpi(num_ranks, [EXAMPLE, str(rounds), "0.8"], timeout_s=240)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_distillation_example_matches_bbpssw_within_four_standard_errors():
    result = distill(1, 450)
    n = result["rounds"]
    p = result["success_probability_theory"]
    assert abs(result["success_fraction"] - p) < 4 * math.sqrt(p * (1 - p) / n)
    # F = (1 + <XX> - <YY> + <ZZ>)/4, each correlation from about a third of the distilled pairs
    per_basis = result["distilled"] / 3
    variance = sum(1 - c * c for c in result["correlations"].values()) / per_basis / 16
    assert abs(result["fidelity_out"] - result["fidelity_out_theory"]) < 4 * math.sqrt(variance)
    assert result["correlations"]["Y"] < 0 < result["correlations"]["Z"]  # |Phi+>: <YY> = -1, <ZZ> = +1


@pytest.fixture(scope="module")
def one_rank_distillation() -> dict:
    """40 rounds on one rank, the reference of the 2- and 4-rank runs."""
    return distill(1, 40)


@pytest.mark.parametrize("num_ranks", [2, 4])
def test_distillation_is_the_same_on_any_number_of_ranks(one_rank_distillation, num_ranks):
    one, many = dict(one_rank_distillation), distill(num_ranks, 40)
    assert many.pop("ranks") == num_ranks and one.pop("ranks") == 1
    assert many == one


def test_messages_need_a_link_and_nodes_need_ranks():
    def talk(ctx, peer):
        ctx.send(peer, "hello")
        yield ctx.wait(0)

    link = LinkSpec(distance_km=1.0)
    comm = comm_mod.init()
    with pytest.raises(ResourceError, match="node a sent to c, but no link joins them") as info:
        run_node_programs({0: [(talk, (2,))]}, node_names=["a", "b", "c"], links={(0, 1): link},
                          qubits_per_node=1, comm=comm)
    # userwalk2 D9: the line says how to fix it
    assert "add a link between them, or relay the message through a node linked to both" in str(info.value)
    with pytest.raises(ResourceError, match=r"placement \[0\] must give each of 2 nodes a rank"):
        run_node_programs({}, node_names=["a", "b"], links={(0, 1): link}, qubits_per_node=1, comm=comm,
                          placement=[0])


def probe_example(num_ranks: int) -> dict:
    """The line examples/probe_memory.py prints (T2 = 10 ms, probes 2 ms apart)."""
    if num_ranks == 1:
        spec = importlib.util.spec_from_file_location("probe_memory", ROOT / PROBE_EXAMPLE)
        example = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(example)
        with contextlib.redirect_stdout(io.StringIO()):
            return example.main(0.01, 0.002)
    proc = run_mpi(num_ranks, [PROBE_EXAMPLE, "0.01", "0.002"], timeout_s=240)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_probes_are_returned_by_the_run_and_follow_dephasing_theory():
    """userwalk2 D2: ctx.probe_bell_* values are in run.probes (they were dropped with the simulator)."""
    result = probe_example(1)
    # pure dephasing: 2F - 1 shrinks by exp(-2 t / T2) while both halves wait (Nielsen & Chuang 8.3.6)
    assert result["coherence_ratio"] == pytest.approx(result["coherence_ratio_theory"], rel=1e-6)
    herald, later = result["bell_weights_at_herald"], result["bell_weights_later"]
    assert herald[0] == result["fidelity_at_herald"] and later[0] == result["fidelity_later"]
    assert herald[0] + herald[1] == pytest.approx(later[0] + later[1], abs=1e-12)  # Phi+ -> Phi- only


def test_probes_are_the_same_on_two_ranks():
    one, two = probe_example(1), probe_example(2)
    assert two.pop("ranks") == 2 and one.pop("ranks") == 1
    assert json.loads(json.dumps(one)) == two


def test_count_takes_integers_and_refuses_a_float_in_one_line():
    """userwalk2 D3: a float amount was summed and counter() truncated it (0.97 + 0.5 -> 1)."""
    def tally(ctx, amount):
        ctx.count("x", 2)
        ctx.count("x", amount)
        yield ctx.wait(1)

    link = LinkSpec(distance_km=1.0)
    run = run_node_programs({0: [(tally, (3,))]}, node_names=["a", "b"], links={(0, 1): link},
                            qubits_per_node=1, comm=comm_mod.init())
    assert counter(run, "x") == 5
    with pytest.raises(DqsimError, match=r"node a: ctx.count\('x', 0.5\): the amount must be an integer"):
        run_node_programs({0: [(tally, (0.5,))]}, node_names=["a", "b"], links={(0, 1): link},
                          qubits_per_node=1, comm=comm_mod.init())
