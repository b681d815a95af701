"""BBM92/E91 event timing: the pair source is pumped without pause while a key block lasts (review finding B,
docs/review-qkd-physics-20261206.md).

Until 2026-12-06 the source sat at Alice's node in the timing and paused a round trip 2L after every batch, so a
block of N batches lasted N·T + N·2L before sifting; now Bob's photons fly from the source, ``position·L`` from
Alice, to him ((1 - position)·L·n_g/c) and his report comes back over the link (L·n_g/c), so Alice has the
block's last report at N·T + (2 - position)·L·n_g/c.
"""

import pickle

import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.errors import DqsimError
from dqsim.jobs import apply_overrides, load_job
from dqsim.protocols.qkd import nodes
from dqsim.scenarios import qkd as qkd_scenario
from mpi_helper import ROOT

C_M_PER_S = 299_792_458.0


def _run(name, extra):
    job = apply_overrides(load_job(ROOT / "jobs" / name), extra)
    out = qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
    return job, out


@pytest.mark.parametrize("name, position", [("bbm92_20km.toml", 0.5), ("e91_chsh.toml", 0.2)])
def test_block_duration_is_emission_plus_bobs_photon_flight_and_report(name, position, monkeypatch):
    """Two blocks of 5 batches of 1e5 pairs (1e9 Hz): each block's emission is N·T = 5e8 ps to the ps, and its
    sifting (the last report in at Alice) (2 - position)·L·n_g/c after, L·n_g/c computed here from the link's
    length and group index (within 2 ps, the roundings); the second block's emission starts as the first's ends
    (the source is pumped on while the first is post-processed) and the link ends with the last block's key.
    Before 2026-12-06: N·T + N·2L, sifting 0; and until later that day the link's simulated time was the sum of
    every block's four times (the source waited for each block's post-processing). The estimation phase is the
    sifting answer and the estimation message, a crossing and their bits each (one crossing each, untimed,
    until 2026-12-07); since 2026-12-07 (morning) the sifting also waits for the last report's own bits
    (his clicks' places and settings: Bob's process draws the pairs), and the sifting answer names which of his
    clicks are coincidences; at 1e12 bit/s, a ps a bit, so that the two blocks' messages do not meet on the channel
    (at 1 Gbit/s the reports, 1.5-2 bits a pair slot, outrun it, and E91's estimation message, ~1e5 bits of test
    outcomes, holds Bob's channel while the next block's reports come, and they wait)."""
    seen, reports = {}, []
    messages_of = nodes.authentication.run_block_messages
    report_delay = nodes.report_delay_ps

    def recorded(q, block, counts, result):
        seen[block] = messages_of(q, block, counts, result)
        return seen[block]

    def report_recorded(q, num_pulses, num_clicks):
        reports.append((num_clicks, report_delay(q, num_pulses, num_clicks)))
        return reports[-1][1]

    monkeypatch.setattr(nodes.authentication, "run_block_messages", recorded)
    monkeypatch.setattr(nodes, "report_delay_ps", report_recorded)
    job, out = _run(name, ["qkd.pulses=1000000", "qkd.batch_pulses=100000", "qkd.block_pulses=500000",
                           f"qkd.source.position={position}", "qkd.classical_bit_rate_hz=1e12"])
    link = job.qkd.link
    one_way_ps = link.distance_km * 1e3 * link.group_index / C_M_PER_S * 1e12
    blocks = out.tables["blocks"]
    assert len(blocks) == 2
    settings_bits = 2 if job.qkd.protocol == "e91" else 1
    assert len(reports) == 10
    for k, row in enumerate(blocks):
        assert row["time_pulses_ps"] == 500_000 * 1e12 / job.qkd.source.source_rate_hz
        last_report_ps = reports[5 * k + 4][1]  # its bits at a ps each (the channel free: 1e8 ps a batch)
        assert 1e5 < last_report_ps <= 2e5  # 1.5-2 bits a pair slot
        assert abs(row["time_sifting_ps"] - (2 - position) * one_way_ps - last_report_ps) < 2, \
            (row["time_sifting_ps"], one_way_ps)
        sifting, estimation = seen[k].sifting_bits, seen[k].estimation_bits  # (detections: coincidences)
        bob_clicks = sum(clicks for clicks, _ps in reports[5 * k:5 * k + 5])
        assert sifting == settings_bits * row["detections_signal"] + nodes.authentication.positions_bits(
            bob_clicks, int(row["detections_signal"]))
        assert estimation >= row["estimation_bits"] > 0
        assert abs(row["time_estimation_ps"] - 2 * one_way_ps - (sifting + estimation)) < 2
    times = ("time_pulses_ps", "time_sifting_ps", "time_estimation_ps", "time_key_ps")
    assert blocks["block_start_ps"].tolist() == [0, 500_000 * 1e12 / job.qkd.source.source_rate_hz]
    assert blocks["source_wait_ps"].tolist() == [0, 0]
    last = blocks[-1]
    assert out.tables["links"]["simulated_time_ps"][0] == last["block_start_ps"] + sum(int(last[t]) for t in times) \
        == last["key_ready_ps"]
    assert out.tables["blocks"]["key_rate_bits_per_pulse"].min() > 0


