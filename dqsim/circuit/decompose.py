"""Rewrite a circuit so that every multi-qubit gate can be executed by a TeleGate.

A TeleGate (cat-entangler, remote controlled-U, cat-disentangler; Eisert,
Jacobs, Papadopoulos and Plenio, "Optimal local implementation of nonlocal
quantum gates", Phys. Rev. A 62, 052317 (2000)) executes one single-control
controlled-U with one EPR pair. :func:`decompose_for_distribution` turns every
other multi-qubit gate into such controlled gates plus one-qubit gates, so the
distributed engine only ever meets :data:`TELEGATE_GATES` between qubits, besides
the SWAPs and dense two-qubit unitaries its ``keep`` leaves whole (run by
teleportation: :func:`dqsim.scenarios.dqc.with_teleported_gates`).

Every rewrite below is exact, global phase included: the rewritten circuit has
the same unitary as the original (checked on random states in
``tests/test_decompose.py``).
"""

from __future__ import annotations

import cmath
import math
from typing import Callable, Sequence

import numpy as np

from dqsim.circuit.ir import Circuit, Gate, IfBits
from dqsim.errors import CircuitError

#: Single-control, single-target controlled-U gates. A TeleGate executes each
#: directly: the remote side applies the same-named gate with its half of the
#: EPR pair as control.
TELEGATE_GATES: frozenset[str] = frozenset(
    {"cx", "cy", "cz", "ch", "csx", "cp", "cu1", "crx", "cry", "crz", "cu3"}
)

#: Largest deviation ``max|U_rewritten - U|`` accepted for a dense two-qubit unitary.
_DENSE_ATOL = 1e-9
#: A KAK coordinate below this is dropped (its gate differs from I by less than this).
_KAK_ZERO = 1e-13


def _g(name: str, *qubits: int, params: Sequence[float] = ()) -> Gate:
    return Gate(name, tuple(qubits), tuple(float(p) for p in params))


def _swap(qubits: tuple[int, ...], params: tuple[float, ...]) -> list[Gate]:
    """SWAP = three alternating CNOTs (Nielsen & Chuang, *Quantum Computation and
    Quantum Information*, 10th anniv. ed., Fig. 1.7). Exact with global phase.
    """
    a, b = qubits
    return [_g("cx", a, b), _g("cx", b, a), _g("cx", a, b)]


def _iswap(qubits: tuple[int, ...], params: tuple[float, ...]) -> list[Gate]:
    """iSWAP = S⊗S, H(a), CX(a,b), CX(b,a), H(b): two CNOTs, exact with global
    phase (the definition of ``iSwapGate`` in qiskit's standard gate library,
    ``qiskit/circuit/library/standard_gates/iswap.py``). Two controlled gates
    are the minimum: iSWAP has operator Schmidt rank 4, one controlled-U with
    local gates at most 2.
    """
    a, b = qubits
    return [_g("s", a), _g("s", b), _g("h", a), _g("cx", a, b), _g("cx", b, a), _g("h", b)]


def _rzz_core(a: int, b: int, theta: float) -> list[Gate]:
    """rzz(θ) with ONE controlled gate: rz(θ)_a · p(θ)_b · cp(-2θ)(a, b).

    Derivation (exact, global phase included): on basis state |a b⟩,
    ``rzz(θ) = e^{-iθ/2} e^{iθ (a ⊕ b)}`` and ``a ⊕ b = a + b - 2ab``, so
    ``rzz(θ) = e^{-iθ/2} e^{iθa} · e^{iθb} · e^{-2iθab} = rz(θ)_a p(θ)_b cp(-2θ)``
    (``rz(θ) = e^{-iθ/2} p(θ)``). A ZZ rotation is locally equivalent to a
    controlled phase, so one EPR pair suffices (Eisert et al. 2000, above),
    instead of the two of the textbook CX·rz·CX form (Nielsen & Chuang §4.7.3).
    """
    return [_g("cp", a, b, params=(-2.0 * theta,)), _g("rz", a, params=(theta,)),
            _g("p", b, params=(theta,))]


def _rzz(qubits: tuple[int, ...], params: tuple[float, ...]) -> list[Gate]:
    """rzz(θ) = exp(-iθ/2 Z⊗Z): see :func:`_rzz_core` (one cp, exact)."""
    return _rzz_core(qubits[0], qubits[1], params[0])


