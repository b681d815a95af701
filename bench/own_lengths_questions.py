"""CPU time of the questions a run asks a network whose links each have their own length (2026-12-07 (later)).

A chain of ``N`` links, every link a distinct length, ideal links (``double_click`` without dark counts): the time
of :func:`dqsim.scenarios.dqc.is_noisy`, of :meth:`Network.any_link` with a question asked of every length, of
:meth:`Network.check_pairing_horizon` and of 20,000 :meth:`Network.link_delay_ps` reads. Run it with ``PYTHONPATH``
at the tree to measure (the old and the new tree alternated, one after the other, on the same machine):

    PYTHONPATH=$PWD .venv/bin/python bench/own_lengths_questions.py 65536
"""
import sys
import time

from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios.dqc import is_noisy


def timed(what, call):
    """Print and return the CPU seconds of ``call()``."""
    start = time.process_time()
    result = call()
    seconds = time.process_time() - start
    print(f"{what}: {seconds:.3f} CPU s ({result!r})")
    return seconds


def main(num_links: int) -> None:
    nodes = [NodeSpec(name=f"n{i}") for i in range(num_links + 1)]
    spec = LinkSpec(distance_km=1.0, dark_count_rate_hz=0.0)
    network = Network.from_pairs(nodes, [(i, i + 1) for i in range(num_links)], [spec] * num_links,
                                 lengths_km=[1.0 + 1e-4 * i for i in range(num_links)])
    timed("is_noisy", lambda: is_noisy(network))
    timed("any_link(every length)", lambda: network.any_link(lambda link: link.distance_km < 0))
    timed("check_pairing_horizon", network.check_pairing_horizon)
    picks = [(i % num_links, i % num_links + 1) for i in range(0, 20_000 * 7, 7)]
    timed("20,000 link_delay_ps", lambda: sum(network.link_delay_ps(a, b) for a, b in picks))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 65536)