class _HeldReports(set):
    """Alice's ``awaiting`` set, recording the most batches it held at once."""

    most = 0

    def add(self, item):
        super().add(item)
        _HeldReports.most = max(_HeldReports.most, len(self))


def test_reports_in_flight_stay_within_a_round_trips_worth(monkeypatch):
    """Batches of 1e4 pairs (10 µs) at 20 km: the source emits on while Bob's reports travel (1.5 L = 147 µs),
    so 15-16 are in flight at once, never more than :func:`nodes.max_reports_held` (16), at 10 Gbit/s. At
    1 Gbit/s (since 2026-12-07 (morning), when they took their own bits: 1.5e4 bits, 15 µs a report) they outrun
    the channel and queue: more are in flight, within ``dqsim check``'s bound with the queue's wait
    (:func:`dqsim.cli.check.report_backlog`), the whole block's 30 here. Before 2026-12-06 one (the source waited
    for each)."""
    from dqsim.cli import check
    init = nodes.EntangledAlice.__init__

    def tracked(self, plan, phys):
        init(self, plan, phys)
        self.awaiting = _HeldReports()

    monkeypatch.setattr(nodes.EntangledAlice, "__init__", tracked)
    sets = ["qkd.pulses=300000", "qkd.batch_pulses=10000", "qkd.block_pulses=300000"]
    _HeldReports.most = 0
    job, _out = _run("bbm92_20km.toml", sets + ["qkd.classical_bit_rate_hz=1e10"])
    phys = qkd_scenario.link_physics(job, 0, *job.network_links(None)[0])
    bound = nodes.max_reports_held(nodes.entangled_sifting_ps(phys, 0.5), nodes.emission_ps(10_000, 1e9), 30)
    assert bound == 16 and check.report_backlog(job)[0][6] == 0
    assert bound - 1 <= _HeldReports.most <= bound
    _HeldReports.most = 0
    job, _out = _run("bbm92_20km.toml", sets + ["qkd.classical_bit_rate_hz=1e9"])
    ((_link, _d, _clicks, bits, _rate, _bit_rate, wait),) = check.report_backlog(job)
    queued = nodes.max_reports_held(nodes.entangled_sifting_ps(phys, 0.5) + wait, nodes.emission_ps(10_000, 1e9), 30)
    assert 1.4 < bits < 1.6 and queued == 30
    assert bound < _HeldReports.most <= queued, _HeldReports.most


@pytest.mark.parametrize("side", ["alice", "bob"])
def test_a_checkpoint_of_the_pausing_source_is_refused_in_one_line(side):
    """A process pickled before 2026-12-06 (no ``awaiting`` / ``emitted_ps``) cannot resume: Bob waited for his
    photons as a message and the block times followed the pause."""
    job = load_job(ROOT / "jobs" / "bbm92_20km.toml")
    plan = qkd_scenario.build_plan(job)
    phys = qkd_scenario.link_physics(job, 0, *job.network_links(None)[0])
    process = nodes.EntangledAlice(plan, phys) if side == "alice" else nodes.EntangledBob(plan, phys)
    assert pickle.loads(pickle.dumps(process)).phase == process.phase  # today's resumes
    state = dict(process.__dict__)
    del state["awaiting" if side == "alice" else "emitted_ps"]
    old = object.__new__(type(process))
    with pytest.raises(DqsimError, match="paused a round trip after every batch") as info:
        old.__setstate__(state)
    assert "\n" not in str(info.value)
