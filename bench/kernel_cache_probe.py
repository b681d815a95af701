"""Run ``dqsim ARGS`` in this process (a rank, under mpiexec) and print its CPU seconds and numba's cache use.

Prints, per dqsim kernel this process called or compiled, the versions loaded from numba's cache (hits) and
compiled (misses) (:func:`dqsim.backend.warmup.dispatchers`), then ``rc STATUS cpu SECONDS`` (CPU time of
the whole process from before dqsim's imports). Used by ``bench/warmup_bench.sh``.

    python bench/kernel_cache_probe.py run jobs/quickstart.toml -o /tmp/q.h5 -q
"""

import sys
import time

t0 = time.process_time()
from dqsim.backend.warmup import dispatchers  # noqa: E402
from dqsim.cli.main import main  # noqa: E402

rc = main(sys.argv[1:])
t1 = time.process_time()
for name, dispatcher in dispatchers().items():
    hits, misses = sum(dispatcher.stats.cache_hits.values()), sum(dispatcher.stats.cache_misses.values())
    if hits or misses:
        print(name, "hits", hits, "miss", misses)
print("rc", rc, "cpu", round(t1 - t0, 2))
