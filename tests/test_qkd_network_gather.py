"""Where a ``[qkd.network]`` run's per-link tallies go: to the rank that writes the run file alone, which makes the
tables, attributes and summary and hands the attributes and summary to the others (every rank gathered every
link's tally and made every row until 2026-12-07, afternoon: ~15 kB a link on each of two ranks at 65,536 nodes).
Figures: bench/results/qkd-network-gather-vm-20261207p.md. The tables' equality on 1, 2 and 4 ranks is checked by
tests/test_qkd_network_scale.py, tests/test_qkd_scenario.py and tests/test_qkd_classical_channel.py.
"""

import json

import pytest

from mpi_helper import run_mpi

#: Nodes of the chain (255 links of 200 pulses).
NUM_NODES = 256


@pytest.fixture(scope="module")
def ranks_report(tmp_path_factory) -> list[dict]:
    """tests/mpi_scripts/qkd_writer_check.py on two ranks: each rank's tallies, tables, attributes, summary and
    traced peak."""
    out = tmp_path_factory.mktemp("gather") / "ranks.json"
    run_mpi(2, ["tests/mpi_scripts/qkd_writer_check.py", str(out), str(NUM_NODES)], timeout_s=600)
    return json.loads(out.read_text())


def test_only_the_writing_rank_holds_the_tallies_and_tables(ranks_report):
    """Rank 0 (``WRITING_RANK``) gets every link's tally and makes the tables; rank 1 gets none (it had all 255)
    and its output has no table, but the same attributes and summary lines as rank 0's."""
    writer, other = ranks_report
    assert writer["tallies"] == NUM_NODES - 1 and {"blocks", "links", "end_to_end", "relay_links"} <= set(
        writer["tables"])
    assert other["tallies"] is None and other["tables"] == []
    assert other["attrs"] == writer["attrs"] and other["summary"] == writer["summary"]
    assert "total_secret_key_bits" in other["attrs"] and other["summary"]


def test_the_other_rank_s_memory_does_not_hold_every_link_s_rows(ranks_report):
    """While ``run_job`` runs, rank 1's traced peak (its half of the links' processes) stays below rank 0's (its
    half, every link's tally and every row) by more than 2 kB a link: measured 3.9 kB a link (3.41 against
    2.41 MB), and 0.4 kB (3.26 against 3.16 MB) when every rank gathered every tally and made every row. Since
    2026-12-07 (night) the traced run is the second (the first loads modules and fills caches, which on this VM
    then hid the difference: 2.42 against 2.29 MB with the code of 6b25de0 too): 2.7 kB a link (3.03 against
    2.33 MB, the same with 6b25de0's code)."""
    writer, other = ranks_report
    assert writer["peak_bytes"] - other["peak_bytes"] > 2_000 * (NUM_NODES - 1), (writer["peak_bytes"],
                                                                                   other["peak_bytes"])


#: The chain of the one-process checks below (7 links of 200 pulses).
SMALL_CHAIN = ["qkd.network.num_nodes=8", "qkd.network.distances_km=", "qkd.link.distance_km=30.0",
               "qkd.pulses=200", "qkd.batch_pulses=200"]


class _WaitingRank:
    """Rank 1 of 2 in one process: its waits for the writer answer with what the writer sent (``sent``, in order);
    any other call of the communicator (a blocking collective: ``bcast``, ``allreduce_max``, ...) is refused."""

    rank, size = 1, 2

    def __init__(self, sent: list):
        self.sent, self.calls = list(sent), []

    def start_root_task(self, root=0):
        self.calls.append(("start_root_task", root))
        waiting = self

        class Task:
            def wait(self, notify):
                waiting.calls.append(("wait", notify()))
                return waiting.sent.pop(0)
        return Task()

    def __getattr__(self, name):
        def refused(*args, **kwargs):
            raise AssertionError(f"the waiting rank called comm.{name} (a blocking collective) while the writer "
                                 "tabulates")
        return refused


def test_a_waiting_rank_waits_for_the_writer_s_tables_in_root_tasks_not_a_blocking_collective(monkeypatch):
    """The writer (one rank, ``SingleComm``) makes the tables; what it sends to the waiting ranks is replayed to a
    fake rank 1 (:class:`_WaitingRank`), which must wait for each part in a ``RootTask`` (it sleeps between polls
    and can pass a stop signal on) and call no blocking collective (it waited in ``comm.bcast``, which spins, until
    2026-12-07 afternoon), and must end with the writer's attributes and summary and no table."""
    from dqsim import backend as backend_mod
    from dqsim import comm as comm_mod
    from dqsim.jobs import apply_overrides, load_job
    from dqsim.scenarios import qkd

    job = apply_overrides(load_job("jobs/qkd_trusted_chain.toml"), SMALL_CHAIN)
    backend = backend_mod.select("numpy")
    sent, runs = [], []
    finish, run_network = comm_mod.RootTask.finish, qkd.run_network
    monkeypatch.setattr(comm_mod.RootTask, "finish", lambda task, result: sent.append(result) or finish(task, result))
    monkeypatch.setattr(qkd, "run_network", lambda *a, **k: runs.append(run_network(*a, **k)) or runs[-1])
    written = qkd.run_job(job, comm=comm_mod.SingleComm(), backend=backend)
    monkeypatch.setattr(qkd, "run_network", lambda *a, **k: {**runs[0], "tallies": None})
    waiting = _WaitingRank(sent)
    out = qkd.run_job(job, comm=waiting, backend=backend)
    assert len(sent) == 2 and {"blocks", "links", "end_to_end"} <= set(written.tables)  # the distance, the output
    assert waiting.calls == [("start_root_task", 0), ("wait", False)] * 2 and not waiting.sent
    assert out.tables == {} and out.attrs == written.attrs and out.summary == written.summary


class _Stopped(Exception):
    """The checkpoint stop of the fake session below."""


def test_a_stop_noticed_by_the_writer_abandons_its_work_and_every_rank_agrees_at_the_stop_point(monkeypatch):
    """``qkd.writer_alone`` on the writer: a waiting rank's notice (``notified()``) seen at the work's first look
    abandons the work there, the waiting ranks are told (``finish``) and the stop point (collective) stops the
    run; where that stop point does not stop it (no checkpoint), the work is made again whole, with no look."""
    from dqsim.scenarios import qkd

    class Task:
        def __init__(self):
            self.finished = []

        def notified(self):
            return True

        def finish(self, result):
            self.finished.append(result)
            return result

    class Writer:
        rank, size = 0, 2

        def __init__(self):
            self.tasks = []

        def start_root_task(self, root=0):
            self.tasks.append(Task())
            return self.tasks[-1]

    class Session:
        finished_run = object()  # a finished engine run a stop can checkpoint

    looks, stops = [], []

    def make(look):
        looks.append("first")
        look()
        looks.append("second")
        return "tables", "summary"

    def stop_point():
        stops.append(1)
        raise _Stopped

    writer = Writer()
    with pytest.raises(_Stopped):
        qkd.writer_alone(writer, make, stop_point, Session())
    assert looks == ["first"] and stops == [1] and [t.finished for t in writer.tasks] == [[(True, None)]]
    looks.clear()
    writer = Writer()
    assert qkd.writer_alone(writer, make, lambda: stops.append(2), Session()) == ("tables", "summary")
    assert looks == ["first", "first", "second"] and stops == [1, 2]
    assert [t.finished for t in writer.tasks] == [[(True, None)], [(False, "summary")]]
