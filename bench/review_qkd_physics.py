"""The checks behind docs/review-qkd-physics-20261206.md: dqsim's QKD jobs against the published formulas.

Each check runs a job of jobs/ through the same path as ``dqsim run`` (load_job, --set overrides,
the qkd scenario on one rank, numpy) at a small size, reads the tables ``dqsim inspect`` shows, and
compares a simulated figure with its formula, written out again here from the papers (nothing of
dqsim.protocols.qkd.theory/decoy/finite_key is imported). Run from the repository root:

    PYTHONPATH=$PWD .venv/bin/python bench/review_qkd_physics.py [check ...]

    PYTHONPATH=$PWD .venv/bin/python bench/review_qkd_physics.py --quick   # fibre, detector, spdc only

Checks: fibre, sweep, cutoff, eve, detector, entangled, spdc, raman, finite (default: all). A line per
figure: simulated ± s.e., formula, z = (simulated - formula)/s.e., PASS when |z| <= 3 (Z_MAX); figures dqsim
computes exactly (transmittance, times, the decoy bounds from the block's own gains, the theory column) PASS
within the relative tolerance their line states. Ends with a count ``N PASS, M FAIL`` and exits 1 when any
figure failed (2 for an unknown option or check, before any runs). Lines marked "(reference)" are context,
not verdicts (an approximation the check does not test dqsim against).
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import apply_overrides, load_job
from dqsim.scenarios import qkd as qkd_scenario

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from review_runner import run_checks  # noqa: E402

NUMPY = backend_mod.select("numpy")
C_M_PER_S = 299_792_458.0
H_J_S = 6.62607015e-34
Z_MAX = 3.0
#: The verdicts ``(what, ok)`` of this script's checks (and of bench/review_qkd_networks.py's, which uses
#: :func:`line` and :func:`exact`).
RESULTS: list[tuple[str, bool]] = []


def run(job_name, *overrides):
    job = apply_overrides(load_job(f"jobs/{job_name}.toml"), list(overrides))
    return qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=NUMPY)


def h2(x):
    """Binary entropy, bits."""
    return 0.0 if x <= 0.0 or x >= 1.0 else -x * math.log2(x) - (1 - x) * math.log2(1 - x)


def line(what, sim, se, formula, note=""):
    """A sampled figure's verdict: PASS when |z| = |sim - formula| / se <= Z_MAX (se 0: only sim == formula)."""
    z = (sim - formula) / se if se > 0 else (0.0 if sim == formula else float("inf"))
    ok = abs(z) <= Z_MAX
    RESULTS.append((what.strip(), ok))
    print(f"  {'PASS' if ok else 'FAIL'} {what:42s} sim {sim:.6g} ± {se:.2g}   formula {formula:.6g}   z {z:+.2f}"
          f" {note}", flush=True)
    return z


def exact(what, sim, formula, rel_tol, note=""):
    """A figure dqsim computes exactly (no sampling): PASS when |sim - formula| <= rel_tol |formula|
    (rel_tol 0: equal)."""
    ok = abs(float(sim) - float(formula)) <= rel_tol * abs(float(formula))
    RESULTS.append((what.strip(), ok))
    print(f"  {'PASS' if ok else 'FAIL'} {what:42s} dqsim {sim:.12g}   formula {formula:.12g}   (rel. tol."
          f" {rel_tol:g}) {note}", flush=True)
    return ok


def eta_total(L, alpha=0.2, coupling_db=0.0, eta_det=0.8):
    return 10 ** (-(alpha * L + coupling_db) / 10) * eta_det


def receiver(mu, eta, p_b, e_d):
    """Exact two-threshold-detector BB84 receiver, Poisson source (Ma et al. PRA 72, 012326 (2005), Sec. II,
    without their first-order expansion): each detector silent with e^(-mu eta x)(1 - p_b), double clicks a
    random bit. Returns (Q, E)."""
    a = math.exp(-mu * eta * (1 - e_d)) * (1 - p_b)  # correct detector silent
    b = math.exp(-mu * eta * e_d) * (1 - p_b)  # wrong detector silent
    q = 1 - a * b
    err = a * (1 - b) + 0.5 * (1 - a) * (1 - b)
    return q, (err / q if q > 0 else 0.5)


def ma_first_order(mu, eta, p_b, e_d):
    """Ma et al. 2005, Sec. II, with e0 = 1/2: Q = Y0 + 1 - e^(-eta mu), E Q = e0 Y0 + e_d (1 - e^(-eta mu))."""
    y0 = 2 * p_b
    q = y0 + 1 - math.exp(-eta * mu)
    return q, (0.5 * y0 + e_d * (1 - math.exp(-eta * mu))) / q


