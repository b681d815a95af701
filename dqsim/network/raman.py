"""Spontaneous Raman noise from classical light sharing the fibre with a quantum channel.

Model of P. Eraerds, N. Walenta, M. Legré, N. Gisin and H. Zbinden, "Quantum
key distribution and 1 Gbps data encryption over a single fibre", New J.
Phys. 12, 063027 (2010). A classical signal launched with power ``P`` into
fibre of attenuation ``α`` (1/km) scatters light into the quantum channel's
filter passband ``Δλ`` with the *effective Raman cross-section* ``ρ`` (per
km and per nm of passband). Treating the classical and the quantum
wavelengths as equally attenuated, the scattered power reaching the quantum
receiver is

* forward (classical light travelling the same way as the quantum signal,
  noise received at the far end)::

      P_f = P·ρ·Δλ·L·e^(-αL)

  light scattered at ``z`` is attenuated by ``e^(-αz)`` before and
  ``e^(-α(L-z))`` after, i.e. ``e^(-αL)`` whatever ``z``;

* backward (classical light launched at the quantum receiver's end, noise
  scattered back towards it)::

      P_b = P·ρ·Δλ·(1 - e^(-2αL))/(2α) = P·ρ·Δλ·e^(-αL)·sinh(αL)/α

  light scattered at ``z`` is attenuated twice by ``e^(-αz)``.

(Eraerds et al. write both with the output power ``P_out = P·e^(-αL)``:
``P_f = P_out·L·ρ·Δλ`` and ``P_b = P_out·sinh(αL)/α·ρ·Δλ``.)

Noise power becomes a photon rate ``P/(h·c/λ)`` and a mean number of noise
counts per gate ``rate·η_det·Δt``.

**The default cross-section.** ρ depends strongly on the wavelengths of the
classical and the quantum channel (it follows the silica Raman gain
spectrum, with an extra Boltzmann factor on the anti-Stokes side). We use
:data:`DEFAULT_RAMAN_CROSS_SECTION_PER_KM_PER_NM` = 3e-9 /(km·nm), an
*order-of-magnitude* value: Eraerds et al. (2010) measured ρ(λ) in standard
fibre for a pump near 1550 nm and report values of a few 1e-9 /(km·nm) on
the Stokes side within some 200 nm of the pump. The exact reading of their
curve at a given detuning could not be checked when this module was
written. As a cross-check from first principles, the spontaneous Raman
power per unit length and bandwidth is ``P·(g_R/A_eff)·hν·(1 + n_th)``
(one photon per mode seeding the Raman gain; G. P. Agrawal, *Nonlinear
Fiber Optics*, 5th ed., Sec. 8.1): with ``g_R ≈ 6e-14 m/W`` at the 13 THz
gain peak for a 1550 nm pump, ``A_eff ≈ 80 µm²`` and ``n_th ≈ 0.14`` at room
temperature this is ≈ 1e-8 /(km·nm) at the gain peak and a few 1e-9 where
the gain is a few tens of percent of the peak. On the anti-Stokes side
(quantum channel at shorter wavelength than the classical light, e.g. 1310
nm quantum with 1550 nm data) ρ is one to two orders of magnitude smaller.
Pass a measured ρ for the wavelength plan at hand whenever one is known.
"""

from __future__ import annotations

import math

from dqsim import units
from dqsim.checks import check_int, check_real
from dqsim.network.fibre import DEFAULT_ATTENUATION_DB_PER_KM, attenuation_per_km

#: Planck constant, J·s (exact, SI definition since 2019).
PLANCK_CONSTANT_J_S = 6.62607015e-34

#: Metres per nanometre (wavelengths are given in nm).
M_PER_NM = 1.0e-9

#: Default quantum-channel wavelength, nm (telecom C band).
DEFAULT_WAVELENGTH_NM = 1550.0

#: Default effective Raman cross-section ρ, 1/(km·nm): an order-of-magnitude
#: value for standard single-mode fibre near 1550 nm after Eraerds et al.,
#: New J. Phys. 12, 063027 (2010); see the module docstring for how it was
#: chosen and when to replace it.
DEFAULT_RAMAN_CROSS_SECTION_PER_KM_PER_NM = 3.0e-9


