"""Read an OpenQASM file without loading the QASM parser when a process starts.

:mod:`dqsim.circuit.qasm` imports pyqasm, openqasm3 and antlr4 at its top: ~0.2 CPU s of every dqsim process's
start on the 2-core dev VM (`import dqsim.cli.main` 1.29 → 1.07 CPU s without it, medians of 8 alternated pairs,
``bench/results/suite-time-vm-20261207q.md``), though only jobs with a QASM file need it. The scenarios import
this module and the parser loads at the first file read.
"""
from __future__ import annotations

import importlib

from dqsim.circuit.ir import Circuit


def load_qasm_file(path) -> Circuit:
    """:func:`dqsim.circuit.qasm.load_qasm_file` of ``path`` (an OpenQASM 2 or 3 file), importing the parser on
    the first call."""
    return importlib.import_module("dqsim.circuit.qasm").load_qasm_file(path)