def _rxx(qubits: tuple[int, ...], params: tuple[float, ...]) -> list[Gate]:
    """rxx(θ) = (H⊗H) rzz(θ) (H⊗H), since H Z H = X (basis change; Nielsen &
    Chuang §4.7.3). Exact with global phase; one cp.
    """
    a, b = qubits
    return [_g("h", a), _g("h", b), *_rzz_core(a, b, params[0]), _g("h", a), _g("h", b)]


def _ryy(qubits: tuple[int, ...], params: tuple[float, ...]) -> list[Gate]:
    """ryy(θ) = (V†⊗V†) rzz(θ) (V⊗V) with V = rx(π/2), since V Y V† = Z
    (basis change; Nielsen & Chuang §4.7.3). Exact with global phase; one cp.
    """
    a, b = qubits
    h = math.pi / 2
    return [_g("rx", a, params=(h,)), _g("rx", b, params=(h,)), *_rzz_core(a, b, params[0]),
            _g("rx", a, params=(-h,)), _g("rx", b, params=(-h,))]


def _ccz_core(c0: int, c1: int, t: int) -> list[Gate]:
    """CCZ as six CNOTs and T/T† gates: the Toffoli circuit of Nielsen & Chuang
    Fig. 4.9 without its two Hadamards on the target. Exact with global phase.
    """
    return [
        _g("cx", c1, t), _g("tdg", t), _g("cx", c0, t), _g("t", t),
        _g("cx", c1, t), _g("tdg", t), _g("cx", c0, t), _g("t", c1), _g("t", t),
        _g("cx", c0, c1), _g("t", c0), _g("tdg", c1), _g("cx", c0, c1),
    ]


def _ccx(qubits: tuple[int, ...], params: tuple[float, ...]) -> list[Gate]:
    """Toffoli = H(t) · CCZ · H(t) with CCZ from six CNOTs: the standard circuit
    of Nielsen & Chuang Fig. 4.9 (also qiskit's ``CCXGate`` definition). Exact
    with global phase.
    """
    c0, c1, t = qubits
    return [_g("h", t), *_ccz_core(c0, c1, t), _g("h", t)]


def _ccz(qubits: tuple[int, ...], params: tuple[float, ...]) -> list[Gate]:
    """CCZ = Nielsen & Chuang Fig. 4.9 without the target Hadamards (six CNOTs). Exact."""
    return _ccz_core(*qubits)


def _cswap(qubits: tuple[int, ...], params: tuple[float, ...]) -> list[Gate]:
    """Fredkin = CX(b,a) · Toffoli(c,a,b) · CX(b,a) (qiskit's ``CSwapGate``
    definition; with c = 1 the three gates are the three-CNOT SWAP), the Toffoli
    then rewritten by :func:`_ccx`: eight CNOTs. Exact with global phase.
    """
    c, a, b = qubits
    return [_g("cx", b, a), *_ccx((c, a, b), ()), _g("cx", b, a)]


_RULES: dict[str, Callable[[tuple[int, ...], tuple[float, ...]], list[Gate]]] = {
    "swap": _swap,
    "iswap": _iswap,
    "rxx": _rxx,
    "ryy": _ryy,
    "rzz": _rzz,
    "ccx": _ccx,
    "ccz": _ccz,
    "cswap": _cswap,
}


