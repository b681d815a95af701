"""The LDPC mother codes a ``qkd`` job's run will take, predicted from its links' physics without simulating.

A block's code follows from its key bits N and its QBER estimate (:func:`dqsim.protocols.qkd.ldpc.block_code`, the
choice :func:`dqsim.protocols.qkd.ldpc.reconciler` makes). For BB84 with decoys both have closed forms in the
link's physics, the model the simulator draws from:

* the registered clicks per pulse (:func:`dqsim.protocols.qkd.detections.registered_clicks_per_pulse`: fibre,
  coupling, detector efficiency, dark and Raman counts, dead time) times the key bits per click
  (:func:`dqsim.protocols.qkd.detections.key_bits_per_detection`) times the block's pulses give the sifted key
  bits; asymptotic, a share ``sample_fraction`` of them is disclosed for the estimate (m bits) and N is the rest;
  finite key, N is the Z basis's sifted bits of every class and the estimate is the X basis's (m = its sifted
  bits, ``(1 - p_z)²`` of the clicks);
* the expected QBER of those bits is the gain-weighted error rate of the simulated receiver,
  ``E = Σ_k w_k·E_k·Q_k / Σ_k w_k·Q_k`` over the classes k of the estimate's bits (the signal class asymptotic,
  every class finite key), with ``Q_k`` and ``E_k·Q_k`` of
  :func:`dqsim.protocols.qkd.theory.receiver_gain_and_error` (GLLP's gain and QBER of a coherent pulse in the
  decoy-state form of H.-K. Lo, X. Ma and K. Chen, Phys. Rev. Lett. 94, 230504 (2005); X. Ma, B. Qi, Y. Zhao and
  H.-K. Lo, Phys. Rev. A 72, 012326 (2005), eqs. (7)-(9), exact in the background);
* the estimate is Laplace's ``(k + 1)/(m + 2)`` (:attr:`dqsim.protocols.qkd.postprocess.QberSample.cascade_qber`)
  for ``k ~ Binomial(m, E)`` errors in the sample.

The estimate spreads, and so do N and m: :func:`link_codes` takes every code of the estimates within
:data:`SPREAD_SIGMAS` standard errors of k (every integer k there, at most :data:`MOST_ERROR_COUNTS` of them
evenly spaced) at N and m each at their expected value and :data:`SPREAD_SIGMAS` Poisson standard errors either
side; a block whose estimate reaches a neighbouring code's range takes that code too. Blocks of two lengths
(``pulses`` not a multiple of ``block_pulses``: the last block is shorter) are predicted each.

Not covered (:func:`uncovered_reason`, where ``dqsim warmup`` runs its pilot block instead,
:func:`dqsim.scenarios.warmup.ldpc_pilot_job`): BBM92/E91 (their key bits per pair are a pilot draw,
:func:`dqsim.protocols.qkd.nodes.entangled_key_bits_per_pair`), a link with Eve (her errors are not in the closed
form) or with afterpulses (an afterpulse's bit is random: not in it either).
"""

from __future__ import annotations

import math

import numpy as np

from dqsim.protocols.qkd import ldpc
from dqsim.protocols.qkd.detections import key_bits_per_detection, registered_clicks_per_pulse
from dqsim.protocols.qkd.theory import receiver_gain_and_error
from dqsim.scenarios import qkd

#: Standard errors either side of the expected error count, key bits and sample size that the prediction covers:
#: a block falls outside about once in 370 per quantity (a normal tail of 3σ, both sides).
SPREAD_SIGMAS = 3.0
#: Most error counts k tried per sample size (evenly spaced over the spread; every integer where fewer).
MOST_ERROR_COUNTS = 400


def uncovered_reason(job) -> str | None:
    """Why the closed form does not predict the codes of ``job`` (a ``qkd`` job with LDPC), else ``None``."""
    q = job.qkd
    if q.protocol != "bb84_decoy":
        return f"protocol {q.protocol}: its key bits per pair come from a pilot draw"
    if q.eve is not None and q.eve.attack != "none":
        return "Eve's errors are not in the closed form"
    if q.link.afterpulse_probability > 0.0:
        return "afterpulses are not in the closed form"
    return None


