"""Several check scripts of this folder in one launch (one interpreter start and import per rank, not one per script).

Usage: python run_checks.py NAME[:ARG|+ITEM...] OUT.npz [NAME[:ARG|+ITEM...] OUT.npz]...

``NAME`` is a script here without ``.py`` whose ``main(OUT.npz)`` (``main(OUT.npz, ARG)`` where ``:ARG`` is given,
``main(OUT.npz, [ITEM, ...])`` where ``+ITEM`` items are: a placement script's PLACEMENT arguments) runs its check
and saves its arrays (rank 0); the checks run one after the other on every rank, each under
:func:`guard.run_guarded` (an error on one rank ends every rank).
"""

import importlib
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the scripts import each other
    from guard import run_guarded
    names, outputs = sys.argv[1::2], sys.argv[2::2]
    if not names or len(names) != len(outputs):
        raise SystemExit("usage: python run_checks.py NAME[:ARG] OUT.npz [NAME[:ARG] OUT.npz]...")
    for name, out in zip(names, outputs):
        if "+" in name:
            module, *items = name.split("+")
            args = [items]
        else:
            module, *args = name.split(":")
        run_guarded(importlib.import_module(module).main, out, *args)
