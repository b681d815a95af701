"""SeQUeNCe side of the BB84 benchmark: BB84 over one fibre link, timed.

A benchmark, not a test: it measures and records, it asserts nothing.

Workload. Two SeQUeNCe ``QKDNode``s (polarization encoding, BB84 only:
``stack_size=1``, so no cascade error correction and no privacy
amplification) joined by a quantum channel and a classical channel in each
direction, all ``distance_km`` long. Alice's upper layer asks her BB84 for
``num_keys`` keys of ``key_length`` bits; the run ends when Bob has received
the last key (plus one quantum-channel delay so that the photons already in
the fibre are still detected), or at ``max_sim_time_s``.

What is counted.

* ``pulses_sent``: laser pulses (time slots) emitted by Alice's
  ``LightSource``, i.e. the sum of ``len(state_list)`` over all its
  ``emit()`` calls (one entry per pulse, one pulse every ``1/source_rate_hz``).
  SeQUeNCe's own ``LightSource.photon_counter`` counts *photons* (Poisson,
  mean ``mean_photon_number`` per pulse, empty pulses contribute 0); that is
  returned as ``photons_emitted``. Pulses emitted after the last key was
  completed (BB84 keeps sending while the classical sifting messages are in
  flight) are included: SeQUeNCe simulated them.
* ``sifted_key_bits``: bits in the keys BB84 handed up (``num_keys *
  key_length`` when it finishes). SeQUeNCe's BB84 sifts (Bob drops slots with
  no click or a double click and slots with mismatched bases) and cuts keys
  of ``key_length`` bits; the sifted bits left over after the last key are
  not counted.
* ``qber``: Alice's and Bob's keys compared bit by bit (errors / sifted bits).
* ``wall_s``: ``time.perf_counter()`` around ``Timeline.run()`` only (not
  the set-up, not ``Timeline.init()``); ``cpu_s``: ``time.process_time()``
  around the same call (less sensitive to other load on the machine).
* ``sim_time_s``: simulated time at the end of the run (SeQUeNCe counts in
  picoseconds); it includes the start-up classical delay and the sifting
  latency of the last round.

Units. SeQUeNCe uses picoseconds for time, metres for distance and dB/m for
attenuation; this module takes km and dB/km and converts (0.2 dB/km =
2e-4 dB/m). Light in SeQUeNCe fibre travels at 2e-4 m/ps (2e8 m/s).

Seeding. SeQUeNCe's BB84 draws Alice's bits and bases and Bob's bases from
NumPy's *global* generator (``numpy.random.choice``), while the hardware
(light source Poisson numbers, fibre loss, beam splitter, detector
efficiency and dark counts) draws from each node's own ``numpy`` Generator.
``seed`` seeds all of them (global NumPy, Python ``random`` through
``Timeline.seed``, and the two nodes with seeds derived from it), so a run is
reproducible.

Examples (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/sequence_bb84.py --distance-km 10 50
    OMP_NUM_THREADS=1 .venv/bin/python bench/sequence_bb84.py --distance-km 10 \
        --num-keys 20 --key-length 1024 --out bench/results/sequence_bb84-YYYYMMDD.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

PS_PER_S = 1e12


class _KeySink:
    """Upper layer of a BB84 instance: collects the keys it pops."""

    def __init__(self, on_key=None):
        self.keys: list[int] = []
        self.lower_protocols: list = []
        self._on_key = on_key

    def pop(self, info: int | None = None, **kwargs) -> None:
        self.keys.append(int(info))
        if self._on_key is not None:
            self._on_key(len(self.keys))


def run_sequence_bb84(
    distance_km: float,
    *,
    num_keys: int = 50,
    key_length: int = 1024,
    mean_photon_number: float = 0.1,
    source_rate_hz: float = 80e6,
    detector_efficiency: float = 0.8,
    dark_count_rate_hz: float = 10.0,
    attenuation_db_per_km: float = 0.2,
    seed: int = 0,
    polarization_fidelity: float = 1.0,
    detector_count_rate_hz: float = 25e6,
    detector_time_resolution_ps: int = 150,
    max_sim_time_s: float = 60.0,
) -> dict[str, Any]:
    """Run SeQUeNCe's BB84 between two QKDNodes ``distance_km`` apart.

    Args:
        distance_km: fibre length of both the quantum and the classical channel.
        num_keys: number of keys BB84 is asked for (the size of the run).
        key_length: bits per key. SeQUeNCe's BB84 sends rounds of
            ``key_length / mean_photon_number`` pulses, so this also sets the
            round length.
        mean_photon_number: mean photons per pulse (Poisson source, no decoys).
        source_rate_hz: pulse rate of Alice's laser.
        detector_efficiency: efficiency of each of Bob's two detectors.
        dark_count_rate_hz: dark counts per second of each detector.
        attenuation_db_per_km: fibre loss (converted to SeQUeNCe's dB/m).
        seed: seed for every random number generator SeQUeNCe uses here.
        polarization_fidelity: probability that the fibre leaves a photon's
            polarization alone (SeQUeNCe default for a channel is 1; less
            gives a QBER floor of about ``(1 - fidelity) / 2``).
        detector_count_rate_hz: detector maximum count rate (dead time =
            1 / rate; SeQUeNCe's default, 25 MHz, i.e. 40 ns).
        detector_time_resolution_ps: detector timing resolution (SeQUeNCe
            default 150 ps).
        max_sim_time_s: simulated-time cap of the run.

    Returns:
        dict with the inputs and ``pulses_sent``, ``photons_emitted``,
        ``detections``, ``keys``, ``sifted_key_bits``, ``bit_errors``,
        ``qber``, ``sim_time_s``, ``wall_s``, ``pulses_per_wall_s``,
        ``sifted_bits_per_sim_s``, ``cpu_s``, ``pulses_per_cpu_s`` and
        ``completed`` (all keys made).
    """
    from sequence.components.optical_channel import ClassicalChannel, QuantumChannel
    from sequence.kernel.timeline import Timeline
    from sequence.qkd.BB84 import pair_bb84_protocols
    from sequence.topology.node import QKDNode

    if num_keys < 1 or key_length < 1:
        raise ValueError("num_keys and key_length must be positive")

    # --- seeding -----------------------------------------------------------
    # BB84 bases/bits come from numpy's global generator; hardware from the nodes'.
    np.random.seed(seed)
    Timeline.seed(seed)  # python `random`
    alice_seed, bob_seed = (int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(2))

    distance_m = distance_km * 1e3
    attenuation_db_per_m = attenuation_db_per_km / 1e3

    tl = Timeline(stop_time=int(round(max_sim_time_s * PS_PER_S)))
    alice = QKDNode(
        "alice", tl, stack_size=1, seed=alice_seed,
        component_templates={"LightSource": {"frequency": source_rate_hz,
                                             "mean_photon_num": mean_photon_number}},
    )
    bob = QKDNode("bob", tl, stack_size=1, seed=bob_seed)
    pair_bb84_protocols(alice.protocol_stack[0], bob.protocol_stack[0])
    bb84_a, bb84_b = alice.protocol_stack[0], bob.protocol_stack[0]

    # Bob's detectors (both) and the dark counts. Dark counts start in Detector.init.
    qsd = bob.components[bob.name + ".qsdetector"]
    for i in range(len(qsd.detectors)):
        qsd.set_detector(i, efficiency=detector_efficiency, dark_count=dark_count_rate_hz,
                         count_rate=detector_count_rate_hz, time_resolution=detector_time_resolution_ps)
    # QSDetector.init() makes Bob the owner of its parts, but only after the
    # detectors' own init() has drawn the first dark-count time from an
    # unseeded generator; setting the owner now keeps that draw seeded too.
    for part in qsd.components:
        part.owner = bob

    # Channels: SeQUeNCe channels are one-way; BB84 reads the delays of both.
    qc_ab = QuantumChannel("qc_alice_bob", tl, attenuation=attenuation_db_per_m, distance=distance_m,
                           polarization_fidelity=polarization_fidelity, frequency=source_rate_hz)
    qc_ba = QuantumChannel("qc_bob_alice", tl, attenuation=attenuation_db_per_m, distance=distance_m,
                           polarization_fidelity=polarization_fidelity, frequency=source_rate_hz)
    qc_ab.set_ends(alice, bob.name)
    qc_ba.set_ends(bob, alice.name)
    # the channel's polarization-noise draw uses the channel's owner's generator
    qc_ab.owner = alice
    qc_ba.owner = bob
    cc_ab = ClassicalChannel("cc_alice_bob", tl, distance=distance_m)
    cc_ba = ClassicalChannel("cc_bob_alice", tl, distance=distance_m)
    cc_ab.set_ends(alice, bob.name)
    cc_ba.set_ends(bob, alice.name)

    # --- counters ------------------------------------------------------------
    ls = alice.components[alice.name + ".lightsource"]
    counts = {"pulses": 0, "emit_calls": 0, "detections": 0}
    ls_emit = ls.emit

    def counting_emit(state_list):
        counts["pulses"] += len(state_list)
        counts["emit_calls"] += 1
        ls_emit(state_list)

    ls.emit = counting_emit

    qsd_trigger = qsd.trigger

    def counting_trigger(detector, info):
        counts["detections"] += 1
        qsd_trigger(detector, info)

    qsd.trigger = counting_trigger

    # --- upper layers: key sinks ---------------------------------------------
    done = {"at_ps": None}

    def on_bob_key(n: int) -> None:
        if n >= num_keys and done["at_ps"] is None:
            done["at_ps"] = tl.now()
            # let the photons already in the fibre arrive and be detected, then stop
            tl.stop_time = min(tl.stop_time, tl.now() + qc_ab.delay + 1)

    sink_a = _KeySink()
    sink_b = _KeySink(on_bob_key)
    for node_bb84, sink in ((bb84_a, sink_a), (bb84_b, sink_b)):
        node_bb84.upper_protocols.append(sink)
        sink.lower_protocols.append(node_bb84)

    tl.init()
    bb84_a.push(key_length, num_keys)
    c0 = time.process_time()
    t0 = time.perf_counter()
    tl.run()
    wall_s = time.perf_counter() - t0
    cpu_s = time.process_time() - c0

    # --- results -------------------------------------------------------------
    n_keys = min(len(sink_a.keys), len(sink_b.keys))
    errors = sum(bin(ka ^ kb).count("1") for ka, kb in zip(sink_a.keys[:n_keys], sink_b.keys[:n_keys]))
    sifted = n_keys * key_length
    sim_time_ps = tl.now()
    pulses = counts["pulses"]
    pulses_per_round = round(bb84_a.light_time * source_rate_hz) if bb84_a.light_time else None
    transmittance = 10 ** (-attenuation_db_per_km * distance_km / 10)
    return {
        "simulator": "sequence",
        "distance_km": distance_km,
        "num_keys_requested": num_keys,
        "key_length": key_length,
        "mean_photon_number": mean_photon_number,
        "source_rate_hz": source_rate_hz,
        "detector_efficiency": detector_efficiency,
        "dark_count_rate_hz": dark_count_rate_hz,
        "attenuation_db_per_km": attenuation_db_per_km,
        "polarization_fidelity": polarization_fidelity,
        "detector_count_rate_hz": detector_count_rate_hz,
        "detector_time_resolution_ps": detector_time_resolution_ps,
        "seed": seed,
        "channel_transmittance": transmittance,
        "pulses_sent": pulses,
        "pulses_per_round": pulses_per_round,
        "rounds": counts["emit_calls"],
        "photons_emitted": int(ls.photon_counter),
        "detections": counts["detections"],
        "keys": n_keys,
        "sifted_key_bits": sifted,
        "bit_errors": errors,
        "qber": errors / sifted if sifted else None,
        "sifted_bits_per_pulse": sifted / pulses if pulses else None,
        "sequence_error_rates_mean": (float(np.mean(bb84_a.error_rates)) if bb84_a.error_rates else None),
        "completed": n_keys >= num_keys,
        "last_key_sim_time_s": done["at_ps"] / PS_PER_S if done["at_ps"] is not None else None,
        "sim_time_s": sim_time_ps / PS_PER_S,
        "sifted_bits_per_sim_s": sifted / (sim_time_ps / PS_PER_S) if sim_time_ps else None,
        "events_executed": tl.run_counter,
        "wall_s": wall_s,
        "pulses_per_wall_s": pulses / wall_s if wall_s > 0 else None,
        "cpu_s": cpu_s,
        "pulses_per_cpu_s": pulses / cpu_s if cpu_s > 0 else None,
    }


def machine_info(argv: list[str]) -> dict[str, Any]:
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from importlib.metadata import version
        seq_version = version("sequence")
    except Exception:  # noqa: BLE001
        seq_version = None
    return {
        "hostname": platform.node(),
        "cpu_model": cpu_model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "sequence": seq_version,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "command": " ".join([sys.executable] + argv),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--distance-km", type=float, nargs="+", default=[10.0, 50.0])
    p.add_argument("--num-keys", type=int, nargs="+", default=[50],
                   help="keys per run; one value for all distances or one per distance")
    p.add_argument("--key-length", type=int, default=1024)
    p.add_argument("--mean-photon-number", type=float, default=0.1)
    p.add_argument("--source-rate-hz", type=float, default=80e6)
    p.add_argument("--detector-efficiency", type=float, default=0.8)
    p.add_argument("--dark-count-rate-hz", type=float, default=10.0)
    p.add_argument("--attenuation-db-per-km", type=float, default=0.2)
    p.add_argument("--polarization-fidelity", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-sim-time-s", type=float, default=60.0)
    p.add_argument("--out", type=Path, default=None, help="write a JSON file with machine info and all runs")
    args = p.parse_args(argv[1:])

    if len(args.num_keys) not in (1, len(args.distance_km)):
        p.error("--num-keys takes one value or one per distance")
    num_keys = args.num_keys * len(args.distance_km) if len(args.num_keys) == 1 else args.num_keys

    runs = []
    for d, nk in zip(args.distance_km, num_keys):
        r = run_sequence_bb84(
            d, num_keys=nk, key_length=args.key_length, mean_photon_number=args.mean_photon_number,
            source_rate_hz=args.source_rate_hz, detector_efficiency=args.detector_efficiency,
            dark_count_rate_hz=args.dark_count_rate_hz, attenuation_db_per_km=args.attenuation_db_per_km,
            seed=args.seed, polarization_fidelity=args.polarization_fidelity,
            max_sim_time_s=args.max_sim_time_s,
        )
        runs.append(r)
        print(json.dumps(r), flush=True)

    if args.out is not None:
        doc = {
            "benchmark": "sequence_bb84",
            "schema_version": 1,
            "machine": machine_info(argv),
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "notes": [
                "pulses_sent = laser pulses (time slots) emitted by Alice's SeQUeNCe LightSource "
                "(sum of len(state_list) over LightSource.emit calls); photons_emitted = "
                "LightSource.photon_counter (Poisson photons, mean mu per pulse).",
                "wall_s = time.perf_counter() around Timeline.run() only; pulses_per_wall_s = pulses_sent / wall_s.",
                "BB84 only (QKDNode stack_size=1): no cascade, no privacy amplification. "
                "qber = bit errors between Alice's and Bob's popped keys / sifted_key_bits.",
                "Units converted to SeQUeNCe's: ps, m, dB/m.",
            ],
            "runs": runs,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
