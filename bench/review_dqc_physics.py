"""Independent physics review of dqsim's distributed computing, noise and entanglement distribution.

Run as a user would: each check writes a small job file, runs ``python -m dqsim run`` on it,
reads the result with ``python -m dqsim inspect --json`` / ``--table NAME --csv`` and compares
it with a published formula that is written out again here (numpy only: this file does not
import dqsim). The results, with their sources, are in docs/review-dqc-physics-20261206.md.

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD .venv/bin/python bench/review_dqc_physics.py [--help] [--quick] [CHECK ...]

A check passes when ``|simulated - formula| <= 3`` standard errors (sampled figures), or within
1e-9 (figures dqsim computes exactly from a density matrix). CHECK names groups (``CHECKS``; all by
default). About 5-7 minutes of wall time (1 min of CPU) on the loaded 2-core VM; the run files stay in a
temporary folder ``review-dqc-*`` for ``dqsim inspect``. ``--quick`` runs the heralding, memory, swapping and
gates checks only; an unknown option or check name stops it at once (exit 2).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from scipy.linalg import expm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from review_runner import parse_args  # noqa: E402  (bench/, no dqsim)

C_KM_PER_S = 299_792.458
GROUP_INDEX = 1.468          # dqsim's documented default (docs/running.md, [network.link])
DETECTOR_EFFICIENCY = 0.9    # dqsim's documented default
Z_MAX = 3.0
WORK = tempfile.mkdtemp(prefix="review-dqc-")
ROWS: list[tuple] = []


# ----------------------------------------------------------------------------- running dqsim as a user
def run_job(name: str, text: str, *extra: str) -> dict:
    """Write ``text`` as NAME.toml, run it, return the root attributes (``dqsim inspect --json``)."""
    job = os.path.join(WORK, f"{name}.toml")
    out = os.path.join(WORK, f"{name}.h5")
    with open(job, "w") as f:
        f.write(text)
    subprocess.run([sys.executable, "-m", "dqsim", "run", job, "-o", out, "--quiet", *extra], check=True)
    shown = subprocess.run([sys.executable, "-m", "dqsim", "inspect", out, "--json"], check=True,
                           capture_output=True, text=True).stdout
    return json.loads(shown)["attrs"] | {"_file": out}


def table(attrs: dict, name: str) -> list[dict]:
    """One table of the run's file as a list of rows (``dqsim inspect FILE --table NAME --csv``)."""
    text = subprocess.run([sys.executable, "-m", "dqsim", "inspect", attrs["_file"], "--table", name, "--csv"],
                          check=True, capture_output=True, text=True).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    return [{k.split(" [")[0]: (v if k == "bitstring" else _number(v)) for k, v in row.items()} for row in rows]


def _number(v: str):
    try:
        return float(v)
    except ValueError:
        return v


def record(check: str, job: str, sim: float, se: float | None, ref: float, source: str) -> None:
    """One row of the verdict table; ``se = None``: an exact figure (tolerance 1e-9)."""
    if se is None:
        ok = abs(sim - ref) <= 1e-9
        z = "exact"
    else:
        z_value = (sim - ref) / se if se > 0 else (0.0 if sim == ref else math.inf)
        ok = abs(z_value) <= Z_MAX
        z = f"{z_value:+.2f}"
    sim_text = f"{sim:.6g}" + ("" if se is None else f" ± {se:.2g}")
    ROWS.append((check, job, sim_text, f"{ref:.6g}", z, "ok" if ok else "FAIL", source))
    print(f"{'ok  ' if ok else 'FAIL'} {check}: sim {sim_text}  formula {ref:.6g}  z {z}  [{source}]", flush=True)


# ----------------------------------------------------------------------------- reference formulas
def delay_s(km: float) -> float:
    return GROUP_INDEX * km / C_KM_PER_S


def arm_eta(link_km: float, *, midpoint: bool = True, db_per_km: float = 0.2) -> float:
    """Transmittance from a node to its detector: fibre 10^(-αL/10) to the midpoint, times detector efficiency."""
    km = link_km / 2 if midpoint else link_km
    return 10 ** (-db_per_km * km / 10) * DETECTOR_EFFICIENCY


def werner(f: float) -> float:
    return (4 * f - 1) / 3


def bell_weights_double_click(eta: float, p_d: float) -> tuple[float, float]:
    """(P_herald, F) of Barrett-Kok with threshold detectors, by enumerating spin configurations and clicks.

    Each node (|u> + |d>)/sqrt2, u emits in round 1, d in round 2 (Barrett & Kok, PRA 71, 060310 (2005)).
    A herald is one click in each round. ud/du with both photons detected: the entangled state
    (weight eta^2 each config /4, x2). A photon lost and a dark count standing in: which-path known,
    equal mixture of ud, du (F = 1/2). Both photons in one round (uu, dd: HOM bunching, one detector),
    a dark count in the empty round: uu or dd (F = 0). Two photons lost, two darks: all four (F = 1/4).
    """
    q = 1 - p_d
    one = eta * q                                  # a photon clicks, the other detector silent
    dark1 = 2 * p_d * q                            # no photon, one of the two detectors darks
    lost_dark = (1 - eta) * dark1                  # photon lost, a dark count in its place
    w_true = 2 * 0.25 * one * one                  # ud, du: both rounds' photons detected
    w_half = 2 * 0.25 * 2 * one * lost_dark        # ud/du, one photon replaced by a dark count: F = 1/2
    w_quarter = 2 * 0.25 * lost_dark * lost_dark   # ud/du both replaced: the ud/du half of the mixture
    two = q * (1 - (1 - eta) ** 2 + 2 * p_d * (1 - eta) ** 2)   # two photons in one round: one detector clicks
    w_zero = 2 * 0.25 * two * dark1                # uu/dd: F = 0 (their two-darks part is inside `two`)
    # w_quarter's ud/du mixture (F = 1/2) and uu/dd's both-lost part (F = 0) average to F = 1/4.
    total = w_true + w_half + w_quarter + w_zero
    fid = (w_true + 0.5 * w_half + 0.5 * w_quarter) / total
    return total, fid


