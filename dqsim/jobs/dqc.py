"""Job files of the ``"dqc"`` scenario: one circuit distributed over QPUs linked by an optical network.

Sections: ``[run]``, ``[network]`` with ``[network.link]`` and ``[network.node]``
(:mod:`dqsim.jobs.network`), ``[circuit]`` (:mod:`dqsim.jobs.circuit`),
``[distribution]`` and ``[simulation]``; see ``jobs/dqc_ghz_4qpu.toml``. The
scenario itself is :mod:`dqsim.scenarios.dqc`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from dqsim.jobs.base import JobConfig
from dqsim.jobs.circuit import CircuitSection, SimulationSection, check_observable_qubits, with_default_circuit_seed
from dqsim.jobs.errors import job_error
from dqsim.jobs.network import DistributionSection, NetworkSection, check_assignment

__all__ = ["DqcJob", "DqcSimulationSection"]


class DqcSimulationSection(SimulationSection):
    """``[simulation]`` of the ``"dqc"`` scenario: as :class:`SimulationSection`, plus:

    Attributes:
        timeline: record the timeline of network and gate events (default true;
            first trajectory only).
        trajectories: independent engine runs, 1..1000 (default 1). Network
            qubits are exact small states, but where a noisy pair or memory
            meets the data register one pure state is drawn (a trajectory);
            with several, the fidelity is their mean with its standard error
            and the shots are drawn across them (``shots / trajectories`` each).
        fidelity_check: how the fidelity to the monolithic circuit is found
            (:func:`dqsim.scenarios.dqc.run_dqc`): ``"auto"`` (default) on a second
            register when it fits in memory beside the first, else ``"in_place"``
            (the circuit undone and redone on the final state: no memory, twice
            the gates); ``"copy"`` always the second register (refused where it
            does not fit); ``"off"`` no check (fidelity NaN).
    """

    timeline: bool = True
    trajectories: int = Field(1, ge=1, le=1000)
    fidelity_check: Literal["auto", "copy", "in_place", "off"] = "auto"


class DqcJob(JobConfig):
    """Scenario ``"dqc"``: one circuit distributed over QPUs linked by an optical network.

    Attributes:
        network: the ``[network]`` section with ``[network.link]`` and ``[network.node]``.
        circuit: the ``[circuit]`` section, as in :class:`CircuitJob`.
        distribution: the ``[distribution]`` section (all defaults when absent).
        simulation: the ``[simulation]`` section (all defaults when absent).

    Examples:
        >>> from dqsim.jobs import apply_overrides, load_job_text
        >>> job = load_job_text('''
        ... [run]
        ... name = "dqc"
        ... scenario = "dqc"
        ... [network]
        ... topology = "line"
        ... num_nodes = 2
        ... [network.link]
        ... distance_km = 10
        ... [network.node]
        ... num_data_qubits = 2
        ... [circuit]
        ... generator = "ghz"
        ... num_qubits = 4
        ... ''')
        >>> type(job).__name__, job.network.link_spec().distance_km, job.distribution.scheme
        ('DqcJob', 10.0, 'telegate')
        >>> apply_overrides(job, ["circuit.num_qubits=5"])
        Traceback (most recent call last):
        ...
        dqsim.errors.ConfigError: <string> (with --set circuit.num_qubits=5): [circuit].num_qubits = 5 exceeds the network's capacity of 4 data qubits (2 nodes × 2)
    """

    scenario: ClassVar[str] = "dqc"

    network: NetworkSection
    circuit: CircuitSection
    distribution: DistributionSection = Field(default_factory=DistributionSection)
    simulation: DqcSimulationSection = Field(default_factory=DqcSimulationSection)

    @model_validator(mode="before")
    @classmethod
    def _default_circuit_seed(cls, data: Any) -> Any:
        return with_default_circuit_seed(data)

    @model_validator(mode="after")
    def _check_fits_network(self) -> "DqcJob":
        network = self.network
        num_nodes = network.resolved_num_nodes()
        names = network.node_name_sequence()
        per_node = network.node_spec(names[0]).num_data_qubits
        num_qubits = self.circuit.num_qubits
        if self.circuit.generator is not None and num_qubits > network.data_capacity():
            raise job_error(f"exceeds the network's capacity of {network.data_capacity()} data qubits "
                            f"({num_nodes} nodes × {per_node})",
                            key=("circuit", "num_qubits"), value=num_qubits, has_value=True, run_on=True)
        assignment = self.distribution.assignment
        if assignment is not None:
            check_assignment(assignment, count=num_qubits, count_text=f"the circuit has {num_qubits}",
                             unit="qubits", num_nodes=num_nodes, per_node=per_node, names=names)
        check_observable_qubits(self.circuit, self.simulation)
        return self