def single_photon(eta, p_b, e_d):
    """Y1, e1 of the same receiver for one photon."""
    lost = (1 - eta) * (1 - (1 - p_b) ** 2)
    y1 = eta + lost
    err = (1 - eta) * (p_b * (1 - p_b) + 0.5 * p_b ** 2) + eta * (1 - e_d) * 0.5 * p_b + eta * e_d * (1 - 0.5 * p_b)
    return y1, err / y1


def gllp(mu, eta, p_b, e_d, f=1.16, q=0.5):
    """R = q{-Q f h(E) + Q1[1 - h(e1)]} (GLLP 2004; Lo, Ma, Chen PRL 94, 230504 (2005) eq. (1)), per signal pulse."""
    qm, em = receiver(mu, eta, p_b, e_d)
    y1, e1 = single_photon(eta, p_b, e_d)
    return max(0.0, q * (-qm * f * h2(em) + mu * math.exp(-mu) * y1 * (1 - h2(e1))))


def binom_se(k, n):
    p = k / n
    return math.sqrt(max(p * (1 - p), 1.0 / n) / n)


# ----------------------------------------------------------------------------------------------------------------
def positions_bits(n, m):
    """Which m of n places: nothing when m is 0 or n, else the shortest of a bitmap, a list of ceil(log2 n)-bit
    indices and the enumerative code ceil(log2 C(n, m)) (Cover 1973), taken here from the exact binomial (the
    model of dqsim's classical messages since 2026-12-07 (morning))."""
    return 0 if m in (0, n) else min(n, m * math.ceil(math.log2(n)), (math.comb(n, m) - 1).bit_length())


def report_bits(num_pulses, clicks, settings=2):
    """Bob's detection report of a batch, bits: the clicks' places and a setting each (ceil(log2 settings) bits),
    or where shorter a symbol a pulse (ceil(log2(settings + 1)) bits); no tag on it under ``per_block``
    authentication (the shipped jobs'): dqsim/protocols/qkd/authentication.py ``report_message_bits``."""
    return min(clicks * math.ceil(math.log2(settings)) + positions_bits(num_pulses, clicks),
               num_pulses * math.ceil(math.log2(settings + 1)))


def sifting_ps(distance_km, group_index, num_pulses, clicks, bit_rate_hz=1e9):
    """A one-batch block's ``time_sifting_ps``, from its last pulse to Alice's sifting answer: the last pulse's
    flight to Bob and his report's back, 2 L n_g / c (each way rounded to 1 ps), and the report's transmission
    ceil(report bits / bit rate) on the classical channel (since 2026-12-07; dqsim/protocols/qkd/nodes.py
    ``report_delay_ps``, and ``_AliceSide._send_sifting``, which stamps the phase's end)."""
    one_way = round(distance_km * 1e3 * group_index / C_M_PER_S * 1e12)
    return 2 * one_way + math.ceil(report_bits(num_pulses, clicks) * 1e12 / bit_rate_hz)


def check_fibre():
    print("fibre: transmittance 10^(-aL/10) eta_det; sifting time = round trip 2 L n_g / c + report bits / bit rate",
          flush=True)
    n = 200_000
    for L, alpha, ng, coupling in ((50.0, 0.2, 1.468, 0.0), (13.7, 0.35, 1.5, 1.3)):
        out = run("bb84_decoy_50km", f"qkd.pulses={n}", f"qkd.batch_pulses={n}", f"qkd.block_pulses={n}",
                  f"qkd.link.distance_km={L}", f"qkd.link.attenuation_db_per_km={alpha}",
                  f"qkd.link.group_index={ng}", f"qkd.link.coupling_loss_db={coupling}")
        links, b = out.tables["links"], out.tables["blocks"][0]
        where = f"L={L} km a={alpha} dB/km C={coupling} dB n_g={ng}"
        exact(f"{where}: transmittance", float(links["transmittance"][0]), eta_total(L, alpha, coupling), 1e-12)
        clicks = int(b["detections_signal"] + b["detections_decoy"] + b["detections_vacuum"])
        trip = 2 * L * 1e3 * ng / C_M_PER_S * 1e12
        exact(f"{where}: time_sifting_ps", int(b["time_sifting_ps"]), sifting_ps(L, ng, n, clicks), 0.0,
              f"(round trip {trip:.1f} ps + report {report_bits(n, clicks)} bits at 1 Gbit/s)")


