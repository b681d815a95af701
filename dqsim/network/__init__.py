"""Physics of the optical network: fibre, detectors, Raman noise, entanglement, topology.

Pure functions and small frozen dataclasses; no MPI and no simulation
engine. Units live in names (``distance_km``, ``delay_ps`` in integer
picoseconds, ``dark_count_rate_hz``); bad input raises
:class:`dqsim.errors.DqsimError` (a ``ValueError``) naming the parameter,
its value and the allowed range.

Modules:

* :mod:`~dqsim.network.fibre`: transmittance 10^(-αL/10), delay n_g·L/c.
* :mod:`~dqsim.network.detectors`: click probability 1-(1-Y0)e^(-ημ), dark
  counts, dead time.
* :mod:`~dqsim.network.raman`: spontaneous Raman noise (Eraerds et al. 2010).
* :mod:`~dqsim.network.entanglement`: single-click, double-click and direct
  heralded entanglement; attempt period and waiting time.
* :mod:`~dqsim.network.werner`: Werner states, swapping, BBPSSW, CHSH,
  teleportation, PLOB bound, memory decoherence.
* :mod:`~dqsim.network.link`, :mod:`~dqsim.network.node`: ``LinkSpec`` and
  ``NodeSpec``.
* :mod:`~dqsim.network.topology`: line, ring, star, grid, all-to-all and
  explicit topologies, routing, placement of nodes on ranks.
* :mod:`~dqsim.network.network`: :class:`Network`, the network of one run
  (nodes, links, routes, latencies, placement on ranks, the engine's
  lookahead), built once and handed to the engine.
"""

from dqsim.network.detectors import (
    dark_count_probability,
    dead_time_efficiency,
    dead_time_pulses,
    detection_probability,
)
from dqsim.network.entanglement import (
    DEFAULT_BRIGHT_STATE_ALPHA,
    MIDPOINT_SCHEMES,
    SCHEMES,
    attempt_period_ps,
    delivered_fidelity,
    delivered_state,
    herald_delay_ps,
    mean_attempts,
    mean_attempts_two_links,
    mean_time_to_success_ps,
    photons_per_attempt,
    station_distance_km,
    success_probability,
)
from dqsim.network.fibre import (
    DEFAULT_ATTENUATION_DB_PER_KM,
    DEFAULT_GROUP_INDEX,
    attenuation_per_km,
    fibre_transmittance,
    propagation_delay_ps,
    total_transmittance,
)
from dqsim.network.link import (
    DEFAULT_DARK_COUNT_RATE_HZ,
    DEFAULT_DETECTOR_EFFICIENCY,
    DEFAULT_GATE_WIDTH_PS,
    LinkSpec,
)
from dqsim.network.network import Network, place_on_ranks
from dqsim.network.node import NodeSpec
from dqsim.network.raman import (
    DEFAULT_RAMAN_CROSS_SECTION_PER_KM_PER_NM,
    DEFAULT_WAVELENGTH_NM,
    PLANCK_CONSTANT_J_S,
    photon_energy_j,
    photon_rate_hz,
    raman_backward_power_w,
    raman_forward_power_w,
    raman_noise_click_probability,
    raman_noise_counts_per_gate,
)
from dqsim.network.topology import (
    DEFAULT_LINK,
    all_to_all,
    from_edges,
    grid,
    line,
    path_distance_km,
    place_nodes,
    ring,
    shortest_path,
    star,
    validate,
)
from dqsim.network.werner import (
    bbpssw_fidelity,
    bell_diagonal_hashing_yield,
    bell_diagonal_key_fraction,
    bbpssw_success_probability,
    chsh_value,
    decohered_fidelity,
    fidelity_from_werner,
    plob_bound,
    swap_fidelity,
    teleportation_fidelity,
    werner_from_fidelity,
    werner_hashing_yield,
    werner_key_fraction,
)

__all__ = [
    "DEFAULT_ATTENUATION_DB_PER_KM",
    "DEFAULT_BRIGHT_STATE_ALPHA",
    "DEFAULT_DARK_COUNT_RATE_HZ",
    "DEFAULT_DETECTOR_EFFICIENCY",
    "DEFAULT_GATE_WIDTH_PS",
    "DEFAULT_GROUP_INDEX",
    "DEFAULT_LINK",
    "DEFAULT_RAMAN_CROSS_SECTION_PER_KM_PER_NM",
    "DEFAULT_WAVELENGTH_NM",
    "MIDPOINT_SCHEMES",
    "PLANCK_CONSTANT_J_S",
    "SCHEMES",
    "LinkSpec",
    "Network",
    "NodeSpec",
    "all_to_all",
    "attempt_period_ps",
    "attenuation_per_km",
    "bbpssw_fidelity",
    "bbpssw_success_probability",
    "bell_diagonal_hashing_yield",
    "bell_diagonal_key_fraction",
    "chsh_value",
    "dark_count_probability",
    "dead_time_efficiency",
    "dead_time_pulses",
    "decohered_fidelity",
    "delivered_fidelity",
    "delivered_state",
    "detection_probability",
    "fibre_transmittance",
    "fidelity_from_werner",
    "from_edges",
    "grid",
    "herald_delay_ps",
    "line",
    "mean_attempts",
    "mean_attempts_two_links",
    "mean_time_to_success_ps",
    "path_distance_km",
    "photon_energy_j",
    "photon_rate_hz",
    "photons_per_attempt",
    "place_nodes",
    "place_on_ranks",
    "plob_bound",
    "propagation_delay_ps",
    "raman_backward_power_w",
    "raman_forward_power_w",
    "raman_noise_click_probability",
    "raman_noise_counts_per_gate",
    "ring",
    "shortest_path",
    "star",
    "station_distance_km",
    "success_probability",
    "swap_fidelity",
    "teleportation_fidelity",
    "total_transmittance",
    "validate",
    "werner_from_fidelity",
    "werner_hashing_yield",
    "werner_key_fraction",
]
