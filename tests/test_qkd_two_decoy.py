"""Asymptotic decoy bounds with two weak decoys (third intensity > 0), as Lim et al. 2014 send them.

Until 2026-12-06 a source of intensities ``[μ, ν1, ν2]`` with ``ν2 > 0`` (Lim et al.'s
``[0.5, 0.1, 0.0002]``, which ``security = "finite_key"`` asks for) was analysed in the
asymptotic mode as a one-decoy protocol with ν = ν2 alone: ``Y1^L = 0``, ``e1^U = 1`` and no
key at any distance, while the theory column gave the key of the vacuum + weak decoy protocol.
"""

from __future__ import annotations

import math

import pytest

from dqsim.protocols.qkd import (BlockCounts, DecoySource, DetectorModel, background_yield, gain, qber,
                                 single_photon_error, single_photon_yield)
from dqsim.protocols.qkd.decoy import basis_single_photon_error_upper, two_decoy, vacuum_weak_decoy
from dqsim.protocols.qkd.postprocess import estimate_block
from dqsim.network.fibre import total_transmittance
from dqsim.cli.main import main
from dqsim.io import open_run
from dqsim.protocols.qkd import postprocess
from mpi_helper import ROOT
from run_files import checkpoints


def _exact(distance_km, intensities):
    detector = DetectorModel()
    eta = total_transmittance(distance_km, 0.2, 0.0, detector.efficiency)
    y0 = background_yield(detector.dark_count_probability)
    e_d = detector.misalignment
    return eta, y0, e_d, [(gain(x, eta, y0), qber(x, eta, y0, e_d)) for x in intensities]


@pytest.mark.parametrize("distance_km", [0.0, 50.0, 100.0])
def test_two_decoy_bounds_are_valid_and_tight(distance_km):
    """From the exact gains and QBERs: Y1^L <= Y1 and e1^U >= e1, within 5 % and 25 % of them."""
    mu, nu1, nu2 = 0.5, 0.1, 0.0002
    eta, y0, e_d, ((q_mu, _), (q1, e1q), (q2, e2q)) = _exact(distance_km, (mu, nu1, nu2))
    est = two_decoy(signal_intensity=mu, decoy_intensity=nu1, second_decoy_intensity=nu2,
                    gain_signal=q_mu, gain_decoy=q1, qber_decoy=e1q, gain_second_decoy=q2,
                    qber_second_decoy=e2q)
    y1, e1 = single_photon_yield(eta, y0), single_photon_error(eta, y0, e_d)
    assert est.method == "two_decoy"
    assert 0.95 * y1 <= est.y1_lower <= y1
    assert e1 <= est.e1_upper <= 1.25 * e1
    assert est.q1_lower == pytest.approx(est.y1_lower * mu * math.exp(-mu), rel=1e-12)
    assert 0.0 <= est.y0 <= y0 * (1 + 1e-9)


def test_two_decoy_approaches_vacuum_weak_as_the_second_decoy_vanishes():
    """ν2 -> 0 gives the vacuum + weak decoy bound (Ma et al. 2005 eq. (34)) on the same data."""
    mu, nu1 = 0.5, 0.1
    _, y0, _, ((q_mu, e_mu), (q1, e1q), _) = _exact(50.0, (mu, nu1, 0.0))
    vw = vacuum_weak_decoy(signal_intensity=mu, decoy_intensity=nu1, gain_signal=q_mu, qber_signal=e_mu,
                           gain_decoy=q1, qber_decoy=e1q, gain_vacuum=y0)
    _, _, _, (_, _, (q2, e2q)) = _exact(50.0, (mu, nu1, 1e-9))
    td = two_decoy(signal_intensity=mu, decoy_intensity=nu1, second_decoy_intensity=1e-9, gain_signal=q_mu,
                   gain_decoy=q1, qber_decoy=e1q, gain_second_decoy=q2, qber_second_decoy=e2q)
    assert td.y1_lower == pytest.approx(vw.y1_lower, rel=1e-6)
    assert td.e1_upper == pytest.approx(vw.e1_upper, rel=1e-6)
    assert basis_single_photon_error_upper(
        td, decoy_intensity=nu1, gain_decoy=q1, qber_decoy=e1q, second_decoy_intensity=1e-9,
        gain_second_decoy=q2, qber_second_decoy=e2q) == pytest.approx(td.e1_upper, rel=1e-12)


def test_two_decoy_refuses_a_signal_not_above_the_sum_of_the_decoys():
    with pytest.raises(ValueError, match="signal_intensity"):
        two_decoy(signal_intensity=0.3, decoy_intensity=0.2, second_decoy_intensity=0.15, gain_signal=0.1,
                  gain_decoy=0.05, qber_decoy=0.01, gain_second_decoy=0.04, qber_second_decoy=0.01)


