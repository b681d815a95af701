"""OpenQASM import (through pyqasm) and export: round trips, definitions, errors."""

from __future__ import annotations

import logging
import math
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from reference import apply_op

from dqsim.circuit.generators import random_circuit
from dqsim.circuit.ir import Barrier, Circuit, Gate, IfBits, Measure
from dqsim.circuit.qasm import dump_qasm, from_qiskit, load_qasm, load_qasm_file
from dqsim.errors import CircuitError
from dqsim.state.gates import GATES

CIRCUITS = Path(__file__).resolve().parent.parent / "jobs" / "circuits"
H3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'
H2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'


def unitary(circuit: Circuit) -> np.ndarray:
    """Dense unitary of the gates (bit q of the index = qubit q), from tests/reference.py."""
    n = circuit.num_qubits
    ops = [g.to_op() for g in circuit.gates()]
    columns = []
    for j in range(1 << n):
        psi = np.zeros(1 << n, dtype=np.complex128)
        psi[j] = 1
        for op in ops:
            psi = apply_op(psi, n, op)
        columns.append(psi)
    return np.array(columns).T


def assert_same_up_to_phase(a: np.ndarray, b: np.ndarray, atol: float = 1e-10) -> None:
    index = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    phase = a[index] / b[index]
    assert abs(abs(phase) - 1) < atol
    np.testing.assert_allclose(a, phase * b, atol=atol)


def assert_same_instructions(got: Circuit, want: Circuit) -> None:
    assert len(got.instructions) == len(want.instructions)
    for a, b in zip(got.instructions, want.instructions):
        assert type(a) is type(b)
        if isinstance(a, Gate):
            assert (a.name, a.qubits) == (b.name, b.qubits)
            np.testing.assert_allclose(a.params, b.params, rtol=0, atol=1e-12)
        else:
            assert a == b


def gate_circuit(name: str) -> Circuit:
    """One ``name`` gate on 3 qubits, in an order that shows control/target mix-ups."""
    spec = GATES[name]
    qubits = [2, 0, 1][: spec.num_qubits]
    params = [0.3 + 0.7 * i for i in range(spec.num_params)]
    return Circuit(3).gate(name, *qubits, params=params)


# --------------------------------------------------------------------------- import


def test_example_files_load():
    c = load_qasm_file(CIRCUITS / "random_12q.qasm")
    want = random_circuit(12, 10, seed=2026, measure=True)
    assert (c.num_qubits, c.num_clbits, c.qregs, c.cregs) == (12, 12, [("q", 12)], [("meas", 12)])
    assert c.name == "random_12q"
    assert c.instructions == want.instructions  # parameters are written with repr: exact
    assert c.measurements_are_terminal()

    bell = load_qasm_file(CIRCUITS / "bell_custom_gate.qasm")
    assert bell.instructions == [Gate("h", (0,)), Gate("cx", (0, 1)), Measure(0, 0), Measure(1, 1)]


def test_qasm2_and_qasm3_give_the_same_circuit():
    qasm2 = H2 + """gate bell a, b { h a; cx a, b; }
qreg q[2];
qreg anc[1];
creg c[2];
creg flag[1];
bell q[0], q[1];
ccx q[0], q[1], anc[0];
rz(-pi/4) anc[0];
u3(0.1, 0.2, 0.3) q[1];
barrier q, anc;
reset anc[0];
measure q -> c;
measure anc[0] -> flag[0];
"""
    qasm3 = H3 + """gate bell a, b { h a; cx a, b; }
qubit[2] q;
qubit[1] anc;
bit[2] c;
bit[1] flag;
bell q[0], q[1];
ccx q[0], q[1], anc[0];
rz(-π/4) anc[0];
u3(0.1, 0.2, 0.3) q[1];
barrier q, anc;
reset anc[0];
c = measure q;
flag[0] = measure anc[0];
"""
    c2, c3 = load_qasm(qasm2), load_qasm(qasm3)
    assert c2 == c3
    assert c2.qregs == [("q", 2), ("anc", 1)] and c2.cregs == [("c", 2), ("flag", 1)]
    assert c2.count_gates() == {"h": 1, "cx": 1, "ccx": 1, "rz": 1, "u3": 1}
    assert Barrier((0, 1, 2)) in c2.instructions
    assert c2.instructions[-1] == Measure(2, 2)


