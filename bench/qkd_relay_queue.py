"""CPU time of the trusted-node relay's end-to-end key time (:func:`dqsim.scenarios.qkd_relay.relayed_key_time_ps`)
on routes of 2^16 to 2^20 hops, this tree against another tree's ``qkd_relay.py`` (e.g. the base commit's, from
``git show BASE:dqsim/scenarios/qkd_relay.py > /tmp/old_relay.py``), alternated, with the two times equal to the ps.

Routes: every link's key at 10^12 ps plus, per kind, ``random`` (uniform over 10^9 ps), ``rising`` / ``falling``
(1,000 ps a hop: a chain of equal links whose keys differ little), ``equal``; fibre delay 150,000 ps a hop (30 km),
10,000-bit announcements at 10^9 bit/s, each hop's channel free at 10^12 ps. A base past ``--base-limit-s`` on one
route is not run at the larger sizes (it grows as m²).

    PYTHONPATH=$PWD .venv/bin/python bench/qkd_relay_queue.py --base /tmp/old_relay.py --exponents 16 17 18 20
"""

import argparse
import importlib.util
import os
import random
import time

from dqsim.scenarios import qkd_relay


def route(kind: str, hops: int) -> list[int]:
    """The routes' link key times, ps."""
    base, rng = 10**12, random.Random(1)
    if kind == "random":
        return [base + rng.randrange(10**9) for _ in range(hops)]
    if kind == "rising":
        return [base + 1000 * k for k in range(hops)]
    if kind == "falling":
        return [base + 1000 * (hops - k) for k in range(hops)]
    return [base] * hops


def timed(module, times: list[int]) -> tuple[float, int]:
    hops = len(times)
    started = time.process_time()
    ready = module.relayed_key_time_ps(times, [150_000] * hops, 10_000, 1e9, hop_free_ps=[10**12] * hops)
    return time.process_time() - started, ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="another tree's qkd_relay.py")
    parser.add_argument("--exponents", type=int, nargs="+", default=[16, 17, 18, 20])
    parser.add_argument("--base-limit-s", type=float, default=60.0)
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("base_relay", args.base)
    base = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(base)
    print(f"load {os.getloadavg()[0]:.1f}")
    slow: set[str] = set()
    for exponent in args.exponents:
        for kind in ("random", "rising", "falling", "equal"):
            times = route(kind, 2 ** exponent)
            new_s, new_t = timed(qkd_relay, times)
            line = f"2^{exponent} {kind:8s} new {new_s:8.3f} CPU s"
            if kind not in slow:
                base_s, base_t = timed(base, times)
                slow |= {kind} if base_s > args.base_limit_s / 4 else set()
                line += f"  base {base_s:8.3f} CPU s  base/new {base_s / new_s:7.1f}  same {base_t == new_t}"
            print(f"{line}  load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