def _dense_two_qubit(gate: Gate) -> list[Gate]:
    """A dense two-qubit unitary as at most three controlled phases and 1-qubit gates.

    KAK / Cartan decomposition (Khaneja and Glaser, Chem. Phys. 267, 11 (2001);
    Kraus and Cirac, Phys. Rev. A 63, 062309 (2001)), computed by qiskit's
    ``TwoQubitWeylDecomposition`` without its approximate specialisations:
    ``U = e^{iφ} (K1l ⊗ K1r) exp(i(a XX + b YY + c ZZ)) (K2l ⊗ K2r)``. The
    interaction is ``rxx(-2a) ryy(-2b) rzz(-2c)`` (they commute), each a single
    ``cp`` by :func:`_rxx`, :func:`_ryy`, :func:`_rzz`; a zero coordinate
    (``|a| < 1e-13``) is dropped, so a product gate needs no controlled gate
    and a CX-equivalent needs one. ``K`` factors become dense 1-qubit
    ``unitary`` gates, the phase ``e^{iφ}`` folded into one of them. Exact with
    global phase; the result is checked against the input (``max|ΔU| <= 1e-9``).
    """
    try:
        from qiskit.synthesis import TwoQubitWeylDecomposition
    except ImportError as exc:  # pragma: no cover - qiskit is a test dependency
        raise CircuitError(
            f"a dense 2-qubit unitary on qubits {gate.qubits} cannot be distributed without qiskit "
            "(pip install qiskit), which finds its KAK decomposition"
        ) from exc
    target = np.asarray(gate.matrix, dtype=np.complex128)
    kak = TwoQubitWeylDecomposition(target, fidelity=None)  # None: exact, no specialisation
    t0, t1 = gate.qubits
    phase = cmath.exp(1j * float(kak.global_phase))
    out = [Gate("unitary", (t0,), (), np.asarray(kak.K2r, dtype=np.complex128) * phase),
           Gate("unitary", (t1,), (), np.asarray(kak.K2l, dtype=np.complex128))]
    for rule, coordinate in ((_rxx, kak.a), (_ryy, kak.b), (_rzz, kak.c)):
        if abs(coordinate) >= _KAK_ZERO:
            out.extend(rule((t0, t1), (-2.0 * float(coordinate),)))
    out += [Gate("unitary", (t0,), (), np.asarray(kak.K1r, dtype=np.complex128)),
            Gate("unitary", (t1,), (), np.asarray(kak.K1l, dtype=np.complex128))]
    err = float(np.max(np.abs(_two_qubit_matrix(out, (t0, t1)) - target)))
    if err > _DENSE_ATOL:  # pragma: no cover - qiskit's exact decomposition failed
        raise CircuitError(f"decomposing the dense unitary on qubits {gate.qubits} failed: "
                           f"max|ΔU| = {err:.3g} > {_DENSE_ATOL:g}")
    return out


def _two_qubit_matrix(gates: list[Gate], qubits: tuple[int, int]) -> np.ndarray:
    """The 4×4 unitary (little-endian in ``qubits``) of gates acting on ``qubits`` only."""
    total = np.eye(4, dtype=np.complex128)
    for g in gates:
        op = g.to_op()
        u = np.diag(op.matrix) if op.diagonal else op.matrix
        local = [qubits.index(q) for q in op.qubits]
        full = np.zeros((4, 4), dtype=np.complex128)
        for col in range(4):
            if op.controls and not (col >> local[0]) & 1:
                full[col, col] = 1
                continue
            t = local[-1]
            bit = (col >> t) & 1
            for new_bit in (0, 1):
                row = (col & ~(1 << t)) | (new_bit << t)
                full[row, col] = u[new_bit, bit]
        total = full @ total
    return total


def decompose_for_distribution(circuit: Circuit, *, check: bool = True,
                               keep: Callable[[Gate], Gate | None] | None = None) -> Circuit:
    """Rewrite every multi-qubit gate into :data:`TELEGATE_GATES` plus 1-qubit gates.

    Gates of :data:`TELEGATE_GATES`, one-qubit gates (named or dense),
    measurements, resets and barriers are copied unchanged and in order; the
    blocks of an ``if`` (:class:`IfBits`) are rewritten the same way. The
    rewrites (sources in each rule's docstring):

    * ``swap``: three CX; ``iswap``: S, H and two CX;
    * ``rzz(θ)``: one ``cp(-2θ)`` plus ``rz``/``p``; ``rxx``/``ryy``: the same
      between H or rx(±π/2) basis changes;
    * ``ccx``/``ccz``: six CX with T/T†/H (Nielsen & Chuang Fig. 4.9);
      ``cswap``: CX, Toffoli, CX (eight CX);
    * dense two-qubit ``unitary``: KAK decomposition (qiskit's
      ``TwoQubitWeylDecomposition``) into dense 1-qubit gates and at most three
      ``cp`` (one per nonzero coordinate of the interaction, :func:`num_controlled_gates`).

    ``keep`` leaves a ``swap`` or a dense two-qubit ``unitary`` whole instead (the distributed circuit's
    teleported forms).

    Every rewrite is exact including the global phase.

    Args:
        circuit: any circuit.
        check: check each instruction of the result as :meth:`Circuit.append` does (building each gate's
            operation, its matrix included). ``False`` skips that for a circuit whose instructions were
            checked when appended (every builder of :mod:`dqsim.circuit` checks them) and a caller that reads
            only the gates' names and qubits (the cloud's estimates: a third of their time was these checks);
            the instructions are the same.
        keep: ``keep(gate)`` of a ``swap`` or a dense two-qubit ``unitary``: the gate to put in its place whole
            (itself, or for a ``unitary`` the same gate with its qubits in the other order,
            :func:`with_qubits_reversed`), or ``None`` to rewrite it. The distributed circuit runs a kept SWAP
            between QPUs as two teleportations and a kept ``unitary`` by teleporting its first qubit to the
            other's QPU and back (:mod:`dqsim.circuit.distribute`); ``keep`` ``None``: every one is rewritten.

    Returns:
        A new circuit with the same qubits, bits, registers and name.

    Raises:
        CircuitError: a dense unitary on 3 or more qubits (put its qubits on one
            QPU instead), or a dense 2-qubit unitary when qiskit is missing.

    Examples:
        >>> c = Circuit(3).gate("h", 0).gate("swap", 0, 2).gate("cz", 1, 2)
        >>> decompose_for_distribution(c).count_gates()
        {'h': 1, 'cx': 3, 'cz': 1}
    """
    out = Circuit(circuit.num_qubits, circuit.num_clbits, [], list(circuit.qregs),
                  list(circuit.cregs), circuit.name)
    if not check:
        out.instructions.extend(_decomposed(circuit.instructions, keep))
        return out
    for ins in _decomposed(circuit.instructions, keep):
        out.append(ins)
    return out


