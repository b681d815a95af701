"""CPU time per batch of the detection sampler (``detect_batch`` + ``detection_counts``), and its fixed part.

A benchmark, not a test: it measures and records, it asserts nothing.

Links: ``job`` is ``jobs/bb84_decoy_50km.toml``'s (μ = 0.5 / 0.1 / 0, detector
efficiency 0.8, misalignment 1 %, 10 Hz dark counts in 1 ns gates), ``bench`` is
``bench/qkd_bench.py``'s (μ = 0.1 / 0.05 / 0 in 98 / 1 / 1 %, no misalignment);
each at 10 and 50 km in batches of 1e6 pulses, and at 50 km in batches of 1,000
pulses (a few clicks: the per-batch cost alone). Each case runs ``--batches``
consecutive batches (the receiver state carried over) after one warm-up
batch, ``--repeats`` times; the median CPU time per batch (``time.process_time``)
is printed and written. Run it with ``PYTHONPATH`` set to the tree to measure
(an A/B comparison runs it once per tree, alternating).

    PYTHONPATH=$PWD python bench/qkd_sampler_batches.py --label new --output out.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import time

LINKS = {
    "job": dict(intensities=(0.5, 0.1, 0.0), probabilities=(0.8, 0.1, 0.1), misalignment=0.01),
    "bench": dict(intensities=(0.1, 0.05, 0.0), probabilities=(0.98, 0.01, 0.01), misalignment=0.0),
}
CASES = [("job", 10.0, 1_000_000), ("job", 50.0, 1_000_000), ("bench", 50.0, 1_000_000), ("job", 50.0, 1_000)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--label", default="")
    parser.add_argument("--output", help="JSON file to write (default: print only)")
    args = parser.parse_args(argv)

    from dqsim.protocols.qkd import ChannelModel, DecoySource, DetectorModel
    from dqsim.protocols.qkd.detections import detect_batch, detection_counts
    from dqsim.network.detectors import dark_count_probability
    from dqsim.network.fibre import fibre_transmittance

    rows = []
    for link, distance_km, num_pulses in CASES:
        spec = LINKS[link]
        source = DecoySource(intensities=spec["intensities"], probabilities=spec["probabilities"])
        channel = ChannelModel(fibre_transmittance=fibre_transmittance(distance_km, 0.2))
        detector = DetectorModel(efficiency=0.8, dark_count_probability=dark_count_probability(10.0, 1000),
                                 misalignment=spec["misalignment"])
        batches = args.batches if num_pulses > 1000 else 50 * args.batches

        def run(count):
            state, clicks = None, 0
            for i in range(count):
                batch, state = detect_batch(source, channel=channel, detector=detector, seed=1,
                                            start_pulse=i * num_pulses, num_pulses=num_pulses, receiver_state=state)
                detection_counts(batch, source.num_classes)
                clicks += batch.num_detected
            return clicks

        run(1)
        times = []
        for _ in range(args.repeats):
            start = time.process_time()
            clicks = run(batches)
            times.append((time.process_time() - start) / batches)
        row = {"link": link, "distance_km": distance_km, "batch_pulses": num_pulses, "batches": batches,
               "clicks_per_batch": clicks / batches, "cpu_us_per_batch_median": 1e6 * statistics.median(times),
               "cpu_us_per_batch": [1e6 * t for t in times], "load_1min": os.getloadavg()[0],
               "utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        rows.append(row)
        print(f"{args.label} {link} {distance_km:g} km {num_pulses} pulses: {row['cpu_us_per_batch_median']:.1f} us "
              f"per batch ({row['clicks_per_batch']:.0f} clicks), load {row['load_1min']:.1f}", flush=True)
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"label": args.label, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