def check_sweep_job():
    print("sweep: Q_mu, Q_nu, E_mu against the exact receiver and Ma et al. first order; decoy bounds eqs. (34), (37)"
          " from the block's own gains; key vs GLLP and PLOB", flush=True)
    out = run("bb84_decoy_50km", "qkd.pulses=4000000", "qkd.batch_pulses=1000000", "qkd.block_pulses=4000000",
              "qkd.link.distance_km=0", "qkd.sweep.distances_km=[10, 50, 100, 150]")
    p_b = 10.0 * 1e-9  # dark-count rate x gate width, per detector
    zs = []
    for row in out.tables["blocks"]:
        L = float(row["distance_km"])
        eta = eta_total(L)
        print(f" L = {L} km, eta = {eta:.5g}", flush=True)
        for name, mu, n_key in (("signal", 0.5, "detections_signal"), ("decoy", 0.1, "detections_decoy")):
            gain = float(row[f"gain_{name}"])
            n = round(row[n_key] / gain) if gain > 0 else 0
            q, e = receiver(mu, eta, p_b, 0.01)
            zs.append(line(f"Q_{name} (mu={mu})", gain, binom_se(row[n_key], n), q))
            q1, e1o = ma_first_order(mu, eta, p_b, 0.01)
            print(f"  {'':47s} (reference) Ma et al. first order Q {q1:.6g}, E {e1o:.6g}")
        se_e = float(row["qber_signal_standard_error"])
        q, e = receiver(0.5, eta, p_b, 0.01)
        zs.append(line("E_signal", float(row["qber_signal"]), se_e, e))
        # decoy bounds from the block's own gains: Ma et al. 2005 eqs. (34), (37)
        mu, nu = 0.5, 0.1
        Qm, Qn, Y0 = float(row["gain_signal"]), float(row["gain_decoy"]), float(row["gain_vacuum"])
        En = float(row["qber_decoy"])
        y1l = mu / (mu * nu - nu ** 2) * (Qn * math.exp(nu) - Qm * math.exp(mu) * nu ** 2 / mu ** 2
                                          - (mu ** 2 - nu ** 2) / mu ** 2 * Y0)
        e1u = (En * Qn * math.exp(nu) - 0.5 * Y0) / (y1l * nu) if y1l > 0 else float("nan")
        y1, e1 = single_photon(eta, p_b, 0.01)
        exact(f"L={L}: Y1^L, eq. (34) on the block's gains", float(row["y1_lower"]), y1l, 1e-9,
              f"(true Y1 {y1:.6g})")
        exact(f"L={L}: e1^U, eq. (37) on the block's gains (>= 0)", float(row["e1_upper"]), max(0.0, e1u), 1e-9,
              f"(true e1 {e1:.6g})")
    for b in out.tables["blocks"]:
        # asymptotic key of the block from its own columns: secrecy of the single-photon bits less the leakage
        mu = 0.5
        single = min(1.0, float(b["y1_lower"]) * mu * math.exp(-mu) / float(b["gain_signal"]))
        # sifted_bits counts all intensities; the signal's share from the detections (sifting keeps half of each)
        share = b["detections_signal"] / (b["detections_signal"] + b["detections_decoy"] + b["detections_vacuum"])
        kept = share * int(b["sifted_bits"]) - int(b["estimation_bits"])
        secrecy = single * kept / 2 * ((1 - h2(float(b["e1_upper_x"]))) + (1 - h2(float(b["e1_upper_z"]))))
        # the signal's sifted bits are estimated from its share of the detections: within 1 %, not exact
        exact(f"L={b['distance_km']}: secrecy column, GLLP from the block", float(b["single_photon_secrecy_bits"]),
              secrecy, 1e-2, "(signal share of the detections, Z = X)")
        exact(f"L={b['distance_km']}: key = floor(secrecy column - leakage)", int(b["secret_key_bits"]),
              max(0, math.floor(float(b["single_photon_secrecy_bits"]) - float(b["leakage_bits"]))), 0.0)
    links = out.tables["sweep"]
    for row in links:
        L = float(row["distance_km"])
        R = gllp(0.5, eta_total(L), p_b, 0.01, q=0.5) * 0.8  # per pulse: signal share 0.8
        exact(f"L={L}: theory column, GLLP written here", float(row["theory_bits_per_pulse"]), R, 1e-6)
        print(f"  (reference) L={L}: simulated {row['key_rate_bits_per_pulse']:.6g} bits/pulse"
              f" (PLOB {row['plob_bits_per_pulse']:.4g}, with detectors"
              f" {row['plob_with_detectors_bits_per_pulse']:.4g})", flush=True)
    # cut-off distance of the GLLP rate written here
    lo, hi = 10.0, 400.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if gllp(0.5, eta_total(mid), p_b, 0.01) > 0 else (lo, mid)
    print(f"  (reference) GLLP key vanishes at L_max = {lo:.2f} km (mu = 0.5, e_d = 0.01, p_d = 1e-8, eta_det 0.8, f 1.16)")
    return zs, lo


