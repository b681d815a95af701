"""BBM92/E91 key blocks over the engine: the leakage and rates they report, Cascade + verification + Toeplitz
privacy amplification, and the finite-key length of Tomamichel, Lim, Gisin, Renner (Nat. Commun. 3, 634 (2012))
(BBM92) or of the CHSH bound with finite statistics (E91; Scarani & Renner, PRL 100, 200501 (2008)).

Deterministic (fixed seeds); tolerances say where a sampled quantity is compared with its expectation.
"""

import math

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.errors import DqsimError
from dqsim.jobs import apply_overrides, load_job
from dqsim.protocols.qkd.entangled import SiftedCounts
from dqsim.protocols.qkd.entangled_block import entangled_block_key, entangled_postprocess_block
from dqsim.protocols.qkd.finite_key import entangled_finite_key_length
from dqsim.protocols.qkd.theory import binary_entropy
from dqsim.scenarios import qkd as qkd_scenario
from mpi_helper import ROOT

JOBS = {"bbm92": "bbm92_20km", "e91": "e91_chsh"}
SMALL = ["qkd.pulses=2000000", "qkd.batch_pulses=500000", "qkd.block_pulses=1000000"]
CASCADE = 'qkd.error_correction="cascade"'
FINITE = 'qkd.security="finite_key"'


def run(protocol, *overrides):
    job = apply_overrides(load_job(ROOT / "jobs" / f"{JOBS[protocol]}.toml"), [*SMALL, *overrides])
    return job, qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))


def secrecy(protocol, block, kept):
    """(S, tolerance) of a block row: BBM92 n'_ZZ(1 - h(Q_XX)) + n'_XX(1 - h(Q_ZZ)), with each basis's share of the
    n sifted bits taken as 1/2 (z_basis_probability 0.5) and the tolerance its 3 binomial standard errors
    (1.5/sqrt(n)) times |h(Q_ZZ) - h(Q_XX)|·n'; E91 exactly n'(1 - h((1 + sqrt((S/2)² - 1))/2)) at the block's CHSH
    value S (Acín et al. 2007), written out here."""
    if protocol == "e91":
        s = block["chsh_value"]
        assert 2.5 < s < 2 * math.sqrt(2)  # w = 0.95: 2√2·0.95 = 2.69 less dark counts
        return kept * (1 - binary_entropy((1 + math.sqrt((s / 2) ** 2 - 1)) / 2)), 0.0
    h_z, h_x = binary_entropy(block["qber_z_signal"]), binary_entropy(block["qber_x_signal"])
    return kept * (1 - (h_z + h_x) / 2), 1.5 / math.sqrt(block["sifted_bits"]) * abs(h_z - h_x) * kept


def kept_bits(block):
    """(n', errors among them, sample errors): the bits left after the sample, from a block row."""
    n_sample = int(block["estimation_bits"])
    sample_errors = round(block["qber_estimated"] * n_sample)
    errors = round(block["qber_signal"] * block["sifted_bits"])
    return int(block["sifted_bits"]) - n_sample, errors - sample_errors, sample_errors


@pytest.mark.parametrize("protocol", ["bbm92", "e91"])
def test_block_rows_report_the_leakage_charged_and_the_link_rate(protocol):
    """Modelled error correction: leakage_bits = f_EC h(E') n' (was 0), the key S - f_EC h(E') n' (S: secrecy()),
    key_rate_bits_per_s = key/pairs × source rate (was NaN), whose pair-weighted mean is the link table's."""
    job, out = run(protocol)
    blocks, link = out.tables["blocks"], out.tables["links"][0]
    assert len(blocks) == 2
    f_ec, rate_hz = job.qkd.f_ec, job.qkd.source.source_rate_hz
    for block in blocks:
        n, errors, _ = kept_bits(block)
        e_kept = errors / n
        assert block["leakage_bits"] > 0
        assert block["leakage_bits"] == pytest.approx(f_ec * binary_entropy(e_kept) * n, rel=1e-9)
        bound, tolerance = secrecy(protocol, block, n)
        expected = bound - f_ec * binary_entropy(e_kept) * n
        assert abs(block["secret_key_bits"] - expected) <= 1 + tolerance
        assert block["key_rate_bits_per_s"] == pytest.approx(block["secret_key_bits"] / block["pulses"] * rate_hz,
                                                             rel=1e-12)
    weighted = np.sum(blocks["key_rate_bits_per_s"] * blocks["pulses"]) / np.sum(blocks["pulses"])
    assert link["key_rate_bits_per_s"] == pytest.approx(weighted, rel=1e-12)
    # an aborted block charges no leakage (no error correction runs) and has no key
    _job, noisy = run(protocol, "qkd.source.werner=0.7")
    assert noisy.tables["blocks"]["aborted"].all()
    assert (noisy.tables["blocks"]["leakage_bits"] == 0).all() and (noisy.tables["blocks"]["secret_key_bits"] == 0).all()
    assert (noisy.tables["blocks"]["key_rate_bits_per_s"] == 0).all()