def block_lengths(job) -> list[int]:
    """The distinct key block lengths of ``job``, pulses: ``block_pulses`` and, where ``pulses`` is not a multiple
    of it, the last block's (:meth:`dqsim.protocols.qkd.nodes.QkdPlan` cuts blocks at ``block_pulses``)."""
    q = job.qkd
    block = min(q.block_pulses, q.pulses)
    last = q.pulses - (-(-q.pulses // block) - 1) * block
    return sorted({block, last}, reverse=True)


def expected_block(job, distance_km: float, block_pulses: int) -> tuple[float, float, float]:
    """``(N, m, E)`` of a key block of ``block_pulses`` pulses on a link of ``distance_km``: the expected key bits
    reconciled, the bits its QBER estimate is made from and their expected QBER (module docstring)."""
    plan = qkd.build_plan(job)
    source = plan.source
    phys = qkd.link_physics(job, 0, 0, 1, distance_km)
    finite = job.qkd.security == "finite_key"
    models = dict(channel=phys.channel, detector=phys.detector, eve=phys.eve, noise_probability=phys.noise_probability)
    clicks = block_pulses * registered_clicks_per_pulse(source, **models)
    sifted = clicks * key_bits_per_detection(source, finite_key=finite, **models)
    eta = phys.channel.total_transmittance * phys.detector.efficiency
    p_b = phys.detector.background_probability(phys.noise_probability)
    e_d = phys.detector.misalignment
    gains = [receiver_gain_and_error(mu, eta, p_b, e_d) for mu in source.intensities]
    classes = range(len(gains)) if finite else [0]
    weight = sum(source.probabilities[k] * gains[k][0] for k in classes)
    qber = sum(source.probabilities[k] * gains[k][1] for k in classes) / weight if weight > 0.0 else 0.5
    if finite:
        return sifted, clicks * (1.0 - source.z_basis_probability) ** 2, qber
    sampled = job.qkd.sample_fraction * sifted
    return sifted - sampled, sampled, qber


def _spread(mean: float) -> list[int]:
    """``mean`` and :data:`SPREAD_SIGMAS` Poisson standard errors either side, as non-negative integers."""
    width = SPREAD_SIGMAS * math.sqrt(max(mean, 0.0))
    return sorted({max(0, round(mean + side * width)) for side in (-1, 0, 1)})


def _error_counts(sampled: int, qber: float) -> list[int]:
    """The error counts k of a sample of ``sampled`` bits within :data:`SPREAD_SIGMAS` binomial standard errors of
    ``sampled·qber`` (at most :data:`MOST_ERROR_COUNTS`, evenly spaced, both ends kept)."""
    mean = sampled * qber
    width = SPREAD_SIGMAS * math.sqrt(sampled * qber * (1.0 - qber))
    low, high = max(0, math.floor(mean - width)), min(sampled, math.ceil(mean + width))
    return sorted(set(np.linspace(low, high, min(high - low + 1, MOST_ERROR_COUNTS)).round().astype(int).tolist()))


def link_codes(job, distance_km: float) -> set[tuple[int, float]]:
    """``{(code length, mother rate)}`` that the key blocks of a link of ``distance_km`` can take (module
    docstring): every block length of the job, the spread of N, m and k."""
    q = job.qkd
    codes = set()
    for pulses in block_lengths(job):
        num_key_bits, sampled, qber = expected_block(job, distance_km, pulses)
        for m in _spread(sampled):
            for k in _error_counts(m, qber):
                estimate = (k + 1) / (m + 2)
                for n in _spread(num_key_bits):
                    code = ldpc.block_code(n, estimate, q.f_ec, sample_fraction=q.sample_fraction,
                                           mode=q.ldpc_mode)
                    if code is not None:
                        codes.add(code)
    return codes


def predicted_codes(job) -> list[tuple[int, float]] | None:
    """The LDPC mother codes ``(length, rate)`` a run of ``job`` can take, longest and highest rate first, from its
    links' physics (:func:`link_codes` of each distinct length); ``None`` where the job does not reconcile with
    LDPC or the closed form does not cover it (:func:`uncovered_reason`).

    Examples:
        >>> from dqsim import jobs
        >>> job = jobs.apply_overrides(jobs.load_job("jobs/bb84_decoy_50km.toml"), ['qkd.error_correction="ldpc"'])
        >>> predicted_codes(job)
        [(65536, 0.85), (16384, 0.85)]
    """
    if job.scenario != "qkd" or job.qkd.error_correction != "ldpc" or uncovered_reason(job) is not None:
        return None
    codes = set()
    for distance in dict.fromkeys(float(d) for d in job.qkd.distances_km()):
        codes |= link_codes(job, distance)
    return sorted(codes, reverse=True)