def single_click(alpha: float, eta: float) -> tuple[float, float]:
    """(P_herald, F) of single-click heralding without dark counts (Cabrillo et al., PRA 59, 1025 (1999)).

    ud, du (amplitude sqrt(alpha(1-alpha)) each) give the entangled state when their photon arrives;
    uu (alpha^2) gives a click unless both photons are lost, HOM-bunched into one detector: F = 0.
    """
    p_true = 2 * alpha * (1 - alpha) * eta
    p_uu = alpha ** 2 * (1 - (1 - eta) ** 2)
    return p_true + p_uu, p_true / (p_true + p_uu)


def single_click_dark(alpha: float, eta: float, p_d: float) -> tuple[float, float]:
    """(P_herald, F) of single-click heralding with dark counts p_d per detector and gate (enumerated).

    ud/du: the photon clicks one detector (F = 1), or it is lost and a dark count heralds (which-path known:
    F = 1/2); uu: one or two bunched photons, or darks (F = 0); dd: a dark count (F = 0). Exactly one of the
    two detectors must click; q = 1 − p_d is the other's silence.
    """
    q = 1 - p_d
    ud = 2 * alpha * (1 - alpha)
    true = ud * eta * q
    half = ud * (1 - eta) * 2 * p_d * q
    uu = alpha ** 2 * q * (1 - (1 - eta) ** 2 + 2 * p_d * (1 - eta) ** 2)
    dd = (1 - alpha) ** 2 * 2 * p_d * q
    total = true + half + uu + dd
    return total, (true + half / 2) / total


def decohered_fidelity(w: float, times_s: list[float], t1: float, t2: float) -> float:
    """F of a Werner pair of parameter w after amplitude damping then dephasing on each qubit (N&C 8.3.5-6).

    Qubit i idles t_i: Kraus operators of amplitude damping gamma = 1 - exp(-t/T1), then phase damping
    lambda with sqrt(1-gamma)*sqrt(1-lambda) = exp(-t/T2) (the total coherence decay is exp(-t/T2)).
    """
    phi = np.zeros(4)
    phi[0] = phi[3] = 1 / math.sqrt(2)
    rho = w * np.outer(phi, phi) + (1 - w) * np.eye(4) / 4
    for qubit, t in enumerate(times_s):
        gamma = 1 - math.exp(-t / t1) if t1 != math.inf else 0.0
        coh = math.exp(-t / t2) if t2 != math.inf else 1.0
        lam = 1 - (coh / math.sqrt(1 - gamma)) ** 2
        kraus = [np.array([[1, 0], [0, math.sqrt(1 - gamma)]]), np.array([[0, math.sqrt(gamma)], [0, 0]])]
        kraus = [np.array([[1, 0], [0, math.sqrt(1 - lam)]]) @ k for k in kraus] + \
                [np.array([[0, 0], [0, math.sqrt(lam)]]) @ k for k in kraus]
        ops = [np.kron(k, np.eye(2)) if qubit == 0 else np.kron(np.eye(2), k) for k in kraus]
        rho = sum(op @ rho @ op.T for op in ops)
    return float(phi @ rho @ phi)


# ----------------------------------------------------------------------------- job texts
def repeater_job(name, *, links, km, n, scheme="double_click", f=0.95, dark=0.0, t1="inf", t2="inf",
                 alpha=None, seed=7, gate_errors=False):
    extra = f"bright_state_alpha = {alpha}\n" if alpha is not None else ""
    node_err = "" if gate_errors else ("gate_1q_error_probability = 0.0\ngate_2q_error_probability = 0.0\n"
                                       "measure_error_probability = 0.0\n")
    return f"""{run_header(name, "repeater", seed)}
[chain]
num_links = [{links}]
total_distance_km = [{km}]
swapping = "swap_asap"
purification_rounds = 0
num_pairs = {n}

[chain.link]
scheme = "{scheme}"
attenuation_db_per_km = 0.2
detector_efficiency = {DETECTOR_EFFICIENCY}
source_rate_hz = 1.0e9
source_fidelity = {f}
dark_count_rate_hz = {dark}
gate_width_ps = 1000
{extra}
[chain.node]
t1_s = {t1}
t2_s = {t2}
{node_err}"""


def run_header(name: str, scenario: str, seed: int) -> str:
    """A job's ``[run]`` section."""
    return f'[run]\nname = "{name}"\nscenario = "{scenario}"\nseed = {seed}\n'