def check_cutoff():
    p_b = 1 - math.exp(-1e5 * 1e-9)  # dark-count probability in a 1 ns gate, 1 - e^(-R dt), as the Y0 line below
    lo, hi = 10.0, 400.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if gllp(0.5, eta_total(mid), p_b, 0.01) > 0 else (lo, mid)
    print(f"cut-off: dark counts 1e5 Hz (p_d = 1e-4 per 1 ns gate): GLLP key vanishes at L_max = {lo:.2f} km;"
          " simulated key and theory column around it (asymptotic, vacuum + weak decoy)", flush=True)
    dists = [round(lo - 30, 1), round(lo - 10, 1), round(lo + 5, 1), round(lo + 20, 1)]
    for seed in (1, 2):
        out = run("bb84_decoy_50km", "qkd.pulses=4000000", "qkd.batch_pulses=1000000", "qkd.block_pulses=4000000",
                  "qkd.link.distance_km=0", f"qkd.sweep.distances_km={dists}",
                  "qkd.link.dark_count_rate_hz=100000", f"run.seed={seed}")
        for row, b in zip(out.tables["sweep"], out.tables["blocks"]):
            L = float(row["distance_km"])
            y1, e1 = single_photon(eta_total(L), p_b, 0.01)
            exact(f"seed {seed} L={L}: theory column, GLLP here", float(row["theory_bits_per_pulse"]),
                  0.8 * gllp(0.5, eta_total(L), p_b, 0.01), 1e-6)
            print(f"  (reference) seed {seed} L={L}: key {row['secret_key_bits']} bits"
                  f" ({row['key_rate_bits_per_pulse']:.3g}/pulse), theory column {row['theory_bits_per_pulse']:.4g},"
                  f" GLLP here {0.8 * gllp(0.5, eta_total(L), p_b, 0.01):.4g}; QBER {b['qber_signal']:.4f},"
                  f" e1_U {b['e1_upper']:.4f} (true {e1:.4f}), Y1_L {b['y1_lower']:.3g} (true {y1:.3g});"
                  f" PLOB {row['plob_bits_per_pulse']:.3g}", flush=True)
            n_vac = round(4_000_000 * 0.1)
            line("   Y0 (vacuum pulses), dark counts only", float(b["gain_vacuum"]),
                 binom_se(b["detections_vacuum"], n_vac), 1 - math.exp(-1e5 * 1e-9) ** 2,
                 "(1 - e^(-R dt) per detector, two detectors)")


def check_eve():
    print("eve: intercept-resend QBER = [f G_I (1/4 + e_d/2) + (1-f) Q e_d] / [f G_I + (1-f) Q]", flush=True)
    zs = []
    for frac, basis in ((0.5, "random"), (1.0, "random"), (1.0, "Z"), (0.2, "random")):
        out = run("bb84_eve_intercept", "qkd.pulses=2000000", "qkd.batch_pulses=1000000",
                  "qkd.block_pulses=2000000", f"qkd.eve.fraction={frac}", f"qkd.eve.basis=\"{basis}\"")
        row = out.tables["blocks"][0]
        mu, e_d, T1, T2 = 0.5, 0.01, 10 ** (-0.2 * 25 / 10), 10 ** (-0.2 * 25 / 10) * 0.8
        g_i = (1 - math.exp(-mu * T1)) * T2  # Eve resends one photon when she saw one
        q = 1 - math.exp(-mu * T1 * T2)
        if basis == "random":
            e_i = {"z": 0.25 + e_d / 2, "x": 0.25 + e_d / 2}
        else:
            e_i = {"z": e_d, "x": 0.5}
        for b in ("z", "x"):
            expected = (frac * g_i * e_i[b] + (1 - frac) * q * e_d) / (frac * g_i + (1 - frac) * q)
            n = float(row["sifted_bits"]) / 2
            zs.append(line(f"f={frac} basis={basis} QBER_{b}", float(row[f"qber_{b}_signal"]),
                           math.sqrt(expected * (1 - expected) / n), expected))
        known = frac * g_i * 0.5 / (frac * g_i + (1 - frac) * q)  # Eve's basis is Bob's in half of her bits
        line(f"f={frac} basis={basis} eve_known_fraction", float(row["eve_known_fraction"]),
             math.sqrt(known * (1 - known) / float(row["sifted_bits"])), known,
             f"aborted {bool(row['aborted'])}, key {row['secret_key_bits']}")
    # entangled: Eve on Bob's arm resends one photon when one reached her, so the coincidence rate is unchanged;
    # attacked sifted pairs err with 1/2 [(1 - w(1-2e_d)^2)/2] + 1/2 . 1/2; E91's S = sqrt2 w (2 - f) (CHSH terms
    # of product states average to half)
    for frac in (1.0, 0.4):
        out = run("bbm92_eve_intercept", "qkd.pulses=1000000", "qkd.batch_pulses=1000000",
                  "qkd.block_pulses=1000000", f"qkd.eve.fraction={frac}")
        row = out.tables["blocks"][0]
        e0 = (1 - 0.98 * (1 - 2 * 0.01) ** 2) / 2
        expected = frac * (0.5 * e0 + 0.25) + (1 - frac) * e0
        zs.append(line(f"BBM92 Eve f={frac} QBER", float(row["qber_signal"]), float(row["qber_signal_standard_error"]),
                       expected, f"aborted {bool(row['aborted'])}, key {row['secret_key_bits']}"))
    for frac in (1.0, 0.5):
        out = run("e91_chsh", "qkd.pulses=1000000", "qkd.batch_pulses=1000000", "qkd.block_pulses=1000000",
                  "qkd.source.werner=0.95",
                  f"qkd.eve={{attack='intercept_resend', fraction={frac}, basis='random', distance_km=5.0}}")
        row = out.tables["links"][0]
        zs.append(line(f"E91 Eve f={frac} CHSH S", float(row["chsh_value"]), float(row["chsh_standard_error"]),
                       math.sqrt(2) * 0.95 * (2 - frac), f"key {row['secret_key_bits']}"))
    return zs