def _expected_counts(distance_km, source, pulses):
    """A block whose counts are the expected ones of the channel (no sampling noise), both bases alike."""
    _, _, _, per_class = _exact(distance_km, source.intensities)
    sent = tuple(round(pulses * p) for p in source.probabilities)
    detected = tuple(round(n * q) for n, (q, _) in zip(sent, per_class))
    sifted = tuple(d // 2 for d in detected)
    errors = tuple(round(s * e) for s, (_, e) in zip(sifted, per_class))
    half = tuple(s // 2 for s in sifted)
    half_errors = tuple(e // 2 for e in errors)
    return BlockCounts(3, sent=sent, detected=detected, sifted=sifted, errors=errors, sifted_z=half,
                       errors_z=half_errors, sifted_x=half, errors_x=half_errors, eve_known=(0, 0, 0),
                       double_clicks=(0, 0, 0))


@pytest.mark.parametrize("distance_km", [10.0, 50.0])
def test_a_second_weak_decoy_keys_as_much_as_the_vacuum(distance_km):
    """Asymptotic key of [0.5, 0.1, 0.0002] within 3 % of [0.5, 0.1, 0] on the channel's expected counts.

    Fails before 2026-12-06: the second source was analysed with ν = 0.0002 alone, Y1^L = 0, no key.
    """
    pulses = 10**9
    with_vacuum = DecoySource(intensities=(0.5, 0.1, 0.0), probabilities=(0.8, 0.15, 0.05))
    with_decoy = DecoySource(intensities=(0.5, 0.1, 0.0002), probabilities=(0.8, 0.15, 0.05))
    reference = estimate_block(_expected_counts(distance_km, with_vacuum, pulses), with_vacuum)
    result = estimate_block(_expected_counts(distance_km, with_decoy, pulses), with_decoy)
    assert result.decoy is not None and result.decoy.method == "two_decoy"
    assert reference.secret_key_bits > 0
    assert result.secret_key_bits == pytest.approx(reference.secret_key_bits, rel=0.03)


def _old_decoy_classes(source):
    """``postprocess._decoy_classes`` before 2026-12-06: the smallest positive intensity is the only decoy."""
    positive = [c for c in range(1, source.num_classes) if source.intensities[c] > 0.0]
    vacuum = [c for c in range(1, source.num_classes) if source.intensities[c] == 0.0]
    return positive[-1], (vacuum[0] if vacuum else None)


def test_repro_a_checkpoint_with_blocks_of_the_older_decoy_bound_is_refused_in_one_line(tmp_path, monkeypatch,
                                                                                       capsys):
    """Checkpoints that the code before the two-decoy bound wrote of an asymptotic sweep with intensities [0.5, 0.1,
    0.0002] (its blocks: 0 key bits) are refused by ``dqsim resume`` in one line with the fix, whether the old
    blocks are a finished distance's (stored) or the running link's (Alice's tally); before, they resumed with
    those zero keys. A checkpoint of the same run written now resumes."""
    job = [str(ROOT / "jobs" / "bb84_distance_sweep.toml"), "--quiet", "--set", "qkd.pulses=400000",
           "--set", "qkd.batch_pulses=100000", "--set", "qkd.block_pulses=200000",
           "--set", "qkd.source.intensities=[0.5, 0.1, 0.0002]", "--set", "qkd.sweep.distances_km=[10, 20]",
           "--set", "checkpoint.every_sim_s=0.0001", "--set", "checkpoint.keep=100",
           "--set", "checkpoint.keep_when_done=true"]
    old, new = tmp_path / "old", tmp_path / "new"
    with monkeypatch.context() as patch:
        patch.setattr(postprocess, "_decoy_classes", _old_decoy_classes)
        assert main(["run", *job, "-o", str(tmp_path / "old.h5"), "--set", f'checkpoint.directory="{old}"']) == 0
    assert open_run(tmp_path / "old.h5").table("blocks")["secret_key_bits"].sum() == 0  # the defect itself
    written = checkpoints(old)
    in_run_0 = [p for p in written if ".ckpt000-" in p.name]
    in_run_1 = [p for p in written if ".ckpt001-" in p.name]
    assert in_run_0 and in_run_1
    capsys.readouterr()
    for path in (in_run_0[-1], in_run_1[0]):  # a block done in the running link; a finished distance
        assert main(["resume", str(path), "-o", str(tmp_path / "resumed.h5"), "--quiet"]) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("dqsim: error:")]
        assert len(errors) == 1 and "written by an older dqsim, whose decoy bound took the third intensity" in \
            errors[0] and "run the job again from the start" in errors[0], errors
    assert main(["run", *job, "-o", str(tmp_path / "new.h5"), "--set", f'checkpoint.directory="{new}"']) == 0
    assert open_run(tmp_path / "new.h5").table("blocks")["secret_key_bits"].sum() > 0
    assert main(["resume", str([p for p in checkpoints(new) if ".ckpt001-" in p.name][0]), "-o",
                 str(tmp_path / "resumed.h5"), "--quiet"]) == 0
