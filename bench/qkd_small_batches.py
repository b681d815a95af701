"""Pulses per second of BB84 sampled pulse by pulse (``alice_batch`` + ``bob_detect``) at small batch sizes, with
and without the chunks kept between batches (``bb84._ChunkCache``), in one process.

A benchmark, not a test: it measures and prints, it asserts nothing. Each case runs consecutive batches of
``batch`` pulses from pulse 0 (the receiver state carried over; ``bb84_decoy_50km``'s source and detector at
50 km, no Eve) for at least ``--seconds`` of CPU time or ``--pulses`` pulses, with the chunk cache on (``kept``)
and off (``size = 0``: every batch draws its chunks, the code before 2026-12-06), alternating, ``--repeats``
times; it prints the median pulses per CPU second (``time.process_time``) and the load average beside them.
Without the engine: a run's per-batch overhead (events, messages, folding) comes on top.

    PYTHONPATH=$PWD .venv/bin/python bench/qkd_small_batches.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 1024, 1_000_000])
    parser.add_argument("--pulses", type=int, default=4_000_000, help="most pulses per measurement")
    parser.add_argument("--seconds", type=float, default=2.0, help="least CPU seconds per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from dqsim.network.detectors import dark_count_probability
    from dqsim.network.fibre import fibre_transmittance
    from dqsim.protocols.qkd import bb84

    source = bb84.DecoySource(intensities=(0.5, 0.1, 0.0), probabilities=(0.8, 0.1, 0.1))
    detector = bb84.DetectorModel(efficiency=0.8, dark_count_probability=dark_count_probability(10.0, 1000),
                                  misalignment=0.01)
    channel = bb84.ChannelModel(fibre_transmittance=fibre_transmittance(50.0, 0.2))

    def rate(batch: int) -> float:
        start, state, t0 = 0, None, time.process_time()
        while start < args.pulses and (time.process_time() - t0 < args.seconds or start == 0):
            alice = bb84.alice_batch(np, source, 1, start, batch, node=0)
            _bob, state = bb84.bob_detect(np, alice, transmittance=channel, detector=detector, seed=1,
                                          receiver_state=state, node=1)
            start += batch
        return start / (time.process_time() - t0)

    kept_size = bb84._PARTIAL_CHUNKS.size
    for batch in args.batches:
        results = {"kept": [], "drawn each batch": []}
        for _ in range(args.repeats):
            for label, size in (("drawn each batch", 0), ("kept", kept_size)):
                bb84._PARTIAL_CHUNKS.size = size
                bb84._PARTIAL_CHUNKS._entries.clear()
                results[label].append(rate(batch))
        bb84._PARTIAL_CHUNKS.size = kept_size
        kept, drawn = (statistics.median(results[k]) for k in ("kept", "drawn each batch"))
        print(f"batch {batch:>9,}: {kept:12,.0f} pulses/s kept, {drawn:12,.0f} drawn each batch "
              f"(x{kept / drawn:.1f}); load {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