def check_entangled():
    print("entangled: BBM92 QBER (1 - w(1-2e_d)^2)/2, E91 S = 2 sqrt2 w (1-2e_d)^2 (one pair per slot)", flush=True)
    zs = []
    T = 10 ** (-0.2 * 10 / 10) * 0.8  # each 10 km arm with eta_det
    d = 1e-8
    for w, e_d in ((1.0, 0.0), (0.98, 0.01), (0.9, 0.0)):
        out = run("bbm92_20km", "qkd.pulses=1000000", "qkd.batch_pulses=1000000", "qkd.block_pulses=1000000",
                  f"qkd.source.werner={w}", f"qkd.link.misalignment={e_d}")
        row = out.tables["blocks"][0]
        expected = (1 - w * (1 - 2 * e_d) ** 2) / 2
        zs.append(line(f"BBM92 w={w} e_d={e_d} QBER", float(row["qber_signal"]),
                       max(float(row["qber_signal_standard_error"]), 1e-9), expected))
        c = 1 - (1 - T) * (1 - d) ** 2
        zs.append(line(f"BBM92 w={w} coincidences/pair", float(row["gain_signal"]),
                       binom_se(row["detections_signal"], 1_000_000), c * c))
    # accidental coincidences from dark counts: a side's bit is the photon's only when the photon is detected and
    # the other detector stays dark (q = T eta (1 - d)); otherwise random: QBER = (1 - w (q/c)^2)/2
    for L, rate_hz in ((150.0, 1e6), (100.0, 1e5)):
        N = 4_000_000
        out = run("bbm92_20km", f"qkd.pulses={N}", "qkd.batch_pulses=1000000", f"qkd.block_pulses={N}",
                  f"qkd.link.distance_km={L}", f"qkd.link.dark_count_rate_hz={rate_hz}", "qkd.link.misalignment=0",
                  "qkd.source.werner=1.0")
        row = out.tables["blocks"][0]
        d = rate_hz * 1e-9
        p = 10 ** (-0.2 * L / 2 / 10) * 0.8
        c = 1 - (1 - p) * (1 - d) ** 2
        q = p * (1 - d)
        zs.append(line(f"BBM92 {L} km d={d:g}: QBER", float(row["qber_signal"]),
                       float(row["qber_signal_standard_error"]), (1 - (q / c) ** 2) / 2))
        zs.append(line(f"BBM92 {L} km d={d:g}: coincidences/pair", float(row["gain_signal"]),
                       binom_se(row["detections_signal"], N), c * c))
    # dead time D slots on each side: a side's clicks do not depend on the other side's (loss, dark counts and
    # the threshold are per side), so each side is a renewal process of rate 1/(D + 1/c) and a coincidence
    # needs both: (1/(D + 1/c))^2 per slot; the bits of registered clicks keep the pair's correlation
    for dead_ps in (10_000, 3_000):
        N, D = 2_000_000, dead_ps // 1000
        out = run("bbm92_20km", f"qkd.pulses={N}", "qkd.batch_pulses=1000000", f"qkd.block_pulses={N}",
                  f"qkd.link.dead_time_ps={dead_ps}")
        row = out.tables["blocks"][0]
        c = 1 - (1 - T) * (1 - d) ** 2
        zs.append(line(f"BBM92 dead time D={D}: coincidences/pair", float(row["gain_signal"]),
                       binom_se(row["detections_signal"], N), (1 / (D + 1 / c)) ** 2))
        zs.append(line(f"BBM92 dead time D={D}: QBER", float(row["qber_signal"]),
                       float(row["qber_signal_standard_error"]), (1 - 0.98 * (1 - 2 * 0.01) ** 2) / 2))
    for w in (1.0, 0.95, 0.8, 0.7):
        out = run("e91_chsh", "qkd.pulses=1000000", "qkd.batch_pulses=1000000", "qkd.block_pulses=1000000",
                  f"qkd.source.werner={w}")
        row = out.tables["links"][0]
        zs.append(line(f"E91 w={w} CHSH S (2 sqrt2 w)", float(row["chsh_value"]), float(row["chsh_standard_error"]),
                       2 * math.sqrt(2) * w))
        b = out.tables["blocks"][0]
        S = float(b["chsh_value"])
        kept = int(b["sifted_bits"]) - int(b["estimation_bits"])
        # Acin et al. PRL 98, 230501 (2007): r = 1 - h((1 + sqrt((S/2)^2 - 1))/2) for S > 2, less the leakage
        r_s = 1 - h2((1 + math.sqrt((S / 2) ** 2 - 1)) / 2) if S > 2 else 0.0
        exact(f"E91 w={w} key = floor(kept r(S) - leakage) (S <= 2: none)", int(row["secret_key_bits"]),
              max(0, math.floor(kept * r_s - float(b["leakage_bits"]))), 0.0,
              f"(Acin et al. from the block's S = {S:.4f}: kept {kept} x {r_s:.4f})")
    return zs