def test_aliases_loops_subroutines_and_modifiers():
    c = load_qasm(H3 + """qubit[3] q;
def bell(qubit a, qubit b) { h a; cx a, b; }
for int i in [0:1] { cnot q[i], q[i + 1]; }
bell(q[0], q[2]);
cphase(0.25) q[0], q[1];
inv @ s q[0];
inv @ u(0.1, 0.2, 0.3) q[1];
ctrl @ rx(0.5) q[2], q[0];
ctrl(2) @ x q[0], q[1], q[2];
ctrl @ ctrl @ z q[2], q[1], q[0];
ctrl @ iswap q[0], q[1], q[2];
gphase(0.1);
""")
    gates = c.gates()
    assert [(g.name, g.qubits) for g in gates[:8]] == [
        ("cx", (0, 1)), ("cx", (1, 2)), ("h", (0,)), ("cx", (0, 2)), ("cp", (0, 1)),
        ("sdg", (0,)), ("u", (1,)), ("crx", (2, 0))]
    assert gates[6].params == (-0.1, -0.3, -0.2)
    assert [(g.name, g.qubits) for g in gates[8:10]] == [("ccx", (0, 1, 2)), ("ccz", (2, 1, 0))]
    dense = gates[10]
    assert dense.name == "unitary" and dense.qubits == (0, 1, 2)
    want = np.eye(8, dtype=complex)
    rows = [1, 3, 5, 7]  # qubit 0 (the control, bit 0) is 1
    want[np.ix_(rows, rows)] = GATES["iswap"].matrix()
    np.testing.assert_allclose(dense.matrix, want)
    assert len(gates) == 11  # the global phase is dropped


def test_register_broadcast_pairs_indices():
    """Works around qBraid/pyqasm#384 (pyqasm 1.3 mis-pairs multi-qubit broadcasts)."""
    c = load_qasm(H3 + """qubit[2] q;
qubit[2] r;
qubit[2] s;
cx q, r;
cx q[0], r;
ccx q, r, s;
rzz(0.5) q[0:1], s[{1, 0}];
h q;
""")
    assert [(g.name, g.qubits) for g in c.gates()] == [
        ("cx", (0, 2)), ("cx", (1, 3)), ("cx", (0, 2)), ("cx", (0, 3)), ("ccx", (0, 2, 4)),
        ("ccx", (1, 3, 5)), ("rzz", (0, 5)), ("rzz", (1, 4)), ("h", (0,)), ("h", (1,))]


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("version", [2, 3])
def test_round_trip_random_circuit(version):
    c = random_circuit(5, 6, seed=3)
    c.barrier(0, 2).reset(4).barrier().measure_all()
    text = dump_qasm(c, version=version)
    back = load_qasm(text)
    assert_same_instructions(back, c)
    assert (back.qregs, back.cregs) == (c.qregs, c.cregs)
    assert dump_qasm(back, version=version) == text


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("name", sorted(GATES))
def test_every_table_gate_round_trips(name, version):
    c = gate_circuit(name)
    assert_same_instructions(load_qasm(dump_qasm(c, version=version)), c)


DEFINED = [(name, version) for version in (2, 3) for name in sorted(GATES)
           if f"gate {name}" in dump_qasm(gate_circuit(name), version=version)]


@pytest.mark.parametrize("name,version", DEFINED, ids=[f"{n}-{v}" for n, v in DEFINED])
def test_written_gate_definitions_match_the_table(name, version):
    """Rename the gate so the loader inlines the written definition instead of trusting the name."""
    c = gate_circuit(name)
    inlined = load_qasm(re.sub(rf"\b{name}\b", f"{name}_def", dump_qasm(c, version=version)))
    if version == 3:  # OpenQASM 3 definitions are exact, global phase included
        np.testing.assert_allclose(unitary(inlined), unitary(c), atol=1e-12)
    else:
        assert_same_up_to_phase(unitary(inlined), unitary(c))