@pytest.mark.parametrize("protocol", ["bbm92", "e91"])
def test_cascade_corrects_verifies_and_amplifies_the_sifted_key(protocol):
    """Cascade on the kept sifted bits (E91: the key-basis pairs): every error corrected, the hash verifies,
    Alice's and Bob's final keys are equal, ℓ = S - leak - 50 (the hash; S: secrecy()), the measured f_EC of
    Cascade with four passes in (1, 1.5) (Brassard & Salvail 1993), each round one fibre round trip; within
    10 % of the modelled key (f_EC 1.16, the sample drawn differently); E91's CHSH value unchanged."""
    job, out = run(protocol, CASCADE)
    _job, model = run(protocol)
    blocks = out.tables["blocks"]
    assert blocks["ec_verified"].all() and blocks["final_keys_equal"].all()
    assert (blocks["ec_residual_errors"] == 0).all() and not blocks["aborted"].any()
    assert ((blocks["ec_f_measured"] > 1.0) & (blocks["ec_f_measured"] < 1.5)).all()
    assert np.array_equal(blocks["ec_key_bits"], blocks["sifted_bits"] - blocks["estimation_bits"])
    # the sample: each sifted bit with probability sample_fraction (3 binomial standard errors)
    n, m = blocks["sifted_bits"], blocks["estimation_bits"]
    assert (np.abs(m - 0.1 * n) <= 3 * np.sqrt(n * 0.1 * 0.9)).all()
    for block in blocks:
        kept = int(block["ec_key_bits"])
        bound, tolerance = secrecy(protocol, block, kept)
        expected = bound - block["leakage_bits"] - 50
        assert abs(block["secret_key_bits"] - expected) <= 1 + tolerance
        # Cascade discloses about f_EC·h(E')·n' parities
        e_kept = kept_bits(block)[1] / kept
        assert block["leakage_bits"] == pytest.approx(block["ec_f_measured"] * binary_entropy(e_kept) * kept,
                                                      rel=1e-9)
    delay_ps = qkd_scenario.link_physics(job, 0, 0, 1, 20.0).delay_ps
    assert (blocks["time_key_ps"] >= 2 * blocks["ec_rounds"] * delay_ps).all() and (blocks["ec_rounds"] > 4).all()
    ratio = blocks["secret_key_bits"] / model.tables["blocks"]["secret_key_bits"]
    assert ((ratio > 0.9) & (ratio < 1.1)).all(), ratio
    assert out.attrs.get("chsh_s") == model.attrs.get("chsh_s")
    if protocol == "e91":
        assert out.attrs["chsh_s"] > 2.5


def e91_finite_length(block, eps_sec, eps_cor):
    """E91's finite key written out (Scarani & Renner 2008 with Acín et al.'s bound at the block's S_low,
    ε_PE = ε̄ = ε_PA = ε_sec/3): floor(n(1 - h((1 + sqrt((S_low/2)² - 1))/2) - 7 sqrt(log2(6/ε_sec)/n))
    - 2 log2(3/ε_sec) - leak - log2(2/ε_cor))."""
    n, s_low = int(block["finite_key_bits_x"]), block["chsh_lower"]
    fraction = 1 - binary_entropy((1 + math.sqrt((s_low / 2) ** 2 - 1)) / 2)
    return math.floor(n * (fraction - 7 * math.sqrt(math.log2(6 / eps_sec) / n)) - 2 * math.log2(3 / eps_sec)
                      - block["leakage_bits"] - math.log2(2 / eps_cor))


@pytest.mark.parametrize("protocol", ["bbm92", "e91"])
@pytest.mark.parametrize("error_correction", ["model", "cascade"])
def test_finite_key_blocks_follow_their_bounds(protocol, error_correction):
    """Each block's ℓ is its finite-key bound at its own n, test and leakage: BBM92 Tomamichel et al. eq. (2),
    keying the Z–Z bits and testing all X–X bits (about half each: 3 standard errors); E91 the CHSH bound at its
    S_low (Scarani & Renner 2008, e91_finite_length), testing a sample of its key bits for the QBER. The finite
    key is below the asymptotic one of the same run."""
    job, out = run(protocol, FINITE, f'qkd.error_correction="{error_correction}"')
    _job, asym = run(protocol, f'qkd.error_correction="{error_correction}"')
    blocks = out.tables["blocks"]
    n, k = blocks["finite_key_bits_x"], blocks["estimation_bits"]
    assert np.array_equal(n + k, blocks["sifted_bits"])
    if protocol == "bbm92":
        assert (np.abs(n - blocks["sifted_bits"] / 2) <= 3 * np.sqrt(blocks["sifted_bits"] / 4)).all()
    else:
        assert (np.abs(k - 0.1 * blocks["sifted_bits"]) <= 3 * np.sqrt(blocks["sifted_bits"] * 0.09)).all()
    for block in blocks:
        assert np.isnan(block["finite_vacuum_lower"]) and np.isnan(block["finite_single_photon_lower"])
        if protocol == "e91":
            assert 2 < block["chsh_lower"] < block["chsh_value"] and np.isnan(block["finite_phase_error_upper"])
            assert block["secret_key_bits"] == e91_finite_length(block, job.qkd.eps_sec, job.qkd.eps_cor) > 0
            continue
        bound = entangled_finite_key_length(
            num_key_bits=int(block["finite_key_bits_x"]), num_test_bits=int(block["estimation_bits"]),
            test_errors=round(block["qber_estimated"] * block["estimation_bits"]),
            leakage_bits=float(block["leakage_bits"]), eps_sec=job.qkd.eps_sec, eps_cor=job.qkd.eps_cor)
        assert block["secret_key_bits"] == bound.secret_key_bits > 0
        assert block["finite_phase_error_upper"] == pytest.approx(bound.phase_error_upper, rel=1e-12)
        assert np.isnan(block["chsh_lower"])
    if error_correction == "cascade":
        assert blocks["final_keys_equal"].all() and np.array_equal(blocks["ec_key_bits"], n)
    assert (blocks["secret_key_bits"] < asym.tables["blocks"]["secret_key_bits"]).all()


