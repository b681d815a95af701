"""Loss and delay of single-mode optical fibre.

Lengths are kilometres, losses decibels, delays integer picoseconds
(:mod:`dqsim.units`).

The exponential loss law and the dB/km convention are textbook fibre optics
(e.g. G. P. Agrawal, *Fiber-Optic Communication Systems*, 4th ed., Wiley
2010, Sec. 2.5): the power left after ``L`` km is ``P(L) = P(0)·10^(-α_dB·L/10)
= P(0)·e^(-α·L)`` with ``α = α_dB·ln(10)/10`` in 1/km.
"""

from __future__ import annotations

import math

import numpy as np

from dqsim import units
from dqsim.checks import check_real

#: Attenuation of standard single-mode fibre at 1550 nm, dB/km. ITU-T G.652
#: allows up to 0.3 dB/km; cabled SMF-28-class fibre is typically 0.18-0.2.
DEFAULT_ATTENUATION_DB_PER_KM = 0.2

#: Group index of Corning SMF-28 at 1550 nm (data sheet: effective group
#: index of refraction 1.4682 at 1550 nm, 1.4676 at 1310 nm).
DEFAULT_GROUP_INDEX = 1.468


def fibre_transmittance(distance_km: float, attenuation_db_per_km: float) -> float:
    """Probability that a photon survives ``distance_km`` of fibre: 10^(-α_dB·L/10).

    Args:
        distance_km: fibre length, km, >= 0.
        attenuation_db_per_km: attenuation α_dB, dB/km, >= 0.

    Returns:
        Transmittance in (0, 1]; exactly 1 for zero length or zero loss.

    Raises:
        DqsimError: a negative or non-finite argument.

    Examples:
        >>> fibre_transmittance(50.0, 0.2)
        0.1
        >>> fibre_transmittance(0.0, 0.2)
        1.0
    """
    where = "fibre_transmittance"
    distance_km = check_real(where, "distance_km", distance_km, 0.0)
    attenuation_db_per_km = check_real(where, "attenuation_db_per_km", attenuation_db_per_km, 0.0)
    return units.db_to_transmittance(attenuation_db_per_km * distance_km)


def attenuation_per_km(attenuation_db_per_km: float) -> float:
    """Convert an attenuation from dB/km to the natural (power) coefficient in 1/km.

    ``α = α_dB·ln(10)/10``, so that ``e^(-α·L) = 10^(-α_dB·L/10)``.

    Args:
        attenuation_db_per_km: attenuation α_dB, dB/km, >= 0.

    Returns:
        α in 1/km.

    Raises:
        DqsimError: a negative or non-finite argument.

    Examples:
        >>> round(attenuation_per_km(0.2), 6)
        0.046052
    """
    attenuation_db_per_km = check_real(
        "attenuation_per_km", "attenuation_db_per_km", attenuation_db_per_km, 0.0
    )
    return attenuation_db_per_km * math.log(10.0) / 10.0


def propagation_delay_ps(distance_km: float, group_index: float = DEFAULT_GROUP_INDEX) -> int:
    """One-way time of flight through fibre, n_g·L/c, rounded to integer picoseconds.

    Args:
        distance_km: fibre length, km, >= 0.
        group_index: group index n_g of the fibre, >= 1.

    Returns:
        Delay in picoseconds (0 for zero length).

    Raises:
        DqsimError: a negative length or a group index below 1.

    Examples:
        >>> propagation_delay_ps(1.0)
        4896721
        >>> propagation_delay_ps(0.0)
        0
    """
    where = "propagation_delay_ps"
    distance_km = check_real(where, "distance_km", distance_km, 0.0)
    group_index = check_real(where, "group_index", group_index, 1.0)
    seconds = group_index * distance_km * units.M_PER_KM / units.SPEED_OF_LIGHT_M_PER_S
    return units.seconds_to_ps(seconds)


def propagation_delays_ps(distances_km: np.ndarray, group_index: np.ndarray | float = DEFAULT_GROUP_INDEX
                          ) -> np.ndarray:
    """:func:`propagation_delay_ps` of many fibres at once, n_g·L/c each: the same float64 operations in the same
    order, rounded half to even as Python's ``round`` is, so the same integers (tested); one NumPy pass where a
    network's links each give their own length (2^21 of them at most).

    Args:
        distances_km: fibre lengths, km, each >= 0 and finite (not checked here: each a length a
            :class:`~dqsim.network.link.LinkSpec` accepted).
        group_index: group index n_g of each fibre (an array of the same shape) or of all, >= 1.

    Returns:
        An int64 array of delays in picoseconds.

    Examples:
        >>> propagation_delays_ps(np.array([0.0, 1.0, 20.0])).tolist() == [propagation_delay_ps(d) for d in (0.0, 1.0, 20.0)]
        True
    """
    seconds = np.asarray(group_index, dtype=np.float64) * np.asarray(distances_km, dtype=np.float64)
    seconds = seconds * units.M_PER_KM / units.SPEED_OF_LIGHT_M_PER_S
    return np.rint(seconds * float(units.PS_PER_S)).astype(np.int64)


def total_transmittance(
    distance_km: float,
    attenuation_db_per_km: float,
    coupling_loss_db: float = 0.0,
    detector_efficiency: float = 1.0,
) -> float:
    """Probability that a photon leaves the source, crosses the fibre and is detected.

    ``η = 10^(-(α_dB·L + C_dB)/10) · η_det``: fibre loss and lumped coupling
    (connector, splice, insertion) loss add in dB; the detector's efficiency
    multiplies.

    Args:
        distance_km: fibre length, km, >= 0.
        attenuation_db_per_km: attenuation α_dB, dB/km, >= 0.
        coupling_loss_db: lumped coupling loss C_dB, dB, >= 0.
        detector_efficiency: detector efficiency η_det in [0, 1].

    Returns:
        Total transmittance in [0, 1].

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> round(total_transmittance(10.0, 0.2, coupling_loss_db=1.0, detector_efficiency=0.9), 6)
        0.451069
    """
    where = "total_transmittance"
    distance_km = check_real(where, "distance_km", distance_km, 0.0)
    attenuation_db_per_km = check_real(where, "attenuation_db_per_km", attenuation_db_per_km, 0.0)
    coupling_loss_db = check_real(where, "coupling_loss_db", coupling_loss_db, 0.0)
    detector_efficiency = check_real(where, "detector_efficiency", detector_efficiency, 0.0, 1.0)
    loss_db = attenuation_db_per_km * distance_km + coupling_loss_db
    return units.db_to_transmittance(loss_db) * detector_efficiency
