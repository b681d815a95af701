"""Is the pumped attempt model's 8.6 % excess at 4.65e-4 s a rule the model gets wrong, or the seeds' draws?

    PYTHONPATH=$PWD .venv/bin/python bench/repeater_pumping_replay.py [pairs] [seeds] [--streams]

For the 3-link swap-asap chain of ``bench/repeater_pumping_z.py`` (10-km links, source fidelity 0.9, one BBPSSW
round, ``cutoff_policy = "link"``, cut-off 4.5 attempt periods past the least swap age) it simulates ``pairs`` pairs
of each seed (11, 13, ...) with dqsim, records every link's attempt counts (``announce_pair``'s geometric draws, in
order) and every pumping round's outcome (``purify_verdict``), and replays each round in the attempt model of
:mod:`dqsim.network.relink_estimate` driven by those draws (:func:`replay_round`). It prints, per seed, the rounds
whose makings the replay gives exactly, the simulated makings per delivered pair, and the mean of the seed's attempt
draws against ``1/p``. Where every round replays exactly the model's timing rules are dqsim's, and the simulated mean
differs from the model's only by its draws.

``--streams``: the mean of the first 9,000 draws of each link's ``epr-attempts`` stream for seeds 1-60 (the draws a
300-pair run uses), pooled z against ``1/p``, and for the odd seeds 11-29 alone.
"""

from __future__ import annotations

import collections
import math
import sys

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import load_job_text
from dqsim.network import relink_estimate
from dqsim.protocols import repeater as protocol
from dqsim.rng import Stream
from dqsim.scenarios import repeater

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from repeater_pumping_estimate import cutoff_of, job_text  # noqa: E402

LINKS, SPARE = 3, 4.5


class _Replayed(relink_estimate._Round):
    """The attempt model with dqsim's draw points: a pair's attempts are drawn when its handshake ends (``2h`` after
    it was begun, the initiator still at its making; the responder not past it ``h`` after), as
    :func:`dqsim.protocols.epr.announce_pair` draws them, and each round's outcome is taken where the simulation
    has one (both ends, or the one end still at the making: a one-sided outcome changes nothing in the model)."""

    def pair(self, link, making, time_ps, pumped, kept_ps, waits=(), touched_ps=None):
        self.push(time_ps + self.h, "asked", link, making, time_ps, pumped, kept_ps)

    def _asked(self, time_ps, link, making, start_ps, pumped, kept_ps):
        if self.making[link + 1][0] <= making:
            self.push(start_ps + 2 * self.h, "ready", link, making, start_ps, pumped, kept_ps)

    def _ready(self, time_ps, link, making, start_ps, pumped, kept_ps):
        if self.making[link][1] != making:
            return
        emitted = time_ps + (self.draw(link) - 1) * self.period
        if pumped:
            self.push(emitted + self.held_after + self.h, "verdict", link, making, pumped, kept_ps, (), kept_ps)
        else:
            self.push(emitted + self.held_after, "kept_pair", link, making, emitted)

    def _verdict(self, time_ps, link, making, pumped, kept_ps, waits, touched_ps):
        ends = (self.making[link][1] == making) + (self.making[link + 1][0] == making)
        if ends:
            kept = self.outcome(link)
            self.chance = lambda: 0.0 if kept else 1.0
        super()._verdict(time_ps, link, making, pumped, kept_ps, waits, touched_ps)


def replay_round(draws: dict, outcomes: dict, timing: dict) -> int | None:
    """Makings of every link in one round replayed from ``draws``/``outcomes`` (link -> list, consumed in order),
    or ``None`` where the replay asks for a draw the simulation did not make."""
    queues = {key: list(value) for key, value in draws.items()}
    results = {key: list(value) for key, value in outcomes.items()}
    sample = _Replayed(lambda link: queues[link].pop(0), LINKS, **timing)
    sample.outcome = lambda link: results[link].pop(0)
    try:
        sample.run(10 ** 8)
    except (IndexError, KeyError):
        return None
    return sample.makings - LINKS