def test_every_gate_needs_a_definition_or_the_include():
    assert {n for n, v in DEFINED if v == 3} == {"ccz", "csx", "cu1", "cu3", "iswap", "rxx", "ryy",
                                                 "rzz", "sxdg"}
    assert {n for n, v in DEFINED if v == 2} == {"ccz", "cp", "crx", "cry", "cswap", "csx", "iswap",
                                                 "p", "rxx", "ryy", "rzz", "swap", "sx", "sxdg"}


@pytest.mark.parametrize("version", [2, 3])
def test_dense_one_qubit_unitary_is_written_as_U(version):
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))
    a, b = np.exp(1j * rng.uniform(0, 2 * np.pi, size=2))
    for m in (q, np.diag([a, b]), np.array([[0, a], [b, 0]])):  # generic, θ = 0, θ = π
        back = load_qasm(dump_qasm(Circuit(1).unitary(m, 0), version=version))
        assert [g.name for g in back.gates()] == ["u"]
        assert_same_up_to_phase(unitary(back), m)


def test_dense_two_qubit_unitary_is_refused():
    c = Circuit(2).unitary(np.eye(4)[[1, 0, 2, 3]], 0, 1)
    with pytest.raises(CircuitError, match="dense unitary on 2 qubits cannot be written"):
        dump_qasm(c)


def test_dump_rejects_bad_arguments():
    with pytest.raises(CircuitError, match="version"):
        dump_qasm(Circuit(1), version=4)
    with pytest.raises(CircuitError, match="finite"):
        dump_qasm(Circuit(1).gate("rx", 0, params=[math.nan]))


def test_dump_example_output():
    c = Circuit(2, 2).gate("h", 0).gate("u", 1, params=[0.5, 0.25, -1e-17]).measure(0, 1)
    assert dump_qasm(c) == (
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
        "h q[0];\nU(0.5, 0.25, -1e-17) q[1];\nc[1] = measure q[0];\n")


# --------------------------------------------------------------------------- errors


BAD = [
    ("syntax: missing semicolon", H3 + "qubit[2] q;\nh q[0]\ncx q[0], q[1];\n", 5, "syntax error"),
    ("syntax: end of input", H3 + "qubit[2] q;\ncx q[0], q[1]\n", 5, "end of input"),
    ("lexer", H3 + 'qubit[2] q;\n"oops\n', 4, "token"),
    ("undefined gate", H3 + "qubit[2] q;\nh q[0];\nfoo q[0], q[1];\n", 5, "undefined gate 'foo'"),
    ("undefined gate in body", H3 + "gate g a { foo a; }\nqubit[1] q;\ng q[0];\n", 3, "foo"),
    ("undefined register", H3 + "qubit[2] q;\nh r[0];\n", 4, "'r'"),
    ("qubit out of range", H3 + "qubit[2] q;\nh q[0];\n\ncx q[0], q[5];\n", 6, "out of range"),
    ("bit out of range", H2 + "qreg q[2];\ncreg c[2];\nmeasure q[0] -> c[3];\n", 5, "out of range"),
    ("repeated qubit", H3 + "qubit[2] q;\ncx q[0], q[0];\n", 4, "Duplicate"),
    ("parameter count", H3 + "qubit[1] q;\nrx q[0];\n", 4, "parameter"),
    ("qubit count", H3 + "qubit[3] q;\ncphase(0.1) q[0];\n", 4, "qubits"),
    ("if condition", H3 + "qubit[2] q;\nbit[2] c;\nc = measure q;\n\nif (c[0] == c[1]) { x q[1]; }\n", 7,
     "compared with a constant"),  # `if` on a bit or a register works (tests/test_dynamic_circuits.py)
    ("if condition sum", H3 + "qubit[2] q;\nbit[2] c;\nc = measure q;\n\nif (c[0] + c[1] == 1) { x q[1]; }\n", 7,
     "compared with a constant"),
    ("if condition xor", H3 + "qubit[2] q;\nbit[2] c;\nc = measure q;\n\nif (c[0] ^ c[1]) { x q[1]; }\n", 7,
     "compared with a constant"),
    ("while", H3 + "qubit[1] q;\nbit[1] c;\nc[0] = measure q[0];\nwhile (c[0]) { x q[0]; }\n", 6,
     "while"),
    ("delay", H3 + "qubit[1] q;\ndelay[100ns] q[0];\n", 4, "'delay' statements are not supported"),
    ("broadcast sizes", H3 + "qubit[2] q;\nqubit[3] r;\ncx q, r;\n", 5, "different sizes"),
    ("fractional pow", H3 + "qubit[1] q;\npow(0.5) @ x q[0];\n", 4, "integer"),
    ("division by zero", H2 + "qreg q[1];\nrx(pi/0) q[0];\n", 4, "ZeroDivisionError"),
]