def test_block_functions_check_their_inputs():
    counts = SiftedCounts(1000, 500, 250, 5, (125, 125), (2, 3))
    rng = np.random.default_rng(0)
    settings = dict(protocol="bbm92", pair_rate_hz=1e9, rng=rng, f_ec=1.16, qber_threshold=0.11, sample_fraction=0.1)
    with pytest.raises(DqsimError, match="counts must be the SiftedCounts"):
        entangled_block_key(SiftedCounts(1000, 500, 250, 5), **settings)
    with pytest.raises(DqsimError, match="protocol must be"):
        entangled_block_key(counts, **{**settings, "protocol": "bb84_decoy"})
    with pytest.raises(DqsimError, match="must hold the block's 125 key bits"):
        entangled_postprocess_block(counts, np.zeros(250, np.uint8), np.zeros(250, np.uint8), eps_cor=1e-15,
                                    finite_key=(1e-10, 1e-15), **settings)
    # no bits disclosed: aborted, no key, no leakage charged
    r = entangled_block_key(SiftedCounts(1000, 0, 0, 0, (0, 0), (0, 0)), **settings)
    assert r.aborted and r.secret_key_bits == 0 and r.leakage_bits == 0 and r.qber is None
    assert math.isnan(r.estimate.standard_error)


@pytest.mark.parametrize("protocol", ["bbm92", "e91"])
def test_block_size_curve_rises_to_the_asymptotic_rate(protocol, tmp_path):
    """A finite-key run writes ℓ/N against the block size N at its measured counts: rising with N from less
    than half its limit (BBM92) or none (E91) at N = 10^5 pairs to within 0.1 % of the asymptotic key at
    N = 10^14 — BBM92 (n/N)(1 - h(Q_test) - f_EC h(E_key)), E91 (n/N)(1 - h((1 + sqrt((S/2)² - 1))/2) - f_EC h(E))
    at the run's CHSH value S (the CHSH bound) — and (one block: the same counts) equal to the simulated block's
    rate at its own size; `dqsim plot` draws it."""
    job, out = run(protocol, FINITE, "qkd.block_pulses=2000000")
    sizes, (block,) = out.tables["block_sizes"], out.tables["blocks"]
    rates = sizes["key_rate_bits_per_pulse"]
    assert np.all(np.diff(rates) >= 0) and np.all(np.diff(rates[rates > 0]) > 0) and rates[0] < rates[-1] / 2
    f_ec = job.qkd.f_ec
    if protocol == "bbm92":  # Z–Z key bits, X–X test bits: the block's own counts
        key_fraction, q_test = block["finite_key_bits_x"] / block["pulses"], block["qber_estimated"]
        e_key = (round(block["qber_signal"] * block["sifted_bits"]) - round(q_test * block["estimation_bits"])) \
            / block["finite_key_bits_x"]
    else:  # the expected split: a sample_fraction of 0.1 of the sifted bits is the test
        key_fraction, q_test = 0.9 * block["sifted_bits"] / block["pulses"], block["qber_signal"]
        e_key = q_test
    secrecy = 1 - binary_entropy(q_test) if protocol == "bbm92" else \
        1 - binary_entropy((1 + math.sqrt((block["chsh_value"] / 2) ** 2 - 1)) / 2)
    asymptotic = key_fraction * (secrecy - f_ec * binary_entropy(e_key))
    assert rates[-1] == pytest.approx(asymptotic, rel=1e-3) and rates[-1] < asymptotic
    own = rates[sizes["block_pulses"] == 2e6][0]
    if protocol == "bbm92":
        assert own == pytest.approx(block["key_rate_bits_per_pulse"], rel=1e-9)
    else:  # the block's own sample split and leakage differ from the expected ones by their sampling noise
        assert own == pytest.approx(block["key_rate_bits_per_pulse"], rel=0.05)
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dqsim import io
    from dqsim.cli.plot_qkd import draw

    path = io.write_run_file(tmp_path / "f.h5", attrs={"scenario": "qkd", **out.attrs}, tables=out.tables)
    fig, ax = plt.subplots()
    assert draw(io.open_run(path), ax) == "key rate vs block size"
    plt.close(fig)