def lossless_network(f, *, num_nodes=2, topology="line", data=1, comm=1, node_extra=""):
    """``[network]`` of QPUs joined by 1 km direct links without loss (every attempt heralds), pairs of Werner F."""
    return f"""[network]
topology = "{topology}"
num_nodes = {num_nodes}

[network.link]
distance_km = 1.0
scheme = "direct"
attenuation_db_per_km = 0.0
detector_efficiency = 1.0
source_fidelity = {f}
dark_count_rate_hz = 0.0

[network.node]
num_data_qubits = {data}
num_comm_qubits = {comm}
t1_s = inf
t2_s = inf
{node_extra}"""


def dqc_job(name, *, scheme, f, n, qasm_or_gen, assignment, num_nodes=2, seed=3, comm=1, data=1,
            topology="line", shots=None, trajectories=None, node_extra=""):
    traj = f"trajectories = {trajectories if trajectories else n}\n"
    return f"""{run_header(name, "dqc", seed)}
{lossless_network(f, num_nodes=num_nodes, topology=topology, data=data, comm=comm, node_extra=node_extra)}
[circuit]
{qasm_or_gen}

[distribution]
scheme = "{scheme}"
assignment = {assignment}

[simulation]
shots = {shots if shots else n}
{traj}timeline = true
"""


# ----------------------------------------------------------------------------- checks
def check_heralding():
    """Double-click and single-click success probability, attempts per pair, fidelity; rate and latency."""
    n = 1000
    for km in (20.0, 60.0):
        a = run_job(f"dc_{int(km)}", repeater_job(f"dc_{int(km)}", links=1, km=km, n=n, seed=int(km)))
        rows = table(a, "pairs")
        summary = table(a, "summary")[0]
        eta = arm_eta(km)
        p = eta ** 2 / 2
        att = np.array([r["link_attempts_total"] for r in rows])
        record(f"double-click p per attempt, {km:g} km", f"dc_{int(km)}", summary["link_success_probability"],
               None, p, "Barrett & Kok 2005: p = η²/2")
        record(f"double-click mean attempts per pair, {km:g} km", f"dc_{int(km)}", att.mean(),
               att.std(ddof=1) / math.sqrt(n), 1 / p, "geometric: 1/p")
        record(f"double-click F, {km:g} km, no dark counts", f"dc_{int(km)}", summary["fidelity_mean"], None, 0.95,
               "F = F_source (loss removes heralds only)")
        bell = np.array([0.95] + [0.05 / 3] * 3)
        record(f"hashing yield of Werner F = 0.95 pairs, {km:g} km", f"dc_{int(km)}", summary["hashing_yield"], None,
               1 + float(bell @ np.log2(bell)), "1 − H(Bell weights) (Bennett et al. 1996)")
        eta_f = 10 ** (-0.2 * km / 10)
        record(f"PLOB ebits per use, {km:g} km", f"dc_{int(km)}", summary["plob_ebits_per_use"], None,
               -math.log2(1 - eta_f), "−log2(1 − η_f) (Pirandola et al. 2017)")
        d = delay_s(km)
        record(f"attempt period = round trip to the midpoint, {km:g} km", f"dc_{int(km)}",
               summary["attempt_period_ps"] * 1e-12, 1e-12, d, "2·(L/2)·n_g/c (rounded to 1 ps)")
        # one pair: handshake round trip 2d, attempts T = d apart, the herald d after the good emission;
        # the next round starts one delay d (B's broadcast) after the delivery
        wait = np.array([r["waiting_time_ps"] for r in rows]) * 1e-12
        record(f"waiting time per pair, {km:g} km", f"dc_{int(km)}", wait.mean(), wait.std(ddof=1) / math.sqrt(n),
               2 * d + d / p, "2d handshake + T/p, T = d")
        period = 1 / summary["rate_hz"]
        record(f"1/rate, {km:g} km", f"dc_{int(km)}", period, wait.std(ddof=1) / math.sqrt(n), 3 * d + d / p,
               "3d + T/p (round restarts one d after delivery)")
    km, alpha = 20.0, 0.05
    a = run_job("sc_20", repeater_job("sc_20", links=1, km=km, n=n, scheme="single_click", f=1.0, alpha=alpha,
                                          seed=9))
    rows, summary = table(a, "pairs"), table(a, "summary")[0]
    eta = arm_eta(km)
    p, fid = single_click(alpha, eta)
    att = np.array([r["link_attempts_total"] for r in rows])
    record("single-click mean attempts per pair, 20 km, α = 0.05", "sc_20", att.mean(),
           att.std(ddof=1) / math.sqrt(n), 1 / p,
           "1/(αη(2−αη)); leading order 1/(2αη) = %.4g" % (1 / (2 * alpha * eta)))
    record("single-click F, 20 km, α = 0.05", "sc_20", summary["fidelity_mean"], None, fid,
           "(1−α)/(1−αη/2); Cabrillo's 1−α = %.4g" % (1 - alpha))
    rate = 1.0e5
    p_d = 1 - math.exp(-rate * 1e-9)
    a = run_job("sc_dark", repeater_job("sc_dark", links=1, km=km, n=200, scheme="single_click", f=1.0,
                                        alpha=alpha, dark=rate, seed=12))
    summary = table(a, "summary")[0]
    p, fid = single_click_dark(alpha, eta, p_d)
    record("single-click with dark counts: p per attempt, 20 km, α = 0.05, p_d = 1e-4", "sc_dark",
           summary["link_success_probability"], None, p, "enumeration of clicks (this script)")
    record("single-click with dark counts: F", "sc_dark", summary["fidelity_mean"], None, fid,
           "enumeration of clicks (this script)")
    # dark counts: 100 km double click, p_d = 1e5 Hz x 1 ns = 1e-4 (1 - exp(-1e-4))
    km, rate = 100.0, 1.0e5
    p_d = 1 - math.exp(-rate * 1e-9)
    a = run_job("dc_dark", repeater_job("dc_dark", links=1, km=km, n=n, f=1.0, dark=rate, seed=10))
    rows, summary = table(a, "pairs"), table(a, "summary")[0]
    eta = arm_eta(km)
    p, fid = bell_weights_double_click(eta, p_d)
    att = np.array([r["link_attempts_total"] for r in rows])
    record("double-click with dark counts: p per attempt, 100 km, p_d = 1e-4", "dc_dark",
           summary["link_success_probability"], None, p, "enumeration of clicks (this script)")
    record("double-click with dark counts: mean attempts", "dc_dark", att.mean(), att.std(ddof=1) / math.sqrt(n),
           1 / p, "1/p")
    record("double-click with dark counts: F", "dc_dark", summary["fidelity_mean"], None, fid,
           "enumeration; first order 1 − p_d(6−4η)/η = %.6g" % (1 - p_d * (6 - 4 * eta) / eta))