def _rx(t):
    return np.array([[math.cos(t / 2), -1j * math.sin(t / 2)], [-1j * math.sin(t / 2), math.cos(t / 2)]])


def _ry(t):
    return np.array([[math.cos(t / 2), -math.sin(t / 2)], [math.sin(t / 2), math.cos(t / 2)]])


def _rz(t):
    return np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)])


def test_a_function_of_a_gate_parameter_in_a_gate_body_is_bound_to_the_call():
    """``rx(sin(a))`` in a gate body was refused (pyqasm left ``a`` unbound inside a function call). Each
    gate's angle, and the unitary, against the same functions computed here (rx, ry, rz written out)."""
    text = H3 + """gate g(a, b) q { rx(sin(a)) q; rz(cos(a / 2) + b) q; ry(2 * tan(a) * exp(b)) q; }
gate outer(t) q { g(sqrt(t), log(t) * pi) q; rz(-sin(cos(t)) ** 2) q; }
qubit[1] q;
g(0.3, 1.5) q[0];
outer(0.7) q[0];
inv @ g(0.3, 1.5) q[0];
"""
    circuit = load_qasm(text)
    a, b, t = 0.3, 1.5, 0.7
    a2, b2 = math.sqrt(t), math.log(t) * math.pi
    want = [("rx", math.sin(a)), ("rz", math.cos(a / 2) + b), ("ry", 2 * math.tan(a) * math.exp(b)),
            ("rx", math.sin(a2)), ("rz", math.cos(a2 / 2) + b2), ("ry", 2 * math.tan(a2) * math.exp(b2)),
            ("rz", -math.sin(math.cos(t)) ** 2),
            ("ry", -2 * math.tan(a) * math.exp(b)), ("rz", -(math.cos(a / 2) + b)), ("rx", -math.sin(a))]
    got = [(g.name, *g.params) for g in circuit.gates()]
    assert [name for name, _ in got] == [name for name, _ in want]
    np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=0, atol=1e-14)
    matrices = {"rx": _rx, "ry": _ry, "rz": _rz}
    expected = np.eye(2)
    for name, angle in want:
        expected = matrices[name](angle) @ expected
    np.testing.assert_allclose(unitary(circuit), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case,text,line,fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_qasm_names_the_line(case, text, line, fragment):
    with pytest.raises(CircuitError) as info:
        load_qasm(text, name="bad.qasm")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"bad.qasm line {line}: "), message
    assert fragment in message


