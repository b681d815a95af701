"""The ``[noise]`` model of the ``circuit`` scenario, applied along one trajectory.

After each gate: a depolarizing error (one qubit: ``depolarizing_1q``; two
qubits: the two-qubit channel with ``depolarizing_2q``; more: the
one-qubit channel on each qubit; ``gates`` overrides the probability per
gate kind), then amplitude damping (γ = ``amplitude_damping``) on each of
its qubits. At each measurement the bit flips with ``readout_error``.
Channels and their conventions: :mod:`dqsim.state.noise`. Every draw comes
from the stream ``"circuit-noise"`` of the run's seed (node 0), so shots do
not depend on the number of ranks.
"""

from __future__ import annotations

from dqsim.rng import Stream
from dqsim.state import noise


class GateNoise:
    """The noise of a job's ``[noise]`` section (a :class:`dqsim.jobs.circuit.NoiseSection`).

    Args:
        section: the job's ``[noise]``.
        seed: the run's seed.
    """

    def __init__(self, section, seed: int):
        self.section = section
        self.stream = Stream(seed, node=0, purpose="circuit-noise")

    @property
    def flips_qubits(self) -> bool:
        """Whether errors after gates can apply X or Y or a decay (non-diagonal: a qubit must be local)."""
        s = self.section
        return bool(s.depolarizing_1q or s.depolarizing_2q or s.amplitude_damping or any(s.gates.values()))

    def after_gate(self, state, gate) -> None:
        """Apply the errors that follow ``gate`` (a :class:`dqsim.circuit.ir.Gate`)."""
        s = self.section
        qubits = gate.qubits
        default = s.depolarizing_2q if len(qubits) == 2 else s.depolarizing_1q
        p = s.gates.get(gate.name, default)
        if p:
            if len(qubits) == 2:
                noise.depolarize2(state, qubits[0], qubits[1], p, self.stream)
            else:
                for q in qubits:
                    noise.depolarize(state, q, p, self.stream)
        if s.amplitude_damping:
            for q in qubits:
                noise.amplitude_damp(state, q, s.amplitude_damping, self.stream)

    def readout(self, bit: int) -> int:
        """The recorded value of a measured ``bit`` (flipped with ``readout_error``)."""
        if not self.section.readout_error:
            return bit
        return bit ^ int(self.stream.next_generator().random() < self.section.readout_error)