def _check_common(where, launch_power_dbm, distance_km, attenuation_db_per_km,
                  raman_cross_section_per_km_per_nm, filter_bandwidth_nm):
    power_dbm = check_real(where, "launch_power_dbm", launch_power_dbm)
    length_km = check_real(where, "distance_km", distance_km, 0.0)
    alpha_db = check_real(where, "attenuation_db_per_km", attenuation_db_per_km, 0.0)
    rho = check_real(where, "raman_cross_section_per_km_per_nm",
                     raman_cross_section_per_km_per_nm, 0.0)
    band_nm = check_real(where, "filter_bandwidth_nm", filter_bandwidth_nm, 0.0)
    return units.dbm_to_watts(power_dbm), length_km, attenuation_per_km(alpha_db), rho, band_nm


def raman_forward_power_w(
    launch_power_dbm: float,
    distance_km: float,
    *,
    filter_bandwidth_nm: float,
    attenuation_db_per_km: float = DEFAULT_ATTENUATION_DB_PER_KM,
    raman_cross_section_per_km_per_nm: float = DEFAULT_RAMAN_CROSS_SECTION_PER_KM_PER_NM,
) -> float:
    """Forward-scattered Raman power at the far end: P·ρ·Δλ·L·e^(-αL).

    Eraerds et al., New J. Phys. 12, 063027 (2010) (module docstring).

    Args:
        launch_power_dbm: classical launch power P, dBm.
        distance_km: fibre length L, km, >= 0.
        filter_bandwidth_nm: passband Δλ of the quantum receiver's filter, nm, >= 0.
        attenuation_db_per_km: attenuation, dB/km, >= 0 (α = α_dB·ln(10)/10).
        raman_cross_section_per_km_per_nm: effective Raman cross-section ρ,
            1/(km·nm), >= 0.

    Returns:
        Noise power in the quantum channel's passband at the far end, W.

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> p = raman_forward_power_w(0.0, 25.0, filter_bandwidth_nm=1.0)
        >>> round(p / 1e-11, 4)  # 1 mW over 25 km through a 1 nm filter
        2.3717
    """
    power_w, length_km, alpha, rho, band_nm = _check_common(
        "raman_forward_power_w", launch_power_dbm, distance_km, attenuation_db_per_km,
        raman_cross_section_per_km_per_nm, filter_bandwidth_nm)
    return power_w * rho * band_nm * length_km * math.exp(-alpha * length_km)


def raman_backward_power_w(
    launch_power_dbm: float,
    distance_km: float,
    *,
    filter_bandwidth_nm: float,
    attenuation_db_per_km: float = DEFAULT_ATTENUATION_DB_PER_KM,
    raman_cross_section_per_km_per_nm: float = DEFAULT_RAMAN_CROSS_SECTION_PER_KM_PER_NM,
) -> float:
    """Backward-scattered Raman power at the launch end: P·ρ·Δλ·(1 - e^(-2αL))/(2α).

    Eraerds et al., New J. Phys. 12, 063027 (2010) (module docstring). Equal
    to ``P·ρ·Δλ·e^(-αL)·sinh(αL)/α``; tends to ``P·ρ·Δλ·L`` as α → 0 and to
    ``P·ρ·Δλ/(2α)`` for long fibre.

    Args:
        launch_power_dbm: classical launch power P, dBm.
        distance_km: fibre length L, km, >= 0.
        filter_bandwidth_nm: passband Δλ of the quantum receiver's filter, nm, >= 0.
        attenuation_db_per_km: attenuation, dB/km, >= 0 (α = α_dB·ln(10)/10).
        raman_cross_section_per_km_per_nm: effective Raman cross-section ρ,
            1/(km·nm), >= 0.

    Returns:
        Noise power in the quantum channel's passband at the launch end, W.

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> p = raman_backward_power_w(0.0, 25.0, filter_bandwidth_nm=1.0)
        >>> round(p / 1e-11, 4)
        2.9315
    """
    power_w, length_km, alpha, rho, band_nm = _check_common(
        "raman_backward_power_w", launch_power_dbm, distance_km, attenuation_db_per_km,
        raman_cross_section_per_km_per_nm, filter_bandwidth_nm)
    if alpha * length_km == 0.0:
        effective_length_km = length_km
    else:
        effective_length_km = -math.expm1(-2.0 * alpha * length_km) / (2.0 * alpha)
    return power_w * rho * band_nm * effective_length_km