@pytest.mark.parametrize("text,fragment", [
    ("", "empty"),
    ("qubit[2] q;\nh q[0];\n", "header"),
    ("OPENQASM 4.0;\nqubit q;\n", "version"),
    ("OPENQASM 3.0;\n", "no qubits"),
    (H3 + "qubit[1] q;\nmeasure q[0];\n", "without a target bit"),
    (H2 + "opaque magic q;\nqreg q[1];\nmagic q[0];\n", "'magic' is not known"),
])
def test_bad_qasm_without_line(text, fragment):
    with pytest.raises(CircuitError, match=re.escape(fragment)) as info:
        load_qasm(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("angle,value", [("sqrt(-1)", "nan"), ("log(0)", "-inf"), ("1e400", "inf"),
                                         ("2 * sqrt(a)", "nan")])
def test_repro_a_gate_angle_that_is_not_finite_is_refused(angle, value):
    """rx(sqrt(-1)) ran with a NaN angle (a NaN state, shots from it); rx(log(0)) and rx(1e400) ended in a
    traceback (math domain error). Each is refused in one line, naming the gate and the value."""
    text = H3 + f"gate g(a) q {{ rx({angle}) q; }}\nqubit[1] q;\ng(-1) q[0];\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's, evaluating sqrt(-1) or log(0)
        with pytest.raises(CircuitError, match=rf"^bad\.qasm.*: a parameter of 'rx' evaluates to {value}; gate "
                                               "parameters must be finite numbers$") as info:
            load_qasm(text, name="bad.qasm")
    assert "\n" not in str(info.value)


def test_load_file_errors_name_the_file(tmp_path):
    path = tmp_path / "broken.qasm"
    path.write_text(H2 + "qreg q[1];\nfoo q[0];\n")
    with pytest.raises(CircuitError, match=r"^broken\.qasm line 4: undefined gate 'foo'$"):
        load_qasm_file(path)
    with pytest.raises(CircuitError, match="cannot read"):
        load_qasm_file(tmp_path / "missing.qasm")


def test_load_file_resolves_custom_includes(tmp_path):
    (tmp_path / "mygates.inc").write_text("gate bell a, b { h a; cx a, b; }\n")
    path = tmp_path / "main.qasm"
    path.write_text(H3 + 'include "mygates.inc";\nqubit[2] q;\nbell q[0], q[1];\n')
    assert [g.name for g in load_qasm_file(path).gates()] == ["h", "cx"]


def test_pyqasm_side_effects_are_undone(capsys):
    logger = logging.getLogger("pyqasm")
    handlers = logger.handlers[:]
    had_limit, limit = hasattr(sys, "tracebacklimit"), getattr(sys, "tracebacklimit", None)
    for text in (H3 + "qubit[1] q;\nfoo q[0];\n", H3 + 'qubit[1] q;\n"x\n'):
        with pytest.raises(CircuitError):
            load_qasm(text)
    assert logger.handlers == handlers
    assert hasattr(sys, "tracebacklimit") == had_limit and getattr(sys, "tracebacklimit", None) == limit
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# --------------------------------------------------------------------------- qiskit


def _all_gates_circuit() -> Circuit:
    c = Circuit(3)
    for name in sorted(GATES):
        c.append(gate_circuit(name).instructions[0])
    return c


def test_qiskit_reads_our_qasm2():
    qasm2 = pytest.importorskip("qiskit.qasm2")
    operator = pytest.importorskip("qiskit.quantum_info").Operator
    c = _all_gates_circuit()
    qc = qasm2.loads(dump_qasm(c, version=2))  # strict parser, original qelib1.inc
    assert_same_up_to_phase(operator(qc).data, unitary(c))


def test_qiskit_reads_a_function_of_a_gate_parameter_as_we_do():
    """``rx(sin(a))`` and friends in OpenQASM 2 gate bodies (``ln``, ``^``, ``exp``, ``sqrt``, ``pi``), nested
    and under a control: the unitary qiskit's own parser makes of the same text."""
    qasm2 = pytest.importorskip("qiskit.qasm2")
    operator = pytest.importorskip("qiskit.quantum_info").Operator
    text = H2 + """gate g(a, b) q { rx(sin(a)) q; rz(cos(a / 2) + b ^ 2) q; ry(2 * tan(a) * exp(-b)) q; u3(sqrt(a), ln(b), a * pi) q; }
gate pair(t) q, r { g(t, sqrt(t) + 1) q; cx q, r; g(ln(t) + 1, cos(t) + 2) r; crz(sin(t) ^ 2) q, r; }
qreg q[3];
g(0.3, 1.5) q[0];
pair(0.7) q[1], q[2];
pair(1.9) q[2], q[0];
"""
    # up to a global phase, as in test_qiskit_reads_our_qasm2
    assert_same_up_to_phase(operator(qasm2.loads(text)).data, unitary(load_qasm(text)))


@pytest.mark.parametrize("num_controls", [1, 2, 3])
def test_global_phase_of_a_gate_under_controls_is_a_phase_on_the_controls(num_controls):
    """``ctrl(k) @ g`` where ``g``'s body has uncontrolled ``gphase`` statements: each is the phase e^{iγ} on the
    controls' all-ones state (OpenQASM 3 specification, "Quantum gate modifiers"), against qiskit's Operator of
    the same circuit (GlobalPhaseGate in the body of a gate qiskit controls). Process fidelity 1 - 1e-12 and the
    same matrix, phase included; main refused two and three controls ("Duplicate qubit") and made one control
    ``h; rx(γ); h``, e^{-iγ/2} off."""
    qiskit = pytest.importorskip("qiskit")
    from qiskit.circuit.library import GlobalPhaseGate
    from qiskit.quantum_info import Operator
    k, n = num_controls, num_controls + 2
    operands = ", ".join(f"q[{i}]" for i in range(n))
    text = H3 + f"""gate g(t) a, b {{ gphase(t); rx(t) a; cx a, b; gphase(-t / 3); ry(2 * t) b; }}
qubit[{n}] q;
ctrl({k}) @ g(0.7) {operands};
inv @ ctrl({k}) @ g(-1.1) {operands};
"""

    def gate(t):
        sub = qiskit.QuantumCircuit(2, name="g")
        sub.append(GlobalPhaseGate(t), [])
        sub.rx(t, 0)
        sub.cx(0, 1)
        sub.append(GlobalPhaseGate(-t / 3), [])
        sub.ry(2 * t, 1)
        return sub.to_gate()

    qc = qiskit.QuantumCircuit(n)
    qc.append(gate(0.7).control(k), range(n))
    qc.append(gate(-1.1).inverse().control(k), range(n))
    theirs = Operator(qc).data
    mine = unitary(load_qasm(text))
    fidelity = abs(np.trace(theirs.conj().T @ mine)) ** 2 / (1 << n) ** 2
    assert fidelity >= 1 - 1e-12
    np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-12)