def check_memory():
    """T1/T2 on stored pairs: each 1-link pair's memories idle d (emission to herald)."""
    km = 40.0
    for t1, t2 in ((math.inf, 2e-4), (3e-4, 2e-4)):
        name = f"mem_{'inf' if t1 == math.inf else 't1'}"
        a = run_job(name, repeater_job(name, links=1, km=km, n=50, f=0.97, t1=t1, t2=t2))
        rows = table(a, "pairs")
        t_each = rows[0]["memory_time_ps"] * 1e-12 / 2
        fid = decohered_fidelity(werner(0.97), [t_each, t_each], t1, t2)
        record(f"F after memory decoherence, T1 = {t1:g} s, T2 = {t2:g} s, t = {t_each * 1e6:.2f} µs per memory",
               name, rows[0]["fidelity"], None, fid, "Kraus maps, N&C 8.3.5-8.3.6")
        record("memory time of a 1-link pair = 2 × link delay", name, rows[0]["memory_time_ps"] * 1e-12, 1e-12,
               2 * delay_s(km), "each memory from emission to herald: d")


def check_swapping():
    """Werner parameters multiply under swapping; dephasing by the summed storage time; ages."""
    f = 0.95
    for links in (2, 4):
        name = f"swap_{links}"
        a = run_job(name, repeater_job(name, links=links, km=20.0 * links, n=100, f=f))
        summary = table(a, "summary")[0]
        record(f"swap: F over {links} links of F = {f}", name, summary["fidelity_mean"], None,
               (1 + 3 * werner(f) ** links) / 4, "Dür et al. 1999: w = Π w_i, F = (1+3w)/4")
    # 2 links, T2 only: every pair's F from its summed memory time t: w F-part decays as exp(-t/T2)
    t2 = 0.01
    a = run_job("swap_t2", repeater_job("swap_t2", links=2, km=100.0, n=1000, f=f, t2=t2, seed=11))
    rows = table(a, "pairs")
    w = werner(f) ** 2
    worst = max(abs(r["fidelity"] - ((1 - w) / 4 + w * (1 + math.exp(-r["memory_time_ps"] * 1e-12 / t2)) / 2))
                for r in rows)
    record("swap + T2: max |F − F(Σt)| over 1000 pairs", "swap_t2", worst, None, 0.0,
           "Werner w1w2, Z dephasing exp(−Σt_i/T2)")
    # pair ages: link attempt counts N1, N2 iid geometric(p); the earlier pair waits |N1 - N2| periods
    eta = arm_eta(50.0)
    p = eta ** 2 / 2
    q = 1 - p
    diff = np.array([2 * r["link_attempts_max"] - r["link_attempts_total"] for r in rows])
    record("swap: mean |N1 − N2| (attempts the first pair waits)", "swap_t2", diff.mean(),
           diff.std(ddof=1) / math.sqrt(len(diff)), 2 * q / (1 - q * q), "E|N1−N2| = 2q/(1−q²), iid geometric")
    for m in (0, 5, 20):
        frac = float((diff > m).mean())
        ref = 2 * q ** (m + 1) / (1 + q)
        record(f"swap: P(|N1 − N2| > {m})", "swap_t2", frac, math.sqrt(ref * (1 - ref) / len(diff)), ref,
               "2q^(m+1)/(1+q)")
    d = delay_s(50.0)
    ages = np.array([r["memory_time_ps"] for r in rows]) * 1e-12
    # model: 4 memories, each link's two from emission to the swap (herald d later) and delivery: 4d + 2|D|T + bits
    spread = ages - 2 * diff * d
    record("swap: memory time − 2|N1−N2|·T is the same for every pair (s)", "swap_t2",
           float(spread.max() - spread.min()), None, 0.0, "ages differ only by the waiting attempts")
    ROWS.append(("swap: memory time − 2|N1−N2|·T (the constant), in link delays d", "swap_t2",
                 f"{spread.mean() / d:.6g}", "", "", "info", "see doc"))