def num_controlled_gates(gate: Gate) -> int:
    """The controlled gates (:data:`TELEGATE_GATES`, one EPR pair each as TeleGates) that
    :func:`decompose_for_distribution` writes ``gate`` as: 0 for a one-qubit gate, 3 for ``swap``, and for a
    dense two-qubit ``unitary`` one per nonzero coordinate of its KAK interaction ``(a, b, c)``.

    In the Weyl chamber (a ≥ b ≥ |c|) three coordinates are nonzero exactly when the gate needs three CNOTs
    (c ≠ 0; Vidal & Dawson, PRA 69, 010301 (2004); Shende, Markov & Bullock, PRA 69, 062321 (2004), whose
    criterion is that tr γ(U) is not real); with c = 0 two controlled gates do, one with b = c = 0.

    Raises:
        CircuitError: as :func:`decompose_for_distribution` (a dense unitary on 3 or more qubits, or a dense
            2-qubit unitary when qiskit is missing).

    Examples:
        >>> num_controlled_gates(Gate("swap", (0, 1))), num_controlled_gates(Gate("rzz", (0, 1), (0.3,)))
        (3, 1)
    """
    return sum(1 for g in _decomposed([gate]) if len(g.qubits) > 1)


def with_qubits_reversed(gate: Gate) -> Gate:
    """A dense two-qubit ``unitary`` written on its qubits in the other order: the same operation
    (the matrix conjugated by SWAP, as both are little-endian in their qubits: an S on qubit 0, bit 0 of
    the first matrix's index, is on bit 1 of the second's).

    Examples:
        >>> g = with_qubits_reversed(Gate("unitary", (0, 3), (), np.diag([1, 1j, 1, 1j])))
        >>> g.qubits, np.diag(g.matrix).tolist()
        ((3, 0), [(1+0j), (1+0j), 1j, 1j])
    """
    swap = np.eye(4, dtype=np.complex128)[[0, 2, 1, 3]]
    return Gate("unitary", gate.qubits[::-1], (), swap @ np.asarray(gate.matrix, dtype=np.complex128) @ swap)


def _decomposed(instructions, keep=None) -> list:
    """The rewrites of :func:`decompose_for_distribution`, also inside the blocks of an ``if``."""
    out: list = []
    for ins in instructions:
        kept = None
        if (keep is not None and isinstance(ins, Gate) and len(ins.qubits) == 2
                and ins.name in ("swap", "unitary")):
            kept = keep(ins)
        if kept is not None:
            out.append(kept)
        elif isinstance(ins, IfBits):
            out.append(IfBits(ins.clbits, ins.value, tuple(_decomposed(ins.body, keep)),
                              tuple(_decomposed(ins.orelse, keep))))
        elif not isinstance(ins, Gate) or len(ins.qubits) == 1 or ins.name in TELEGATE_GATES:
            out.append(ins)
        elif ins.name == "unitary":
            if len(ins.qubits) > 2:
                raise CircuitError(
                    f"a dense {len(ins.qubits)}-qubit unitary on qubits {ins.qubits} cannot be "
                    "distributed; put their qubits on one QPU"
                )
            out.extend(_dense_two_qubit(ins))
        else:
            rule = _RULES.get(ins.name)
            if rule is None:  # pragma: no cover - every multi-qubit gate of GATES has a rule
                raise CircuitError(f"gate {ins.name!r} on qubits {ins.qubits} has no distributed form")
            out.extend(rule(ins.qubits, ins.params))
    return out
