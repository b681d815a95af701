"""Pauli sums: real linear combinations of Pauli strings, parsed from text.

The text form is what job files give as observables (``[simulation].observables``)
and what :mod:`dqsim.circuit.hamiltonians` builds: terms ``(coefficient,
letters, qubits)`` as :meth:`dqsim.state.sharded.ShardedState.expectation`
takes them. :func:`parse_pauli_sum` raises a one-line
:class:`~dqsim.errors.ConfigError`; :func:`parse_pauli_terms` raises
:class:`PauliSyntaxError` without a prefix, for callers (the job schema) that
say themselves where the text came from.
"""

from __future__ import annotations

import math
import re

from dqsim.errors import ConfigError, count_of, toml_repr

__all__ = ["PauliTerm", "PauliSyntaxError", "parse_pauli_sum", "parse_pauli_terms", "qubit_range_problem"]

#: One term of a Pauli sum: ``(coefficient, letters, qubits)``, e.g. ``(0.5, "XX", (0, 1))``.
PauliTerm = tuple[float, str, tuple[int, ...]]

_PAULI_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<factor>[A-Za-z]\d*)
  | (?P<sign>[+-])
  | (?P<star>\*)
""", re.VERBOSE)


class PauliSyntaxError(ValueError):
    """Why a Pauli-sum string does not parse; the message has no prefix (callers add where the text came from)."""


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    pos = 0
    while pos < len(text):
        m = _PAULI_TOKEN.match(text, pos)
        if m is None:
            raise PauliSyntaxError(f"unexpected character {text[pos]!r} at column {pos + 1}")
        if m.lastgroup != "space":
            tokens.append((m.lastgroup, m.group(), pos + 1))
        pos = m.end()
    return tokens


def parse_pauli_terms(text: str) -> list[tuple[float, list[tuple[str, int]]]]:
    """Parse into ``(coefficient, [(letter, qubit), ...])`` keeping identity factors.

    Raises:
        PauliSyntaxError: why ``text`` does not parse (see :func:`parse_pauli_sum`).
    """
    if not isinstance(text, str):
        raise PauliSyntaxError(f"expected a string, got {toml_repr(text)}")
    tokens = _tokenize(text)
    if not tokens:
        raise PauliSyntaxError("empty; give terms like 0.5*X0 X1 - Z2")
    terms: list[tuple[float, list[tuple[str, int]]]] = []
    i = 0

    def peek(kind: str) -> bool:
        return i < len(tokens) and tokens[i][0] == kind

    sign = 1.0
    if peek("sign"):
        sign = -1.0 if tokens[i][1] == "-" else 1.0
        i += 1
    while True:
        if i >= len(tokens):
            raise PauliSyntaxError("a term is missing after the last sign")
        coefficient = 1.0
        has_coefficient = False
        if peek("number"):
            kind, tok, col = tokens[i]
            coefficient = float(tok)
            if not math.isfinite(coefficient):
                raise PauliSyntaxError(f"coefficient {tok} at column {col} is not finite")
            has_coefficient = True
            i += 1
            if peek("star"):
                i += 1
                if not peek("factor"):
                    raise PauliSyntaxError(f"expected Pauli factors like X0 after '*' at column {tokens[i - 1][2]}")
            elif peek("factor"):
                raise PauliSyntaxError(f"expected '*' between coefficient {tok} and {tokens[i][1]} "
                                       f"at column {tokens[i][2]}")
        factors: list[tuple[str, int]] = []
        seen: dict[int, int] = {}
        while peek("factor"):
            _, tok, col = tokens[i]
            letter, digits = tok[0], tok[1:]
            if letter not in "IXYZ":
                raise PauliSyntaxError(f"bad Pauli letter {letter!r} in {tok!r} at column {col} "
                                       "(allowed I, X, Y, Z followed by a qubit index)")
            if not digits:
                raise PauliSyntaxError(f"Pauli factor {tok!r} at column {col} has no qubit index "
                                       f"(write e.g. {letter}0)")
            qubit = int(digits)
            if qubit in seen:
                raise PauliSyntaxError(f"qubit {qubit} appears twice in one term (column {seen[qubit]} and {col})")
            seen[qubit] = col
            factors.append((letter, qubit))
            i += 1
            if peek("star") and i + 1 < len(tokens) and tokens[i + 1][0] == "factor":
                i += 1  # allow X0*X1 as well as X0 X1
        if not has_coefficient and not factors:
            kind, tok, col = tokens[i]
            raise PauliSyntaxError(f"expected a term at column {col}, got {tok!r}")
        terms.append((sign * coefficient, factors))
        if i >= len(tokens):
            return terms
        if not peek("sign"):
            _, tok, col = tokens[i]
            raise PauliSyntaxError(f"expected + or - before {tok!r} at column {col}")
        sign = -1.0 if tokens[i][1] == "-" else 1.0
        i += 1


def parse_pauli_sum(text: str) -> list[PauliTerm]:
    """Parse a real linear combination of Pauli strings.

    Terms are separated by ``+`` or ``-``. A term is an optional real
    coefficient followed by ``*`` and Pauli factors (a letter ``I``, ``X``,
    ``Y`` or ``Z`` and a qubit index, separated by spaces or ``*``), or just
    a coefficient (a multiple of the identity). Identity factors are dropped
    from the result.

    Args:
        text: the sum, e.g. ``"0.5*X0 X1 - 0.25*Z2 + 1"``.

    Returns:
        One ``(coefficient, letters, qubits)`` tuple per term, in order.

    Raises:
        ConfigError: bad syntax, a letter other than I/X/Y/Z, a factor with no
            qubit index, or a qubit repeated within one term.

    Examples:
        >>> parse_pauli_sum("0.5*X0 X1 - Z2")
        [(0.5, 'XX', (0, 1)), (-1.0, 'Z', (2,))]
        >>> parse_pauli_sum("-2.5 + Y3*Z12")
        [(-2.5, '', ()), (1.0, 'YZ', (3, 12))]
        >>> parse_pauli_sum("X0 X0")
        Traceback (most recent call last):
        ...
        dqsim.errors.ConfigError: Pauli sum "X0 X0": qubit 0 appears twice in one term (column 1 and 4)
    """
    try:
        terms = parse_pauli_terms(text)
    except PauliSyntaxError as exc:
        raise ConfigError(f"Pauli sum {toml_repr(text)}: {exc}") from None
    out: list[PauliTerm] = []
    for coefficient, factors in terms:
        kept = [(p, q) for p, q in factors if p != "I"]
        out.append((coefficient, "".join(p for p, _ in kept), tuple(q for _, q in kept)))
    return out


def qubit_range_problem(text: str, num_qubits: int) -> str | None:
    """Why the Pauli sum ``text`` (known to parse) acts on a qubit >= ``num_qubits``, or None.

    Examples:
        >>> qubit_range_problem("Z0 Z1", 2), qubit_range_problem("X3", 2)
        (None, 'qubit 3 is outside 0..1 (the circuit has 2 qubits)')
    """
    for _, factors in parse_pauli_terms(text):
        for _, qubit in factors:
            if qubit >= num_qubits:
                return (f"qubit {qubit} is outside 0..{num_qubits - 1} "
                        f"(the circuit has {count_of(num_qubits, 'qubit')})")
    return None