def teledata_bell_fidelity(w: float) -> float:
    """Bell-state fidelity of H; CNOT with the control teleported to the target's QPU and back through Werner w.

    Teleportation through a Werner pair is the depolarising channel of parameter w (Bennett et al., PRL 70,
    1895 (1993); Horodecki et al. PRA 60, 1888 (1999)); here it acts on |+> before the CNOT and on the
    control after it (density matrices, numpy).
    """
    plus = np.array([1, 1]) / math.sqrt(2)
    rho_c = w * np.outer(plus, plus) + (1 - w) * np.eye(2) / 2
    rho = np.kron(rho_c, np.diag([1.0, 0.0]))
    cnot = np.eye(4)[[0, 1, 3, 2]]
    rho = cnot @ rho @ cnot.T
    rho = w * rho + (1 - w) * np.kron(np.eye(2) / 2, np.einsum("iaib->ab", rho.reshape(2, 2, 2, 2)))
    phi = np.array([1, 0, 0, 1]) / math.sqrt(2)
    return float(phi @ rho @ phi)


def check_nonlocal():
    """TeleGate / TeleData of a CNOT through Werner pairs; classical latency; EPR counts."""
    f, n = 0.8, 400
    w = werner(f)
    bell = 'generator = "ghz"\nnum_qubits = 2'
    a = run_job("telegate_w", dqc_job("telegate_w", scheme="telegate", f=f, n=n, qasm_or_gen=bell,
                                      assignment="[0, 1]"))
    record("TeleGate CNOT on |+0>, Werner F = 0.8: Bell-state fidelity", "telegate_w", a["fidelity"],
           a["fidelity_stderr"], f, "Eisert et al. 2000: errors X_t, Z_c, Z_cX_t each (1−F)/3 -> F")
    counts = {r["bitstring"]: r["count"] for r in table(a, "counts")}
    odd = (counts.get("01", 0) + counts.get("10", 0)) / n
    ref = 2 * (1 - f) / 3
    record("TeleGate: odd-parity fraction of the shots", "telegate_w", odd, math.sqrt(ref * (1 - ref) / n), ref,
           "2(1−F)/3 (X_t and Z_cX_t flip parity)")
    links = table(a, "links")[0]
    record("TeleGate: EPR pairs per nonlocal CNOT", "telegate_w", links["epr_pairs"] / n, None, 1.0,
           "Eisert et al.: one ebit per CNOT")
    # process fidelity: c and t each maximally entangled with a reference qubit on its own QPU (Choi state);
    # the state's fidelity to the ideal is the CNOT's process (entanglement) fidelity, F for a Werner pair
    choi = os.path.join(WORK, "choi.qasm")
    with open(choi, "w") as fh:
        fh.write('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[4];\ncreg m[4];\n'
                 'h q[0];\ncx q[0], q[1];\nh q[3];\ncx q[3], q[2];\ncx q[1], q[2];\nmeasure q -> m;\n')
    a = run_job("telegate_choi", dqc_job("telegate_choi", scheme="telegate", f=f, n=n, qasm_or_gen=f'qasm = "{choi}"',
                                         assignment="[0, 0, 1, 1]", data=2, seed=4))
    record("TeleGate CNOT process fidelity (Choi state), Werner F = 0.8", "telegate_choi", a["fidelity"],
           a["fidelity_stderr"], f, "F_pro = F; average gate fidelity (4F+1)/5 = %.3g (Horodecki et al. 1999)"
           % ((4 * f + 1) / 5))
    a = run_job("teledata_w", dqc_job("teledata_w", scheme="teledata", f=f, n=n, qasm_or_gen=bell,
                                      assignment="[0, 1]", comm=2))
    record("TeleData CNOT (control teleported there and back), Werner F = 0.8", "teledata_w", a["fidelity"],
           a["fidelity_stderr"], teledata_bell_fidelity(w),
           "depolarising w on the control before and after the CNOT (Bennett et al. 1993); "
           "each teleportation's average F (2F+1)/3 = %.4g" % ((2 * f + 1) / 3))
    links = table(a, "links")[0]
    record("TeleData: EPR pairs per nonlocal CNOT", "teledata_w", links["epr_pairs"] / n, None, 2.0,
           "teleport out and back")
    # classical latency on an ideal 1 km direct link, one trajectory: every attempt succeeds
    d = delay_s(1.0)
    a = run_job("telegate_t", dqc_job("telegate_t", scheme="telegate", f=1.0, n=1, qasm_or_gen=bell,
                                      assignment="[0, 1]"))
    record("TeleGate end time on a lossless 1 km direct link (s)", "telegate_t", a["simulated_time_ps"] * 1e-12,
           1e-12, 6 * d, "2d handshake + emission, d photon, d ack, 1 bit d, 1 bit back d = 6d")
    a = run_job("teledata_t", dqc_job("teledata_t", scheme="teledata", f=1.0, n=1, qasm_or_gen=bell,
                                      assignment="[0, 1]", comm=2))
    record("TeleData end time on that link (s)", "teledata_t", a["simulated_time_ps"] * 1e-12, 1e-12, 6 * d,
           "both pairs requested at 0, heralds 4d, control's bits 5d, returned bits 6d")
    print("teledata end time / d =", a["simulated_time_ps"] * 1e-12 / d, flush=True)


