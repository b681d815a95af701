"""The LDPC mother codes a ``qkd`` job's run will take, predicted from its links' physics without simulating.

A block's code follows from its key bits N and its QBER estimate (:func:`dqsim.protocols.qkd.ldpc.block_code`, the
choice :func:`dqsim.protocols.qkd.ldpc.reconciler` makes). Both have closed forms in the link's physics, the model
the simulator draws from (:func:`expected_block`). For BB84 with decoys:

* the registered clicks per pulse (:func:`dqsim.protocols.qkd.detections.registered_clicks_per_pulse`: fibre,
  coupling, detector efficiency, dark and Raman counts, dead time) times the key bits per click
  (:func:`dqsim.protocols.qkd.detections.key_bits_per_detection`) times the block's pulses give the sifted key
  bits; asymptotic, a share ``sample_fraction`` of them is disclosed for the estimate (m bits) and N is the rest;
  finite key, N is the Z basis's sifted bits of every class and the estimate is the X basis's (m = its sifted
  bits, ``(1 - p_z)²`` of the clicks);
* the expected QBER of those bits is the gain-weighted error rate of the simulated receiver,
  ``E = Σ_k w_k·E_k·Q_k / Σ_k w_k·Q_k`` over the configurations k (class, attacked by Eve or not) of the
  estimate's bits (the signal class asymptotic, the X basis's bits of every class finite key), with ``Q_k`` and
  ``E_k·Q_k`` of :func:`dqsim.protocols.qkd.theory.receiver_gain_and_error` (GLLP's gain and QBER of a coherent
  pulse in the decoy-state form of H.-K. Lo, X. Ma and K. Chen, Phys. Rev. Lett. 94, 230504 (2005); X. Ma, B. Qi,
  Y. Zhao and H.-K. Lo, Phys. Rev. A 72, 012326 (2005), eqs. (7)-(9), exact in the background); since 2026-12-07
  (late afternoon) with Eve and afterpulses
  (:func:`dqsim.protocols.qkd.detections.sifted_errors_per_detection`): a pulse Eve intercepts and resends
  reaches Bob as her one photon, right in her basis (``e_d`` then) and random in the other (intercept-resend adds
  ``f/4`` to the QBER for a fraction f in a random basis: N. Gisin, G. Ribordy, W. Tittel and H. Zbinden, Rev.
  Mod. Phys. 74, 145 (2002), sec. VI.A), a beam-split one as without her; an afterpulse (a share ``p_ap`` of the
  registered clicks) adds a click in a random detector to its pulse's own, wrong with ``1/2 - (Q_k - 2E_kQ_k)/4``;
* the estimate is Laplace's ``(k + 1)/(m + 2)`` (:attr:`dqsim.protocols.qkd.postprocess.QberSample.cascade_qber`)
  for ``k ~ Binomial(m, E)`` errors in the sample.

For BBM92/E91 (since 2026-12-07, late afternoon) the sifted bits are the block's pair slots times the
coincidence probability (both sides click: :func:`dqsim.protocols.qkd.entangled.expected_coincidence_probability`
for one pair a slot, :func:`dqsim.protocols.qkd.spdc.pair_statistics` for the squeezed vacuum of an SPDC source,
X. Ma, C.-H. F. Fung and H.-K. Lo, Phys. Rev. A 76, 012307 (2007), eqs. (1)-(2), exact for the simulator's model)
times each key setting pair's share, and the QBER is that of the Werner pairs through both arms,
``(1 - w·E'·(1 - 2e_d)²·q_a·q_b/(c_a·c_b))/2`` per setting pair
(:func:`dqsim.protocols.qkd.entangled.expected_pair_qbers`: E' the pair's correlation, ``1 - f/2`` of it with Eve intercepting a fraction f in a random basis, q and c each side's
quantum-bit and click probabilities); the key is every sifted bit but a ``sample_fraction`` sample, and BBM92's
finite key keeps the Z–Z bits and estimates on every X–X bit (m). Since 2026-12-07 (night) also with one pair a slot
behind receivers with a dead time or afterpulses (:func:`dqsim.protocols.qkd.entangled.expected_registered_coincidences`:
each side's receiver an independent renewal process, its registrations ``ρ = 1/(p_a(d + 1) + (1 - p_a)(d + 1/c))`` of
the slots and ``g = 1 - p_a + p_a·c/2`` of them keeping the slot's bit; coincidences ``ρ_A·ρ_B`` of the slots and each
setting pair's QBER ``(1 - g_A·g_B·(1 - 2E))/2``), where the pilot block ran before; since 2026-12-07 (late night) an
SPDC source's too (:func:`dqsim.protocols.qkd.spdc_receivers.registered_pair_statistics`: the slot's pair number
makes both sides' raw clicks correlated, so their receivers' states are too, and the two receivers' joint chain is
solved, O(d) for a dead time of d slots; ``bench/results/qkdspdc-vm-20261207s.md``).

The estimate spreads, and so do N and m: :func:`block_code_probabilities` gives each code's probability for one
block, ``P(c) = Σ_m P(m) Σ_k P(k | m) Σ_N P(N) [block_code(N, (k + 1)/(m + 2)) = c]``, with

* ``k | m ~ Binomial(m, E)``, summed over every k of probability above :data:`NEGLIGIBLE` (exact);
* N and m Poisson (the block's clicks are; a bit is disclosed with probability ``sample_fraction``, so the
  disclosed and kept bits are independent Poisson counts by thinning, and finite key the X and Z bases' bits are);
  m by :func:`_count_points` (the exact Poisson probabilities where its ±6σ range holds at most
  :data:`EXACT_COUNTS` integers, else :data:`NORMAL_POINTS` one-σ bins of its normal approximation), N exactly
  over its ±6σ range by :func:`_codes_over_keys`: the code is a step function of N (its frame plan), evaluated
  at :data:`NORMAL_POINTS` evenly spaced N and bisected to the integer between two that differ, and each step
  takes the Poisson probability of its N. Since 2026-12-07 (late afternoon) every (m, k) term of every block is one
  entry of NumPy arrays (:func:`dqsim.protocols.qkd.ldpc.block_codes`, :func:`dqsim.protocols.qkd.ldpc.frame_codes`:
  the reconciler's choice elementwise), the bisection one pass a level over all of them, :data:`BLOCKS_AT_ONCE`
  blocks and :data:`ROWS_AT_ONCE` terms at a time: a chain of 4,095 link lengths in seconds where each length took
  ~0.06-0.4 s before (``bench/results/qkd-codes-predicted-vm-20261207q.md``). N matters only where a block sits
  near a code length's boundary
  (a point of the sweep at 175 km: ~228 key bits, the 256- and 362-bit codes), and there to the integer;
* m at its expected value from :data:`MANY_SAMPLED` on: given m, ``k/m`` is unbiased, so m's spread moves the
  estimate only through the Laplace term ``1/(m + 2)`` (by ``σ_m/m² = m^-1.5``, under 3 % of the estimate's own
  standard error ``sqrt(E/m)`` at m = 1000 and E = 1 %) and the binomial variance (relative ``m^-0.5``); at the
  far points of a sweep (m of a few to a few hundred bits) the Laplace term is much of the estimate and m is
  summed over. What fixing m does change is the lattice: the estimates are those of whole error counts, and
  where a code's range of estimates is narrower than one count its probability is off by up to that count's
  (bb84_distance_sweep at 75 km, m = 2,514: the 32,768-bit rate-0.85 code takes k = 18 alone, 0.032 of the
  blocks against 0.013-0.016 of blocks drawn with m's spread; summing m over 9 bins there gives 0.019 and
  triples the CPU, 1.6 to ~5 s for the sweep). Both ways the codes above :data:`BUILD_PROBABILITY` are the same.

:func:`code_probabilities` combines the blocks of a run, ``1 - Π_b (1 - P_b(c))``: the probability that any block
of any link (each distinct length and block length once, to the power of its blocks) takes code c, and
:func:`predicted_codes` keeps the codes above :data:`BUILD_PROBABILITY`, most probable first. A code below it is
built at run time by the first block that takes it (once: it is cached). This replaced, on 2026-12-07 (afternoon),
a box of ±3 standard errors on each of k, N and m at once per block, which for ``jobs/bb84_distance_sweep.toml``
predicted 43 codes where its run builds 8 (``bench/results/qkd-codes-predicted-vm-20261207p.md``). Blocks of two
lengths (``pulses`` not a multiple of ``block_pulses``: the last block is shorter) are predicted each.

Why a sweep's prediction is wide (``jobs/bb84_distance_sweep.toml``: 30 codes, a run takes 7.3 on average): each
of its 9 points is one block, whose code is one draw from a spread that the physics makes wide (the far points
estimate their QBER from 8-80 bits, so one error more or less moves the rate over 4-6 mother codes; the near ones
straddle the 0.875 rate at which frames go from 16,384 to 65,536 bits), and a set that holds every code a run of
any seed takes with probability above 1 % is nearly the union over seeds: the codes of 1 / 3 / 5 / 10 / 100 seeds'
runs number 7.3 / 13.5 / 16.8 / 21.0 / 31.6 on average (``1 - (1 - P)^S`` summed), and no seed-independent rule
holds them with fewer (the smallest set a run leaves with probability at most 1 %, 2 %, 5 % has 34, 32, 29 codes).
Only the draw itself narrows it: since 2026-12-07 (night) ``dqsim warmup`` runs the job with its reconciliation left
out where that costs less than building the predicted codes the run would not take
(:func:`dqsim.scenarios.warmup.should_draw`, :func:`dqsim.scenarios.warmup.drawn_codes`: the sweep's 45 million
pulses in ~0.3-1 CPU s) and builds exactly the run's codes (8 for seed 1), kept as :data:`DRAWN_CODES_KIND`.

Every ``qkd`` job with LDPC is covered since 2026-12-07 (late night). Until then ``dqsim warmup`` ran a pilot block
(:func:`dqsim.scenarios.warmup.ldpc_pilot_job`) where the closed form did not cover the job: until 2026-12-07 (late
afternoon) BBM92/E91, Eve and afterpulses, until 2026-12-07 (night) a one-pair source's link with a dead time or
afterpulses, until 2026-12-07 (late night) an SPDC source's.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

import dqsim
from dqsim import caches
from dqsim.protocols.qkd import entangled, entangled_block, ldpc, spdc_receivers
from dqsim.protocols.qkd.bb84 import BASIS_X
from dqsim.protocols.qkd.detections import (key_bits_per_detection, registered_clicks_per_pulse,
                                            sifted_errors_per_detection)
from dqsim.scenarios import qkd

#: A code is predicted (built by ``dqsim warmup``) where the probability that some block of the run takes it is
#: above this; rarer ones are built by the run's first block that takes them (once, cached).
BUILD_PROBABILITY = 1e-2
#: Probability below which an error count k of a block's sample is left out of the sum (per sample size).
NEGLIGIBLE = 1e-12
#: Most integers of a count's ±6σ range summed over exactly (Poisson); wider counts take :data:`NORMAL_POINTS`.
EXACT_COUNTS = 61
#: Bins of one standard error of a wide count's normal approximation (-4σ to 4σ at their midpoints).
NORMAL_POINTS = 9
#: Sample size m from which its spread is left out (its expected value): module docstring.
MANY_SAMPLED = 1000.0


def reconciles_with_ldpc(job) -> bool:
    """Whether ``job`` is a ``qkd`` job that reconciles with LDPC (``[qkd].error_correction = "ldpc"``): the jobs
    whose codes ``dqsim warmup`` builds and ``dqsim check`` names."""
    return job.scenario == "qkd" and job.qkd.error_correction == "ldpc"


def block_lengths(job) -> list[int]:
    """The distinct key block lengths of ``job``, pulses: ``block_pulses`` and, where ``pulses`` is not a multiple
    of it, the last block's (:meth:`dqsim.protocols.qkd.nodes.QkdPlan` cuts blocks at ``block_pulses``)."""
    q = job.qkd
    block = min(q.block_pulses, q.pulses)
    last = q.pulses - (-(-q.pulses // block) - 1) * block
    return sorted({block, last}, reverse=True)


def expected_block(job, distance_km: float, block_pulses: int) -> tuple[float, float, float]:
    """``(N, m, E)`` of a key block of ``block_pulses`` pulses (pair slots) on a link of ``distance_km``: the expected
    key bits reconciled, the bits its QBER estimate is made from and their expected QBER (module docstring)."""
    if job.qkd.protocol == "bb84_decoy":
        return _bb84_block(job, distance_km, block_pulses)
    return _entangled_block(job, distance_km, block_pulses)


def _bb84_block(job, distance_km: float, block_pulses: int) -> tuple[float, float, float]:
    """:func:`expected_block` of BB84 with decoys: the registered clicks, the key bits a click gives and the QBER
    of the estimate's bits (:func:`dqsim.protocols.qkd.detections.sifted_errors_per_detection`: Eve and
    afterpulses in it)."""
    source = qkd.build_plan(job).source
    phys = qkd.link_physics(job, 0, 0, 1, distance_km)
    finite = job.qkd.security == "finite_key"
    models = dict(channel=phys.channel, detector=phys.detector, eve=phys.eve, noise_probability=phys.noise_probability)
    clicks = block_pulses * registered_clicks_per_pulse(source, **models)
    sifted = clicks * key_bits_per_detection(source, finite_key=finite, **models)
    estimated, wrong = (sifted_errors_per_detection(source, basis=BASIS_X, **models) if finite
                        else sifted_errors_per_detection(source, signal_only=True, **models))
    qber = wrong / estimated if estimated > 0.0 else 0.5
    if finite:
        return sifted, clicks * (1.0 - source.z_basis_probability) ** 2, qber
    sampled = job.qkd.sample_fraction * sifted
    return sifted - sampled, sampled, qber


def _entangled_block(job, distance_km: float, block_pulses: int) -> tuple[float, float, float]:
    """:func:`expected_block` of BBM92/E91: the coincidences of a pair slot (both sides click) and each key setting
    pair's share and QBER, one pair a slot (:func:`dqsim.protocols.qkd.entangled.expected_coincidence_probability`,
    :func:`dqsim.protocols.qkd.entangled.expected_pair_qbers`, with Eve) or the squeezed vacuum of an SPDC source
    (:func:`dqsim.protocols.qkd.spdc.pair_statistics`, Ma, Fung and Lo, Phys. Rev. A 76, 012307 (2007), exact for
    the simulator's model: every key pair is at relative angle 0); behind receivers with a dead time or afterpulses
    :func:`dqsim.protocols.qkd.entangled.expected_registered_coincidences` (one pair) or, since 2026-12-07 (late
    night), :func:`dqsim.protocols.qkd.spdc_receivers.registered_pair_statistics` (SPDC). BBM92's finite key keeps
    the Z–Z bits and estimates on every X–X bit; otherwise the key is every sifted bit but a ``sample_fraction``
    sample."""
    q = job.qkd
    source = qkd.build_plan(job).entangled_source
    phys = qkd.link_physics(job, 0, 0, 1, distance_km)
    t_a, t_b = phys.arm_transmittances
    channel = dict(transmittance_alice=t_a, transmittance_bob=t_b, efficiency=phys.detector.efficiency,
                   dark_count_probability=phys.dark_count_probabilities())
    shares, qbers = entangled.expected_pair_qbers(source, protocol=q.protocol, eve=phys.eve,
                                                  misalignment=phys.detector.misalignment, **channel)
    detector = phys.detector
    receivers = dict(dead_time_pulses=detector.dead_time_pulses, afterpulse_probability=detector.afterpulse_probability)
    if source.mean_pair_number is None and (detector.dead_time_pulses > 0 or detector.afterpulse_probability > 0.0):
        coincidence, bit_factor = entangled.expected_registered_coincidences(**receivers, **channel)
        qbers = tuple(0.5 * (1.0 - bit_factor * (1.0 - 2.0 * qber)) for qber in qbers)
    elif source.mean_pair_number is None:
        coincidence = entangled.expected_coincidence_probability(**channel)
    else:
        coincidence, qber = spdc_receivers.registered_pair_statistics(
            source.mean_pair_number, misalignment=phys.detector.misalignment, werner=source.werner, **receivers,
            **channel)
        qbers = tuple(qber if coincidence > 0.0 else 0.5 for _pair in qbers)
    slots = block_pulses * coincidence
    if q.protocol == "bbm92" and q.security == "finite_key":
        key, test = entangled_block.BBM92_KEY_PAIR, entangled_block.BBM92_TEST_PAIR
        return slots * shares[key], slots * shares[test], qbers[test]
    sifted = slots * sum(shares)
    sampled = q.sample_fraction * sifted
    return sifted - sampled, sampled, sum(s * e for s, e in zip(shares, qbers)) / sum(shares)


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _count_points(mean: float) -> list[tuple[int, float]]:
    """``[(count, probability)]`` of a Poisson count of ``mean``: exact where its ±6σ range holds at most
    :data:`EXACT_COUNTS` integers, else :data:`NORMAL_POINTS` one-σ bins of its normal approximation (the end bins
    take the tails), each at its midpoint rounded; counts merged where rounding makes them equal.

    Examples:
        >>> _count_points(0.0), [n for n, _p in _count_points(10_000.0)]
        ([(0, 1.0)], [9600, 9700, 9800, 9900, 10000, 10100, 10200, 10300, 10400])
    """
    mean = max(mean, 0.0)
    sigma = math.sqrt(mean)
    low, high = max(0, math.floor(mean - 6.0 * sigma) - 1), math.ceil(mean + 6.0 * sigma) + 1
    if mean == 0.0:
        return [(0, 1.0)]
    if high - low + 1 <= EXACT_COUNTS:
        pmf = {n: math.exp(n * math.log(mean) - mean - math.lgamma(n + 1)) for n in range(low, high + 1)}
        total = sum(pmf.values())
        return [(n, p / total) for n, p in pmf.items()]
    half = NORMAL_POINTS // 2
    points: dict[int, float] = {}
    for z in range(-half, half + 1):
        lower = _normal_cdf(z - 0.5) if z > -half else 0.0
        upper = _normal_cdf(z + 0.5) if z < half else 1.0
        count = max(0, round(mean + z * sigma))
        points[count] = points.get(count, 0.0) + upper - lower
    return sorted(points.items())


def _log_factorials(low: int, high: int) -> np.ndarray:
    """``ln(n!)`` for n = ``low``..``high``: ``lgamma(low + 1)`` and the running sum of ``ln n`` above it.

    Examples:
        >>> [round(math.exp(float(v))) for v in _log_factorials(3, 5)]
        [6, 24, 120]
    """
    steps = np.log(np.arange(low + 1, high + 1, dtype=float))
    return math.lgamma(low + 1) + np.concatenate([[0.0], np.cumsum(steps)])


def _error_points(sampled: int, qber: float) -> tuple[np.ndarray, np.ndarray]:
    """``(k, probabilities)`` of ``k ~ Binomial(sampled, qber)``, each k of probability above :data:`NEGLIGIBLE`.

    Examples:
        >>> ks, probs = _error_points(2, 0.5)
        >>> ks.tolist(), probs.round(12).tolist()
        ([0, 1, 2], [0.25, 0.5, 0.25])
    """
    if sampled == 0 or qber <= 0.0:
        return np.zeros(1, dtype=np.int64), np.ones(1)
    if qber >= 1.0:
        return np.full(1, sampled, dtype=np.int64), np.ones(1)
    mean, sigma = sampled * qber, math.sqrt(sampled * qber * (1.0 - qber))
    low, high = max(0, math.floor(mean - 8.0 * sigma) - 2), min(sampled, math.ceil(mean + 8.0 * sigma) + 2)
    ks = np.arange(low, high + 1, dtype=np.int64)
    rest = _log_factorials(sampled - high, sampled - low)[::-1]                        # ln((m - k)!)
    log_p = (math.lgamma(sampled + 1) - _log_factorials(low, high) - rest + ks * math.log(qber)
             + (sampled - ks) * math.log1p(-qber))
    kept = log_p > math.log(NEGLIGIBLE)
    return ks[kept], np.exp(log_p[kept])


def _key_distribution(mean: float) -> tuple[np.ndarray, np.ndarray]:
    """``(N values, cumulative probabilities)`` of ``N ~ Poisson(mean)`` over its ±6σ range (the cumulative one
    longer, from 0, renormalised to 1 over the range).

    Examples:
        >>> values, cumulative = _key_distribution(4.0)
        >>> int(values[0]), int(values[-1]), round(float(cumulative[5] - cumulative[4]), 4)    # P(N = 4)
        (0, 17, 0.1954)
    """
    sigma = math.sqrt(max(mean, 0.0))
    values = np.arange(max(0, math.floor(mean - 6.0 * sigma) - 1), math.ceil(mean + 6.0 * sigma) + 2)
    if mean <= 0.0:
        return values[:1], np.array([0.0, 1.0])
    log_pmf = values * math.log(mean) - _log_factorials(int(values[0]), int(values[-1]))
    probs = np.exp(log_pmf - log_pmf.max())
    return values, np.concatenate([[0.0], np.cumsum(probs / probs.sum())])


class _Keys(NamedTuple):
    """The N distributions (:func:`_key_distribution`) of several blocks, flat: block b's values are
    ``first[b] + 0..sizes[b] - 1`` and their cumulative probabilities ``cumulative[offsets[b]:offsets[b] + sizes[b]
    + 1]``."""

    first: np.ndarray
    sizes: np.ndarray
    offsets: np.ndarray
    cumulative: np.ndarray


def _keys_of(means) -> _Keys:
    """:class:`_Keys` of blocks of expected key bits ``means``."""
    parts = [_key_distribution(mean) for mean in means]
    sizes = np.array([values.size for values, _c in parts], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes + 1)[:-1]]).astype(np.int64)
    return _Keys(np.array([int(values[0]) for values, _c in parts], dtype=np.int64), sizes, offsets,
                 np.concatenate([cumulative for _v, cumulative in parts]))


