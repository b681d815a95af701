"""One quantum processing node: its qubits, their memory times, gate times and errors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from dqsim.errors import ConfigError
from dqsim.checks import check_int, check_real


@dataclass(frozen=True, kw_only=True)
class NodeSpec:
    """A quantum processor on the network.

    The defaults describe an ideal node (no decoherence, no errors,
    instantaneous operations); a job file sets the values of the hardware
    being modelled. All fields are validated on construction
    (:class:`dqsim.errors.ConfigError`, a ``ValueError``, naming the field,
    its value and the allowed range).

    Attributes:
        name: node name, a non-empty string without whitespace.
        num_data_qubits: qubits that hold computation data, >= 0.
        num_comm_qubits: communication qubits that hold halves of entangled
            pairs, >= 1.
        t1_s: energy relaxation time T1 of the memories, s, > 0 (``math.inf``
            allowed).
        t2_s: coherence time T2, s, in (0, 2·T1] (``math.inf`` allowed when
            T1 is infinite).
        gate_1q_duration_ps: duration of a one-qubit gate, ps, >= 0.
        gate_2q_duration_ps: duration of a two-qubit gate, ps, >= 0.
        measure_duration_ps: duration of a measurement, ps, >= 0. A
            ``[network.node]`` (dqc, trotter, cloud) allows at most 10**12
            (1 s, :data:`dqsim.jobs.network.MAX_NODE_DURATION_PS`) for each
            of the three.
        gate_1q_error_probability: depolarising error probability of a
            one-qubit gate, in [0, 1].
        gate_2q_error_probability: depolarising error probability of a
            two-qubit gate, in [0, 1].
        measure_error_probability: probability that a measurement reports
            the wrong outcome, in [0, 1].
        classical_processing_delay_ps: time the node takes to act on a
            classical message or a heralding station's click, ps, >= 0
            (:meth:`~dqsim.network.network.Network.latency_ps` adds it to
            every message; an EPR initiator waits it after the herald). A
            ``[network.node]`` (dqc, trotter, cloud) allows at most 10**12
            (1 s, :data:`dqsim.jobs.network.MAX_PROCESSING_DELAY_PS`).

    Examples:
        >>> node = NodeSpec(name="alice", num_data_qubits=4)
        >>> node.num_qubits
        5
        >>> NodeSpec(name="bob", t1_s=1.0, t2_s=3.0)
        Traceback (most recent call last):
            ...
        dqsim.errors.ConfigError: NodeSpec: t2_s must be at most 2*t1_s = 2 (T2 <= 2*T1), got 3.0
    """

    name: str
    num_data_qubits: int = 0
    num_comm_qubits: int = 1
    t1_s: float = math.inf
    t2_s: float = math.inf
    gate_1q_duration_ps: int = 0
    gate_2q_duration_ps: int = 0
    measure_duration_ps: int = 0
    gate_1q_error_probability: float = 0.0
    gate_2q_error_probability: float = 0.0
    measure_error_probability: float = 0.0
    classical_processing_delay_ps: int = 0

    def __post_init__(self) -> None:
        where = "NodeSpec"
        kw = {"error": ConfigError}
        _check_name(self.name)
        check_int(where, "num_data_qubits", self.num_data_qubits, 0, **kw)
        check_int(where, "num_comm_qubits", self.num_comm_qubits, 1, **kw)
        t1_s = check_real(where, "t1_s", self.t1_s, 0.0, low_open=True, allow_inf=True, **kw)
        t2_s = check_real(where, "t2_s", self.t2_s, 0.0, low_open=True, allow_inf=True, **kw)
        if t2_s > 2.0 * t1_s:
            raise ConfigError(
                f"{where}: t2_s must be at most 2*t1_s = {2.0 * t1_s:g} (T2 <= 2*T1), "
                f"got {self.t2_s!r}"
            )
        check_int(where, "gate_1q_duration_ps", self.gate_1q_duration_ps, 0, **kw)
        check_int(where, "gate_2q_duration_ps", self.gate_2q_duration_ps, 0, **kw)
        check_int(where, "measure_duration_ps", self.measure_duration_ps, 0, **kw)
        check_real(where, "gate_1q_error_probability", self.gate_1q_error_probability,
                   0.0, 1.0, **kw)
        check_real(where, "gate_2q_error_probability", self.gate_2q_error_probability,
                   0.0, 1.0, **kw)
        check_real(where, "measure_error_probability", self.measure_error_probability,
                   0.0, 1.0, **kw)
        check_int(where, "classical_processing_delay_ps", self.classical_processing_delay_ps,
                  0, **kw)

    def renamed(self, name: str) -> "NodeSpec":
        """The same hardware under another name; only the name is checked (the rest was, on construction).

        ``dataclasses.replace`` checks every field again: 20 ms for the 1,024
        nodes of a chain, 3 % of its run on one rank.

        Raises:
            ConfigError: an empty name or one with whitespace.

        Examples:
            >>> import dataclasses
            >>> spec = NodeSpec(name="n", t2_s=1.0)
            >>> spec.renamed("node7") == dataclasses.replace(spec, name="node7")
            True
        """
        return self.renamed_all([name])[0]

    def renamed_all(self, names: Sequence[str]) -> list["NodeSpec"]:
        """:meth:`renamed` under each of ``names``: one spec per name, in order, the names checked in one pass.

        Every rank of a run builds the network's nodes: a 1,024-node chain
        took ~9 M instructions in one :meth:`renamed` call per node (the
        name check, then a copy), ~2 M this way.

        Raises:
            ConfigError: an empty name or one with whitespace (the first such, in order).

        Examples:
            >>> specs = NodeSpec(name="n", t2_s=1.0).renamed_all(["a", "b"])
            >>> [s.name for s in specs], specs[1] == NodeSpec(name="b", t2_s=1.0)
            (['a', 'b'], True)
            >>> NodeSpec(name="n").renamed_all(["a", "b c"])
            Traceback (most recent call last):
                ...
            dqsim.errors.ConfigError: NodeSpec: name must be a non-empty string without whitespace, got 'b c'
        """
        names = list(names)
        try:  # every name a non-empty string without whitespace: joined by spaces, they split back into themselves
            clean = " ".join(names).split() == names
        except TypeError:  # a name that is not a string
            clean = False
        if not clean:
            for name in names:
                _check_name(name)  # raises at the first bad one
        fields, new, specs = self.__dict__, object.__new__, []
        append = specs.append
        for name in names:  # (a frozen dataclass: its fields are written into the instance dict directly)
            spec = new(NodeSpec)
            values = spec.__dict__
            values.update(fields)
            values["name"] = name
            append(spec)
        return specs

    @property
    def num_qubits(self) -> int:
        """Data and communication qubits together."""
        return self.num_data_qubits + self.num_comm_qubits


def _check_name(name) -> None:
    """A node name is a non-empty string without whitespace (:class:`ConfigError` otherwise)."""
    # str.split() cuts at exactly the characters str.isspace() accepts: one piece, the name, means none
    if not isinstance(name, str) or name.split() != [name]:
        raise ConfigError(f"NodeSpec: name must be a non-empty string without whitespace, got {name!r}")