def check_dark_dqc():
    """TeleGate through a double-click link with dark counts: the false heralds' errors reach the circuit.

    The enumeration of :func:`bell_weights_double_click`, written in the Φ+ frame that the heralding station's
    corrections give: the which-path mixtures are Φ+/Φ− halves (Z errors), the bunched uu/dd heralds Ψ+/Ψ−
    halves (X or Y errors). A TeleGate CNOT on |+0> turns the pair's X and Y into X_t, Z_cX_t (odd parity).
    """
    km, rate, n = 100.0, 3.0e6, 400
    p_d = 1 - math.exp(-rate * 1e-9)
    eta = arm_eta(km)
    q = 1 - p_d
    one, dark1 = eta * q, 2 * p_d * q
    lost_dark = (1 - eta) * dark1
    two = q * (1 - (1 - eta) ** 2 + 2 * p_d * (1 - eta) ** 2)
    w_true, w_half = 0.5 * one * one, one * lost_dark
    w_quarter, w_zero = 0.5 * lost_dark * lost_dark, 0.5 * two * dark1
    total = w_true + w_half + w_quarter + w_zero
    fid, odd = (w_true + (w_half + w_quarter) / 2) / total, w_zero / total
    text = dqc_job("dark_dqc", scheme="telegate", f=1.0, n=n, qasm_or_gen='generator = "ghz"\nnum_qubits = 2',
                   assignment="[0, 1]", seed=6)
    text = text.replace('distance_km = 1.0\nscheme = "direct"\nattenuation_db_per_km = 0.0\ndetector_efficiency = 1.0',
                        f'distance_km = {km}\nscheme = "double_click"\ngate_width_ps = 1000')
    text = text.replace("dark_count_rate_hz = 0.0", f"dark_count_rate_hz = {rate}")
    a = run_job("dark_dqc", text)
    record(f"TeleGate through double-click with dark counts ({km:g} km, p_d = {p_d:.2g}): Bell fidelity",
           "dark_dqc", a["fidelity"], a["fidelity_stderr"], fid, "pair's F (enumeration), passed on by the TeleGate")
    counts = {r["bitstring"]: r["count"] for r in table(a, "counts")}
    frac = (counts.get("01", 0) + counts.get("10", 0)) / n
    attempts = table(a, "links")[0]["attempts"] / n
    record("  its attempts per pair (true and false heralds)", "dark_dqc", attempts,
           math.sqrt(1 - total) / total / math.sqrt(n), 1 / total, "1/P, P of the enumeration")
    record("  its odd-parity fraction (the bunched false heralds)", "dark_dqc", frac, math.sqrt(odd * (1 - odd) / n),
           odd, "Ψ± weight of the pair (enumeration)")


def check_gates():
    """Depolarising gate noise on a local Bell circuit (H then CNOT on one QPU)."""
    p1, p2, n = 0.06, 0.09, 600
    extra = f"gate_1q_error_probability = {p1}\ngate_2q_error_probability = {p2}\n"
    bell = 'generator = "ghz"\nnum_qubits = 2'
    a = run_job("depol", dqc_job("depol", scheme="telegate", f=1.0, n=n, qasm_or_gen=bell,
                                 assignment="[0, 0]", data=2, node_extra=extra))
    # H|0> then depolarising p1 (X, Y, Z each p1/3): Y, Z give |->, which the CNOT makes Φ−. The CNOT's
    # two-qubit channel (each of the 15 non-identity Paulis p2/15; N&C 8.3.4): XX, YY, ZZ keep Φ+,
    # and ZI, IZ, XY, YX take Φ− back to Φ+.
    ref = (1 - 2 * p1 / 3) * (1 - p2 + 3 * p2 / 15) + (2 * p1 / 3) * (4 * p2 / 15)
    record(f"depolarising gates: Bell fidelity, p1 = {p1}, p2 = {p2}", "depol", a["fidelity"], a["fidelity_stderr"],
           ref, "(1−2p1/3)(1−4p2/5) + (2p1/3)(4p2/15)")


QASM_CUT = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[6];
creg c[6];
h q[0];
cx q[0], q[1];
cx q[1], q[2];
cz q[0], q[3];
cx q[2], q[5];
cp(0.3) q[4], q[1];
swap q[3], q[4];
cx q[5], q[4];
measure q -> c;
"""


def check_partition():
    """EPR pairs = nonlocal gates for TeleGate, counted by hand on a 3-QPU ring."""
    path = os.path.join(WORK, "cut.qasm")
    with open(path, "w") as fh:
        fh.write(QASM_CUT)
    assignment = [0, 0, 1, 1, 2, 2]
    pairs = [(0, 1), (1, 2), (0, 3), (2, 5), (4, 1), (3, 4), (5, 4)]
    cut = sum(assignment[a] != assignment[b] for a, b in pairs)
    a = run_job("cut", dqc_job("cut", scheme="telegate", f=1.0, n=1, qasm_or_gen=f'qasm = "{path}"',
                               assignment=str(assignment), num_nodes=3, topology="ring", comm=2, data=2))
    ROWS.append(("cut two-qubit gates of the hand-cut circuit, the SWAP counted once", "cut", "", str(cut), "",
                 "info", "by hand"))
    total = sum(r["epr_pairs"] for r in table(a, "links"))
    record("nonlocal gates, the cut SWAP (two teleportations) counted once", "cut", a["num_nonlocal_gates"], None,
           cut, "4 cut CNOT-class gates + the SWAP")
    record("EPR pairs: one per TeleGate, two for the teleported SWAP", "cut", total, None, cut + 1,
           "one ebit per nonlocal CNOT (Eisert et al. 2000), two for the SWAP")
    record("fidelity to the monolithic circuit, ideal links", "cut", a["fidelity"], None, 1.0, "exact")


def check_cloud():
    """Cloud scenario on noisy links: a Bell-pair job through Werner F = 0.8 gives fidelity F."""
    f, shots = 0.8, 300
    text = f"""{run_header("cloud_w", "cloud", 5)}
{lossless_network(f)}
[scheduler]
policy = "fifo"
distribution = "telegate"

