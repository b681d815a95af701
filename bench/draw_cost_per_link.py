"""CPU seconds and peak RSS of ``dqsim warmup``'s draw (:func:`dqsim.scenarios.warmup.drawn_codes`) of a
``[qkd.network]`` BB84 chain with LDPC, 1,000 pulses a link, lengths 5-44 km, against
:func:`dqsim.scenarios.warmup.draw_seconds`'s estimate: the per-link term of the estimate (review4: a 2,048-node
chain took 17.2 CPU s where 1.06 s was estimated).

Each size runs in a fresh process (its imports, a cold draw: ``DQSIM_CACHE_DIR`` off), and the fitted slope
(CPU s a link) is printed: ``python bench/draw_cost_per_link.py 256 1024 2048``.
"""

import json
import os
import resource
import subprocess
import sys
import time


def one(nodes: int) -> dict:
    """The draw of a chain of ``nodes`` nodes in this process: CPU s of the draw, its estimate, peak RSS MB."""
    import random  # noqa: PLC0415

    from dqsim import jobs  # noqa: PLC0415
    from dqsim.scenarios import warmup  # noqa: PLC0415

    rng = random.Random(nodes)
    lengths = [round(rng.uniform(5.0, 44.0), 1) for _ in range(nodes - 1)]
    job = jobs.apply_overrides(jobs.load_job("jobs/qkd_trusted_chain.toml"), [
        "qkd.pulses=1000", "qkd.batch_pulses=1000", 'qkd.error_correction="ldpc"', f"qkd.network.num_nodes={nodes}",
        f"qkd.network.distances_km={lengths}"])
    start = time.process_time()
    codes = warmup.drawn_codes(job)
    cpu = time.process_time() - start
    return {"nodes": nodes, "cpu_s": cpu, "estimate_s": warmup.draw_seconds(job), "codes": len(codes),
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--one":
        print(json.dumps(one(int(argv[1]))))
        return
    rows = []
    for nodes in [int(word) for word in argv] or [256, 1024]:
        done = subprocess.run([sys.executable, __file__, "--one", str(nodes)], capture_output=True, text=True,
                              env={**os.environ, "DQSIM_CACHE_DIR": "off"}, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        slope = (last["cpu_s"] - first["cpu_s"]) / (last["nodes"] - first["nodes"])
        print(f"CPU s a link (fit of the first and last): {slope:.4f}; MB a link: "
              f"{(last['max_rss_mb'] - first['max_rss_mb']) / (last['nodes'] - first['nodes']):.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