def simulate(job, pairs: int, seed: int) -> tuple[dict, dict, collections.Counter]:
    """One simulated chain: draws and outcomes per ``(pair, link)``, and each pair's relinks (initiators')."""
    draws, outcomes, made, seen, current = (collections.defaultdict(list), collections.defaultdict(list),
                                            collections.Counter(), set(), {})
    side, node, verdict = protocol.LinkSide, protocol.ChainNode, protocol.purify_verdict
    announce, run, relink = side._announce, side.run, node._relink

    def announced(self, ctx, link):
        announce(self, ctx, link)
        draws[(self.key[0], self.link_index)].append(self.pair_attempts)

    def judged(ctx, peer, kept, mine, theirs, variant):
        kept_ok = verdict(ctx, peer, kept, mine, theirs, variant=variant)
        tag = current["side"].purify_tag
        if tag not in seen:
            seen.add(tag)
            outcomes[(tag[1], tag[3])].append(kept_ok)
        return kept_ok

    def running(self, ctx):
        body, value = run(self, ctx), None
        try:
            while True:
                current["side"] = self
                value = yield body.send(value)
        except StopIteration:
            return

    def relinked(self, ctx, which, making, *, tell, cut=False):
        if which == "right":
            made[self.pair_index] += 1
        return relink(self, ctx, which, making, tell=tell, cut=cut)

    side._announce, side.run, protocol.purify_verdict, node._relink = announced, running, judged, relinked
    try:
        repeater.run_chain(repeater.chain_spec(job, LINKS, 10.0 * LINKS), comm=comm_mod.SingleComm(),
                           backend=backend_mod.select("numpy"), seed=seed)
    finally:
        side._announce, side.run, protocol.purify_verdict, node._relink = announce, run, verdict, relink
    return draws, outcomes, made


def main(pairs: int, seeds: int) -> None:
    cutoff_s = cutoff_of("swap_asap", LINKS, SPARE, 1, None)
    job = load_job_text(job_text("swap_asap", LINKS, 1, None, f'cutoff_s = {cutoff_s!r}\ncutoff_policy = "link"\n'
                                 f'num_pairs = {pairs}\n'))
    section = job.chain
    link = section.link_spec(LINKS, 10.0 * LINKS)
    timing = dict(delay_ps=link.delay_ps, processing_ps=section.node_spec().classical_processing_delay_ps,
                  herald_ps=link.herald_delay_ps, period_ps=link.attempt_period_ps, cutoff_ps=round(cutoff_s * 1e12),
                  nested=False, pumping=section._pumping_success(link))
    print(f"3 swap_asap, cut-off {cutoff_s:.4g} s, p = {link.success_probability:.5f} (1/p = "
          f"{1 / link.success_probability:.4f}), round odds {timing['pumping'][0]:.4f}")
    print("| seed | rounds replayed exactly | simulated makings per pair | mean attempt draw | its z against 1/p |")
    print("|---|---|---|---|---|")
    for index in range(seeds):
        seed = 11 + 2 * index
        draws, outcomes, made = simulate(job, pairs, seed)
        same = sum(replay_round({k: draws[(i, k)] for k in range(LINKS)},
                                {k: outcomes[(i, k)] for k in range(LINKS)}, timing) == made[i]
                   for i in range(pairs))
        per_pair = 1 + np.array([made[i] for i in range(pairs)]) / LINKS
        values = np.array([x for value in draws.values() for x in value])
        spread = math.sqrt(1 - link.success_probability) / link.success_probability / math.sqrt(len(values))
        print(f"| {seed} | {same} of {pairs} | {per_pair.mean():.3f} ± {per_pair.std(ddof=1) / math.sqrt(pairs):.3f} "
              f"| {values.mean():.4f} ({len(values):,}) | {(values.mean() - 1 / link.success_probability) / spread:+.2f} |",
              flush=True)


def streams(count: int = 9000) -> None:
    """The raw attempt streams' means (see the module docstring)."""
    section = load_job_text(job_text("swap_asap", LINKS, 1, None)).chain
    p = section.link_spec(LINKS, 10.0 * LINKS).success_probability
    spread = math.sqrt(1 - p) / p / math.sqrt(count)
    rows = []
    for seed in range(1, 61):
        for node in range(LINKS):
            stream = Stream(seed, node=node, purpose=f"epr-attempts-{node + 1}")
            values = [int(stream.transient_generator(event).geometric(p)) for event in range(count)]
            rows.append((seed, (np.mean(values) - 1 / p) / spread))
    for name, chosen in (("seeds 1-60", [z for _, z in rows]),
                         ("odd seeds 11-29", [z for seed, z in rows if seed % 2 and 11 <= seed <= 29])):
        print(f"{name}: {len(chosen)} streams, pooled z {sum(chosen) / math.sqrt(len(chosen)):+.2f}, "
              f"spread of z {np.std(chosen):.2f}")


if __name__ == "__main__":
    if "--streams" in sys.argv:
        streams()
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 300, int(sys.argv[2]) if len(sys.argv) > 2 else 2)