[simulation]
trajectories = "per_shot"

[[user_jobs]]
name = "bell"
generator = "ghz"
num_qubits = 2
shots = {shots}
arrival_s = 0.0
"""
    a = run_job("cloud_w", text)
    job = table(a, "jobs")[0]
    record("cloud: Bell job through Werner F = 0.8, per-shot", "cloud_w", job["fidelity"],
           job["fidelity_stderr"], f, "TeleGate CNOT: F")
    record("cloud: EPR pairs of the job", "cloud_w", job["epr_pairs"], None, shots, "one per shot")
    return a


def exact_tfim(num_sites, j, h, times, trotter_steps=None):
    """Mean ⟨Z_i⟩ and mean ⟨Z_i Z_i+1⟩ from all-up, H = −J Σ Z Z − h Σ X (open chain, Pauli matrices).

    ``trotter_steps=None``: exact, by expm. Else the second-order product formula with that many steps per
    time point (Suzuki 1990): e^{−iB dt/2} e^{−iA dt} e^{−iB dt/2}, B the field, A the bonds.
    """
    x = np.array([[0, 1], [1, 0]], dtype=complex)
    z = np.diag([1.0, -1.0]).astype(complex)

    def op(single, site):
        out = np.array([[1.0 + 0j]])
        for k in range(num_sites):
            out = np.kron(out, single if k == site else np.eye(2))
        return out
    bonds = -j * sum(op(z, i) @ op(z, i + 1) for i in range(num_sites - 1))
    field = -h * sum(op(x, i) for i in range(num_sites))
    ham = bonds + field
    psi0 = np.zeros(2 ** num_sites, dtype=complex)
    psi0[0] = 1.0
    mz = sum(op(z, i) for i in range(num_sites)) / num_sites
    zz = sum(op(z, i) @ op(z, i + 1) for i in range(num_sites - 1)) / (num_sites - 1)
    out = []
    for t in times:
        if trotter_steps is None:
            psi = expm(-1j * ham * t) @ psi0
        else:
            dt = t / trotter_steps if trotter_steps else 0.0
            step = expm(-1j * field * dt / 2) @ expm(-1j * bonds * dt) @ expm(-1j * field * dt / 2)
            psi = np.linalg.matrix_power(step, trotter_steps) @ psi0
        out.append((float(np.real(psi.conj() @ mz @ psi)), float(np.real(psi.conj() @ zz @ psi))))
    return out


def trotter_job(name, seed, *, sites, h, total_time, points, steps, network, assignment, trajectories=1):
    """A ``trotter`` job: TFIM (J = 1) from all up, second order, ⟨Z⟩ and ⟨ZZ⟩, TeleGate."""
    return f"""{run_header(name, "trotter", seed)}
[model]
kind = "tfim"
num_sites = {sites}
boundary = "open"
J = 1.0
h = {h}
initial = "up"

[evolution]
total_time = {total_time}
num_points = {points}
steps_per_point = {steps}
order = 2
exact = true

{network}
[distribution]
scheme = "telegate"
assignment = {assignment}

