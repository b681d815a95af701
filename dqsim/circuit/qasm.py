"""OpenQASM 2 and 3 for :class:`~dqsim.circuit.ir.Circuit`: import through pyqasm, export as text.

Import: `pyqasm <https://github.com/qBraid/pyqasm>`_ parses and validates the
program and unrolls loops, subroutines and custom ``gate`` definitions. The
gates of :data:`dqsim.state.gates.GATES` are kept as written (pyqasm's
``external_gates``), so ``cx``, ``ccx`` or ``rzz`` stay single gates instead of
being rebased. The unrolled OpenQASM 3 syntax tree is then walked into the IR.
A ``gate`` definition whose name is in dqsim's table (as written by
:func:`dump_qasm`) is taken to be that standard gate; its body is not read.

Classical control: ``if (c[i] == 0|1)``, ``if (c[i])``, ``if (!c[i])``,
``if (c == value)`` and ``!=`` on a bit or a whole register, ``if (c)`` and
``if (!c)`` on a whole register (true when non-zero), these joined by ``&&``
and ``||`` (as nested ``if`` blocks), with an ``else``
block, become :class:`~dqsim.circuit.ir.IfBits` (nested ``if`` too).

Not supported, each refused with a :class:`CircuitError`: other conditions,
``while`` on measured bits, ``delay``, a ``measure`` without a target
bit, pulse-level statements, and classical statements pyqasm would drop:
an assignment to a bit (``c[1] = c[0];``), a non-zero bit initialiser, a
classical variable read from measured bits, and a classical assignment
inside an ``if`` on measured bits. A top-level ``gphase`` is a global phase
and is dropped; ``ctrl(k) @ gphase(γ)`` is the phase ``p(γ)`` on the controls
(``ctrl(k − 1) @ p``, exactly), and so is an uncontrolled ``gphase`` inside a
gate that is called with ``k`` controls (:func:`_keep_controlled_phases`). A function of a ``gate`` definition's parameter in its body
(``gate g(a) q { rx(sin(a)) q; }``) is read with pyqasm taught to bind
parameters inside function calls (:func:`_substitute_inside_calls`).

Export: :func:`dump_qasm` writes OpenQASM 3 (``stdgates.inc``) or 2
(``qelib1.inc`` as published in Cross et al., arXiv:1707.03429, appendix) and
adds a ``gate`` definition for every gate the include lacks.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
import operator
import re
import sys
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import openqasm3.ast as qast
import pyqasm
from openqasm3.visitor import QASMTransformer

from dqsim.circuit.ir import Barrier, Circuit, Gate, IfBits, Measure, Reset

try:  # pyqasm 1.x's table of the functions it evaluates in parameters (see _add_builtin_functions)
    from pyqasm.maps.expressions import FUNCTION_MAP as _PYQASM_FUNCTIONS
except ImportError:  # another pyqasm layout: exp and log stay unsupported there
    _PYQASM_FUNCTIONS = None
try:  # pyqasm 1.x binds a gate's parameters in its body here (see _substitute_inside_calls)
    from pyqasm.transformer import Qasm3Transformer as _PyqasmTransformer
except ImportError:  # another pyqasm layout: a function of a gate parameter stays refused there
    _PyqasmTransformer = None
try:  # pyqasm 1.x unrolls gphase under the controls of a gate call here (see _keep_controlled_phases)
    from pyqasm.visitor import QasmVisitor as _PyqasmVisitor
except ImportError:  # another pyqasm layout: its own reading of such a gphase stays
    _PyqasmVisitor = None
from dqsim.errors import CircuitError
from dqsim.state import gates as gate_table

__all__ = ["load_qasm", "load_qasm_file", "dump_qasm", "from_qiskit"]

#: Names pyqasm must leave as written: dqsim's gates and the builtins (aliases are renamed first).
_KEPT_GATES = sorted(set(gate_table.GATES) | {"U", "CX"})

#: OpenQASM 3 ``stdgates.inc`` (OpenQASM 3 specification, "Standard library"); ``U`` is built in.
_STDGATES_INC = frozenset(
    "p x y z h s sdg t tdg sx rx ry rz cx cy cz cp crx cry crz ch swap ccx cswap id u1 u2 u3".split())
#: OpenQASM 2 ``qelib1.inc`` of Cross et al. (arXiv:1707.03429); ``U`` and ``CX`` are built in.
_QELIB1_INC = frozenset(
    "u3 u2 u1 cx id x y z h s sdg t tdg rx ry rz cz cy ch ccx crz cu1 cu3".split())

# Definitions for gates the include lacks. Bodies follow qiskit's qelib1.inc and
# circuit library definitions; every one is checked against dqsim's matrix in
# tests/test_qasm.py (exactly in OpenQASM 3, up to a global phase in OpenQASM 2).
_COMMON_DEFS = {
    "iswap": "gate iswap a, b { s a; s b; h a; cx a, b; cx b, a; h b; }",
    "rxx": "gate rxx(theta) a, b { h a; h b; cx a, b; rz(theta) b; cx a, b; h a; h b; }",
    "ryy": ("gate ryy(theta) a, b { rx(pi/2) a; rx(pi/2) b; cx a, b; rz(theta) b; cx a, b; "
            "rx(-pi/2) a; rx(-pi/2) b; }"),
    "rzz": "gate rzz(theta) a, b { cx a, b; rz(theta) b; cx a, b; }",
    "ccz": "gate ccz a, b, c { h c; ccx a, b, c; h c; }",
}
_QASM3_DEFS = {
    "sxdg": "gate sxdg a { inv @ sx a; }",
    "csx": "gate csx a, b { ctrl @ sx a, b; }",
    "cu1": "gate cu1(lam) a, b { ctrl @ p(lam) a, b; }",
    "cu3": "gate cu3(theta, phi, lam) a, b { ctrl @ U(theta, phi, lam) a, b; }",
    **_COMMON_DEFS,
}
_QASM2_DEFS = {
    "p": "gate p(lam) a { u1(lam) a; }",
    "sx": "gate sx a { sdg a; h a; sdg a; }",
    "sxdg": "gate sxdg a { s a; h a; s a; }",
    "swap": "gate swap a, b { cx a, b; cx b, a; cx a, b; }",
    "cswap": "gate cswap a, b, c { cx c, b; ccx a, b, c; cx c, b; }",
    "crx": ("gate crx(theta) a, b { u1(pi/2) b; cx a, b; u3(-theta/2, 0, 0) b; cx a, b; "
            "u3(theta/2, -pi/2, 0) b; }"),
    "cry": "gate cry(theta) a, b { ry(theta/2) b; cx a, b; ry(-theta/2) b; cx a, b; }",
    "cp": "gate cp(lam) a, b { u1(lam/2) a; cx a, b; u1(-lam/2) b; cx a, b; u1(lam/2) b; }",
    "csx": "gate csx a, b { h b; cu1(pi/2) a, b; h b; }",
    **_COMMON_DEFS,
}

# Gate modifiers on a named gate, resolved to a named gate where dqsim has one.
_CONTROLLED = {("x", 1): "cx", ("x", 2): "ccx", ("cx", 1): "ccx", ("y", 1): "cy",
               ("z", 1): "cz", ("z", 2): "ccz", ("cz", 1): "ccz", ("h", 1): "ch",
               ("sx", 1): "csx", ("p", 1): "cp", ("u1", 1): "cu1", ("rx", 1): "crx",
               ("ry", 1): "cry", ("rz", 1): "crz", ("u", 1): "cu3", ("u3", 1): "cu3",
               ("swap", 1): "cswap"}
_SELF_INVERSE = frozenset("id x y z h cx cy cz ch swap ccx ccz cswap".split())
_INVERSE_PAIRS = {"s": "sdg", "sdg": "s", "t": "tdg", "tdg": "t", "sx": "sxdg", "sxdg": "sx"}
_ODD_IN_PARAMS = frozenset("rx ry rz p u1 cp cu1 crx cry crz rxx ryy rzz".split())

#: An OpenQASM 2 header, after blank lines and comments.
_QASM2_HEADER = re.compile(r"(\s|//[^\n]*\n|/\*.*?\*/)*OPENQASM\s+2(\.\d+)?\s*;", re.S)

_CONSTANTS = {"pi": math.pi, "π": math.pi, "tau": math.tau, "τ": math.tau,
              "euler": math.e, "ℇ": math.e}
_BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
           "**": operator.pow}


# --------------------------------------------------------------------------- import


def load_qasm(text: str, *, name: str = "circuit") -> Circuit:
    """Import an OpenQASM 2 or 3 program.

    Args:
        text: the program (``OPENQASM 2.0;`` or ``OPENQASM 3.0;`` header).
        name: the circuit's name; also labels error messages.

    Returns:
        The circuit; registers keep their names and sizes in declaration order.

    Raises:
        CircuitError: one line, with the line number where the parser gives one:
            a syntax error, an undefined gate or register, an index out of range,
            or an unsupported feature.

    Examples:
        >>> c = load_qasm('OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2]; '
        ...               'h q[0]; cx q[0], q[1]; measure q -> c;')
        >>> c.count_gates(), c.qregs, c.cregs
        ({'h': 1, 'cx': 1}, [('q', 2)], [('c', 2)])
    """
    return _load(text, name=name, label=name, include_dir=None)


def load_qasm_file(path) -> Circuit:
    """Import an OpenQASM 2 or 3 file; custom includes resolve against its folder.

    The circuit is named after the file's stem; errors name the file. Where the
    file includes custom files, pyqasm inlines them first and error line
    numbers count lines of the inlined text.

    Raises:
        CircuitError: the file cannot be read, or as :func:`load_qasm`.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CircuitError(f"cannot read OpenQASM file {str(path)!r}: {exc}") from None
    return _load(text, name=path.stem, label=path.name, include_dir=str(path.parent))