def mfl(lam, eta_a, eta_b, e_d, y0a=0.0, y0b=0.0):
    """Ma, Fung, Lo, PRA 76, 012307 (2007), closed forms of the coincidence gain and QBER of a polarisation-entangled
    SPDC source with lambda = mu/2 (half the mean pair number), threshold detectors, e0 = 1/2."""
    ea, eb = eta_a * lam, eta_b * lam
    both = 1 + ea + eb - eta_a * eta_b * lam
    q = 1 - (1 - y0a) / (1 + ea) ** 2 - (1 - y0b) / (1 + eb) ** 2 + (1 - y0a) * (1 - y0b) / both ** 2
    eq = 0.5 * q - 2 * (0.5 - e_d) * eta_a * eta_b * lam * (1 + lam) / ((1 + ea) * (1 + eb) * both)
    return q, eq / q


def check_spdc():
    print("spdc: BBM92 with mean_pair_number mu against Ma-Fung-Lo 2007 (lambda = mu/2)", flush=True)
    zs = []
    T = 10 ** (-0.2 * 10 / 10) * 0.8
    for mu, w in ((0.05, 1.0), (0.2, 1.0), (0.5, 1.0), (0.2, 0.96)):
        out = run("bbm92_20km", "qkd.pulses=1000000", "qkd.batch_pulses=1000000", "qkd.block_pulses=1000000",
                  f"qkd.source.mean_pair_number={mu}", f"qkd.source.werner={w}", "qkd.link.misalignment=0")
        row = out.tables["blocks"][0]
        q, e = mfl(mu / 2, T, T, (1 - w) / 2, 2e-8, 2e-8)
        zs.append(line(f"mu={mu} w={w} coincidence gain", float(row["gain_signal"]),
                       binom_se(row["detections_signal"], 1_000_000), q))
        zs.append(line(f"mu={mu} w={w} QBER", float(row["qber_signal"]), float(row["qber_signal_standard_error"]), e,
                       "(w < 1: MFL e_d = (1-w)/2 per pair, dqsim per photon)" if w < 1 else ""))
    return zs


def check_raman():
    print("raman: Y0 from the vacuum pulses = 1 - (1-p_d)^2 (1-p_r)^2, p_r = 1 - exp(-n/2),"
          " n = P_ram lambda/(hc) eta_det dt; P_f = P rho dl L e^-aL, P_b = P rho dl (1-e^-2aL)/(2a)", flush=True)
    zs = []
    for p_dbm, L, dl, direction in ((0.0, 25.0, 0.1, "co"), (3.0, 25.0, 0.1, "co"), (0.0, 50.0, 0.1, "co"),
                                    (0.0, 25.0, 0.4, "co"), (0.0, 25.0, 0.1, "counter"), (-10.0, 80.0, 0.8, "counter")):
        out = run("bb84_raman_coexistence", "qkd.pulses=1000000", "qkd.batch_pulses=1000000",
                  "qkd.block_pulses=1000000", f"qkd.link.distance_km={L}",
                  f"qkd.classical_channels[0].launch_power_dbm={p_dbm}",
                  f"qkd.classical_channels[0].filter_bandwidth_nm={dl}",
                  f"qkd.classical_channels[0].direction=\"{direction}\"")
        row = out.tables["blocks"][0]
        a = 0.2 * math.log(10) / 10
        P = 1e-3 * 10 ** (p_dbm / 10)
        rho = 3e-9
        pr = P * rho * dl * (L * math.exp(-a * L) if direction == "co" else (1 - math.exp(-2 * a * L)) / (2 * a))
        n = pr * 1550e-9 / (H_J_S * C_M_PER_S) * 0.8 * 1e-9
        p_r = 1 - math.exp(-n / 2)
        p_b = 1 - (1 - 1e-8) * (1 - p_r)
        y0 = 1 - (1 - p_b) ** 2
        nv = round(row["detections_vacuum"] / row["gain_vacuum"]) if row["gain_vacuum"] > 0 else 100000
        zs.append(line(f"{p_dbm} dBm {L} km {dl} nm {direction}: Y0", float(row["gain_vacuum"]),
                       binom_se(row["detections_vacuum"], nv), y0, f"(P_ram {pr:.3g} W)"))
        q, e = receiver(0.5, eta_total(L), p_b, 0.01)
        zs.append(line("   E_signal (exact receiver)", float(row["qber_signal"]),
                       float(row["qber_signal_standard_error"]), e))
    return zs


