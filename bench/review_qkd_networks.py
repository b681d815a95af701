"""The checks behind docs/review-qkd-networks-20261206.md: trusted-node networks, two decoys, afterpulsing in
the entangled receivers, Cascade's leakage and timing, privacy amplification's length.

The second QKD review of 2026-12-06 (the first: bench/review_qkd_physics.py, whose helpers ``run``, ``h2``,
``line`` and ``binom_se`` it reuses). Each check runs a job of jobs/ as ``dqsim run`` does (load_job, --set
overrides, the qkd scenario on one rank, numpy) at a small size and compares a figure of the tables
``dqsim inspect`` shows with its formula, written out here (nothing of dqsim.protocols.qkd's theory,
decoy, finite_key or reconciliation is imported; ``cascade_reference`` below is this review's own
Cascade). Run from the repository root:

    PYTHONPATH=$PWD .venv/bin/python bench/review_qkd_networks.py [--help] [--quick] [check ...]

Checks: chain, star, abort, twodecoy, afterpulse, cascade, order, hash, timing (default: all; ``--quick``:
chain, abort, order, hash, timing). Every figure has a verdict: sampled ones PASS when |z| <= 3, figures dqsim
computes exactly (keys of a route, times, bounds from a block's own counts) when equal or within the relative
tolerance their line states. Cascade's leakage is judged against the order dqsim implements, every odd block
of a wave before the blocks the wave made odd (the ``order`` check: dqsim's parities equal this review's in
that order); Brassard and Salvail's smallest-block-first order is printed beside it for reference only. Ends
with ``N PASS, M FAIL``; exit 1 when a figure failed, 2 for an unknown option or check.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np

from dqsim.jobs import load_job

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from review_qkd_physics import RESULTS, binom_se, exact, h2, line, positions_bits, run  # noqa: E402
from review_runner import run_checks  # noqa: E402

C_M_PER_S = 299_792_458.0


def one_way_ps(distance_km, group_index=1.468):
    """Fibre delay L n_g / c, ps."""
    return distance_km * 1e3 * group_index / C_M_PER_S * 1e12


# ---------------------------------------------------------------------------------------------- networks
def _links_and_end(out):
    return out.tables["links"], out.tables["end_to_end"]


def check_chain():
    print("chain: trusted-node relay by one-time pad, end-to-end key = min over the route's links", flush=True)
    out = run("qkd_trusted_chain", "qkd.pulses=2000000", "qkd.network.distances_km=[20.0, 60.0]")
    links, end = _links_and_end(out)
    keys = [int(k) for k in links["secret_key_bits"]]
    for r in links:
        print(f"  link {r['link']} ({r['node_a']}-{r['node_b']}, {r['distance_km']} km): key {r['secret_key_bits']} "
              f"bits, {r['key_rate_bits_per_pulse']:.5g} bits/pulse (theory {r['theory_bits_per_pulse']:.5g}), "
              f"simulated_time_ps {r['simulated_time_ps']}", flush=True)
    e = end[0]
    seconds = 2_000_000 / 1e9
    exact("chain: end-to-end key = min(link keys)", int(e["secret_key_bits"]), min(keys), 0.0)
    exact("chain: end-to-end bits/s = min keys / run time", float(e["key_rate_bits_per_s"]), min(keys) / seconds,
          1e-12)
    print(f"  end to end {e['node_a']}-{e['node_b']} over {e['distance_km']} km: {e['secret_key_bits']} bits, "
          f"{e['key_rate_bits_per_s']:.6g} bits/s; formula min(link keys) = {min(keys)} bits, "
          f"{min(keys) / seconds:.6g} bits/s; theory min = {min(links['theory_bits_per_pulse']) * 2e6:.0f} bits",
          flush=True)
    print(f"  one-time pad: node 1 spends {min(keys)} bits of each link's key; link 0 keeps {keys[0] - min(keys)} "
          f"bits unused (no column reports it)", flush=True)
    done = max(int(t) for t in links["simulated_time_ps"])
    tag = int(out.tables["relay_links"]["auth_key_bits"][1])  # per_block: the hop's tag on its one announcement
    relay_ps = round(one_way_ps(60.0)) + math.ceil((min(keys) + tag) * 1e12 / 1e9)
    exact("chain: key_available_ps = links done + relay", int(e["key_available_ps"]), done + relay_ps, 0.0)
    print(f"  relay latency: node 1 announces K01 xor K12 after both links' keys ({min(keys)} bits and a {tag}-bit "
          f"tag at 1 Gbit/s, then L n_g/c), Bob has it {relay_ps} ps later: formula {done + relay_ps} ps, "
          f"key_available_ps {e['key_available_ps']} "
          f"({'ok (equal)' if done + relay_ps == e['key_available_ps'] else 'MISMATCH'})", flush=True)
    out = run("qkd_trusted_chain", "qkd.pulses=1000000", "qkd.network.num_nodes=4",
              "qkd.network.distances_km=[10.0, 40.0, 25.0]")
    links, end = _links_and_end(out)
    lengths, keys = [float(x) for x in links["distance_km"]], [int(x) for x in links["secret_key_bits"]]
    exact("chain 4 nodes: end-to-end key = min(link keys)", int(end[0]["secret_key_bits"]), min(keys), 0.0)
    exact("chain 4 nodes: bits/s = min(link bits/s)", float(end[0]["key_rate_bits_per_s"]),
          float(min(links["key_rate_bits_per_s"])), 1e-12)
    print(f"  4 nodes, links {lengths} km: keys {keys}; end to end "
          f"{end[0]['secret_key_bits']} bits over {end[0]['distance_km']} km (formula min = "
          f"{min(links['secret_key_bits'])}); {end[0]['key_rate_bits_per_s']:.6g} bits/s (formula "
          f"{min(links['key_rate_bits_per_s']):.6g})", flush=True)


def check_star():
    print("star: every pair of leaves through the hub, each pair's row the min of its two links", flush=True)
    out = run("qkd_trusted_chain", "qkd.pulses=1000000", 'qkd.network.topology="star"', "qkd.network.num_nodes=4",
              "qkd.network.distances_km=[10.0, 30.0, 50.0]")
    links, end = _links_and_end(out)
    key = {int(r["node_b"]): int(r["secret_key_bits"]) for r in links}
    print(f"  leaf keys {key}", flush=True)
    for e in end:
        a, b = int(e["node_a"]), int(e["node_b"])
        exact(f"star {a}-{b}: key = min of its two links", int(e["secret_key_bits"]), min(key[a], key[b]), 0.0)
        exact(f"star {a}-{b}: route length", float(e["distance_km"]),
              float(links["distance_km"][a - 1] + links["distance_km"][b - 1]), 1e-12)
        print(f"  {a}-{b}: {e['secret_key_bits']} bits over {e['distance_km']} km; formula min = "
              f"{min(key[a], key[b])}, route {links['distance_km'][a - 1] + links['distance_km'][b - 1]} km",
              flush=True)
    for leaf in sorted(key):
        through = sum(int(e["secret_key_bits"]) for e in end if leaf in (int(e["node_a"]), int(e["node_b"])))
        print(f"  rows through leaf {leaf} add up to {through} bits, its link has {key[leaf]}"
              + (": more than the link holds, so the rows are alternatives, not keys at once" if through > key[leaf]
                 else ""), flush=True)


def check_abort():
    print("abort: a link whose QBER passes the threshold gives no key, so neither does the route", flush=True)
    out = run("qkd_trusted_chain", "qkd.pulses=1000000", "qkd.network.distances_km=[20.0, 170.0]",
              "qkd.link.dark_count_rate_hz=100000")
    links, end = _links_and_end(out)
    for r in links:
        print(f"  link {r['link']} {r['distance_km']} km: QBER {r['qber_signal']:.4f}, aborted blocks "
              f"{r['aborted_blocks']}, key {r['secret_key_bits']}", flush=True)
    for r in links:
        mine = [bool(x) for x, k in zip(out.tables["blocks"]["aborted"], out.tables["blocks"]["link"])
                if int(k) == int(r["link"])]
        if mine and all(mine):  # every block of the link aborted: no key
            exact(f"abort: link {r['link']} (QBER {r['qber_signal']:.3f}) key", int(r["secret_key_bits"]), 0, 0.0)
    exact("abort: end-to-end key = min(link keys)", int(end[0]["secret_key_bits"]),
          int(min(links["secret_key_bits"])), 0.0)
    print(f"  end to end: {end[0]['secret_key_bits']} bits (formula min = {min(links['secret_key_bits'])}); "
          f"summary: {[s for s in out.summary if 'ABORT' in s or 'end to end' in s]}", flush=True)
    print(f"  reasons: {sorted(set(out.tables['blocks']['no_key_reason']))}", flush=True)


# ---------------------------------------------------------------------------------------------- two decoys
def ma_two_decoy(mu, nu1, nu2, q_mu, q1, e1q, q2, e2q):
    """Two weak decoys nu1 > nu2 (Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Sec. IV's general two-decoy bounds;
    asymptotic form of Lim et al. PRA 89, 022307 (2014) eqs. (2)-(3)): (Y0^L, Y1^L, e1^U)."""
    y0 = max(0.0, (nu1 * q2 * math.exp(nu2) - nu2 * q1 * math.exp(nu1)) / (nu1 - nu2))
    y1 = mu / (mu * nu1 - mu * nu2 - nu1 ** 2 + nu2 ** 2) * (
        q1 * math.exp(nu1) - q2 * math.exp(nu2) - (nu1 ** 2 - nu2 ** 2) / mu ** 2 * (q_mu * math.exp(mu) - y0))
    e1 = (e1q * q1 * math.exp(nu1) - e2q * q2 * math.exp(nu2)) / ((nu1 - nu2) * y1)
    return y0, y1, e1


def check_twodecoy():
    print("twodecoy: intensities [0.5, 0.1, nu2 > 0]: the block's Y1^L, e1^U from its own gains and QBERs (equal?), "
          "and against the bounds on the exact receiver's expected gains (z with the s.e. propagated from the "
          "binomial counts)", flush=True)
    from review_qkd_physics import receiver
    p_b, e_d = 1e-8, 0.01
    for nu2, L in ((0.02, 25.0), (0.0002, 25.0), (0.02, 75.0)):
        out = run("bb84_decoy_50km", "qkd.pulses=4000000", "qkd.block_pulses=4000000",
                  f"qkd.source.intensities=[0.5, 0.1, {nu2}]", f"qkd.link.distance_km={L}")
        r = out.tables["blocks"][0]
        e2q = float(r["qber_vacuum"]) if r["qber_vacuum"] == r["qber_vacuum"] else 0.0
        counts = [(r["detections_signal"], r["gain_signal"]), (r["detections_decoy"], r["gain_decoy"]),
                  (r["detections_vacuum"], r["gain_vacuum"])]
        sent = [round(k / g) if g > 0 else 0 for k, g in counts]
        y0, y1, e1 = ma_two_decoy(0.5, 0.1, nu2, r["gain_signal"], r["gain_decoy"], r["qber_decoy"],
                                  r["gain_vacuum"], e2q)
        eta = 10 ** (-0.2 * L / 10) * 0.8
        expected = [receiver(x, eta, p_b, e_d) for x in (0.5, 0.1, nu2)]
        args = [expected[0][0], expected[1][0], expected[1][1], expected[2][0], expected[2][1]]
        _, y1_exp, e1_exp = ma_two_decoy(0.5, 0.1, nu2, *args)
        # s.e. by the delta method: the gains (binomial over the pulses sent) and the decoys' error gains
        sds = [math.sqrt(expected[0][0] * (1 - expected[0][0]) / sent[0]), math.sqrt(expected[1][0] / sent[1]),
               math.sqrt(expected[1][1] * (1 - expected[1][1]) / (expected[1][0] * sent[1] / 2)),
               math.sqrt(expected[2][0] / sent[2]),
               math.sqrt(expected[2][1] * (1 - expected[2][1]) / max(1.0, expected[2][0] * sent[2] / 2))]
        var_y1 = var_e1 = 0.0
        for i, sd in enumerate(sds):
            step = list(args)
            step[i] += 1e-6 * max(abs(args[i]), 1e-12)
            _, y1s, e1s = ma_two_decoy(0.5, 0.1, nu2, *step)
            var_y1 += ((y1s - y1_exp) / (step[i] - args[i]) * sd) ** 2
            var_e1 += ((e1s - e1_exp) / (step[i] - args[i]) * sd) ** 2
        y1_true = eta + (1 - eta) * (1 - (1 - p_b) ** 2)
        print(f"  nu2={nu2} L={L} km: detections (mu, nu1, nu2) {r['detections_signal']}, {r['detections_decoy']}, "
              f"{r['detections_vacuum']}; y1_lower {r['y1_lower']:.10g} = formula on the block {y1:.10g}; "
              f"e1_upper {r['e1_upper']:.10g} = {min(1.0, max(0.0, e1)):.10g}; Y0^L {y0:.3g} (true {2 * p_b:.1g})",
              flush=True)
        exact(f"nu2={nu2} L={L}: y1_lower = bound on the block's gains", float(r["y1_lower"]), y1, 1e-9)
        exact(f"nu2={nu2} L={L}: e1_upper = bound on the block's gains", float(r["e1_upper"]),
              min(1.0, max(0.0, e1)), 1e-9)
        line(f"Y1^L, expected bound (true Y1 {y1_true:.5g})", r["y1_lower"], math.sqrt(var_y1), y1_exp)
        line("e1^U, expected bound (true e1 ~0.0100)", r["e1_upper"], math.sqrt(var_e1), e1_exp,
             f"key {r['secret_key_bits']}")


# ---------------------------------------------------------------------------------------------- afterpulsing
def renewal_rate(c, dead, p_a):
    """Clicks per slot of a receiver whose photon/dark click has probability c per slot: after a registered click
    ``dead`` slots are lost, and with p_a the next slot clicks (an afterpulse, itself a registered click): the
    cycle lasts p_a (D + 1) + (1 - p_a)(D + 1/c) slots (Knoll, Radiation Detection and Measurement, Sec. 4.VII,
    with the afterpulse as a renewal)."""
    return 1.0 / (p_a * (dead + 1) + (1 - p_a) * (dead + 1.0 / c))


def genuine_fraction(c, p_a):
    """Share of a side's clicks whose bit is the photon's: cycles ending in a photon click (1 - p_a), and
    afterpulse slots that also hold a photon click on the same detector (p_a c / 2; on the other detector
    the double click gives a random bit)."""
    return (1 - p_a) + 0.5 * p_a * c


def check_afterpulse():
    print("afterpulse: BBM92/E91, each side an independent renewal process; coincidences r_A r_B, "
          "QBER 1/2 - g^2 (1/2 - E0), S = 2 sqrt2 w g^2", flush=True)
    t_eta = 10 ** (-0.2 * 10 / 10) * 0.8
    d = 1e-8
    c = 1 - (1 - t_eta) * (1 - d) ** 2
    e0 = (1 - 0.98 * (1 - 2 * 0.01) ** 2) / 2
    for dead_ps, p_a in ((0, 0.1), (0, 0.3), (3000, 0.2)):
        out = run("bbm92_20km", "qkd.pulses=1000000", "qkd.block_pulses=1000000",
                  f"qkd.link.dead_time_ps={dead_ps}", f"qkd.link.afterpulse_probability={p_a}")
        r = out.tables["blocks"][0]
        dead = int(dead_ps * 1e9 // 1e12)
        rate = renewal_rate(c, dead, p_a)
        g = genuine_fraction(c, p_a)
        coinc = r["detections_signal"] / r["pulses"]
        line(f"BBM92 coincidences/pair D={dead} p_a={p_a}", coinc, binom_se(r["detections_signal"], r["pulses"]),
             rate ** 2)
        line(f"BBM92 QBER D={dead} p_a={p_a}", r["qber_signal"], binom_se(r["qber_signal"] * r["sifted_bits"],
                                                                           r["sifted_bits"]),
             0.5 - g * g * (0.5 - e0), f"(no afterpulse {e0:.5f}; g = {g:.4f})")
    out = run("e91_chsh", "qkd.pulses=1000000", "qkd.block_pulses=1000000", "qkd.link.afterpulse_probability=0.2")
    s, se = out.attrs["chsh_s"], out.attrs["chsh_standard_error"]
    w = load_job("jobs/e91_chsh.toml").qkd.source.werner
    g = genuine_fraction(c, 0.2)
    line("E91 CHSH S, p_a = 0.2", s, se, 2 * math.sqrt(2) * w * g * g, f"(w = {w}, g = {g:.4f})")


# ---------------------------------------------------------------------------------------------- Cascade
def cascade_reference(n, errors, qber, rng, passes=4, waves=False):
    """Brassard and Salvail's Cascade (EUROCRYPT 1993) written out for this review: k_1 = max(4, ceil(0.73/E)),
    doubled each pass, the first pass unshuffled (rng.permutation(n) for the others); an odd block is bisected
    (one parity per step) and the found bit flipped, which makes one block of every earlier pass odd, bisected
    in turn. ``waves=False``: the smallest odd block first (Brassard and Salvail's order); ``waves=True``: every
    odd block of a wave in (pass, block) order before the blocks the wave made odd (bisections in parallel, as
    dqsim runs them). Returns (parities disclosed, wrong bits left)."""
    wrong = np.zeros(n, dtype=np.uint8)
    wrong[errors] = 1
    k = max(4, math.ceil(0.73 / max(qber, 1e-9)))
    perms, sizes, parities = [], [], 0

    def block(r, b):
        return perms[r][0][b * sizes[r]:(b + 1) * sizes[r]]

    def find(idx):
        nonlocal parities
        while idx.size > 1:
            half = idx[: idx.size // 2]
            parities += 1
            idx = half if wrong[half].sum() % 2 else idx[idx.size // 2:]
        return int(idx[0])

    for p in range(passes):
        size = min(n, k << p)
        perm = np.arange(n) if p == 0 else rng.permutation(n)
        where = np.empty(n, dtype=np.int64)
        where[perm] = np.arange(n)
        perms.append((perm, where))
        sizes.append(size)
        nblocks = -(-n // size)
        parities += nblocks
        odd = {(p, b) for b in range(nblocks) if wrong[block(p, b)].sum() % 2}
        while odd:
            wave = sorted(odd) if waves else [min(odd, key=lambda qb: (sizes[qb[0]], qb))]
            odd = set() if waves else odd - set(wave)
            for q, b in wave:
                if wrong[block(q, b)].sum() % 2 == 0:
                    continue
                bit = find(block(q, b))
                wrong[bit] ^= 1
                for r in range(p + 1):
                    rb = (r, int(perms[r][1][bit] // sizes[r]))
                    if wrong[block(*rb)].sum() % 2:
                        odd.add(rb)
                    else:
                        odd.discard(rb)
    return parities, int(wrong.sum())


def check_cascade_order():
    print("cascade order: dqsim's parities against this review's Cascade on the same errors and permutations "
          "(2000-bit keys, E = 0.04 and 0.01)", flush=True)
    from dqsim.protocols.qkd.reconciliation import cascade_errors
    rng = np.random.default_rng(11)
    for e in (0.04, 0.01):
        same, extra = 0, []
        for i in range(40):
            errs = np.sort(rng.choice(2000, size=rng.binomial(2000, e), replace=False))
            got = cascade_errors(2000, errs, e, np.random.default_rng(i)).leakage_bits
            same += got == cascade_reference(2000, errs, e, np.random.default_rng(i), waves=True)[0]
            extra.append(got - cascade_reference(2000, errs, e, np.random.default_rng(i))[0])
        exact(f"order E = {e}: keys whose parities equal the parallel-wave order's (of 40)", same, 40, 0.0)
        print(f"  (reference) E = {e}: against the smallest-block-first order (not dqsim's) {np.mean(extra):+.2f} ± "
              f"{np.std(extra, ddof=1) / math.sqrt(40):.2f} parities per key "
              f"({np.mean(extra) / (2000 * h2(e)):+.4f} in f)", flush=True)


def check_cascade():
    print("cascade: leakage per key bit (f = leak / (n h(E))) against this review's Cascade on the same n, E and "
          "tuning (k+1)/(m+2) of the disclosed sample; residual errors; privacy amplification's length", flush=True)
    rng = np.random.default_rng(7)
    for e_d in (0.01, 0.04):
        out = run("bb84_decoy_50km", "qkd.pulses=2000000", "qkd.batch_pulses=500000", "qkd.block_pulses=1000000",
                  'qkd.error_correction="cascade"', "qkd.link.distance_km=20", f"qkd.link.misalignment={e_d}")
        for r in out.tables["blocks"]:
            n, m = int(r["ec_key_bits"]), int(r["estimation_bits"])
            tuning = (round(float(r["qber_estimated"]) * m) + 1) / (m + 2)
            fs, res = [], 0
            refs = []
            for waves in (False, True):
                fs = []
                for _ in range(8):
                    errs = rng.choice(n, size=rng.binomial(n, float(r["qber_signal"])), replace=False)
                    leak, left = cascade_reference(n, errs, tuning, rng, waves=waves)
                    fs.append(leak / (n * h2(errs.size / n)))
                    res += left > 0
                refs.append((float(np.mean(fs)), float(np.std(fs, ddof=1))))
            (seq, seq_sd), (par, par_sd) = refs
            print(f"  e_d {e_d} block {r['block']}: n = {n}, E = {r['qber_signal']:.5f} (tuned to {tuning:.5f}), "
                  f"leak {r['leakage_bits']:.0f}; (reference) smallest block first, not dqsim's order: f {seq:.4f} "
                  f"(sd of one key {seq_sd:.4f}, z {(r['ec_f_measured'] - seq) / seq_sd:+.2f}); {res} of 16 "
                  f"reference keys left with errors; rounds {r['ec_rounds']}, residual {r['ec_residual_errors']}, "
                  f"verified {r['ec_verified']}, equal {r['final_keys_equal']}", flush=True)
            line(f"e_d {e_d} block {r['block']}: f against the parallel-wave order (dqsim's; sd of one key)",
                 float(r["ec_f_measured"]), par_sd, par)
            exact(f"e_d {e_d} block {r['block']}: no residual errors, keys equal",
                  int(r["ec_residual_errors"]) + (not bool(r["final_keys_equal"])), 0, 0.0)
            kept = n / (n + m)
            ell = math.floor(kept * r["single_photon_secrecy_bits"] - r["leakage_bits"] - math.ceil(math.log2(1e15)))
            exact(f"e_d {e_d} block {r['block']}: PA length floor(kept n1(1-h(e1)) - leak - ceil(log2 1/eps_cor))",
                  int(r["secret_key_bits"]), max(0, ell), 0.0, f"(kept share {kept:.5f})")


def check_hash():
    print("hash: a random Toeplitz hash of m bits maps a fixed nonzero difference to 0 with probability 2^-m "
          "(two-universal; Krawczyk, CRYPTO 1994)", flush=True)
    from dqsim.protocols.qkd.reconciliation import toeplitz_hash_of_positions
    rng = np.random.default_rng(3)
    n = 2000
    for m, diff in ((1, [5]), (2, [17, 1300]), (3, [0, 1, 2, 1999])):
        trials = 4000
        zero = sum(not toeplitz_hash_of_positions(np.array(diff), n, rng.integers(0, 2, n + m - 1, dtype=np.uint8),
                                                  m).any() for _ in range(trials))
        line(f"P(pass) m={m}, {len(diff)} residual errors", zero / trials, binom_se(zero, trials), 2.0 ** -m)


def check_timing():
    print("timing: a Cascade block's key phase 2d(1 + R) + 2R ceil(B/(2R)/rate) + A/rate (key message, R round "
          "trips, acknowledgement; B classical bits; A the two per_block authentication tags' bits, on Alice's last "
          "answer and Bob's acknowledgement, since 2026-12-07); later that day the report (one batch of "
          "N pulses, D clicks: D + positions(N, D) bits, positions the shortest of bitmap, indices and the "
          "enumerative code since 2026-12-07 (morning)), sifting (3 bits a detection: basis and one of 3 classes) "
          "and estimation (the m sampled bits, the decoy classes' sifted bits and positions(n, m), n the signal's "
          "sifted bits) take their bits too: sifting phase 2d + report/rate, estimation 2d + (sifting + "
          "estimation)/rate", flush=True)
    for L, rate in ((20.0, 1e9), (50.0, 1e6)):
        out = run("bb84_decoy_50km", "qkd.pulses=1000000", "qkd.block_pulses=1000000",
                  'qkd.error_correction="cascade"', f"qkd.link.distance_km={L}", f"qkd.classical_bit_rate_hz={rate}")
        r = out.tables["blocks"][0]
        d = round(one_way_ps(L))
        rounds, bits, tags = int(r["ec_rounds"]), int(r["classical_bits"]), int(r["auth_key_bits"])
        formula = (2 * d * (1 + rounds) + 2 * rounds * math.ceil(bits / (2 * rounds) * 1e12 / rate)
                   + round(tags * 1e12 / rate))  # whole tag bits: a whole number of ps at these rates
        clicks = int(r["detections_signal"] + r["detections_decoy"] + r["detections_vacuum"])
        sampled, signal = int(r["estimation_bits"]), int(r["ec_key_bits"]) + int(r["estimation_bits"])
        sifted = int(r["sifted_bits"])
        report = clicks + positions_bits(1_000_000, clicks)
        estimation = min(sifted, sampled + sifted - signal) + positions_bits(signal, sampled)
        sifting_ps = 2 * d + math.ceil(report * 1e12 / rate)
        estimation_ps = 2 * d + math.ceil(3 * clicks * 1e12 / rate) + math.ceil(estimation * 1e12 / rate)
        ok = (r["time_key_ps"], r["time_sifting_ps"], r["time_estimation_ps"]) == (formula, sifting_ps, estimation_ps)
        for name, formula_ps in (("time_key_ps", formula), ("time_sifting_ps", sifting_ps),
                                 ("time_estimation_ps", estimation_ps)):
            exact(f"timing L={L} rate={rate:g}: {name}", int(r[name]), formula_ps, 0.0)
        print(f"  L={L} km rate={rate:g}: rounds {rounds}, classical bits {bits}, tag bits {tags}; "
              f"time_key_ps {r['time_key_ps']} "
              f"formula {formula} (latency part {2 * d * (1 + rounds)}, {2 * d * (1 + rounds) / r['time_key_ps']:.3f}"
              f" of it); report {report} bits, sifting {3 * clicks}, estimation {estimation}: time_sifting_ps "
              f"{r['time_sifting_ps']} formula {sifting_ps}, time_estimation_ps {r['time_estimation_ps']} formula "
              f"{estimation_ps} ({'ok (all equal)' if ok else 'MISMATCH'}); simulated_time_ps "
              f"{out.tables['links']['simulated_time_ps'][0]}", flush=True)
    for ec in ("model", "cascade"):
        _two_blocks(ec)


def _two_blocks(ec):
    """Two blocks of 5e5 pulses (T = 5e8 ps) at 20 km: the source emits the second block while the first is
    post-processed (since 2026-12-06), so block k's key exists at (k + 1)T + P_k (P_k its sifting, estimation and
    key phases; no wait, 2 blocks < max_blocks_in_postprocessing) and the link ends at the latest of them.
    Before: the second block started after the first's post-processing, and the link ended at 2T + P_0 + P_1."""
    out = run("bb84_decoy_50km", "qkd.pulses=1000000", "qkd.batch_pulses=250000", "qkd.block_pulses=500000",
              f'qkd.error_correction="{ec}"', "qkd.link.distance_km=20")
    b = out.tables["blocks"]
    post = [int(x + y + z) for x, y, z in zip(b["time_sifting_ps"], b["time_estimation_ps"], b["time_key_ps"])]
    block_ps = 500_000_000
    keys = [(k + 1) * block_ps + p for k, p in enumerate(post)]
    ends = [int(t) for t, kind in zip(out.tables["timeline"]["time_ps"], out.tables["timeline"]["kind"])
            if kind == "qkd-block"]
    link_ps = int(out.tables["links"]["simulated_time_ps"][0])
    exact(f"{ec} two blocks: block starts (0, T) and no source wait", int(b["block_start_ps"][1])
          + int(b["block_start_ps"][0]) + int(sum(b["source_wait_ps"])), block_ps, 0.0)
    for k, t in enumerate(keys):
        exact(f"{ec} two blocks: block {k} key_ready_ps = (k+1)T + P_k", int(b["key_ready_ps"][k]), t, 0.0)
    exact(f"{ec} two blocks: link simulated_time_ps = max key time", link_ps, max(keys), 0.0)
    ok = (b["block_start_ps"].tolist() == [0, block_ps] and b["source_wait_ps"].tolist() == [0, 0]
          and b["key_ready_ps"].tolist() == keys and link_ps == max(keys))
    print(f"  {ec}: two blocks of 5e5 pulses at 20 km: block starts {b['block_start_ps'].tolist()} ps, "
          f"post-processing {post} ps, keys at {b['key_ready_ps'].tolist()} ps (timeline qkd-block {sorted(ends)}); "
          f"formula (k+1)T + P_k = {keys}; link simulated_time_ps {link_ps}, formula max = {max(keys)} "
          f"({'ok (equal)' if ok else 'MISMATCH'}); the source waiting for each block would end at "
          f"2T + sum = {2 * block_ps + sum(post)}", flush=True)


CHECKS = {"chain": check_chain, "star": check_star, "abort": check_abort, "twodecoy": check_twodecoy,
          "afterpulse": check_afterpulse, "cascade": check_cascade, "order": check_cascade_order, "hash": check_hash,
          "timing": check_timing}

#: What ``--quick`` runs (a few minutes on the loaded 2-core VM).
QUICK_CHECKS = ["chain", "abort", "order", "hash", "timing"]


def main(argv: list[str]) -> int:
    failed = run_checks("review_qkd_networks", CHECKS, argv, "--quick" in argv, RESULTS, __doc__, QUICK_CHECKS)
    for what in failed:
        print(f"  FAIL: {what}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