def test_from_qiskit():
    qiskit = pytest.importorskip("qiskit")
    from qiskit.circuit.library import CU3Gate, CXGate, ECRGate
    from qiskit.quantum_info import Operator

    qc = qiskit.QuantumCircuit(qiskit.QuantumRegister(2, "a"), qiskit.QuantumRegister(1, "b"),
                               qiskit.ClassicalRegister(3, "m"))
    qc.h(0)
    qc.cx(0, 2)
    qc.rzz(0.4, 1, 2)
    qc.append(CU3Gate(0.1, 0.2, 0.3), [2, 1])
    qc.append(ECRGate(), [1, 0])
    qc.iswap(0, 1)
    qc.append(CXGate(ctrl_state=0), [2, 0])  # named "cx", but not dqsim's cx
    qc.barrier()
    c = from_qiskit(qc.copy())
    assert [g.name for g in c.gates()] == ["h", "cx", "rzz", "cu3", "unitary", "iswap", "unitary"]
    np.testing.assert_allclose(unitary(c), Operator(qc).data, atol=1e-12)
    qc.measure([0, 1, 2], [2, 1, 0])
    c = from_qiskit(qc)
    assert (c.qregs, c.cregs) == ([("a", 2), ("b", 1)], [("m", 3)])
    assert c.instructions[-3:] == [Measure(0, 2), Measure(1, 1), Measure(2, 0)]


def test_repro_qasm2_caret_is_power():
    """In OpenQASM 2 ``^`` is exponentiation (arXiv:1707.03429 sec. 3), not OpenQASM 3's xor."""
    circuit = load_qasm("// made by hand\n/* OPENQASM 3.0; */\n" + H2 + "qreg q[1];\nrx(2^3) q[0];\nrz(-pi^2/4) q[0];\nu1((0.5)^0.5) q[0];\n")
    params = [g.params[0] for g in circuit.gates()]
    assert params == pytest.approx([8.0, -math.pi ** 2 / 4, math.sqrt(0.5)], rel=1e-15)


@pytest.mark.parametrize("program, what", [
    ("bit[2] c; h q[0]; c[0] = measure q[0]; c[1] = c[0];", "assigning to bit register 'c'"),
    ("bit[2] c; h q[0]; c = measure q; c[1] = 1;", "assigning to bit register 'c'"),
    ('bit[2] c = "11"; c[0] = measure q[0];', "an initial value of bit register 'c'"),
    ("bit[2] c; h q[0]; c[0] = measure q[0]; int k = c[0]; rx(k) q[1];", "reading measured bits into 'k'"),
    ("bit[2] c; int k = 0; h q[0]; c[0] = measure q[0]; if (c[0]) { k = 1; } rx(k) q[1];",
     "a classical assignment inside an 'if' on measured bits"),
])
def test_repro_classical_writes_refused(program, what):
    """pyqasm drops classical statements it evaluates at unroll time: a bit written by an
    assignment (or an int read from a measured bit) would silently keep a wrong value."""
    with pytest.raises(CircuitError, match=rf"^circuit line 4: {re.escape(what)} is not supported: "):
        load_qasm(H3 + "qubit[2] q;\n" + program)