def lim2014(nk_x, nk_z, mk_z, mu, p, lam_ec, eps_sec=1e-10, eps_cor=1e-15):
    """Lim et al. PRA 89, 022307 (2014) eqs. (1)-(5), X the key basis (here Z), written out again."""
    e1 = eps_sec / 21
    dlt = lambda n, e: math.sqrt(n / 2 * math.log(1 / e))
    t0 = sum(math.exp(-k) * pk for k, pk in zip(mu, p))
    t1 = sum(math.exp(-k) * k * pk for k, pk in zip(mu, p))

    def s01(nk):
        n = sum(nk)
        npl = [math.exp(k) / pk * (c + dlt(n, e1)) for k, pk, c in zip(mu, p, nk)]
        nmi = [math.exp(k) / pk * (c - dlt(n, e1)) for k, pk, c in zip(mu, p, nk)]
        s0 = max(0.0, t0 * (mu[1] * nmi[2] - mu[2] * npl[1]) / (mu[1] - mu[2]))
        s1 = t1 * mu[0] * (nmi[1] - npl[2] - (mu[1] ** 2 - mu[2] ** 2) / mu[0] ** 2 * (npl[0] - s0 / t0)) / (
            mu[0] * (mu[1] - mu[2]) - mu[1] ** 2 + mu[2] ** 2)
        return s0, max(0.0, s1)

    sx0, sx1 = s01(nk_x)
    sz0, sz1 = s01(nk_z)
    m = sum(mk_z)
    mpl = math.exp(mu[1]) / p[1] * (mk_z[1] + dlt(m, e1))
    mmi = math.exp(mu[2]) / p[2] * (mk_z[2] - dlt(m, e1))
    v = t1 * (mpl - mmi) / (mu[1] - mu[2])
    if sz1 <= 0 or sx1 <= 0:
        return 0.0
    b = v / sz1
    c, d = sz1, sx1
    g = math.sqrt((c + d) * (1 - b) * b / (c * d * math.log(2))
                  * math.log2((c + d) / (c * d * (1 - b) * b) * 21 ** 2 / eps_sec ** 2))
    phi = min(0.5, b + g)
    return sx0 + sx1 * (1 - h2(phi)) - lam_ec - 6 * math.log2(21 / eps_sec) - math.log2(2 / eps_cor)


def check_finite():
    print("finite: BB84 decoy (Lim et al. 2014) at expected counts; BBM92 (Tomamichel et al. 2012) from the block",
          flush=True)
    L, N, pz = 10.0, 20_000_000, 0.5
    mu, p = (0.5, 0.1, 0.0), (0.8, 0.1, 0.1)
    eta, p_b = eta_total(L), 1e-8
    nk_z, nk_x, mk_x, mk_z = [], [], [], []
    for k, pk in zip(mu, p):
        q, e = receiver(k, eta, p_b, 0.01)
        nk_z.append(N * pk * pz * pz * q)
        nk_x.append(N * pk * (1 - pz) ** 2 * q)
        mk_x.append(nk_x[-1] * e)
        mk_z.append(nk_z[-1] * e)
    ez = sum(mk_z) / sum(nk_z)
    formula = lim2014(nk_z, nk_x, mk_x, mu, p, 1.16 * h2(ez) * sum(nk_z))
    keys = []
    for seed in (1, 2, 3):
        out = run("bb84_decoy_50km", f"qkd.pulses={N}", "qkd.batch_pulses=1000000", f"qkd.block_pulses={N}",
                  f"qkd.link.distance_km={L}", "qkd.security=\"finite_key\"", f"qkd.source.z_basis_probability={pz}",
                  f"run.seed={seed}")
        keys.append(int(out.tables["blocks"][0]["secret_key_bits"]))
    m, se = np.mean(keys), np.std(keys, ddof=1) / math.sqrt(len(keys))
    z = line(f"BB84 Lim ell, {L} km, N={N}, q_z={pz} (3 seeds)", m, se, formula, f"keys {keys}")
    # BBM92 finite key (Tomamichel et al. 2012 eq. (2), ln(4/eps_sec) as dqsim reads Lemma 3; ln(2/eps) beside)
    out = run("bbm92_finite_key", "qkd.pulses=2000000", "qkd.batch_pulses=1000000", "qkd.block_pulses=2000000",
              "qkd.error_correction=\"model\"")
    row = out.tables["blocks"][0]
    k = int(row["estimation_bits"])
    errors = round(float(row["qber_estimated"]) * k)
    n = int(row["finite_key_bits_x"]) if int(row["finite_key_bits_x"]) else None
    print(f"  (reference) BBM92 block: estimation_bits k={k}, test errors {errors}, leakage {row['leakage_bits']:.1f},"
          f" key {row['secret_key_bits']}, sifted {row['sifted_bits']}, finite_key_bits_x {row['finite_key_bits_x']}")
    n = int(row["sifted_bits"]) - k
    for ln_arg in (4, 2):
        mu_dev = math.sqrt((n + k) / (n * k) * (k + 1) / k * math.log(ln_arg / 1e-10))
        ell = n * (1 - h2(errors / k + mu_dev)) - float(row["leakage_bits"]) - math.log2(2 / (1e-20 * 1e-15))
        if ln_arg == 4:  # as dqsim reads Lemma 3 (dqsim/protocols/qkd/finite_key.py)
            exact("BBM92 key = floor(Tomamichel eq. (2), ln(4/eps_sec))", int(row["secret_key_bits"]),
                  max(0, math.floor(ell)), 0.0, f"(n={n})")
        else:
            print(f"    (reference) Tomamichel eq.(2), ln({ln_arg}/eps_sec): n={n} ell={ell:.1f}")
    return [z]


