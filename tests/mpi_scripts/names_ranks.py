"""Runs ``dqsim run JOB -o OUT`` for each pair of arguments in one launch and records, per rank, the length of each
``node_names`` dataset that rank made (:func:`dqsim.scenarios.output.node_names_table`).

Usage: python names_ranks.py MADE_JSON JOB OUT [JOB OUT ...]

Rank 0 writes MADE_JSON: one list per rank of the names' lengths it made tables of, in run order
(tests/test_node_names_dataset.py: rank 0 alone makes them).
"""

import json
import sys


def main(argv: list[str]) -> None:
    from dqsim import comm
    from dqsim.cli import console_main
    from dqsim.scenarios import output

    made, inner = [], output.node_names_table

    def counted(names):
        made.append(len(names))
        return inner(names)

    output.node_names_table = counted
    for job, out in zip(argv[1::2], argv[2::2]):
        status = console_main(["run", job, "-o", out, "--quiet"])
        if status:
            raise SystemExit(status)
    world = comm.init()
    per_rank = world.gather(made)
    if world.rank == 0:
        with open(argv[0], "w") as sink:
            json.dump(per_rank, sink)


if __name__ == "__main__":
    main(sys.argv[1:])