def test_classical_statements_pyqasm_evaluates_are_kept():
    """Compile-time classical values, a zero bit initialiser and a measured declaration still load."""
    circuit = load_qasm(H3 + 'qubit[2] q; bit[2] c = "00"; int k = 1; k = k + 1; rx(k * 0.5) q[0];\n'
                        "bit d = measure q[1]; c[0] = measure q[0]; if (c[0]) { x q[1]; }")
    assert [g.params for g in circuit.gates()] == [(1.0,)]
    assert isinstance(circuit.instructions[-1], IfBits)
    assert circuit.cregs == [("c", 2), ("d", 1)]


@pytest.mark.parametrize("condition, value, equal", [
    ("b", 0, False), ("!b", 0, True), ("b == true", 1, True), ("b != false", 0, False),
])
def test_repro_if_on_a_whole_bit_register(condition, value, equal):
    """OpenQASM 3 ``if (b)`` on a bit variable is true when it is non-zero; pyqasm refused it ("Only simple
    comparison ...") and ``if (!b)`` failed with an AttributeError."""
    circuit = load_qasm(H3 + f"qubit[2] q;\nbit b;\nh q[0];\nb = measure q[0];\nif ({condition}) {{ x q[1]; }}\n")
    branch = circuit.instructions[-1]
    assert isinstance(branch, IfBits) and branch.clbits == (0,) and branch.value == value
    taken = branch.body if equal else branch.orelse
    assert [g.name for g in taken] == ["x"] and len(branch.body) + len(branch.orelse) == 1


def test_repro_exp_and_log_parameters():
    """exp and log are OpenQASM 3 built-ins (exp and ln in OpenQASM 2); pyqasm refused them as invalid parameters."""
    two = load_qasm(H2 + "qreg q[1];\nrx(exp(1)) q[0];\nrz(ln(2) + 1) q[0];\n")
    three = load_qasm(H3 + "qubit[1] q;\nrx(exp(1)) q[0];\nrz(log(2) + 1) q[0];\n")
    for circuit in (two, three):
        assert [g.params[0] for g in circuit.gates()] == pytest.approx([math.e, math.log(2) + 1], rel=1e-15)


def _taken(instructions, bits: int) -> list[str]:
    """Names of the gates a shot with classical ``bits`` runs (``if`` blocks decided on ``bits``)."""
    out = []
    for ins in instructions:
        if isinstance(ins, IfBits):
            out += _taken(ins.body if ins.holds(bits) else ins.orelse, bits)
        elif isinstance(ins, Gate):
            out.append(ins.name)
    return out


@pytest.mark.parametrize("condition, truth", [
    ("c[0] == 1 && c[1] == 0", lambda b0, b1: b0 and not b1),
    ("c[0] || !c[1]", lambda b0, b1: b0 or not b1),
    ("c[0] && c[1] || c == 0", lambda b0, b1: (b0 and b1) or not (b0 or b1)),
])
def test_repro_and_or_conditions(condition, truth):
    """pyqasm refuses '&&' and '||' in an if; they become nested ifs (dump_qasm writes '&&' for an IfBits on
    several bits, which load_qasm refused: its own output did not read back)."""
    circuit = load_qasm(H3 + f"qubit[3] q;\nbit[2] c;\nc = measure q[0:1];\nif ({condition}) {{ x q[2]; }} else {{ z q[2]; }}\n")
    for bits in range(4):
        assert _taken(circuit.instructions, bits) == (["x"] if truth(bits & 1, bits >> 1) else ["z"]), bits
    written = Circuit(3, 2).measure(0, 0).measure(1, 1)
    written.append(IfBits((0, 1), 2, (Gate("x", (2,)),), (Gate("z", (2,)),)))
    back = load_qasm(dump_qasm(written))
    assert [_taken(back.instructions, bits) for bits in range(4)] == [["z"], ["z"], ["x"], ["z"]]