def check_detector():
    print("detector: registered clicks per pulse with dead time D pulses and afterpulse probability p_a:"
          " renewal cycle p_a (D+1) + (1-p_a)(D + 1/P), P = sum_c p_c Q_c (Knoll Sec. 4.VII for p_a = 0)", flush=True)
    zs = []
    L, N = 5.0, 2_000_000
    eta = eta_total(L)
    P = sum(pc * receiver(m, eta, 1e-8, 0.01)[0] for m, pc in zip((0.5, 0.1, 0.0), (0.8, 0.1, 0.1)))
    for dead_ps, p_a in ((0, 0.0), (10_000, 0.0), (10_000, 0.05), (0, 0.1), (2_500, 0.2)):
        D = dead_ps // 1000  # 1 GHz source: a pulse every 1000 ps, floor(tau R)
        out = run("bb84_decoy_50km", f"qkd.pulses={N}", "qkd.batch_pulses=1000000", f"qkd.block_pulses={N}",
                  f"qkd.link.distance_km={L}", f"qkd.link.dead_time_ps={dead_ps}",
                  f"qkd.link.afterpulse_probability={p_a}")
        row = out.tables["blocks"][0]
        clicks = int(row["detections_signal"] + row["detections_decoy"] + row["detections_vacuum"])
        cycle = p_a * (D + 1) + (1 - p_a) * (D + 1 / P)
        rate = 1 / cycle
        # renewal-reward s.e. of the count: sqrt(N var(cycle)/mean^3)
        var = (1 - p_a) * (1 - P) / P ** 2 + p_a * (1 - p_a) * (1 / P - 1) ** 2
        se = math.sqrt(N * var / cycle ** 3) / N
        zs.append(line(f"tau={dead_ps} ps p_a={p_a} clicks/pulse", clicks / N, se, rate,
                       f"QBER {row['qber_signal']:.4f}"))
        if D == 0 and p_a > 0:
            # signal pulse: raw click (Q_s, error e) and/or an afterpulse of the previous pulse's click (p_a r, random
            # detector: alone an error 1/2; with a raw click the same detector w.p. 1/2, else a double click, 1/2)
            q_s, e_s = receiver(0.5, eta, 1e-8, 0.01)
            a = p_a * rate
            clicks_s = q_s + a * (1 - q_s)
            errors = q_s * (1 - a) * e_s + a * (1 - q_s) * 0.5 + q_s * a * (0.5 * e_s + 0.25)
            e = errors / clicks_s
            zs.append(line("   QBER_signal with afterpulses", float(row["qber_signal"]),
                           float(row["qber_signal_standard_error"]), e))
    return zs


CHECKS = {"fibre": check_fibre, "sweep": check_sweep_job, "cutoff": check_cutoff, "eve": check_eve,
          "detector": check_detector, "entangled": check_entangled, "spdc": check_spdc, "raman": check_raman,
          "finite": check_finite}
#: What ``--quick`` runs.
QUICK_CHECKS = ["fibre", "detector", "spdc"]


def main(argv):
    failed = run_checks("review_qkd_physics", CHECKS, argv, "--quick" in argv, RESULTS, __doc__, QUICK_CHECKS)
    for what in failed:
        print(f"  FAIL: {what}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