def photon_energy_j(wavelength_nm: float = DEFAULT_WAVELENGTH_NM) -> float:
    """Energy of one photon, E = h·c/λ, J.

    Args:
        wavelength_nm: vacuum wavelength λ, nm, > 0.

    Returns:
        Photon energy, J.

    Raises:
        DqsimError: a non-positive wavelength.

    Examples:
        >>> round(photon_energy_j(1550.0) / 1e-19, 5)
        1.28158
    """
    wavelength_nm = check_real("photon_energy_j", "wavelength_nm", wavelength_nm, 0.0,
                               low_open=True)
    return PLANCK_CONSTANT_J_S * units.SPEED_OF_LIGHT_M_PER_S / (wavelength_nm * M_PER_NM)


def photon_rate_hz(power_w: float, wavelength_nm: float = DEFAULT_WAVELENGTH_NM) -> float:
    """Photons per second carried by optical power ``power_w``: P·λ/(h·c).

    Args:
        power_w: optical power, W, >= 0.
        wavelength_nm: vacuum wavelength λ, nm, > 0.

    Returns:
        Photon rate, 1/s.

    Raises:
        DqsimError: a negative power or a non-positive wavelength.

    Examples:
        >>> round(photon_rate_hz(1e-12, 1550.0))
        7802881
    """
    power_w = check_real("photon_rate_hz", "power_w", power_w, 0.0)
    return power_w / photon_energy_j(wavelength_nm)


def raman_noise_counts_per_gate(
    noise_power_w: float,
    *,
    detector_efficiency: float,
    gate_width_ps: int,
    wavelength_nm: float = DEFAULT_WAVELENGTH_NM,
) -> float:
    """Mean number of detected noise photons per gate: (P/(h·c/λ))·η_det·Δt.

    Args:
        noise_power_w: Raman noise power reaching the detector, W, >= 0 (from
            :func:`raman_forward_power_w` or :func:`raman_backward_power_w`).
        detector_efficiency: detector efficiency η_det in [0, 1].
        gate_width_ps: detection gate width Δt, ps, > 0.
        wavelength_nm: quantum-channel wavelength λ, nm, > 0.

    Returns:
        Mean noise counts per gate (a Poisson mean; see
        :func:`raman_noise_click_probability`).

    Raises:
        DqsimError: an argument out of its range.

    Examples:
        >>> round(raman_noise_counts_per_gate(1e-12, detector_efficiency=0.5,
        ...                                   gate_width_ps=1000), 8)
        0.00390144
    """
    where = "raman_noise_counts_per_gate"
    noise_power_w = check_real(where, "noise_power_w", noise_power_w, 0.0)
    eta = check_real(where, "detector_efficiency", detector_efficiency, 0.0, 1.0)
    width_ps = check_int(where, "gate_width_ps", gate_width_ps, 1)
    rate_hz = photon_rate_hz(noise_power_w, wavelength_nm)
    return rate_hz * eta * units.ps_to_seconds(width_ps)


def raman_noise_click_probability(mean_counts_per_gate: float) -> float:
    """Probability that Raman noise makes a threshold detector click in a gate: 1 - e^(-n).

    Raman photons are broadband thermal-like light spread over many temporal
    and spectral modes, so their number per gate is close to Poissonian
    with mean ``n``; the result adds to the dark-count probability Y0 as
    ``1 - (1 - Y0)(1 - p_raman)``.

    Args:
        mean_counts_per_gate: mean detected noise photons per gate, >= 0.

    Returns:
        Click probability in [0, 1).

    Raises:
        DqsimError: a negative mean.

    Examples:
        >>> round(raman_noise_click_probability(0.01), 6)
        0.00995
    """
    n = check_real("raman_noise_click_probability", "mean_counts_per_gate",
                   mean_counts_per_gate, 0.0)
    return -math.expm1(-n)