class _Rows(NamedTuple):
    """The (m, k) terms of several blocks, one entry a term: its block, probability ``P(m)·P(k | m)`` and the QBER
    estimate ``(k + 1)/(m + 2)`` of that sample."""

    block: np.ndarray
    weight: np.ndarray
    estimate: np.ndarray


def _rows_of(blocks) -> _Rows:
    """:class:`_Rows` of blocks ``[(N, m, E)]`` (:func:`expected_block`): m by :func:`_count_points` (at its
    expected value from :data:`MANY_SAMPLED` on), k by :func:`_error_points`."""
    index, weights, estimates = [], [], []
    for b, (_num, sampled, qber) in enumerate(blocks):
        for m, p_m in (_count_points(sampled) if sampled < MANY_SAMPLED else [(round(sampled), 1.0)]):
            ks, p_k = _error_points(m, qber)
            index.append(np.full(ks.size, b, dtype=np.int64))
            weights.append(p_m * p_k)
            estimates.append((ks + 1) / (m + 2))
    return _Rows(np.concatenate(index), np.concatenate(weights), np.concatenate(estimates))


def _summed(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(distinct keys, the sum of values of each)``.

    Examples:
        >>> [each.tolist() for each in _summed(np.array([3, 1, 3]), np.array([0.5, 0.25, 0.125]))]
        [[1, 3], [0.25, 0.625]]
    """
    distinct, where = np.unique(keys, return_inverse=True)
    return distinct, np.bincount(where, weights=values, minlength=distinct.size)


#: Most (m, k) terms whose codes over N are worked out at once (:func:`_codes_over_keys`): bounds its arrays to a
#: few tens of MB (each term takes :data:`NORMAL_POINTS` codes, then the bisection's).
ROWS_AT_ONCE = 20_000


def _codes_over_keys(rows: _Rows, keys: _Keys, code_at) -> tuple[np.ndarray, np.ndarray]:
    """``(block · CODE_KEYS + code key, probability)`` that each block of ``rows`` takes each code, over N of
    ``keys``: for every term of ``rows`` at once, ``code_at(N, estimate)`` (arrays of code keys, -1: no code, left
    out) evaluated at :data:`NORMAL_POINTS` evenly spaced N of its block and, between two that differ, bisected to
    the integer (a code that left and came back between two points agreeing would be missed: the code is a step
    function of N), each interval of one code taking its cumulative probability times the term's."""
    found_keys, found_probs = [], []
    for begin in range(0, rows.block.size, ROWS_AT_ONCE):
        block = rows.block[begin:begin + ROWS_AT_ONCE]
        weight, estimate = rows.weight[begin:begin + ROWS_AT_ONCE], rows.estimate[begin:begin + ROWS_AT_ONCE]
        first, offset = keys.first[block], keys.offsets[block]
        last = keys.sizes[block] - 1
        marks = np.round(np.arange(NORMAL_POINTS)[None, :] * (last / (NORMAL_POINTS - 1))[:, None]).astype(np.int64)
        codes = code_at(first[:, None] + marks, estimate[:, None])
        term = np.repeat(np.arange(block.size), NORMAL_POINTS - 1)
        low, high = marks[:, :-1].ravel(), marks[:, 1:].ravel()
        code_low, code_high = codes[:, :-1].ravel(), codes[:, 1:].ravel()
        got = [(np.arange(block.size), codes[:, -1],                                    # the last point's N
                weight * (keys.cumulative[offset + last + 1] - keys.cumulative[offset + last]))]
        while term.size:
            done = (code_low == code_high) | (high <= low + 1)
            at = term[done]
            got.append((at, code_low[done], weight[at] * (keys.cumulative[offset[at] + high[done]]
                                                          - keys.cumulative[offset[at] + low[done]])))
            term, low, high, code_low, code_high = (each[~done] for each in (term, low, high, code_low, code_high))
            middle = (low + high) // 2
            code_middle = code_at(first[term] + middle, estimate[term])
            term, low = np.concatenate([term, term]), np.concatenate([low, middle])
            high = np.concatenate([middle, high])
            code_low, code_high = np.concatenate([code_low, code_middle]), np.concatenate([code_middle, code_high])
        at, code, prob = (np.concatenate(each) for each in zip(*got))
        kept = code >= 0
        found = _summed(block[at[kept]] * CODE_KEYS + code[kept], prob[kept])
        found_keys.append(found[0])
        found_probs.append(found[1])
    return _summed(np.concatenate(found_keys), np.concatenate(found_probs))


#: Code keys of one block (:func:`_code_keys`): the code of n bits and rate ``MOTHER_RATES[r]`` is
#: ``n · len(MOTHER_RATES) + r``, n at most :data:`dqsim.protocols.qkd.ldpc.FRAME_BITS` (a run's frames).
CODE_KEYS = (ldpc.FRAME_BITS + 1) * len(ldpc.MOTHER_RATES)


def _code_keys(job):
    """``code_at(N, estimate)`` of :func:`_codes_over_keys` for ``job``: the key of the code
    :func:`dqsim.protocols.qkd.ldpc.block_codes` names (the reconciler's choice) for each block of N key bits and
    QBER estimate, -1 where the key is empty."""
    q = job.qkd
    rates = len(ldpc.MOTHER_RATES)

    def code_at(num: np.ndarray, estimate: np.ndarray) -> np.ndarray:
        codes = ldpc.block_codes(num, estimate, q.f_ec, sample_fraction=q.sample_fraction, mode=q.ldpc_mode)
        return np.where(codes.num_frames > 0, codes.code_bits * rates + codes.rate_index, -1)
    return code_at


def _code_of_key(key: int) -> tuple[int, float]:
    """``(code length, mother rate)`` of a code key (:data:`CODE_KEYS`)."""
    rates = len(ldpc.MOTHER_RATES)
    return int(key) // rates, ldpc.MOTHER_RATES[int(key) % rates]


#: Most blocks whose terms and N distributions are held at once (:func:`_block_chances`): a block's N takes up to
#: ~12σ of values (~5,000 at 200,000 key bits), its (m, k) terms up to a few thousand.
BLOCKS_AT_ONCE = 256


def _block_chances(job, blocks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(block index, code key, probability)`` that each block ``(N, m, E)`` of ``blocks`` takes each code (module
    docstring: k binomial, N and m Poisson; the missing probability is that of no code, an empty key), the terms of
    :data:`BLOCKS_AT_ONCE` blocks at once."""
    code_at = _code_keys(job)
    parts = []
    for begin in range(0, len(blocks), BLOCKS_AT_ONCE):
        some = blocks[begin:begin + BLOCKS_AT_ONCE]
        found, chances = _codes_over_keys(_rows_of(some), _keys_of([num for num, _m, _e in some]), code_at)
        parts.append((begin + found // CODE_KEYS, found % CODE_KEYS, chances))
    return tuple(np.concatenate(each) for each in zip(*parts))


def block_code_probabilities(job, distance_km: float, block_pulses: int) -> dict[tuple[int, float], float]:
    """``{(code length, mother rate): probability}`` that one key block of ``block_pulses`` pulses on a link of
    ``distance_km`` takes each code (module docstring: k binomial, N and m Poisson); the missing probability is
    that of no code (an empty key)."""
    _block, codes, chances = _block_chances(job, [expected_block(job, distance_km, block_pulses)])
    return {_code_of_key(code): float(p) for code, p in zip(codes.tolist(), chances)}


def link_counts(job) -> dict[float, int]:
    """``{link length km: number of links of it}`` over every sweep point's (or the one run's) links."""
    q = job.qkd
    links: dict[float, int] = {}
    for point in (q.sweep.distances_km if q.sweep is not None else [None]):
        for _a, _b, distance in q.network_links(point):
            links[float(distance)] = links.get(float(distance), 0) + 1
    return links


def num_link_lengths(job) -> int:
    """How many distinct link lengths the run of ``job`` has (every sweep point's links)."""
    return len(link_counts(job))


def spread_lengths(lengths, most: int) -> list[float]:
    """``most`` of ``lengths`` evenly spread over them sorted, the shortest and longest included (all where there
    are no more).

    Examples:
        >>> spread_lengths([5.0, 1.0, 3.0, 2.0, 4.0], 3), spread_lengths([2.0, 1.0], 3)
        ([1.0, 3.0, 5.0], [1.0, 2.0])
    """
    ordered = sorted(lengths)
    if len(ordered) <= most:
        return ordered
    return [ordered[round(i * (len(ordered) - 1) / max(most - 1, 1))] for i in range(most)]


def _block_groups(job, most_lengths: int | None = None) -> dict[tuple[float, int], int]:
    """``{(link length km, block pulses): number of such blocks in the run}``: every sweep point's (or the one
    run's) links, each :func:`block_lengths` length times the blocks of it a link has; ``most_lengths``: only
    that many link lengths (:func:`spread_lengths`), ``None`` all."""
    q = job.qkd
    links = link_counts(job)
    if most_lengths is not None:
        links = {length: links[length] for length in spread_lengths(links, most_lengths)}
    block = min(q.block_pulses, q.pulses)
    per_link = {length: (q.pulses // block if length == block else 1) for length in block_lengths(job)}
    return {(distance, length): count * blocks for distance, count in links.items()
            for length, blocks in per_link.items()}


def code_probabilities(job, most_lengths: int | None = None) -> dict[tuple[int, float], float]:
    """``{(code length, mother rate): probability that some key block of the run takes it}`` (``1 - Π (1 - P)``
    over the blocks, :func:`block_code_probabilities` of each, all worked out at once: :func:`_block_chances`), for
    a job :func:`predicted_codes` covers; ``most_lengths``: the blocks of only that many link lengths
    (:func:`spread_lengths`), ``None`` all."""
    groups = _block_groups(job, most_lengths)
    if not groups:
        return {}
    block, codes, chances = _block_chances(job, [expected_block(job, distance, length) for distance, length in groups])
    blocks_of = np.array(list(groups.values()), dtype=float)
    with np.errstate(divide="ignore"):                      # a code a block surely takes: log(0), none missed
        missed = blocks_of[block] * np.log1p(-np.minimum(chances, 1.0))
    distinct, left = _summed(codes, missed)
    return {_code_of_key(code): float(-np.expm1(total)) for code, total in zip(distinct.tolist(), left)}


def predicted_codes(job, most_lengths: int | None = None) -> list[tuple[int, float]] | None:
    """The LDPC mother codes ``(length, rate)`` a run of ``job`` takes with probability above
    :data:`BUILD_PROBABILITY` (:func:`code_probabilities`, from its links' physics; ``most_lengths``: from only that
    many of its link lengths, as there), most probable first (then longest, highest rate); ``None`` where the job
    does not reconcile with LDPC (since 2026-12-07, late night, the closed form covers every job that does: until
    then an SPDC source's BBM92/E91 link with a dead time or afterpulses was not covered and ``dqsim warmup`` ran its
    pilot block, :func:`dqsim.scenarios.warmup.ldpc_pilot_job`).

    Examples:
        >>> from dqsim import jobs
        >>> job = jobs.apply_overrides(jobs.load_job("jobs/bb84_decoy_50km.toml"), ['qkd.error_correction="ldpc"'])
        >>> predicted_codes(job), {code: round(p, 3) for code, p in sorted(code_probabilities(job).items())}
        ([(16384, 0.85), (65536, 0.85)], {(16384, 0.8): 0.0, (16384, 0.85): 0.815, (65536, 0.85): 0.674, \
(65536, 0.9): 0.001})
    """
    if not reconciles_with_ldpc(job):
        return None
    chances = code_probabilities(job, most_lengths)
    kept = [code for code, p in chances.items() if p > BUILD_PROBABILITY]
    return sorted(kept, key=lambda code: (-round(chances[code], 12), -code[0], -code[1]))


#: The kind of :func:`dqsim.caches.stored_arrays` entry that keeps a job's codes drawn by ``dqsim warmup``
#: (:func:`dqsim.scenarios.warmup.drawn_codes`: the run's own codes, exactly).
DRAWN_CODES_KIND = "ldpc_drawn_codes"


#: The sources (globs under the ``dqsim`` package) whose code decides which codes a run's blocks take: QKD's
#: physics, sampling and reconciliation, the ``qkd`` scenario that runs them, the draw itself and the links'
#: fibre, detector and Raman models (:func:`drawn_key`).
DRAW_SOURCES = ("protocols/qkd/*.py", "scenarios/qkd*.py", "scenarios/warmup.py", "network/fibre.py",
                "network/detectors.py", "network/raman.py")
_SOURCES_SHA256: dict[tuple, str] = {}


def draw_sources_sha256(root: Path | None = None) -> str:
    """The SHA-256 (hex) of the :data:`DRAW_SOURCES` under ``root`` (``None``: this ``dqsim`` package's folder),
    each file's name relative to it and its bytes, in name order; once per process and ``root`` (~0.75 MB read)."""
    root = Path(dqsim.__file__).resolve().parent if root is None else Path(root)
    key = (str(root), DRAW_SOURCES)
    if key not in _SOURCES_SHA256:
        digest = hashlib.sha256()
        for path in sorted({path for pattern in DRAW_SOURCES for path in root.glob(pattern)}):
            data = path.read_bytes()
            digest.update(f"{path.relative_to(root).as_posix()}\0{len(data)}\0".encode())
            digest.update(data)
        _SOURCES_SHA256[key] = digest.hexdigest()
    return _SOURCES_SHA256[key]


def drawn_key(job) -> dict:
    """Everything the codes a run of ``job`` takes depend on (:data:`DRAWN_CODES_KIND`'s key): its ``[qkd]``
    section and seed, dqsim's version, the codes' construction and, since 2026-12-07 (night), the hash of the
    sources that decide the draws (:func:`draw_sources_sha256`): before, a change to QKD's physics, sampling or
    streams kept ``dqsim.__version__`` ("0.1.0") and so the key, and a kept draw went stale (``dqsim check`` named
    codes the run would not take; the run then built its own). A change outside :data:`DRAW_SOURCES` that moved
    the draws (the engine's, say) still leaves the key as it was: slower, not wrong (the run builds its codes)."""
    return {"qkd": repr(job.qkd), "seed": job.run.seed, "dqsim": dqsim.__version__,
            "construction": ldpc.CODE_CONSTRUCTION, "sources": draw_sources_sha256()}


def kept_drawn_codes(job) -> list[tuple[int, float]] | None:
    """The codes ``dqsim warmup`` drew for ``job`` and kept in dqsim's disk cache (longest first), ``None`` where
    there are none (:func:`dqsim.caches.kept_arrays`)."""
    found = caches.kept_arrays(DRAWN_CODES_KIND, drawn_key(job))
    if found is None:
        return None
    return [(int(bits), float(rate)) for bits, rate in zip(found["bits"].tolist(), found["rates"].tolist())]
