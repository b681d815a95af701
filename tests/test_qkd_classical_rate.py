"""The classical channel's bit rate: simulated time, not work; the clock's end refused in one line.

``[qkd].classical_bit_rate_hz`` only sets how long the classical messages take in
simulated time (:func:`dqsim.protocols.qkd.nodes.ec_message_delays_ps`, and since 2026-12-07, evening, the
reports', sifting's and estimation's: :func:`~dqsim.protocols.qkd.nodes.report_delay_ps`,
:func:`~dqsim.protocols.qkd.nodes.sifting_delays_ps`). A run at 10 bit/s spans some 10**8 times the simulated
time of one at the default 1e9, but the engine runs the same events and messages for it, its windows
stay bounded by its events, and every result but the times is the same. A
rate whose Cascade would pass the engine's clock is refused in one line,
naming the key and the rate that fits (before: an OverflowError traceback
after the run on one rank, a message "would arrive ... before inf ps" on two);
a rate whose reports would pass it is refused by the engine's own line, which names the key too;
a stop in the middle of a low-rate Cascade resumes to the uninterrupted
results.
"""

import numpy as np
import pytest

from dqsim.io import open_run
from dqsim.protocols.qkd import nodes
from job_helpers import bad, load
from mpi_helper import run_here, run_mpi
from run_files import checkpoints, same_tables
from test_checkpoint_stops import dqsim, sigterm_during, stopped_then_resumed

BB84 = ["jobs/bb84_decoy_50km.toml", "--set", "qkd.pulses=2000000", "--set", "qkd.batch_pulses=200000",
        "--set", "qkd.block_pulses=1000000", "--set", 'qkd.error_correction="cascade"']
#: Ten reports of ~48,000 bits (~150,000 before the enumerative code, 2026-12-07, morning), the sifting and
#: estimation (~100,000 bits a block) and two Cascades of ~37,000: ~6.4e4 s of simulated time (~1.8e5 before),
#: within the clock (0.1 bit/s until the reports took their bits, 2026-12-07)
LOW_RATE_HZ = 10.0

#: Columns that hold simulated times, which the bit rate sets (all other columns must not move with it).
TIME_COLUMNS = {"blocks": {"time_sifting_ps", "time_estimation_ps", "time_key_ps", "key_ready_ps"},
                "links": {"simulated_time_ps"}, "end_to_end": {"key_available_ps"}}


