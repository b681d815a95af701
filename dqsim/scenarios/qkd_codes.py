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

The estimate spreads, and so do N and m: :func:`block_code_probabilities` gives each code's probability for one
block, ``P(c) = Σ_m P(m) Σ_k P(k | m) Σ_N P(N) [block_code(N, (k + 1)/(m + 2)) = c]``, with

* ``k | m ~ Binomial(m, E)``, summed over every k of probability above :data:`NEGLIGIBLE` (exact);
* N and m Poisson (the block's clicks are; a bit is disclosed with probability ``sample_fraction``, so the
  disclosed and kept bits are independent Poisson counts by thinning, and finite key the X and Z bases' bits are);
  m by :func:`_count_points` (the exact Poisson probabilities where its ±6σ range holds at most
  :data:`EXACT_COUNTS` integers, else :data:`NORMAL_POINTS` one-σ bins of its normal approximation), N exactly
  over its ±6σ range by :func:`_codes_over_keys`: the code is a step function of N (its frame plan), evaluated
  at :data:`NORMAL_POINTS` evenly spaced N and bisected to the integer between two that differ, and each step
  takes the Poisson probability of its N. N matters only where a block sits near a code length's boundary
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


def _error_points(sampled: int, qber: float) -> list[tuple[int, float]]:
    """``[(k, probability)]`` of ``k ~ Binomial(sampled, qber)``, each k of probability above :data:`NEGLIGIBLE`.

    Examples:
        >>> [(k, round(p, 12)) for k, p in _error_points(2, 0.5)]
        [(0, 0.25), (1, 0.5), (2, 0.25)]
    """
    if sampled == 0 or qber <= 0.0:
        return [(0, 1.0)]
    qber = min(qber, 1.0)
    mean, sigma = sampled * qber, math.sqrt(sampled * qber * (1.0 - qber))
    low, high = max(0, math.floor(mean - 8.0 * sigma) - 2), min(sampled, math.ceil(mean + 8.0 * sigma) + 2)
    log_q, log_r = math.log(qber), math.log1p(-qber) if qber < 1.0 else -math.inf
    points = []
    for k in range(low, high + 1):
        log_p = (math.lgamma(sampled + 1) - math.lgamma(k + 1) - math.lgamma(sampled - k + 1) + k * log_q
                 + ((sampled - k) * log_r if sampled > k else 0.0))
        if log_p > math.log(NEGLIGIBLE):
            points.append((k, math.exp(log_p)))
    return points


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
    log_pmf = values * math.log(mean) - mean - np.array([math.lgamma(n + 1) for n in values.tolist()])
    probs = np.exp(log_pmf - log_pmf.max())
    return values, np.concatenate([[0.0], np.cumsum(probs / probs.sum())])


def _codes_over_keys(values: np.ndarray, cumulative: np.ndarray, code_at) -> dict:
    """``{code: probability}`` of ``code_at(N)`` over N of :func:`_key_distribution`: evaluated at
    :data:`NORMAL_POINTS` evenly spaced N and, between two that differ, bisected to the integer (a code that left
    and came back between two points agreeing would be missed: the code is a step function of N). ``None``
    (no code) is a key."""
    found: dict = {}

    def fill(i: int, j: int, code_i, code_j) -> None:
        if code_i == code_j or j == i + 1:
            found[code_i] = found.get(code_i, 0.0) + float(cumulative[j] - cumulative[i])
            return
        mid = (i + j) // 2
        code_mid = code_at(int(values[mid]))
        fill(i, mid, code_i, code_mid)
        fill(mid, j, code_mid, code_j)

    marks = sorted(set(np.linspace(0, len(values) - 1, NORMAL_POINTS).round().astype(int).tolist()))
    codes = [code_at(int(values[i])) for i in marks]
    for (i, code_i), (j, code_j) in zip(zip(marks, codes), zip(marks[1:], codes[1:])):
        fill(i, j, code_i, code_j)
    found[codes[-1]] = found.get(codes[-1], 0.0) + float(cumulative[-1] - cumulative[marks[-1]])
    return found


def block_code_probabilities(job, distance_km: float, block_pulses: int) -> dict[tuple[int, float], float]:
    """``{(code length, mother rate): probability}`` that one key block of ``block_pulses`` pulses on a link of
    ``distance_km`` takes each code (module docstring: k binomial, N and m Poisson); the missing probability is
    that of no code (an empty key)."""
    q = job.qkd
    num_key_bits, sampled, qber = expected_block(job, distance_km, block_pulses)
    samples = _count_points(sampled) if sampled < MANY_SAMPLED else [(round(sampled), 1.0)]
    keys = _key_distribution(num_key_bits)
    chosen: dict[tuple[int, float], float] = {}
    for m, p_m in samples:
        for k, p_k in _error_points(m, qber):
            estimate = (k + 1) / (m + 2)

            def code_at(n: int, estimate: float = estimate):
                return ldpc.block_code(n, estimate, q.f_ec, sample_fraction=q.sample_fraction, mode=q.ldpc_mode)

            for code, p_n in _codes_over_keys(*keys, code_at).items():
                if code is not None:
                    chosen[code] = chosen.get(code, 0.0) + p_m * p_k * p_n
    return chosen


def _link_counts(job) -> dict[float, int]:
    """``{link length km: number of links of it}`` over every sweep point's (or the one run's) links."""
    q = job.qkd
    links: dict[float, int] = {}
    for point in (q.sweep.distances_km if q.sweep is not None else [None]):
        for _a, _b, distance in q.network_links(point):
            links[float(distance)] = links.get(float(distance), 0) + 1
    return links


def num_link_lengths(job) -> int:
    """How many distinct link lengths the run of ``job`` has (every sweep point's links)."""
    return len(_link_counts(job))


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
    links = _link_counts(job)
    if most_lengths is not None:
        links = {length: links[length] for length in spread_lengths(links, most_lengths)}
    block = min(q.block_pulses, q.pulses)
    per_link = {length: (q.pulses // block if length == block else 1) for length in block_lengths(job)}
    return {(distance, length): count * blocks for distance, count in links.items()
            for length, blocks in per_link.items()}


def code_probabilities(job, most_lengths: int | None = None) -> dict[tuple[int, float], float]:
    """``{(code length, mother rate): probability that some key block of the run takes it}`` (``1 - Π (1 - P)``
    over the blocks, :func:`block_code_probabilities`), for a job :func:`predicted_codes` covers; ``most_lengths``:
    the blocks of only that many link lengths (:func:`spread_lengths`; each length costs ~0.3 s), ``None`` all."""
    missed: dict[tuple[int, float], float] = {}
    for (distance, length), blocks in _block_groups(job, most_lengths).items():
        for code, p in block_code_probabilities(job, distance, length).items():
            missed[code] = missed.get(code, 1.0) * (1.0 - min(p, 1.0)) ** blocks
    return {code: 1.0 - left for code, left in missed.items()}


def predicted_codes(job, most_lengths: int | None = None) -> list[tuple[int, float]] | None:
    """The LDPC mother codes ``(length, rate)`` a run of ``job`` takes with probability above
    :data:`BUILD_PROBABILITY` (:func:`code_probabilities`, from its links' physics; ``most_lengths``: from only that
    many of its link lengths, as there), most probable first (then longest, highest rate); ``None`` where the job
    does not reconcile with LDPC or the closed form does not cover it (:func:`uncovered_reason`).

    Examples:
        >>> from dqsim import jobs
        >>> job = jobs.apply_overrides(jobs.load_job("jobs/bb84_decoy_50km.toml"), ['qkd.error_correction="ldpc"'])
        >>> predicted_codes(job), {code: round(p, 3) for code, p in code_probabilities(job).items()}
        ([(16384, 0.85), (65536, 0.85)], {(65536, 0.9): 0.001, (65536, 0.85): 0.674, (16384, 0.85): 0.815, \
(16384, 0.8): 0.0})
    """
    if job.scenario != "qkd" or job.qkd.error_correction != "ldpc" or uncovered_reason(job) is not None:
        return None
    chances = code_probabilities(job, most_lengths)
    kept = [code for code, p in chances.items() if p > BUILD_PROBABILITY]
    return sorted(kept, key=lambda code: (-round(chances[code], 12), -code[0], -code[1]))
