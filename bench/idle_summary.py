"""Per-file sums of bench/idle_plugin.py's lines: wall s, idle s (no process of the test's tree in state R), the
idle share, the mean CPU demand (processes in state R), and the file's seconds in tests/file_seconds.json (a CI run).

On a loaded machine the CPU-bound parts of a file stretch with the load and its sleeps do not: the idle seconds
measured there (share x wall) estimate the file's idle seconds in CI better than its idle share x its CI seconds
(which the load shrinks); both are printed.

Usage: ``.venv/bin/python bench/idle_summary.py /tmp/idle.tsv [--top 40]``
"""

import argparse
import json
from collections import defaultdict
from pathlib import Path

SEED = Path(__file__).resolve().parent.parent / "tests" / "file_seconds.json"


def per_file(lines: list[str]) -> dict[str, list[float]]:
    """``{file: [wall s, samples, idle samples, sum of R counts]}`` from the plugin's lines."""
    files: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0, 0.0])
    for line in lines:
        nodeid, wall, samples, idle, _share, demand, _load = line.rstrip("\n").split("\t")
        entry = files[nodeid.split("::", 1)[0]]
        entry[0] += float(wall)
        entry[1] += int(samples)
        entry[2] += int(idle)
        entry[3] += float(demand) * int(samples)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tsv", type=Path)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    files = per_file(args.tsv.read_text().splitlines())
    ci = json.loads(SEED.read_text()) if SEED.exists() else {}
    rows = []
    for name, (wall, samples, idle, demand) in files.items():
        share = idle / samples if samples else 0.0
        rows.append((share * wall, name, wall, share, demand / samples if samples else 0.0,
                     ci.get(name, float("nan")), share * ci.get(name, 0.0)))
    rows.sort(reverse=True)
    print("file\twall s\tidle s\tidle share\tmean R\tCI s\tshare x CI s")
    for idle_s, name, wall, share, demand, ci_s, ci_idle in rows[:args.top]:
        print(f"{name}\t{wall:.1f}\t{idle_s:.1f}\t{share:.3f}\t{demand:.2f}\t{ci_s:.1f}\t{ci_idle:.1f}")
    total_ci = sum(ci.get(name, 0.0) for name in files)
    print(f"all {len(rows)} files: wall {sum(r[2] for r in rows):.1f} s, idle {sum(r[0] for r in rows):.1f} s; "
          f"their CI seconds {total_ci:.1f}, idle share x CI seconds {sum(r[6] for r in rows):.1f} s")


if __name__ == "__main__":
    main()