def rate(value):
    return ["--set", f"qkd.classical_bit_rate_hz={value}"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The BB84 job with Cascade at the default rate and at LOW_RATE_HZ (one rank, no checkpoints)."""
    folder = tmp_path_factory.mktemp("classical_rate")
    found = {}
    for name, value in (("default", 1e9), ("low", LOW_RATE_HZ)):
        run_here(["run", *BB84, *rate(value), "-o", str(folder / f"{name}.h5"), "--quiet"])
        found[name] = open_run(folder / f"{name}.h5")
    return found


def test_the_engine_work_does_not_grow_with_the_classical_channel_s_simulated_time(runs):
    default, low = runs["default"], runs["low"]
    t_default = int(default.table("links")["simulated_time_ps"].max())
    t_low = int(low.table("links")["simulated_time_ps"].max())
    assert t_low > 10**6 * t_default and t_low > 10**16  # the classical channel's time dominates the run
    for key in ("engine_events", "engine_messages"):
        assert low.attrs[key] == default.attrs[key], key
    # one window per lookahead (245 µs at 50 km) of the low-rate run would be some 3e9 windows
    assert low.attrs["engine_windows"] <= low.attrs["engine_events"] + 2
    assert default.attrs["total_secret_key_bits"] > 0 and (default.table("blocks")["ec_rounds"] > 0).all()


def test_a_cascade_block_s_key_time_charges_each_classical_bit_once(tmp_path):
    """A block's ``time_key_ps`` is exactly its crossings, 2d(1 + R), and its R parity messages and R answers,
    each ``classical_bits / 2R`` at the rate (nodes.ec_message_delays_ps; the key message and the
    acknowledgement carry none): ``classical_bits`` x 1,000 ps at 1 Gbit/s, within a ps a message; and its two
    authentication tags (``per_block``: Alice's on her last answer, Bob's on his acknowledgement, whole bits),
    ``auth_key_bits`` x 1,000 ps (since 2026-12-07). One block, whose messages meet no other block's on the
    channel (the two blocks of ``BB84`` do since 2026-12-07, evening: the reports, sifting and estimation bits
    moved the second block's rounds onto the first's)."""
    from dqsim.jobs import load_job
    from dqsim.network.fibre import propagation_delay_ps
    from mpi_helper import ROOT

    run_here(["run", *BB84, "--set", "qkd.pulses=1000000", "-o", str(tmp_path / "one.h5"), "--quiet"])
    blocks = open_run(tmp_path / "one.h5").table("blocks")
    assert len(blocks) == 1
    delay_ps = max(1, propagation_delay_ps(50.0, load_job(ROOT / "jobs" / "bb84_decoy_50km.toml").qkd.link.group_index))
    assert (blocks["auth_tags"] == 2).all() and (blocks["auth_key_bits"] > 0).all()
    for took_ps, bits, rounds, tags in zip(blocks["time_key_ps"], blocks["classical_bits"], blocks["ec_rounds"],
                                           blocks["auth_key_bits"]):
        messages_ps = 2 * rounds * nodes.message_delay_ps(bits / (2 * rounds), 1e9)
        assert took_ps == 2 * delay_ps * (1 + rounds) + messages_ps + 1000 * tags
        assert 0 <= messages_ps - 1000 * bits <= 2 * rounds


def test_every_result_but_the_times_is_the_same_at_any_classical_bit_rate(runs):
    default, low = runs["default"], runs["low"]
    for name in ("blocks", "links", "end_to_end"):
        a, b = default.table(name), low.table(name)
        for field in a.dtype.names:
            same = np.array_equal(a[field], b[field], equal_nan=a[field].dtype.kind == "f")
            assert same != (field in TIME_COLUMNS.get(name, ())), (name, field)
    blocks = low.table("blocks")
    assert (blocks["time_key_ps"] > 10**15).all() and (blocks["time_sifting_ps"] > 10**16).all()


def test_the_highest_rate_gives_the_same_results_with_a_tick_per_thousand_bits(tmp_path, runs):
    run_here(["run", *BB84, *rate(1e15), "-o", str(tmp_path / "high.h5"), "--quiet"])
    high, default = open_run(tmp_path / "high.h5"), runs["default"]
    a, b = default.table("end_to_end"), high.table("end_to_end")
    for field in a.dtype.names:  # one link: its key exists at both ends when the link is done
        if field != "key_available_ps":
            assert np.array_equal(a[field], b[field], equal_nan=a[field].dtype.kind == "f"), field
    assert b["key_available_ps"].tolist() == high.table("links")["simulated_time_ps"].tolist()
    a, b = default.table("blocks"), high.table("blocks")
    assert (b["time_key_ps"] < a["time_key_ps"]).all()  # the fibre crossings left, and at least 1 ps a message
    for field in a.dtype.names:
        if field not in TIME_COLUMNS["blocks"]:  # (when each block's steps end)
            assert np.array_equal(a[field], b[field], equal_nan=a[field].dtype.kind == "f"), field
    assert high.attrs["engine_events"] == default.attrs["engine_events"]


def test_the_job_s_bounds_of_the_classical_bit_rate():
    text = '[run]\nname = "t"\nscenario = "qkd"\n[qkd]\nclassical_bit_rate_hz = {}\n[qkd.link]\ndistance_km = 10.0\n'
    for value in (1e-6, 1e15):
        assert load(text.format(value)).qkd.classical_bit_rate_hz == value
    for value in (1e-7, 0.0, 2e15):
        bad(text.format(value), r"\[qkd\]\.classical_bit_rate_hz = .*must be in \[1e-06, ")


def test_repro_a_rate_whose_cascade_would_pass_the_clock_is_refused_in_one_line(tmp_path, monkeypatch):
    """37,006 bits at 1e-3 bit/s: 3.7e7 s, past the 2**61 ps (2.3e6 s) a block may reach. It ended in an
    OverflowError traceback (exit 1) while the tables were written, after the whole run. (The reports, sifting
    and estimation, which at this rate pass the clock first since 2026-12-07, evening, are held at 0 ps here,
    so that Cascade's check is what refuses.)"""
    monkeypatch.setattr(nodes, "report_delay_ps", lambda q, num_pulses, num_clicks: 0)
    monkeypatch.setattr(nodes, "sifting_delays_ps", lambda messages, q, tags: (0, 0))
    done = run_here(["run", *BB84, *rate(1e-3), "-o", str(tmp_path / "x.h5"), "--quiet"], check=False)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dqsim: error: [qkd].classical_bit_rate_hz = 0.001: "), lines
    assert "link 0 block 0" in lines[0] and "raise it to at least " in lines[0]
    wanted = float(lines[0].split("raise it to at least ")[1].split()[0])
    assert 1e-3 < wanted < LOW_RATE_HZ  # the run at LOW_RATE_HZ fits
    assert not (tmp_path / "x.h5").exists()


def test_repro_on_two_ranks_the_clock_s_end_is_the_same_one_line(tmp_path):
    """On two ranks the arrival passed 2**62 ps, which the engine's promises count as never: a misleading
    "message ... would arrive at 4.7e18 ps, before inf ps" (an engine bug, it seemed). Then the Cascade check
    raised on Alice's rank alone and the run ended through ``MPI_Abort`` after its line; now the refusal goes
    through the engine's next exchange and both ranks leave with the one line, printed once. Since 2026-12-07
    the first message past the clock at 1e-3 bit/s is Bob's first report (~150,000 bits), refused by
    the engine's line, which names the rate's key."""
    done = run_mpi(2, ["-m", "dqsim", "run", *BB84, *rate(1e-3), "-o", str(tmp_path / "x.h5"), "--quiet"],
                   check=False, timeout_s=180)
    assert done.returncode == 2, done.stderr
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dqsim: error: node bob's message ('qkd', 0, 'report', 0) "), lines
    assert "[qkd].classical_bit_rate_hz" in lines[0]
    assert "MPI_Abort" not in done.stderr and "before inf" not in done.stderr


def test_a_stop_inside_a_low_rate_cascade_resumes_to_the_uninterrupted_results(tmp_path, monkeypatch, runs):
    """SIGTERM while Alice answers a Cascade round: the checkpoint's cut falls in the idle stretch of a
    message (hours of simulated time with no event), and the resume runs on to the same tables and counts.
    (The hook is Alice's answer to a round; until 2026-12-07, evening, she worked the message times out again
    at each answer, the 40th call of ``ec_message_delays_ps`` falling in the rounds.)"""
    ended = sigterm_during(monkeypatch, nodes._AliceSide, "_answer_cascade", call=20)
    ckpt, resumed = stopped_then_resumed(tmp_path, [*BB84, *rate(LOW_RATE_HZ)])
    assert ended == [None]
    saved = open_run(ckpt).attrs["window_end_ps"]
    assert 10**15 < saved < int(runs["low"].table("links")["simulated_time_ps"].max())
    same_tables(runs["low"], resumed, ["blocks", "links", "end_to_end"])
    for key in ("engine_events", "engine_messages"):  # (windows: one rank's budget follows the wall clock)
        assert resumed.attrs[key] == runs["low"].attrs[key], key


def test_periodic_checkpoints_at_a_low_rate_resume_to_the_same_results(tmp_path, runs):
    """A checkpoint every 1e4 s of simulated time (a few during the low-rate run's messages); resuming the
    middle one gives the uninterrupted run's tables."""
    dqsim(["run", *BB84, *rate(LOW_RATE_HZ), "--set", "checkpoint.every_sim_s=1e4",
           "--set", "checkpoint.keep=100"], tmp_path, "full.h5")
    written = checkpoints(tmp_path / "ck")
    assert len(written) >= 3
    same_tables(runs["low"], open_run(tmp_path / "full.h5"), ["blocks", "links", "end_to_end"])
    dqsim(["resume", str(written[len(written) // 2])], tmp_path, "resumed.h5")
    same_tables(runs["low"], open_run(tmp_path / "resumed.h5"), ["blocks", "links", "end_to_end"])