def _load(text: str, *, name: str, label: str, include_dir: str | None) -> Circuit:
    if not isinstance(text, str):
        raise CircuitError(f"{label}: OpenQASM text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise CircuitError(f"{label}: empty OpenQASM program")
    if re.match(_QASM2_HEADER, text):
        # OpenQASM 2's '^' is a power and 'ln' the natural log (Cross et al., arXiv:1707.03429,
        # section 3); pyqasm parses every version with the OpenQASM 3 grammar: '^' is a xor there.
        text = re.sub(r"\bln(\s*\()", r"log\1", text.replace("^", "**"))
    _add_builtin_functions()
    _substitute_inside_calls()
    _keep_controlled_phases()
    # pyqasm rewrites the text (and shifts line numbers) when it resolves includes,
    # so it is asked to only when the program includes more than the standard files.
    includes = set(re.findall(r'^\s*include\s+"([^"]+)"', text, re.M))
    custom = include_dir and includes - {"stdgates.inc", "qelib1.inc"}
    kwargs = {"include_dir": include_dir} if custom else {}
    with _pyqasm_errors(label):
        module = pyqasm.loads(text, **kwargs)
        # The expansion edits the statement list pyqasm unrolls, in place.
        _Prepass(label).visit(module.original_program)
        module.unroll(external_gates=list(_KEPT_GATES))
    return _Builder(label, module.original_program).build(module.unrolled_ast.statements, name)


def _substitute_inside_calls() -> bool:
    """Make pyqasm bind a gate's parameters inside function calls of its body (``rx(sin(a))``), once.

    When pyqasm 1.x unrolls a call of a ``gate`` definition it replaces each
    parameter in the body by the call's value
    (``Qasm3Transformer.transform_expression``), descending into unary and
    binary expressions but not into a function call's arguments: ``sin(a)``
    kept an undefined ``a`` and was refused. The wrapper descends there too
    (nested calls and calls inside arithmetic included), then lets pyqasm
    evaluate the function as it does at the top level (``sin``, ``cos``,
    ``tan``, ``exp``, ``log``/``ln``, ``sqrt``, ...).

    Returns:
        True where pyqasm binds them now; False for a pyqasm without that method,
        where :class:`_Prepass` refuses such a gate body in one line.
    """
    global _CALLS_SUBSTITUTED
    if _CALLS_SUBSTITUTED or _PyqasmTransformer is None:
        return _CALLS_SUBSTITUTED
    original = getattr(_PyqasmTransformer, "transform_expression", None)
    if not callable(original):
        return False

    def transform_expression(expression, variable_map):
        if isinstance(expression, qast.FunctionCall):
            expression.arguments = [_PyqasmTransformer.transform_expression(argument, variable_map)
                                    for argument in expression.arguments]
            return expression
        return original(expression, variable_map)

    _PyqasmTransformer.transform_expression = staticmethod(transform_expression)
    _CALLS_SUBSTITUTED = True
    return True


#: Whether :func:`_substitute_inside_calls` has taught pyqasm to bind gate parameters inside function calls.
_CALLS_SUBSTITUTED = False


def _keep_controlled_phases() -> bool:
    """Make pyqasm keep a ``gphase`` under the controls of a gate call as a controlled ``gphase``, once.

    A global phase e^{iγ} of a gate under ``k`` controls is the phase e^{iγ} on the
    controls' all-ones state, diag(1, ..., 1, e^{iγ}) on the ``k`` control qubits
    (OpenQASM 3 specification, "Quantum gate modifiers": ``ctrl @ gphase``). When
    pyqasm 1.x unrolls ``ctrl(k) @ g`` it hands the controls down to each statement
    of ``g``'s body; for a ``gphase`` there it wrote ``ctrl(k − 1) @ p(γ)`` with the
    first control as both control and target: one control came out as
    ``h; rx(γ); h`` (right only up to a global phase), two or more were refused
    ("Duplicate qubit"). The wrapper lets pyqasm evaluate the angle (``inv``
    included) as for a top-level ``gphase``, then returns ``ctrl(k) @ gphase(γ)`` on
    the controls, which :meth:`_Builder._phase` reads exactly; ``negctrl`` and
    ``pow`` stay pyqasm's (``x`` around the negated controls, repetition).

    Returns:
        True where pyqasm keeps them now; False for a pyqasm without that method.
    """
    global _PHASES_KEPT
    if _PHASES_KEPT or _PyqasmVisitor is None:
        return _PHASES_KEPT
    original = getattr(_PyqasmVisitor, "_visit_phase_operation", None)
    if not callable(original):
        return False

    def visit_phase_operation(self, operation, inverse=False, ctrls=None):
        if not ctrls:
            return original(self, operation, inverse, ctrls)
        phases = original(self, operation, inverse, None)
        for phase in phases:
            phase.modifiers = [qast.QuantumGateModifier(qast.GateModifierName.ctrl,
                                                        qast.IntegerLiteral(len(ctrls)))]
            phase.qubits = copy.deepcopy(list(ctrls))
        return phases

    _PyqasmVisitor._visit_phase_operation = visit_phase_operation
    _PHASES_KEPT = True
    return True


#: Whether :func:`_keep_controlled_phases` has taught pyqasm to keep a gphase under a gate call's controls.
_PHASES_KEPT = False


def _add_builtin_functions() -> None:
    """Teach pyqasm the one-argument built-in functions it lacks, ``exp`` and ``log``.

    Both are OpenQASM 3 built-ins ("Built-in mathematical functions") and OpenQASM 2's
    ``exp``/``ln``; pyqasm 1.x evaluates only the functions of its ``FUNCTION_MAP`` and
    refused ``rx(exp(1))`` as an invalid parameter.
    """
    if isinstance(_PYQASM_FUNCTIONS, dict):
        _PYQASM_FUNCTIONS.setdefault("exp", np.exp)
        _PYQASM_FUNCTIONS.setdefault("log", np.log)


@contextlib.contextmanager
def _pyqasm_errors(label: str) -> Iterator[None]:
    """Turn any pyqasm/ANTLR failure into a one-line CircuitError; keep their side effects in.

    pyqasm logs the location of a validation error (not in the exception), prints
    ANTLR lexer errors on stderr and sets ``sys.tracebacklimit = 0``; all three
    are captured or undone here.
    """
    logger = logging.getLogger("pyqasm")
    records: list[logging.LogRecord] = []
    capture = logging.Handler(logging.ERROR)
    capture.emit = records.append
    saved_handlers = logger.handlers[:]
    had_limit, saved_limit = hasattr(sys, "tracebacklimit"), getattr(sys, "tracebacklimit", None)
    logger.handlers = [capture]
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    except CircuitError:
        raise
    except Exception as exc:  # pyqasm raises its own errors but also plain bugs
        raise CircuitError(_one_line_error(label, exc, records)) from None
    finally:
        logger.handlers = saved_handlers
        if had_limit:
            sys.tracebacklimit = saved_limit
        elif hasattr(sys, "tracebacklimit"):
            del sys.tracebacklimit


def _one_line_error(label: str, exc: BaseException, records: list[logging.LogRecord]) -> str:
    line = None
    for record in records:
        found = re.search(r"Error at line (\d+)", record.getMessage())
        if found:
            line = int(found.group(1))
            break
    message = str(exc)
    cause = exc
    while cause is not None:  # ANTLR's parse error carries the offending token
        token = getattr(cause.args[0], "offendingToken", None) if cause.args else None
        found = re.match(r"L(\d+):C\d+: (.*)", str(cause), re.S)
        if token is not None:
            line = token.line
            message = ("unexpected end of input" if token.text == "<EOF>"
                       else f"syntax error at {token.text!r}")
            if token.text != "<EOF>" and token.column == 0 and line > 1:  # a statement that starts its line
                message += f" (is the ';' at the end of line {line - 1} missing?)"
            break
        if found:
            line, message = int(found.group(1)), found.group(2)
            break
        cause = cause.__cause__ or cause.__context__
    message = message.replace("Failed to parse OpenQASM string:", "")
    message = re.split(r"\b[A-Z]\w*\(span=", message)[0]  # drop printed syntax trees
    message = re.sub(r"Unsupported / undeclared QASM operation: (\S+)", r"undefined gate '\1'", message)
    message = re.sub(r"Unsupported OpenQASM version: None.*", "no 'OPENQASM 2.0;' or 'OPENQASM 3.0;' "
                     "header", message)
    message = re.sub(r"Unsupported OpenQASM version: (\S+)\. Supported.*", r"OpenQASM version \1 is not "
                     "supported; use 2.0 or 3.0", message)
    message = " ".join(message.split()).rstrip(" :")
    message = re.sub(r" in gate operation$", "", message) or "invalid program"
    if not isinstance(exc, pyqasm.PyQasmError):
        if line is None:
            line = _line_in_traceback(exc)
        what = "the program" if line is None else "this statement"
        message = f"pyqasm could not process {what} ({type(exc).__name__}: {message})"
    return f"{label} line {line}: {message}" if line is not None else f"{label}: {message}"


def _line_in_traceback(exc: BaseException) -> int | None:
    """The line of the statement pyqasm was working on when it failed with a plain exception (``rx(pi/0)``'s
    ZeroDivisionError): the innermost frame's syntax node that has a source span, or ``None``."""
    line = None
    link = exc.__traceback__
    while link is not None:
        for value in link.tb_frame.f_locals.values():
            span = getattr(value, "span", None) if isinstance(value, qast.QASMNode) else None
            if span is not None:
                line = span.start_line
        link = link.tb_next
    return line


def _located(label: str, node, message: str) -> CircuitError:
    span = getattr(node, "span", None)
    where = f"{label} line {span.start_line}" if span is not None else label
    return CircuitError(f"{where}: {message}")


def _nodes(tree) -> Iterator:
    """Every syntax node of ``tree`` (a node or a list of them), depth first."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, qast.QASMNode):
            yield node
            stack.extend(v for k, v in vars(node).items() if k != "span")


def _is_zero(expr) -> bool:
    """Whether ``expr`` is a literal 0, ``false`` or an all-zero bit string."""
    return (isinstance(expr, (qast.IntegerLiteral, qast.BooleanLiteral, qast.BitstringLiteral))
            and not expr.value)


def _int_literal(expr) -> int | None:
    if isinstance(expr, qast.IntegerLiteral):
        return expr.value
    if (isinstance(expr, qast.UnaryExpression) and expr.op.name == "-"
            and isinstance(expr.expression, qast.IntegerLiteral)):
        return -expr.expression.value
    return None


class _Prepass(QASMTransformer):
    """Edits the parsed program before pyqasm unrolls it.

    * Aliases pyqasm does not know (``cphase``, ``phase``, ``fredkin``, ``i``,
      ``u0``) are renamed to dqsim's names.
    * ``ctrl(k) @ gphase(γ) q…;`` becomes ``ctrl(k − 1) @ p(γ) q…;`` (other modifiers kept): the
      OpenQASM 3 specification defines a controlled global phase as a phase on the controls, and
      ``p`` is exactly that, phase included. pyqasm 1.x unrolled one control into ``h; rx(γ); h``
      (right up to a global phase, wrong once that gate is controlled again) and refused two
      ("Duplicate qubit 'q[0]' arg in gate cx").
    * ``cx q, r;`` (whole registers, slices) becomes one gate per index:
      pyqasm 1.3 unrolls such a multi-qubit broadcast into the wrong gates
      (qBraid/pyqasm#384); the OpenQASM 3 specification ("Broadcasting")
      pairs register operands index by index and repeats single qubits.
    """

    def __init__(self, label: str):
        self.label = label
        self.scopes: list[dict[str, int | None]] = [{}]
        self.in_gate_body = False
        self.bit_names: set[str] = set()
        self.if_on_bits = 0  # depth of ``if`` blocks whose condition reads bits

    # pyqasm evaluates classical statements once, at unroll time, and drops them: a bit
    # value it cannot know there (a measured bit, a bit set by an assignment) is silently
    # wrong. Such programs are refused here instead.
    _CLASSICAL_HINT = ("dqsim keeps measured bits only as measurement results; only 'c[i] = measure q[j];' "
                       "writes a bit and only an 'if' reads one")

    def _reads_bits(self, expr) -> bool:
        return any(isinstance(node, qast.Identifier) and node.name in self.bit_names for node in _nodes(expr))

    def _refuse_classical(self, node, what: str):
        raise _located(self.label, node, f"{what} is not supported: {self._CLASSICAL_HINT}")

    def visit_ClassicalDeclaration(self, node):
        init = node.init_expression
        if isinstance(node.type, qast.BitType):
            self.bit_names.add(node.identifier.name)
            if not (init is None or isinstance(init, qast.QuantumMeasurement) or _is_zero(init)):
                self._refuse_classical(node, f"an initial value of bit register {node.identifier.name!r}")
        elif self.if_on_bits:
            self._refuse_classical(node, "a classical declaration inside an 'if' on measured bits")
        elif init is not None and self._reads_bits(init):
            self._refuse_classical(node, f"reading measured bits into {node.identifier.name!r}")
        return node

    def visit_ClassicalAssignment(self, node):
        target = node.lvalue.name if isinstance(node.lvalue, qast.Identifier) else node.lvalue.name.name
        if target in self.bit_names:
            self._refuse_classical(node, f"assigning to bit register {target!r}")
        if self.if_on_bits:
            self._refuse_classical(node, "a classical assignment inside an 'if' on measured bits")
        if self._reads_bits(node.rvalue):
            self._refuse_classical(node, f"reading measured bits into {target!r}")
        return node

    def _bit_condition(self, cond):
        """``if (b)``, ``if (!b)`` and ``b == true`` on a whole bit register as comparisons with an integer
        (OpenQASM 3: a bit register is true when non-zero), which pyqasm refuses or mistakes otherwise."""
        def compare(op: str, register, value: int):
            expr = qast.BinaryExpression(qast.BinaryOperator[op], register, qast.IntegerLiteral(value))
            expr.span = cond.span
            return expr

        def is_register(expr) -> bool:
            return isinstance(expr, qast.Identifier) and expr.name in self.bit_names

        if is_register(cond):
            return compare("!=", cond, 0)
        if isinstance(cond, qast.UnaryExpression) and cond.op.name == "!" and is_register(cond.expression):
            return compare("==", cond.expression, 0)
        if (isinstance(cond, qast.BinaryExpression) and cond.op.name in ("==", "!=") and is_register(cond.lhs)
                and isinstance(cond.rhs, qast.BooleanLiteral)):
            return compare(cond.op.name, cond.lhs, int(cond.rhs.value))
        return cond

    def _is_bit_reference(self, expr) -> bool:
        if isinstance(expr, qast.Identifier):
            return expr.name in self.bit_names
        return (isinstance(expr, qast.IndexExpression) and isinstance(expr.collection, qast.Identifier)
                and expr.collection.name in self.bit_names)

    def _check_bit_condition(self, node) -> None:
        """Refuse in one line a condition on measured bits that pyqasm would fail on with a bare exception."""
        cond = node.condition
        if not self._reads_bits(cond):
            return  # a compile-time condition: pyqasm evaluates it
        if isinstance(cond, qast.UnaryExpression) and cond.op.name == "!":
            cond = cond.expression
        if self._is_bit_reference(cond):
            return
        if (isinstance(cond, qast.BinaryExpression) and cond.op.name in ("==", "!=", "<", "<=", ">", ">=")
                and self._is_bit_reference(cond.lhs) and not self._reads_bits(cond.rhs)):
            return
        raise _located(self.label, node, "if: only a bit or a register compared with a constant is supported "
                                         "(c[0] == 1, c == 5, c[0], !c[0], joined by && and ||)")

    def visit_BranchingStatement(self, node):
        cond = node.condition
        if isinstance(cond, qast.BinaryExpression) and cond.op.name in ("&&", "||"):
            # pyqasm takes one comparison per 'if': 'a && b' becomes if (a) { if (b) ... }, 'a || b'
            # if (a) ... else { if (b) ... }, the other block repeated.
            if cond.op.name == "&&":
                inner = qast.BranchingStatement(cond.rhs, node.if_block, copy.deepcopy(node.else_block))
                outer = qast.BranchingStatement(cond.lhs, [inner], node.else_block)
            else:
                inner = qast.BranchingStatement(cond.rhs, copy.deepcopy(node.if_block), node.else_block)
                outer = qast.BranchingStatement(cond.lhs, node.if_block, [inner])
            inner.span = outer.span = node.span
            return self.visit_BranchingStatement(outer)
        node.condition = self._bit_condition(cond)
        self._check_bit_condition(node)
        on_bits = self._reads_bits(node.condition)
        self.if_on_bits += on_bits
        self.generic_visit(node)
        self.if_on_bits -= on_bits
        return node

    def visit_QubitDeclaration(self, node):
        self.scopes[-1][node.qubit.name] = 1 if node.size is None else _int_literal(node.size)
        return node

    def visit_QuantumGateDefinition(self, node):
        params = {arg.name for arg in node.arguments} if not _CALLS_SUBSTITUTED else set()
        for call in _nodes(node.body):
            if (isinstance(call, qast.FunctionCall)
                    and any(isinstance(n, qast.Identifier) and n.name in params for n in _nodes(call.arguments))):
                raise _located(self.label, call, f"gate {node.name.name!r}: a function of a gate parameter "
                                                 f"({call.name.name}(...)) is not supported (pyqasm does not "
                                                 "substitute it); pass the function's value as the parameter")
        self.in_gate_body = True  # operands inside a gate body are single qubits
        self.generic_visit(node)
        self.in_gate_body = False
        return node

    def visit_SubroutineDefinition(self, node):
        self.scopes.append({arg.name.name: 1 if arg.size is None else _int_literal(arg.size)
                            for arg in node.arguments if isinstance(arg, qast.QuantumArgument)})
        self.generic_visit(node)
        self.scopes.pop()
        return node

    def _size(self, reg: str) -> int | None:
        for scope in reversed(self.scopes):
            if reg in scope:
                return scope[reg]
        return None

    def _operand(self, node, operand) -> list:
        """The single qubits of one operand; a list of one when it is not a register."""
        if isinstance(operand, qast.Identifier):
            size = self._size(operand.name)
            if size is None and any(operand.name in scope for scope in self.scopes):
                raise _located(self.label, node, f"broadcasting a gate over register {operand.name!r} "
                                                 "needs the register size as a literal")
            if size is None or size == 1:
                return [operand]
            indices = range(size)
        elif (isinstance(operand, qast.IndexedIdentifier) and len(operand.indices) == 1
              and isinstance(operand.indices[0], (qast.DiscreteSet, list))):
            index = operand.indices[0]
            items = index.values if isinstance(index, qast.DiscreteSet) else index
            if len(items) == 1 and not isinstance(items[0], qast.RangeDefinition):
                return [operand]
            size = self._size(operand.name.name)
            indices = [i for item in items for i in self._indices(node, item, size)]
        else:
            return [operand]
        name = operand.name if isinstance(operand, qast.Identifier) else operand.name.name
        return [qast.IndexedIdentifier(qast.Identifier(name), [[qast.IntegerLiteral(i)]]) for i in indices]

    def _indices(self, node, item, size: int | None) -> list[int]:
        """Indices of one index item: an integer or an inclusive slice ``start:step:end``."""
        if not isinstance(item, qast.RangeDefinition):
            value = _int_literal(item)
            if value is None:
                raise _located(self.label, node, "a qubit index set needs literal indices here")
            return [value]
        start = 0 if item.start is None else _int_literal(item.start)
        end = None if size is None else size - 1 if item.end is None else _int_literal(item.end)
        step = 1 if item.step is None else _int_literal(item.step)
        if None in (start, end, step) or step == 0:
            raise _located(self.label, node, "a register slice needs a literal size and bounds here")
        start, end = (start + size if start < 0 else start), (end + size if end < 0 else end)
        return list(range(start, end + (1 if step > 0 else -1), step))

    def visit_QuantumPhase(self, node):
        """``ctrl(k) @ gphase(γ)`` as ``ctrl(k − 1) @ p(γ)`` on the same qubits (the class docstring)."""
        ctrl = qast.GateModifierName.ctrl
        index = next((i for i, mod in enumerate(node.modifiers) if mod.modifier == ctrl), None)
        if index is None or not node.qubits:
            return node
        mod = node.modifiers[index]
        count = 1 if mod.argument is None else _int_literal(mod.argument)
        if count is None:
            return node
        modifiers = list(node.modifiers)
        if count == 1:
            del modifiers[index]
        else:
            modifiers[index] = qast.QuantumGateModifier(ctrl, qast.IntegerLiteral(count - 1))
        gate = qast.QuantumGate(modifiers, qast.Identifier("p"), [node.argument], list(node.qubits))
        gate.span = node.span
        return self.visit_QuantumGate(gate)

    def visit_QuantumGate(self, node):
        if node.name.name in gate_table.ALIASES:
            if node.name.name == "u0":  # qelib1's u0(γ) is an identity of duration γ
                node.arguments = []
            node.name = qast.Identifier(gate_table.ALIASES[node.name.name])
        if self.in_gate_body or len(node.qubits) < 2:
            return node
        groups = [self._operand(node, q) for q in node.qubits]
        widths = {len(g) for g in groups if len(g) > 1}
        if not widths:
            return node
        if len(widths) > 1:
            raise _located(self.label, node, f"gate {node.name.name!r} is broadcast over registers "
                                             f"of different sizes {sorted(widths)}")
        expanded = []
        for i in range(widths.pop()):
            gate = qast.QuantumGate(copy.deepcopy(node.modifiers), copy.deepcopy(node.name),
                                    copy.deepcopy(node.arguments),
                                    [g[i] if len(g) > 1 else copy.deepcopy(g[0]) for g in groups])
            gate.span = node.span
            expanded.append(gate)
        return expanded


def _number(expr, label: str) -> float:
    """Value of a constant parameter expression (pyqasm has already folded most)."""
    if isinstance(expr, (qast.FloatLiteral, qast.IntegerLiteral)):
        return float(expr.value)
    if isinstance(expr, qast.Identifier) and expr.name in _CONSTANTS:
        return _CONSTANTS[expr.name]
    if isinstance(expr, qast.UnaryExpression) and expr.op.name == "-":
        return -_number(expr.expression, label)
    if isinstance(expr, qast.BinaryExpression) and expr.op.name in _BINARY:
        return float(_BINARY[expr.op.name](_number(expr.lhs, label), _number(expr.rhs, label)))
    raise _located(label, expr, f"gate parameter {type(expr).__name__} is not a constant number")


def _full_matrix(name: str, params: Sequence[float]) -> np.ndarray:
    """Dense matrix of a named gate on (controls..., targets...), little-endian."""
    spec = gate_table.GATES[name]
    op = gate_table.gate_op(name, range(spec.num_qubits), params)
    return _controlled(gate_table.dense_matrix(op), spec.num_controls)


def _controlled(matrix: np.ndarray, num_controls: int) -> np.ndarray:
    """``matrix`` conditioned on ``num_controls`` new low (first-listed) qubits being 1."""
    dim = matrix.shape[0] << num_controls
    out = np.eye(dim, dtype=np.complex128)
    rows = ((1 << num_controls) - 1) + (np.arange(matrix.shape[0]) << num_controls)
    out[np.ix_(rows, rows)] = matrix
    return out


def _inverse(name: str, params: tuple[float, ...]) -> tuple[str, tuple[float, ...]] | None:
    """The named gate equal to the inverse of ``name(params)``, or None."""
    if name in _SELF_INVERSE:
        return name, params
    if name in _INVERSE_PAIRS:
        return _INVERSE_PAIRS[name], params
    if name in _ODD_IN_PARAMS:
        return name, tuple(-p for p in params)
    if name in ("u", "u3", "cu3"):  # u(θ,φ,λ)† = u(−θ,−λ,−φ)
        theta, phi, lam = params
        return name, (-theta, -lam, -phi)
    if name == "u2":  # u2(φ,λ) = u(π/2,φ,λ)
        return "u", (-math.pi / 2, -params[1], -params[0])
    return None


def _modified_gate(name: str, params: tuple[float, ...], qubits: tuple[int, ...],
                   inverse: bool, num_controls: int) -> Gate:
    """``ctrl(num_controls) @ inv @ name(params)`` as a named gate, else as a dense unitary."""
    matrix = None
    if inverse:
        named = _inverse(name, params)
        if named is None:
            matrix = _full_matrix(name, params).conj().T
        else:
            name, params = named
    if num_controls:
        if matrix is None and (name, num_controls) in _CONTROLLED:
            name = _CONTROLLED[name, num_controls]
        else:
            base = _full_matrix(name, params) if matrix is None else matrix
            matrix = _controlled(base, num_controls)
    if matrix is not None:
        return Gate("unitary", qubits, (), matrix)
    return Gate(name, qubits, params)


class _Builder:
    """Walks pyqasm's unrolled statements into a :class:`Circuit`."""

    def __init__(self, label: str, original: qast.Program):
        self.label = label
        self.original = original
        self.qubit_offsets: dict[str, tuple[int, int]] = {}
        self.bit_offsets: dict[str, tuple[int, int]] = {}

    def build(self, statements, name: str) -> Circuit:
        qregs, cregs = [], []
        for st in statements:
            if isinstance(st, qast.QubitDeclaration):
                size = 1 if st.size is None else _int_literal(st.size)
                self.qubit_offsets[st.qubit.name] = (sum(s for _, s in qregs), size)
                qregs.append((st.qubit.name, size))
            elif isinstance(st, qast.ClassicalDeclaration) and isinstance(st.type, qast.BitType):
                size = 1 if st.type.size is None else _int_literal(st.type.size)
                self.bit_offsets[st.identifier.name] = (sum(s for _, s in cregs), size)
                cregs.append((st.identifier.name, size))
        num_qubits = sum(s for _, s in qregs)
        if num_qubits < 1:
            raise CircuitError(f"{self.label}: the program declares no qubits")
        circuit = Circuit(num_qubits, sum(s for _, s in cregs), qregs=qregs, cregs=cregs, name=name)
        try:
            self._statements(circuit, statements)
        except CircuitError as exc:
            text = str(exc)
            raise CircuitError(text if text.startswith(self.label) else f"{self.label}: {text}") from None
        return circuit

    def _statements(self, circuit: Circuit, statements) -> None:
        for st in statements:
            if isinstance(st, qast.QuantumGate):
                self._gate(circuit, st)
            elif isinstance(st, qast.QuantumPhase):
                self._phase(circuit, st)
            elif isinstance(st, qast.QuantumMeasurementStatement):
                if st.target is None:
                    raise _located(self.label, st, "a measurement without a target bit is not "
                                                   "supported; write 'c[0] = measure q[0];'")
                qubits = self._bits(st.measure.qubit, self.qubit_offsets)
                bits = self._bits(st.target, self.bit_offsets)
                if len(qubits) != len(bits):
                    raise _located(self.label, st, f"measuring {len(qubits)} qubit(s) into {len(bits)} bit(s)")
                for q, b in zip(qubits, bits):
                    circuit.append(Measure(q, b))
            elif isinstance(st, qast.QuantumReset):
                for q in self._bits(st.qubits, self.qubit_offsets):
                    circuit.append(Reset(q))
            elif isinstance(st, qast.QuantumBarrier):
                qubits = [q for operand in st.qubits for q in self._bits(operand, self.qubit_offsets)]
                circuit.append(Barrier(tuple(qubits) if qubits else tuple(range(circuit.num_qubits))))
            elif isinstance(st, qast.Box):
                self._statements(circuit, st.body)
            elif isinstance(st, qast.BranchingStatement):
                circuit.append(self._branch(circuit, st))
            elif isinstance(st, qast.WhileLoop):
                raise _located(self.label, self._first_source(type(st)) or st,
                               "classical control ('while' on measured bits) is not supported")
            elif isinstance(st, (qast.Include, qast.QubitDeclaration, qast.ClassicalDeclaration,
                                 qast.ConstantDeclaration, qast.IODeclaration, qast.Pragma)):
                continue
            else:
                kind = "delay" if isinstance(st, qast.DelayInstruction) else type(st).__name__
                raise _located(self.label, st, f"'{kind}' statements are not supported")

    def _branch(self, circuit: Circuit, st) -> IfBits:
        """``if (condition) {...} else {...}`` as :class:`IfBits`."""
        clbits, value, equal = self._condition(st.condition, st)
        blocks = []
        for block in (st.if_block, st.else_block):
            scratch = Circuit(circuit.num_qubits, circuit.num_clbits, qregs=circuit.qregs, cregs=circuit.cregs)
            self._statements(scratch, block)
            blocks.append(tuple(scratch.instructions))
        body, orelse = blocks if equal else blocks[::-1]
        return IfBits(tuple(clbits), value, body, orelse)

    def _condition(self, cond, st) -> tuple[list[int], int, bool]:
        """Bits, value and ``==`` (True) or ``!=`` of a condition on a bit or a register."""
        unsupported = _located(self.label, self._first_source(qast.BranchingStatement) or st,
                               "if: only a bit or a register compared with a constant is supported "
                               "(c[0] == 1, c == 5, c[0], !c[0])")
        if isinstance(cond, qast.UnaryExpression) and cond.op.name == "!":
            clbits, value, equal = self._condition(cond.expression, st)
            return clbits, value, not equal
        if isinstance(cond, (qast.Identifier, qast.IndexExpression)):
            return self._condition_bits(cond, unsupported), 1, True
        if not (isinstance(cond, qast.BinaryExpression) and cond.op.name in ("==", "!=")):
            raise unsupported
        clbits = self._condition_bits(cond.lhs, unsupported)
        rhs = cond.rhs
        value = int(rhs.value) if isinstance(rhs, qast.BooleanLiteral) else _int_literal(rhs)
        if value is None:
            raise unsupported
        if not 0 <= value < 1 << len(clbits):
            raise _located(self.label, st, f"if: value {value} does not fit {len(clbits)} bit(s)")
        return clbits, value, cond.op.name == "=="

    def _condition_bits(self, expr, unsupported) -> list[int]:
        if isinstance(expr, qast.Identifier) and expr.name in self.bit_offsets:
            offset, size = self.bit_offsets[expr.name]
            return list(range(offset, offset + size))
        if (isinstance(expr, qast.IndexExpression) and isinstance(expr.collection, qast.Identifier)
                and expr.collection.name in self.bit_offsets and isinstance(expr.index, list)
                and len(expr.index) == 1 and _int_literal(expr.index[0]) is not None):
            offset, size = self.bit_offsets[expr.collection.name]
            index = _int_literal(expr.index[0])
            if not 0 <= index < size:
                raise _located(self.label, expr, f"if: bit {index} is outside register {expr.collection.name!r}")
            return [offset + index]
        raise unsupported

    def _first_source(self, kind):
        """First statement of ``kind`` in the source, for its line number."""
        stack = list(reversed(self.original.statements))
        while stack:
            node = stack.pop()
            if isinstance(node, kind):
                return node
            for value in vars(node).values():
                items = value if isinstance(value, list) else [value]
                stack.extend(v for v in reversed(items) if isinstance(v, qast.Statement))
        return None

    def _bits(self, operand, offsets: dict[str, tuple[int, int]]) -> list[int]:
        """Flat indices of ``r``, ``r[i]`` (qubits or classical bits)."""
        if isinstance(operand, qast.Identifier):
            reg, indices = operand.name, None
        elif isinstance(operand, qast.IndexedIdentifier):
            reg, indices = operand.name.name, operand.indices
        else:
            raise _located(self.label, operand, f"unsupported operand {type(operand).__name__}")
        if reg not in offsets:
            raise _located(self.label, operand, f"undefined register {reg!r}")
        offset, size = offsets[reg]
        if indices is None:
            return list(range(offset, offset + size))
        if len(indices) != 1 or not isinstance(indices[0], list) or len(indices[0]) != 1:
            raise _located(self.label, operand, f"unsupported index on register {reg!r}")
        index = _int_literal(indices[0][0])
        if index is None or not -size <= index < size:
            raise _located(self.label, operand, f"index {index} out of range for register {reg!r} "
                                                f"of size {size}")
        return [offset + index % size]

    def _qubits(self, operands) -> tuple[int, ...]:
        qubits = []
        for operand in operands:
            found = self._bits(operand, self.qubit_offsets)
            if len(found) != 1:
                raise _located(self.label, operand, "a gate operand must be a single qubit here")
            qubits.extend(found)
        return tuple(qubits)

    def _modifiers(self, node) -> tuple[bool, int]:
        inverse, num_controls = False, 0
        for mod in node.modifiers:
            kind = mod.modifier.name
            if kind == "inv":
                inverse = not inverse
            elif kind == "ctrl":
                num_controls += 1 if mod.argument is None else int(_number(mod.argument, self.label))
            else:
                raise _located(self.label, node, f"gate modifier '{kind}' is not supported here")
        return inverse, num_controls

    def _finite(self, node, name: str, values: Sequence[float]) -> None:
        """Refuse a gate angle that is not a finite number (``sqrt(-1)``, ``log(0)``, ``1e400``) in one line."""
        for value in values:
            if not math.isfinite(value):
                raise _located(self.label, node, f"a parameter of '{name}' evaluates to {value}; gate "
                                                 "parameters must be finite numbers")

    def _gate(self, circuit: Circuit, node: qast.QuantumGate) -> None:
        name = gate_table.canonical_gate_name(node.name.name)
        params = tuple(_number(a, self.label) for a in node.arguments)
        self._finite(node, node.name.name, params)
        qubits = self._qubits(node.qubits)
        inverse, num_controls = self._modifiers(node)
        gate_table.gate_op(name, qubits[num_controls:], params)  # names an unknown gate plainly
        circuit.append(_modified_gate(name, params, qubits, inverse, num_controls))

    def _phase(self, circuit: Circuit, node: qast.QuantumPhase) -> None:
        """``gphase`` is a global phase; under ``ctrl`` it is a phase on the controls."""
        inverse, num_controls = self._modifiers(node)
        if num_controls == 0:
            return
        angle = _number(node.argument, self.label) * (-1 if inverse else 1)
        self._finite(node, "gphase", (angle,))
        qubits = self._qubits(node.qubits)[:num_controls]
        if num_controls <= 2:
            circuit.append(Gate("p" if num_controls == 1 else "cp", qubits, (angle,)))
        else:
            diagonal = np.ones(1 << num_controls, dtype=np.complex128)
            diagonal[-1] = np.exp(1j * angle)
            circuit.append(Gate("unitary", qubits, (), np.diag(diagonal)))


# --------------------------------------------------------------------------- export


def _zyz_angles(matrix: np.ndarray) -> tuple[float, float, float]:
    """``(θ, φ, λ)`` with ``matrix = e^{iγ} u(θ, φ, λ)`` (Nielsen & Chuang, Theorem 4.1)."""
    theta = 2.0 * math.atan2(abs(matrix[1, 0]), abs(matrix[0, 0]))
    if abs(matrix[0, 0]) > 1e-12:
        gamma = np.angle(matrix[0, 0])
        phi_plus_lam = np.angle(matrix[1, 1]) - gamma
        phi = np.angle(matrix[1, 0]) - gamma if abs(matrix[1, 0]) > 1e-12 else 0.0
        lam = phi_plus_lam - phi
    else:  # θ = π: only the off-diagonal phases matter
        gamma = np.angle(-matrix[0, 1])
        phi, lam = np.angle(matrix[1, 0]) - gamma, 0.0
    return float(theta), float(phi), float(lam)


def _named_registers(regs: list[tuple[str, int]], total: int, default: str) -> list[tuple[str, int]]:
    """The circuit's registers, or one register ``default`` when they do not add up to ``total``."""
    if sum(size for _, size in regs) != total:
        return [(default, total)] if total else []
    return [(name, size) for name, size in regs if size > 0]


def _params_text(params: Sequence[float]) -> str:
    for p in params:
        if not math.isfinite(p):
            raise CircuitError(f"gate parameter {p!r} cannot be written as OpenQASM (must be finite)")
    return f"({', '.join(repr(float(p)) for p in params)})" if params else ""


def dump_qasm(circuit: Circuit, version: int = 3) -> str:
    """Write a circuit as OpenQASM 3 (``stdgates.inc``) or OpenQASM 2 (``qelib1.inc``).

    Gates missing from the include get a ``gate`` definition in the output.
    ``u`` is written as the built-in ``U``. A dense 1-qubit ``unitary`` is
    written as ``U(θ, φ, λ)``, dropping its global phase. Parameters are
    printed with ``repr``, so they read back bit for bit.

    Args:
        circuit: the circuit to write.
        version: 3 or 2.

    Returns:
        The program text, ending with a newline.

    Raises:
        CircuitError: ``version`` is not 2 or 3, a parameter is not finite, or
            the circuit holds a dense unitary on 2 or more qubits (no OpenQASM
            spelling; dqsim does not synthesize those).

    Examples:
        >>> c = Circuit(2).gate("h", 0).gate("rzz", 0, 1, params=[0.5])
        >>> print(dump_qasm(c, version=2))
        OPENQASM 2.0;
        include "qelib1.inc";
        gate rzz(theta) a, b { cx a, b; rz(theta) b; cx a, b; }
        qreg q[2];
        h q[0];
        rzz(0.5) q[0], q[1];
        <BLANKLINE>
    """
    if version not in (2, 3):
        raise CircuitError(f"version = {version!r}: the OpenQASM version must be 2 or 3")
    include, definitions = (_STDGATES_INC, _QASM3_DEFS) if version == 3 else (_QELIB1_INC, _QASM2_DEFS)
    regs = _named_registers(circuit.qregs, circuit.num_qubits, "q")
    cregs = _named_registers(circuit.cregs, circuit.num_clbits, "c")
    qubits = [f"{reg}[{i}]" for reg, size in regs for i in range(size)]
    bits = [f"{reg}[{i}]" for reg, size in cregs for i in range(size)]
    body = _instructions_text(circuit.instructions, qubits, bits, version)
    used = {g.name for g in circuit.all_gates()}
    missing = sorted(used - include - set(definitions) - {"u", "unitary"})
    if missing:  # every name of GATES is covered; this guards a table that grew
        raise CircuitError(f"gate(s) {missing} have no OpenQASM {version} definition in dqsim")
    lines = [f"OPENQASM {version}.0;", f'include "{"stdgates.inc" if version == 3 else "qelib1.inc"}";']
    lines += [text for gate, text in definitions.items() if gate in used and gate not in include]
    if version == 3:
        lines += [f"qubit[{size}] {name};" for name, size in regs]
        lines += [f"bit[{size}] {name};" for name, size in cregs]
    else:
        lines += [f"qreg {name}[{size}];" for name, size in regs]
        lines += [f"creg {name}[{size}];" for name, size in cregs]
    return "\n".join(lines + body) + "\n"


def _instructions_text(instructions, qubits: list[str], bits: list[str], version: int) -> list[str]:
    """The statements of ``instructions`` as OpenQASM lines (``if`` blocks in OpenQASM 3 only)."""
    body = []
    for ins in instructions:
        if isinstance(ins, IfBits):
            if version != 3:
                raise CircuitError("an 'if' on measured bits can be written as OpenQASM 3 only; use version=3")
            condition = " && ".join(f"{bits[b]} == {(ins.value >> j) & 1}" for j, b in enumerate(ins.clbits))
            body.append(f"if ({condition}) {{")
            body += ["  " + line for line in _instructions_text(ins.body, qubits, bits, version)]
            if ins.orelse:
                body.append("} else {")
                body += ["  " + line for line in _instructions_text(ins.orelse, qubits, bits, version)]
            body.append("}")
        elif isinstance(ins, Gate):
            name, params = ins.name, ins.params
            if name == "unitary":
                if len(ins.qubits) != 1:
                    raise CircuitError(f"a dense unitary on {len(ins.qubits)} qubits cannot be written "
                                       "as OpenQASM: dqsim decomposes only 1-qubit unitaries (into U)")
                name, params = "u", _zyz_angles(np.asarray(ins.matrix))
            operands = ", ".join(qubits[q] for q in ins.qubits)
            body.append(f"{'U' if name == 'u' else name}{_params_text(params)} {operands};")
        elif isinstance(ins, Measure):
            body.append(f"{bits[ins.clbit]} = measure {qubits[ins.qubit]};" if version == 3
                        else f"measure {qubits[ins.qubit]} -> {bits[ins.clbit]};")
        elif isinstance(ins, Reset):
            body.append(f"reset {qubits[ins.qubit]};")
        elif isinstance(ins, Barrier):
            body.append(f"barrier {', '.join(qubits[q] for q in ins.qubits)};")
    return body


# --------------------------------------------------------------------------- qiskit


def from_qiskit(qc, *, name: str | None = None) -> Circuit:
    """Convert a ``qiskit.QuantumCircuit`` (qiskit is optional; imported here only).

    Standard-library gates whose name is in :data:`dqsim.state.gates.GATES`
    keep their name (qiskit's conventions are dqsim's); any other gate on up to
    5 qubits becomes a dense ``unitary`` from its qiskit ``Operator``, which is
    little-endian in its qubit list like dqsim's. The circuit's global phase
    is dropped.

    Raises:
        CircuitError: qiskit is missing, or the circuit has control flow,
            unbound parameters or an operation with no matrix.
    """
    try:
        from qiskit.circuit import ControlFlowOp
        from qiskit.circuit.library import get_standard_gate_name_mapping
        from qiskit.quantum_info import Operator
    except ImportError:
        raise CircuitError("from_qiskit needs qiskit: pip install qiskit") from None
    standard = get_standard_gate_name_mapping()
    qregs = [(r.name, r.size) for r in qc.qregs]
    cregs = [(r.name, r.size) for r in qc.cregs]
    circuit = Circuit(qc.num_qubits, qc.num_clbits,
                      qregs=qregs if sum(s for _, s in qregs) == qc.num_qubits else [],
                      cregs=cregs if sum(s for _, s in cregs) == qc.num_clbits else [],
                      name=name or qc.name)
    for ins in qc.data:
        op = ins.operation
        qubits = tuple(qc.find_bit(q).index for q in ins.qubits)
        if isinstance(op, ControlFlowOp):
            raise CircuitError(f"from_qiskit: control flow ({op.name!r}) is not supported")
        if op.name == "measure":
            circuit.append(Measure(qubits[0], qc.find_bit(ins.clbits[0]).index))
        elif op.name == "reset":
            circuit.append(Reset(qubits[0]))
        elif op.name == "barrier":
            circuit.append(Barrier(qubits))
        elif op.num_qubits == 0:  # global phase
            continue
        else:
            try:
                params = tuple(float(p) for p in op.params)
            except (TypeError, ValueError):
                raise CircuitError(f"from_qiskit: gate {op.name!r} has unbound or non-numeric "
                                   f"parameters {op.params}") from None
            std = standard.get(op.name) if op.name in gate_table.GATES else None
            if (std is not None and op.base_class is std.base_class
                    and getattr(op, "ctrl_state", None) == getattr(std, "ctrl_state", None)):
                circuit.append(Gate(op.name, qubits, params))
                continue
            try:
                matrix = Operator(op).data
            except Exception as exc:  # qiskit raises several types for "no matrix"
                raise CircuitError(f"from_qiskit: operation {op.name!r} has no matrix ({exc})") from None
            circuit.append(Gate("unitary", qubits, (), matrix))
    return circuit
