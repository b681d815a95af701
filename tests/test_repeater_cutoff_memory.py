"""A repeater chain whose cut-off abandons most attempts holds as much after 2N abandoned attempts as after N.

A cut-off short enough that nearly every chain attempt is abandoned is warned of, not refused
(``dqsim.jobs.repeater``), and such a run goes on until ``max_restarts`` abandoned attempts of one pair. Until
2026-12-06 its memory grew with each of them: every node kept a record per abandoned attempt (the initiators
one ``LinkRecord`` per link whose pair was made, the cutting repeater one cut-off), and with purification each
abandoned attempt left, for good, the twirl a responder had not taken yet in its mailbox and the link sides
that waited for an answer from a peer that had moved on. Now the records of abandoned attempts are folded into
per-round sums (``ChainRecords.abandon``; the tables are the same) and a node drops what its abandoned
attempts left when it starts the next one (``NodeContext.discard``).
"""

import pytest

from dqsim import comm as comm_mod
from dqsim.engine import Simulator
from dqsim.errors import DqsimError
from dqsim.network.link import LinkSpec
from dqsim.network.node import NodeSpec
from dqsim.protocols.repeater import ChainSpec
from dqsim.scenarios import repeater

N = 150  # abandoned attempts between the two looks


def _held(sim) -> dict:
    """What the rank's nodes hold that could grow with the attempts."""
    nodes = sim.local
    return {
        "records": sum(len(n.data["records"].links) + len(n.data["records"].restarts) for n in nodes),
        "processes": sum(len(n.processes) for n in nodes),
        "messages": sum(map(len, (box for n in nodes for box in n.mailbox.values()))),
        "waiting": sum(map(len, (w for n in nodes for w in n.waiting.values()))),
        "queued": sum(len(n.queue) for n in nodes),
        "early": sum(len(n.data["chain_run"].early) for n in nodes),
    }


@pytest.mark.parametrize(("num_links", "purification_rounds", "cutoff_periods"), [(8, 0, 2), (4, 1, 3)])
def test_a_hopeless_cutoff_holds_no_more_after_more_abandoned_attempts(monkeypatch, num_links, purification_rounds,
                                                                        cutoff_periods):
    link = LinkSpec(distance_km=1.0, dark_count_rate_hz=0.0)
    chain = ChainSpec(links=[link] * num_links, node=NodeSpec(name="n"), purification_rounds=purification_rounds,
                      cutoff_ps=cutoff_periods * link.attempt_period_ps, num_pairs=1, max_restarts=2 * N + 10)
    sims = []

    class Watched(Simulator):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            sims.append(self)

    monkeypatch.setattr(repeater, "Simulator", Watched)
    looks = {}

    def on_window(_time_ps, _windows, _fraction, abandoned):
        for mark in (N, 2 * N):
            if abandoned >= mark and mark not in looks:
                looks[mark] = _held(sims[0])

    with pytest.raises(DqsimError, match="abandoned"):
        repeater.run_chain(chain, comm=comm_mod.SingleComm(), seed=3, on_window=on_window)
    first, second = looks[N], looks[2 * N]
    # the counts move with where the attempts stand at each look (a few per node), not with their number
    for what in first:
        assert second[what] <= first[what] + 2 * chain.num_nodes, (what, first, second)
    assert second["records"] <= chain.num_links and second["early"] <= chain.num_nodes, second