[simulation]
observables = ["magnetization", "correlation"]
trajectories = {trajectories}
"""


def check_trotter():
    """Trotter scenario on 4 sites over 2 QPUs, ideal (lossless direct, F = 1) links: ⟨Z⟩ vs expm."""
    text = trotter_job("trot", 1, sites=4, h=0.7, total_time=1.0, points=4, steps=20,
                       network=lossless_network(1.0, data=2), assignment=[0, 0, 1, 1])
    a = run_job("trot", text)
    rows = table(a, "observables")
    times = sorted({r["time"] for r in rows})
    exact = exact_tfim(4, 1.0, 0.7, times)
    worst_exact, worst_trotter = 0.0, 0.0
    for k, t in enumerate(times):
        steps = round(t / 0.25) * 20
        trotter = exact_tfim(4, 1.0, 0.7, [t], trotter_steps=steps)[0]
        for r in rows:
            if r["time"] == t:
                col = 0 if r["observable"] == "magnetization" else 1
                worst_trotter = max(worst_trotter, abs(r["networked"] - trotter[col]))
                worst_exact = max(worst_exact, abs(r["networked"] - exact[k][col]))
    record("trotter: max |networked − own 2nd-order product| over ⟨Z⟩, ⟨ZZ⟩, 5 times", "trot", worst_trotter,
           None, 0.0, "Suzuki product, expm per factor")
    ROWS.append(("trotter: max |networked − exact expm| (the product formula's own error, dt = 0.0125)", "trot",
                 f"{worst_exact:.3g}", "O(dt²)", "", "info", "scipy expm"))
    net = table(a, "network")
    record("trotter: EPR pairs = nonlocal gates = steps (one cut bond, RZZ by one ebit)", "trot",
           sum(r["epr_pairs"] for r in net), None, sum(r["trotter_steps"] for r in net),
           "Eisert et al.: a controlled-phase-class gate costs one ebit")
    return a


def _op(mats: dict, n: int) -> np.ndarray:
    """Kronecker product over ``n`` qubits (qubit 0 most significant), ``mats[k]`` on qubit k, identity elsewhere."""
    out = np.array([[1.0 + 0j]])
    for k in range(n):
        out = np.kron(out, mats.get(k, np.eye(2)))
    return out


def _controlled(u: np.ndarray, control: int, target: int, n: int) -> np.ndarray:
    zero, one = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    return _op({control: zero}, n) + _op({control: one, target: u}, n)


def telegate_channel(rho_ct: np.ndarray, u: np.ndarray, w: float) -> np.ndarray:
    """Controlled-U on (c, t) by the cat-entangler/disentangler through a Werner pair (a, b) of parameter w.

    Eisert et al., PRA 62, 052317 (2000), Fig. 2, with the measurements deferred (Nielsen & Chuang 4.4):
    CNOT(c, a), then a's Z-measurement and X on b = CNOT(a, b); CU(b, t); b's X-measurement and Z on c
    = H(b), CZ(b, c); a and b traced out. Qubit order c, t, a, b.
    """
    x = np.array([[0, 1], [1, 0]], dtype=complex)
    zg = np.diag([1.0, -1.0]).astype(complex)
    h = np.array([[1, 1], [1, -1]]) / math.sqrt(2)
    phi = np.zeros(4)
    phi[0] = phi[3] = 1 / math.sqrt(2)
    pair = w * np.outer(phi, phi) + (1 - w) * np.eye(4) / 4
    rho = np.kron(rho_ct, pair)
    for gate in (_controlled(x, 0, 2, 4), _controlled(x, 2, 3, 4), _controlled(u, 3, 1, 4), _op({3: h}, 4),
                 _controlled(zg, 3, 0, 4)):
        rho = gate @ rho @ gate.conj().T
    return np.einsum("ijabklab->ijkl", rho.reshape([2] * 8)).reshape(4, 4)


def noisy_trotter_two_sites(j: float, h: float, t: float, steps: int, w: float) -> tuple[float, float]:
    """Mean ⟨Z⟩ and ⟨ZZ⟩ of the 2-site TFIM (order 2) with its bond's rzz done by a TeleGate through Werner w.

    rzz(θ) = rz(θ)_a p(θ)_b cp(−2θ) (exact; the cp is the one nonlocal gate), θ = −2J dt; the field's half
    steps rx(−h dt) on each site before and after (e^{−iB dt/2} with B = −h Σ X).
    """
    dt = t / steps
    rx = expm(1j * h * dt / 2 * np.array([[0, 1], [1, 0]]))
    theta = -2 * j * dt
    locals_ = np.kron(np.diag([np.exp(-1j * theta / 2), np.exp(1j * theta / 2)]), np.diag([1, np.exp(1j * theta)]))
    field = np.kron(rx, rx)
    rho = np.zeros((4, 4), dtype=complex)
    rho[0, 0] = 1.0
    for _ in range(steps):
        rho = field @ rho @ field.conj().T
        rho = telegate_channel(rho, np.diag([1, np.exp(-2j * theta)]), w)
        rho = locals_ @ rho @ locals_.conj().T
        rho = field @ rho @ field.conj().T
    z = np.diag([1.0, -1.0])
    mz = (np.kron(z, np.eye(2)) + np.kron(np.eye(2), z)) / 2
    return float(np.real(np.trace(mz @ rho))), float(np.real(np.trace(np.kron(z, z) @ rho)))


def check_trotter_noisy():
    """Trotter scenario, 2 sites on 2 QPUs through Werner F = 0.8 links: trajectory means vs a density matrix."""
    f, n = 0.8, 300
    text = trotter_job("trot_w", 2, sites=2, h=1.0, total_time=1.2, points=1, steps=3,
                       network=lossless_network(f), assignment=[0, 1], trajectories=n)
    a = run_job("trot_w", text)
    rows = [r for r in table(a, "observables") if r["time"] > 0]
    ideal = noisy_trotter_two_sites(1.0, 1.0, 1.2, 3, 1.0)
    ref = noisy_trotter_two_sites(1.0, 1.0, 1.2, 3, werner(f))
    for r in rows:
        col = 0 if r["observable"] == "magnetization" else 1
        record(f"noisy trotter ⟨{'Z' if col == 0 else 'ZZ'}⟩ at t = 1.2, 3 steps, Werner F = {f} "
               f"(ideal links: {ideal[col]:.4f})", "trot_w", r["networked"], r["networked_stderr"], ref[col],
               "density-matrix TeleGate of the cp (Eisert et al. 2000), this script")


CHECKS = {"heralding": check_heralding, "memory": check_memory, "swapping": check_swapping,
          "nonlocal": check_nonlocal, "dark_dqc": check_dark_dqc, "gates": check_gates, "partition": check_partition,
          "cloud": check_cloud, "trotter": check_trotter, "trotter_noisy": check_trotter_noisy}


#: What ``--quick`` runs: the heralding, memory, swapping and gate checks (about a third of the jobs).
QUICK_CHECKS = ["heralding", "memory", "swapping", "gates"]


def main(argv: list[str]) -> int:
    names = parse_args("review_dqc_physics.py", CHECKS, argv, __doc__, quick_checks=QUICK_CHECKS)
    for name in names:
        CHECKS[name]()
    print("\n| check | job | dqsim | formula | z | verdict | source |\n|---|---|---|---|---|---|---|")
    for row in ROWS:
        print("| " + " | ".join(str(c) for c in row) + " |")
    failed = sum(r[5] == "FAIL" for r in ROWS)
    print(f"\n{len(ROWS) - failed} PASS, {failed} FAIL")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
