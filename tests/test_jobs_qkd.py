"""Job files of the "qkd" scenario: protocol, source, link, Raman, Eve, sweep, network; one-line errors."""

import math
from pathlib import Path

import pytest

from dqsim.errors import ConfigError
from dqsim.jobs import JOB_MODELS, QkdJob, apply_overrides, load_job
from dqsim.jobs.qkd import (QKD_PROTOCOLS, ClassicalChannelSection, EveSection, QkdLinkSection, QkdNetworkSection,
                            QkdSection, QkdSourceSection, SweepSection)
from dqsim.network.raman import DEFAULT_RAMAN_CROSS_SECTION_PER_KM_PER_NM
from dqsim.protocols.qkd.authentication import AUTHENTICATION_MODES
from job_helpers import bad, load

JOBS = Path(__file__).resolve().parent.parent / "jobs"

LINK = "distance_km = 50.0"
CHANNEL = 'launch_power_dbm = 0.0\ndirection = "co"\nfilter_bandwidth_nm = 0.1'


def qkd(qkd="", source=None, link=LINK, channels=(), eve=None, sweep=None, network=None, run=""):
    """A qkd job's TOML text; ``None`` leaves a table out, ``channels`` gives one entry each."""
    text = f"[run]\nname = \"t\"\nscenario = \"qkd\"\n{run}\n[qkd]\n{qkd}\n"
    for header, body in (("qkd.source", source), ("qkd.link", link), ("qkd.eve", eve),
                         ("qkd.sweep", sweep), ("qkd.network", network)):
        if body is not None:
            text += f"[{header}]\n{body}\n"
    for body in channels:
        text += f"[[qkd.classical_channels]]\n{body}\n"
    return text


# --------------------------------------------------------------------------
# Valid jobs
# --------------------------------------------------------------------------

def test_scenario_is_registered():
    assert JOB_MODELS["qkd"] is QkdJob and QkdJob.scenario == "qkd"
    assert QKD_PROTOCOLS == ("bb84_decoy", "bbm92", "e91")


def test_minimal_job_and_defaults():
    job = load(qkd())
    assert isinstance(job, QkdJob) and job.run.output == "t.h5"
    q = job.qkd
    assert isinstance(q, QkdSection) and q.protocol == "bb84_decoy"
    assert (q.pulses, q.batch_pulses, q.block_pulses) == (10_000_000, 1_000_000, 10_000_000)
    assert (q.f_ec, q.qber_threshold, q.sample_fraction) == (1.16, 0.11, 0.1)
    assert (q.authentication, q.eps_auth) == ("per_block", 1e-10)
    assert set(AUTHENTICATION_MODES) == set(QkdSection.model_fields["authentication"].annotation.__args__)
    assert q.source == QkdSourceSection(intensities=[0.5, 0.1, 0.0], probabilities=[0.8, 0.1, 0.1])
    assert q.source.werner is None and q.source.position is None  # bbm92/e91 keys
    assert q.source.z_basis_probability == 0.5 and q.source.source_rate_hz == 1e9
    assert q.link == QkdLinkSection(distance_km=50.0)
    link = q.link
    assert (link.attenuation_db_per_km, link.coupling_loss_db, link.group_index) == (0.2, 0.0, 1.468)
    assert (link.detector_efficiency, link.dark_count_rate_hz) == (0.9, 10.0)
    assert (link.gate_width_ps, link.dead_time_ps) == (1000, 0)
    assert (link.misalignment, link.afterpulse_probability) == (0.01, 0.0)
    assert q.classical_channels == [] and q.eve is None and q.sweep is None and q.network is None
    assert job.distances_km() == [50.0] and job.network_links() == [(0, 1, 50.0)]


@pytest.mark.parametrize("protocol", ["bbm92", "e91"])
def test_entangled_protocols_default_their_source_keys(protocol):
    q = load(qkd(f'protocol = "{protocol}"')).qkd
    assert q.source.werner == 1.0 and q.source.position == 0.5
    assert q.source.intensities is None and q.source.probabilities is None


@pytest.mark.parametrize("protocol", ["bbm92", "e91"])
def test_entangled_protocols_take_cascade_and_finite_key(protocol):
    q = load(qkd(f'protocol = "{protocol}"\nerror_correction = "cascade"\nsecurity = "finite_key"')).qkd
    assert (q.protocol, q.error_correction, q.security) == (protocol, "cascade", "finite_key")


def test_finite_key_of_bb84_still_needs_three_intensities():
    bad(qkd('security = "finite_key"', source="intensities = [0.5, 0.1]\nprobabilities = [0.5, 0.5]"),
        r"\[qkd\]\.security = \"finite_key\": with protocol = \"bb84_decoy\" needs three \[qkd\.source\]\.intensities "
        r"μ1 > μ2 \+ μ3, μ2 > μ3 >= 0 \(Lim et al\. 2014\), got \[0\.5, 0\.1\]$")


def test_batch_and_block_default_from_pulses():
    q = load(qkd("pulses = 1000")).qkd
    assert (q.pulses, q.batch_pulses, q.block_pulses) == (1000, 1000, 1000)
    q = load(qkd("pulses = 5_000_000\nbatch_pulses = 500_000")).qkd
    assert (q.batch_pulses, q.block_pulses) == (500_000, 5_000_000)


def test_full_job():
    job = load(qkd(
        qkd='protocol = "bb84_decoy"\npulses = 2_000_000\nbatch_pulses = 100_000\nblock_pulses = 1_000_000\n'
            "f_ec = 1.1\nqber_threshold = 0.2\nsample_fraction = 0.5",
        source="intensities = [0.6, 0.2]\nprobabilities = [0.9, 0.1]\nz_basis_probability = 0.9\n"
               "source_rate_hz = 2.5e9",
        link="distance_km = 10\nattenuation_db_per_km = 0.17\ncoupling_loss_db = 1\ngroup_index = 1.5\n"
             "detector_efficiency = 1\ndark_count_rate_hz = 0\ngate_width_ps = 300\ndead_time_ps = 50_000\n"
             "misalignment = 0.5\nafterpulse_probability = 0.02",
        channels=[CHANNEL + "\nraman_cross_section_per_km_per_nm = 5e-9\nwavelength_nm = 1310",
                  'launch_power_dbm = -60\ndirection = "counter"\nfilter_bandwidth_nm = 1'],
        eve='attack = "beam_splitting"\nfraction = 0\ndistance_km = 10',
        run="seed = 3"))
    q = job.qkd
    assert (q.pulses, q.batch_pulses, q.block_pulses, q.f_ec) == (2_000_000, 100_000, 1_000_000, 1.1)
    assert q.source.intensities == [0.6, 0.2] and q.source.z_basis_probability == 0.9
    link = q.link
    assert link.distance_km == 10.0 and isinstance(link.distance_km, float)  # integers become floats
    assert isinstance(link.coupling_loss_db, float) and link.dead_time_ps == 50_000
    assert link.detector_efficiency == 1.0 and link.misalignment == 0.5
    first, second = q.classical_channels
    assert isinstance(first, ClassicalChannelSection)
    assert first.raman_cross_section_per_km_per_nm == 5e-9 and first.wavelength_nm == 1310.0
    assert second.direction == "counter" and second.launch_power_dbm == -60.0
    assert second.raman_cross_section_per_km_per_nm == DEFAULT_RAMAN_CROSS_SECTION_PER_KM_PER_NM
    assert second.wavelength_nm == 1550.0
    assert q.eve == EveSection(attack="beam_splitting", fraction=0.0, distance_km=10.0)
    assert q.eve.basis == "random"


def test_sweep_and_network():
    job = load(qkd(link=None, sweep="distances_km = [0, 12.5, 100]"))
    assert job.qkd.sweep == SweepSection(distances_km=[0.0, 12.5, 100.0])
    assert job.distances_km() == [0.0, 12.5, 100.0] and job.qkd.link.distance_km is None
    job = load(qkd(link="distance_km = 5", sweep="distances_km = [10]"))
    assert job.distances_km() == [10.0]  # the sweep overrides [qkd.link].distance_km
    job = load(qkd(link=None, network='topology = "star"\nnum_nodes = 4\ndistances_km = [1, 2, 3.5]'))
    assert job.qkd.network == QkdNetworkSection(topology="star", num_nodes=4, distances_km=[1.0, 2.0, 3.5])
    assert job.network_links() == [(0, 1, 1.0), (0, 2, 2.0), (0, 3, 3.5)]
    assert job.distances_km() == [1.0, 2.0, 3.5]


@pytest.mark.parametrize("name, check", [
    ("bb84_decoy_50km", lambda j: (j.qkd.protocol == "bb84_decoy" and j.qkd.pulses == 20_000_000
                                   and j.qkd.batch_pulses == 1_000_000 and j.distances_km() == [50.0]
                                   and "mpiexec -n 2 dqsim run jobs/bb84_decoy_50km.toml" in j.text)),
    ("bb84_distance_sweep", lambda j: (j.distances_km() == [25.0 * i for i in range(9)]
                                       and j.qkd.pulses == 5_000_000 and "dqsim plot" in j.text
                                       and "PLOB" in j.text)),
    ("bb84_eve_intercept", lambda j: (j.qkd.eve == EveSection(attack="intercept_resend", fraction=0.5,
                                                              basis="random", distance_km=25.0)
                                      and j.distances_km() == [50.0] and "abort" in j.text)),
    ("bbm92_20km", lambda j: (j.qkd.protocol == "bbm92" and j.qkd.source.werner == 0.98
                              and j.distances_km() == [20.0])),
    ("e91_chsh", lambda j: j.qkd.protocol == "e91" and j.qkd.source.werner == 0.95 and "CHSH" in j.text),
    ("bbm92_finite_key", lambda j: (j.qkd.protocol == "bbm92" and j.qkd.security == "finite_key"
                                    and j.qkd.error_correction == "cascade" and j.qkd.block_pulses == 5_000_000
                                    and "Tomamichel" in j.text)),
    ("qkd_trusted_chain", lambda j: (j.qkd.network.topology == "chain" and j.qkd.network.num_nodes == 3
                                     and j.network_links() == [(0, 1, 30.0), (1, 2, 30.0)])),
    ("bb84_raman_coexistence", lambda j: (len(j.qkd.classical_channels) == 1
                                          and j.qkd.classical_channels[0].direction == "co"
                                          and j.qkd.classical_channels[0].launch_power_dbm == 0.0
                                          and j.distances_km() == [25.0])),
])
def test_example_job_files_load(name, check):
    path = JOBS / f"{name}.toml"
    job = load_job(path)
    assert isinstance(job, QkdJob) and job.run.name == name and job.path == path
    assert check(job)
    # at ~10 million pulses/s on one core each runs in well under a minute
    num_links = len(job.network_links()) if job.qkd.sweep is None else len(job.distances_km())
    assert job.qkd.pulses * num_links <= 100_000_000


def test_models_are_frozen():
    job = load(qkd())
    with pytest.raises(ValueError):
        job.qkd.link.distance_km = 5.0


# --------------------------------------------------------------------------
# Bad input: one line naming the key
# --------------------------------------------------------------------------

def test_scenario_sections():
    bad(qkd().replace("[qkd]\n\n[qkd.link]\n" + LINK + "\n", ""), r"missing section \[qkd\]$")
    bad(qkd() + "[circuit]\n", r"unknown section \[circuit\]; allowed sections: run, checkpoint, qkd$")
    # without scenario = "qkd" the file is a circuit job
    bad(qkd().replace('scenario = "qkd"\n', ""), r'\[run\]\.scenario is not set, so this is a "circuit" job, which has '
        r'no section \[qkd\]; these sections are those of scenario "qkd": add scenario = "qkd" to \[run\]$')


@pytest.mark.parametrize("text, match", [
    ('protocol = "b92"', r"\[qkd\]\.protocol = \"b92\": must be one of \"bb84_decoy\", \"bbm92\", \"e91\"$"),
    ("pulses = 0", r"\[qkd\]\.pulses = 0: must be >= 1 \(allowed 1\.\.10_000_000_000_000\)$"),
    ("pulses = 100_000_000_000_000", r"\[qkd\]\.pulses = 100000000000000: must be <= 10_000_000_000_000"),
    ("pulses = 2e7", r"\[qkd\]\.pulses: expected an integer, got 20000000\.0 \(TOML reads 1e6 or 5\.0 as a float: write 20_000_000\)$"),
    ("pulses = true", r"\[qkd\]\.pulses: expected an integer, got true$"),
    ("batch_pulses = 0", r"\[qkd\]\.batch_pulses = 0: must be >= 1 \(allowed 1\.\.100_000_000\)$"),
    ("pulses = 10**9", r"TOML syntax error"),
    ("batch_pulses = 200_000_000", r"\[qkd\]\.batch_pulses = 200000000: must be <= 100_000_000"),
    ("pulses = 100\nbatch_pulses = 200", r"\[qkd\]\.batch_pulses = 200: must be <= pulses = 100$"),
    ("batch_pulses = 1000\nblock_pulses = 999",
     r"\[qkd\]\.block_pulses = 999: must be >= batch_pulses = 1000 \(a block holds whole batches\)$"),
    ("pulses = 100\nblock_pulses = 101\nbatch_pulses = 10", r"\[qkd\]\.block_pulses = 101: must be <= pulses = 100$"),
    ("f_ec = 0.9", r"\[qkd\]\.f_ec = 0\.9: must be in \[1, 2\]$"),
    ("f_ec = inf", r"\[qkd\]\.f_ec = inf: must be a finite number in \[1, 2\]$"),
    ("qber_threshold = 0.6", r"\[qkd\]\.qber_threshold = 0\.6: must be in \[0, 0\.5\]$"),
    ("sample_fraction = 0", r"\[qkd\]\.sample_fraction = 0\.0: must be in \(0, 0\.5\]$"),
    ('sample_fraction = "0.1"',
     r"\[qkd\]\.sample_fraction: expected a number, got \"0\.1\" \(write 0\.1 without quotes: a TOML number\)$"),
    ('authentication = "sometimes"',
     r"\[qkd\]\.authentication = \"sometimes\": must be one of \"per_block\", \"per_message\", \"none\"$"),
    ("eps_auth = 0", r"\[qkd\]\.eps_auth = 0(\.0)?: must be in \(0, 1\)$"),
    ("eps_auth = 1.0", r"\[qkd\]\.eps_auth = 1\.0: must be in \(0, 1\)$"),
    ("pulse = 10", r"unknown key \[qkd\]\.pulse; allowed keys: protocol, pulses, .*, network; did you mean pulses\?$"),
    ("source = 3", r"\[qkd\]\.source: expected a table, got 3$"),
    ("classical_channels = 3", r"\[qkd\]\.classical_channels: expected an array, got 3$"),
])
def test_bad_qkd(text, match):
    bad(qkd(text), match)


@pytest.mark.parametrize("protocol, source, match", [
    ("bb84_decoy", "intensities = [0.5]\nprobabilities = [0.5, 0.5]",
     r"\[qkd\.source\]\.intensities = \[0\.5\]: must list 2 or 3 mean photon numbers \(signal, decoy\[, vacuum\]\), got 1$"),
    ("bb84_decoy", "intensities = [0.5, 0.2, 0.1, 0.0]\nprobabilities = [0.7, 0.1, 0.1, 0.1]",
     r"\[qkd\.source\]\.intensities = \[.*\]: must list 2 or 3 .*got 4$"),
    ("bb84_decoy", "intensities = [0.5, 0.5]\nprobabilities = [0.5, 0.5]",
     r"\[qkd\.source\]\.intensities\[1\] = 0\.5: must be < intensities\[0\] = 0\.5 \(strictly decreasing"),
    ("bb84_decoy", "intensities = [0.5, 0.1, 0.2]\nprobabilities = [0.8, 0.1, 0.1]",
     r"\[qkd\.source\]\.intensities\[2\] = 0\.2: must be < intensities\[1\] = 0\.1"),
    ("bb84_decoy", "intensities = [0.5, 0.0]\nprobabilities = [0.9, 0.1]",  # no weak decoy: ran, then failed
     r"\[qkd\.source\]\.intensities\[1\] = 0\.0: must be > 0: the decoy-state estimate needs a weak decoy "
     r"\(signal, decoy\[, vacuum\]; e\.g\. \[0\.5, 0\.1, 0\.0\]\)$"),
    ("bb84_decoy", "intensities = [0.5, -0.1]\nprobabilities = [0.5, 0.5]",
     r"\[qkd\.source\]\.intensities\[1\] = -0\.1: must be in \[0, 10\]$"),
    ("bb84_decoy", "intensities = [11, 0.1]\nprobabilities = [0.5, 0.5]",
     r"\[qkd\.source\]\.intensities\[0\] = 11\.0: must be in \[0, 10\]$"),
    ("bb84_decoy", "intensities = [0.5, \"x\"]\nprobabilities = [0.5, 0.5]",
     r"\[qkd\.source\]\.intensities\[1\]: expected a number, got \"x\"$"),
    ("bb84_decoy", "intensities = [0.5, 0.1]\nprobabilities = [0.8, 0.1, 0.1]",
     r"\[qkd\.source\]\.probabilities = \[.*\]: lists 3 probabilities but intensities lists 2 \(one per intensity\)$"),
    ("bb84_decoy", "intensities = [0.5, 0.1]\nprobabilities = [0.8, 0.3]",
     r"\[qkd\.source\]\.probabilities = \[0\.8, 0\.3\]: must sum to 1 \(within 1e-09\); they sum to 1\.1$"),
    ("bb84_decoy", "intensities = [0.5, 0.1]\nprobabilities = [0.5, 0.0]",
     r"\[qkd\.source\]\.probabilities\[1\] = 0\.0: must be in \(0, 1\)$"),
    ("bb84_decoy", "intensities = [0.5, 0.1]",
     r"missing key \[qkd\.source\]\.probabilities \(each in \(0, 1\); required when intensities is given: give both or neither"),
    ("bb84_decoy", "probabilities = [0.5, 0.5]",
     r"missing key \[qkd\.source\]\.intensities \(each in \[0, 10\]; required when probabilities is given"),
    ("bb84_decoy", "werner = 0.9",
     r"\[qkd\.source\]\.werner = 0\.9: only used with protocol = \"bbm92\" or \"e91\" \(here protocol = \"bb84_decoy\"\)$"),
    ("bb84_decoy", "position = 0.5", r"\[qkd\.source\]\.position = 0\.5: only used with protocol = \"bbm92\" or \"e91\""),
    ("bbm92", "intensities = [0.5, 0.1]",
     r"\[qkd\.source\]\.intensities = \[0\.5, 0\.1\]: only used with protocol = \"bb84_decoy\" \(here protocol = \"bbm92\"\)$"),
    ("e91", "probabilities = [0.5, 0.5]",
     r"\[qkd\.source\]\.probabilities = .*: only used with protocol = \"bb84_decoy\" \(here protocol = \"e91\"\)$"),
    ("bbm92", "werner = 1.5", r"\[qkd\.source\]\.werner = 1\.5: must be in \[0, 1\]$"),
    ("e91", "position = -0.1", r"\[qkd\.source\]\.position = -0\.1: must be in \[0, 1\]$"),
    ("bbm92", "z_basis_probability = 1", r"\[qkd\.source\]\.z_basis_probability = 1\.0: must be in \(0, 1\)$"),
    ("bbm92", "source_rate_hz = 0", r"\[qkd\.source\]\.source_rate_hz = 0\.0: must be in \(0, inf\)$"),
    ("bbm92", "wernr = 0.9", r"unknown key \[qkd\.source\]\.wernr; allowed keys: intensities, .*; did you mean werner\?$"),
])
def test_bad_source(protocol, source, match):
    bad(qkd(f'protocol = "{protocol}"', source=source), match)


@pytest.mark.parametrize("link, match", [
    ("distance_km = -1.0", r"\[qkd\.link\]\.distance_km = -1\.0: must be in \[0, inf\)$"),
    ("distance_km = nan", r"\[qkd\.link\]\.distance_km = nan: must be a finite number in \[0, inf\)$"),
    ('distance_km = "10"', r"\[qkd\.link\]\.distance_km: expected a number, got \"10\" \(write 10 without quotes: a TOML number\)$"),
    ("distance_km = 1\nattenuation_db_per_km = -0.2", r"\[qkd\.link\]\.attenuation_db_per_km = -0\.2: must be in \[0, inf\)"),
    ("distance_km = 1\ncoupling_loss_db = -1", r"\[qkd\.link\]\.coupling_loss_db = -1\.0: must be in \[0, inf\)"),
    ("distance_km = 1\ngroup_index = 0.5", r"\[qkd\.link\]\.group_index = 0\.5: must be in \[1, inf\)$"),
    ("distance_km = 1\ndetector_efficiency = 0", r"\[qkd\.link\]\.detector_efficiency = 0\.0: must be in \(0, 1\]$"),
    ("distance_km = 1\ndetector_efficiency = 1.1", r"\[qkd\.link\]\.detector_efficiency = 1\.1: must be in \(0, 1\]$"),
    ("distance_km = 1\ndark_count_rate_hz = -1", r"\[qkd\.link\]\.dark_count_rate_hz = -1\.0: must be in \[0, inf\)"),
    ("distance_km = 1\ngate_width_ps = 0", r"\[qkd\.link\]\.gate_width_ps = 0: must be >= 1$"),
    ("distance_km = 1\ngate_width_ps = 1.5", r"\[qkd\.link\]\.gate_width_ps: expected an integer, got 1\.5$"),
    ("distance_km = 1\ndead_time_ps = -1", r"\[qkd\.link\]\.dead_time_ps = -1: must be >= 0$"),
    ("distance_km = 1\nmisalignment = 0.6", r"\[qkd\.link\]\.misalignment = 0\.6: must be in \[0, 0\.5\]$"),
    ("distance_km = 1\nafterpulse_probability = 1", r"\[qkd\.link\]\.afterpulse_probability = 1\.0: must be in \[0, 1\)$"),
    ("distance_km = 1\nscheme = \"direct\"", r"unknown key \[qkd\.link\]\.scheme; allowed keys: distance_km, .*afterpulse_probability$"),
    ("attenuation_db_per_km = 0.2",
     r"missing key \[qkd\.link\]\.distance_km \(km, >= 0; required unless \[qkd\.sweep\] or \[qkd\.network\]\.distances_km gives"),
])
def test_bad_link(link, match):
    bad(qkd(link=link), match)


def test_missing_link_table_needs_a_distance():
    bad(qkd(link=None), r"missing key \[qkd\.link\]\.distance_km")
    bad(qkd(link=None, network='topology = "chain"\nnum_nodes = 3'), r"missing key \[qkd\.link\]\.distance_km")


@pytest.mark.parametrize("channels, match", [
    ([CHANNEL.replace('"co"', '"up"')],
     r"\[\[qkd\.classical_channels\]\]\[0\]\.direction = \"up\": must be one of \"co\", \"counter\"$"),
    ([CHANNEL, CHANNEL.replace("0.0", "31")],
     r"\[\[qkd\.classical_channels\]\]\[1\]\.launch_power_dbm = 31\.0: must be in \[-60, 30\]$"),
    ([CHANNEL.replace("0.1", "0")], r"\[\[qkd\.classical_channels\]\]\[0\]\.filter_bandwidth_nm = 0\.0: must be in \(0, 100\]$"),
    # a 100 GHz filter typed in Hz into the key in nm
    ([CHANNEL.replace("0.1", "100e9")],
     r"\[\[qkd\.classical_channels\]\]\[0\]\.filter_bandwidth_nm = 100000000000\.0: must be in \(0, 100\]$"),
    ([CHANNEL + "\nraman_cross_section_per_km_per_nm = 0"],
     r"\[\[qkd\.classical_channels\]\]\[0\]\.raman_cross_section_per_km_per_nm = 0\.0: must be in \(0, inf\)$"),
    ([CHANNEL + "\nwavelength_nm = 300"], r"\[\[qkd\.classical_channels\]\]\[0\]\.wavelength_nm = 300\.0: must be in \[400, 2000\]$"),
    (['direction = "co"\nfilter_bandwidth_nm = 1'], r"missing key \[\[qkd\.classical_channels\]\]\[0\]\.launch_power_dbm \(dBm, in \[-60, 30\]\)$"),
    ([CHANNEL + "\npower_dbm = 1"],
     r"unknown key \[\[qkd\.classical_channels\]\]\[0\]\.power_dbm; allowed keys: launch_power_dbm, direction, "),
])
def test_bad_classical_channels(channels, match):
    bad(qkd(channels=channels), match)


@pytest.mark.parametrize("eve, extra, match", [
    ('attack = "cloning"', {}, r"\[qkd\.eve\]\.attack = \"cloning\": must be one of \"none\", \"intercept_resend\", "
                               r"\"beam_splitting\"$"),
    ("fraction = 0.5", {}, r"missing key \[qkd\.eve\]\.attack$"),
    ('attack = "intercept_resend"\nfraction = 1.5', {}, r"\[qkd\.eve\]\.fraction = 1\.5: must be in \[0, 1\]$"),
    ('attack = "intercept_resend"\nbasis = "Y"', {}, r"\[qkd\.eve\]\.basis = \"Y\": must be one of \"random\", \"Z\", \"X\"$"),
    ('attack = "beam_splitting"\nbasis = "Z"', {},
     r"\[qkd\.eve\]\.basis = \"Z\": only used with attack = \"intercept_resend\" \(here attack = \"beam_splitting\"\)$"),
    ('attack = "intercept_resend"\ndistance_km = -1', {}, r"\[qkd\.eve\]\.distance_km = -1\.0: must be in \[0, inf\)$"),
    ('attack = "intercept_resend"\ndistance_km = 60', {},
     r"\[qkd\.eve\]\.distance_km = 60\.0: must be in \[0, 50\] \(Eve taps the fibre; \[qkd\.link\]\.distance_km is 50\.0\)$"),
    ('attack = "intercept_resend"\ndistance_km = 30', {"sweep": "distances_km = [100, 25, 50]"},
     r"\[qkd\.eve\]\.distance_km = 30\.0: must be in \[0, 25\] \(Eve taps the fibre; the shortest of "
     r"\[qkd\.sweep\]\.distances_km is 25\.0\)$"),
    ('attack = "intercept_resend"\ndistance_km = 30', {"network": 'topology = "chain"\nnum_nodes = 3\ndistances_km = [40, 20]'},
     r"\[qkd\.eve\]\.distance_km = 30\.0: must be in \[0, 20\] \(Eve taps the fibre; the shortest link of \[qkd\.network\]"),
    ('attack = "intercept_resend"\nposition = 3', {}, r"unknown key \[qkd\.eve\]\.position; allowed keys: attack, fraction, basis, distance_km, links$"),
])
def test_bad_eve(eve, extra, match):
    bad(qkd(eve=eve, **extra), match)


@pytest.mark.parametrize("protocol, source, eve, match", [
    ("bbm92", None, 'attack = "beam_splitting"',
     r"\[qkd\.eve\]\.attack = \"beam_splitting\": is not modelled for protocol = \"bbm92\" \(a pair source: a photon "
     r"Eve keeps never reaches Bob\); use \"intercept_resend\" or \"none\"$"),
    ("e91", None, 'attack = "beam_splitting"\nfraction = 0.5', r"\[qkd\.eve\]\.attack = \"beam_splitting\": is not "
     r"modelled for protocol = \"e91\""),
    ("bbm92", "mean_pair_number = 0.1", 'attack = "intercept_resend"',
     r"\[qkd\.eve\]\.attack = \"intercept_resend\": with protocol = \"bbm92\" is modelled for a one-pair source only: "
     r"remove \[qkd\.source\]\.mean_pair_number \(= 0\.1\)$"),
    ("bbm92", None, 'attack = "intercept_resend"\ndistance_km = 30',
     r"\[qkd\.eve\]\.distance_km = 30\.0: must be in \[0, 25\] \(with protocol = \"bbm92\" Eve taps Bob's arm, "
     r"measured from the source at \[qkd\.source\]\.position = 0\.5 of the shortest link, 50\.0 km\)$"),
    ("e91", "position = 0.8", 'attack = "intercept_resend"\ndistance_km = 10.5',
     r"\[qkd\.eve\]\.distance_km = 10\.5: must be in \[0, 10\] \(with protocol = \"e91\" Eve taps Bob's arm"),
    ("e91", "z_basis_probability = 0.8", None,
     r"\[qkd\.source\]\.z_basis_probability = 0\.8: only used with protocol = \"bb84_decoy\" or \"bbm92\" \(here "
     r"protocol = \"e91\"\)$"),
])
def test_bad_entangled_eve_and_bases(protocol, source, eve, match):
    bad(qkd(f'protocol = "{protocol}"', source=source, eve=eve), match)


def test_entangled_eve_taps_bobs_arm_and_bbm92_takes_biased_bases():
    job = load(qkd('protocol = "bbm92"', source="position = 0.2\nz_basis_probability = 0.9",
                   eve='attack = "intercept_resend"\ndistance_km = 40'))
    assert job.qkd.eve.distance_km == 40.0 and job.qkd.source.z_basis_probability == 0.9
    # the thermal source is refused only with an attack
    job = load(qkd('protocol = "e91"', source="mean_pair_number = 0.1", eve='attack = "none"'))
    assert job.qkd.eve.attack == "none"


def test_eve_may_sit_anywhere_on_the_fibre():
    assert load(qkd(eve='attack = "intercept_resend"\ndistance_km = 50')).qkd.eve.distance_km == 50.0
    job = load(qkd(eve='attack = "none"\ndistance_km = 0', sweep="distances_km = [0, 10]"))
    assert job.qkd.eve.attack == "none" and job.qkd.eve.fraction == 1.0


@pytest.mark.parametrize("sweep, match", [
    ("distances_km = []", r"\[qkd\.sweep\]\.distances_km = \[\]: must list 1\.\.200 distances, got 0$"),
    (f"distances_km = {list(range(201))}", r"\[qkd\.sweep\]\.distances_km = \[.*: must list 1\.\.200 distances, got 201$"),
    ("distances_km = [0, -25]", r"\[qkd\.sweep\]\.distances_km\[1\] = -25\.0: must be in \[0, inf\)$"),
    ("distances_km = [0, inf]", r"\[qkd\.sweep\]\.distances_km\[1\] = inf: must be a finite number in \[0, inf\)$"),
    ("distances_km = 50", r"\[qkd\.sweep\]\.distances_km: expected an array, got 50$"),
    ("", r"missing key \[qkd\.sweep\]\.distances_km \(km, each >= 0\)$"),
    ("distances_km = [1]\ndistance_km = [1]", r"unknown key \[qkd\.sweep\]\.distance_km; allowed keys: distances_km; did you mean distances_km\?$"),
])
def test_bad_sweep(sweep, match):
    bad(qkd(sweep=sweep), match)


@pytest.mark.parametrize("network, match", [
    ('topology = "ring"\nnum_nodes = 3', r"\[qkd\.network\]\.topology = \"ring\": must be one of \"chain\", \"star\"$"),
    ("num_nodes = 3", r"missing key \[qkd\.network\]\.topology$"),
    ('topology = "chain"', r"missing key \[qkd\.network\]\.num_nodes \(2\.\.65536\)$"),
    ('topology = "chain"\nnum_nodes = 1', r"\[qkd\.network\]\.num_nodes = 1: must be >= 2 \(allowed 2\.\.65536\)$"),
    ('topology = "chain"\nnum_nodes = 65537',
     r"\[qkd\.network\]\.num_nodes = 65537: must be <= 65536 \(allowed 2\.\.65536\)$"),
    ('topology = "star"\nnum_nodes = 4097', r"\[qkd\.network\]\.num_nodes = 4097: must be <= 4,096 for a star whose "
     r"end_to_end_pairs is \"all\" \(its end_to_end table has a row per pair of leaves: 8,386,560 here\); choose the "
     r"pairs, \[qkd\.network\]\.end_to_end_pairs = \"none\" or a list of \[leaf_a, leaf_b\] pairs, to take up to "
     r"65,536 nodes$"),
    ('topology = "chain"\nnum_nodes = 3\ndistances_km = [20.0]',
     r"\[qkd\.network\]\.distances_km = \[20\.0\]: lists 1 distances but a chain of 3 nodes has 2 links$"),
    ('topology = "star"\nnum_nodes = 2\ndistances_km = [1, 2]',
     r"\[qkd\.network\]\.distances_km = \[1\.0, 2\.0\]: lists 2 distances but a star of 2 nodes has 1 link$"),
    ('topology = "chain"\nnum_nodes = 3\ndistances_km = [20.0, -1]', r"\[qkd\.network\]\.distances_km\[1\] = -1\.0: must be in \[0, inf\)$"),
    ('topology = "chain"\nnum_nodes = 3\nnode_names = ["a", "b", "c"]', r"unknown key \[qkd\.network\]\.node_names; allowed keys: "),
])
def test_bad_network(network, match):
    bad(qkd(network=network), match)


def test_sweep_and_network_are_not_supported_together():
    message = bad(qkd(sweep="distances_km = [10, 20]", network='topology = "chain"\nnum_nodes = 3'),
                  r"\[qkd\.sweep\]\.distances_km = \[10\.0, 20\.0\]: a sweep is not supported together with "
                  r"\[qkd\.network\]")
    assert "(and" not in message


@pytest.mark.parametrize("text, match", [
    (qkd(link="distance_km = 1e300"), r"\[qkd\.link\]\.distance_km = 1e\+300: light takes 4\.9e\+294 s through this "
     r"fibre \(group_index 1\.468\), more than the 8\.8 s a run allows per crossing \(its clock counts int64 "
     r"picoseconds\): at most 1\.796e\+06 km$"),
    (qkd(link="distance_km = 50\ngroup_index = 1e12"), r"\[qkd\.link\]\.distance_km = 50\.0: light takes 1\.67e\+08 s "
     r"through this fibre \(group_index 1000000000000\.0\)"),
    (qkd(sweep="distances_km = [0, 1e10, 5]"), r"\[qkd\.sweep\]\.distances_km\[1\] = 10000000000\.0: light takes 4\.9e\+04 s"),
    (qkd(network='topology = "chain"\nnum_nodes = 3\ndistances_km = [30, 1e10]'),
     r"\[qkd\.network\]\.distances_km\[1\] = 10000000000\.0: light takes"),
    (qkd(source="source_rate_hz = 1e-3"), r"\[qkd\.source\]\.source_rate_hz = 0\.001: 10_000_000 pulses take 1e\+10 s to "
     r"emit at this rate, more than the 5\.76e\+05 s a run can simulate \(its clock counts int64 picoseconds\); "
     r"raise the rate or lower \[qkd\]\.pulses$"),
])
def test_repro_times_beyond_the_int64_clock_are_refused(text, match):
    """A link or an emission longer than the engine's int64 picoseconds can count is refused when the job
    loads (``dqsim run`` ended in an OverflowError traceback after the simulation)."""
    bad(text, match)


def test_longest_fibre_and_slowest_source_the_clock_allows_load():
    load(qkd(link="distance_km = 1.79e6"))
    load(qkd("pulses = 10_000_000_000_000", source="source_rate_hz = 2e7"))


def test_several_problems_are_counted_on_one_line():
    message = bad(qkd("f_ec = 3", link="distance_km = -1\nmisalignment = 0.9"), r"\[qkd\]\.f_ec = 3\.0")
    assert message.endswith("(and 2 more problems: dqsim check lists them)")


# --------------------------------------------------------------------------
# Overrides and convenience methods
# --------------------------------------------------------------------------

def test_overrides():
    job = load(qkd())
    new = apply_overrides(job, ["qkd.link.distance_km=10"])
    assert new.qkd.link.distance_km == 10.0 and new.distances_km() == [10.0]
    assert new.network_links() == [(0, 1, 10.0)] and job.distances_km() == [50.0]  # the original is unchanged
    # defaults that depend on other keys are recomputed
    new = apply_overrides(job, ["qkd.pulses=1000"])
    assert (new.qkd.batch_pulses, new.qkd.block_pulses) == (1000, 1000)
    # switching protocol brings that protocol's defaults
    new = apply_overrides(job, ["qkd.protocol=e91", "qkd.source.werner=0.9"])
    assert new.qkd.source.werner == 0.9 and new.qkd.source.position == 0.5 and new.qkd.source.intensities is None
    # new tables are created
    new = apply_overrides(job, ["qkd.eve.attack=intercept_resend", "qkd.eve.distance_km=5",
                                "qkd.sweep.distances_km=[5, 10]"])
    assert new.qkd.eve.attack == "intercept_resend" and new.distances_km() == [5.0, 10.0]
    new = apply_overrides(job, ["qkd.network.topology=chain", "qkd.network.num_nodes=4"])
    assert new.network_links() == [(0, 1, 50.0), (1, 2, 50.0), (2, 3, 50.0)]


@pytest.mark.parametrize("assignment, match", [
    ("qkd.link.distance_km=-5", r"\(with --set qkd\.link\.distance_km=-5\): \[qkd\.link\]\.distance_km = -5\.0: "
                                r"must be in \[0, inf\)$"),
    ("qkd.link.distance_km=", r"missing key \[qkd\.link\]\.distance_km"),
    ("qkd.link.distanc_km=5", r"unknown key \[qkd\.link\]\.distanc_km; .*did you mean distance_km\?$"),
    ("qkd.protocol=bbm92", r"\[qkd\.source\]\.intensities = .*: only used with protocol = \"bb84_decoy\""),
    ("qkd.batch_pulses=20000000", r"\[qkd\]\.batch_pulses = 20000000: must be <= pulses = 10000000$"),
    ("qkd.eve.distance_km=60", r"\[qkd\.eve\]\.distance_km = 60\.0: must be in \[0, 50\]"),
    ("qkd.link.distance_km=10", r"\[qkd\.eve\]\.distance_km = 25\.0: must be in \[0, 10\]"),
    ("qkd.eve.attack=beam_splitting", r"\[qkd\.eve\]\.basis = \"random\": only used with attack = \"intercept_resend\""),
    ("qkd.link.distance_km.x=1", r"\[qkd\.link\]\.distance_km is 50\.0, not a table$"),
])
def test_override_errors(assignment, match):
    job = load_job(JOBS / "bb84_eve_intercept.toml")
    with pytest.raises(ConfigError, match=match) as info:
        apply_overrides(job, [assignment])
    assert "\n" not in str(info.value)


def test_override_entry_of_an_array_of_tables():
    # --set reaches one [[qkd.classical_channels]] entry by its index (a launch-power sweep needs it)
    job = load_job(JOBS / "bb84_raman_coexistence.toml")
    new = apply_overrides(job, ["qkd.classical_channels[0].launch_power_dbm=3",
                                'qkd.classical_channels[0].direction="counter"'])
    channel = new.qkd.classical_channels[0]
    assert (channel.launch_power_dbm, channel.direction) == (3.0, "counter")
    assert job.qkd.classical_channels[0].launch_power_dbm == 0.0  # the original is unchanged


@pytest.mark.parametrize("assignment, match", [
    ("qkd.classical_channels[1].launch_power_dbm=3",
     r"\[\[qkd\.classical_channels\]\] has 1 entries \(indices 0\.\.0\), got index 1; add entries in the job file$"),
    ("qkd.classical_channels.0.launch_power_dbm=3",
     r"\[\[qkd\.classical_channels\]\] is an array of 1 table\(s\): name one entry, e\.g\. "
     r"--set qkd\.classical_channels\[0\]\.launch_power_dbm=\.\.\.$"),
    ("qkd.link[0].distance_km=3", r"\[qkd\.link\] is \{.*, not an array of tables; NAME\[N\] picks entry N"),
    ("qkd.eve[0].fraction=0.5", r"\[qkd\.eve\] is absent; NAME\[N\] picks entry N"),
])
def test_override_entry_errors(assignment, match):
    job = load_job(JOBS / "bb84_raman_coexistence.toml")
    with pytest.raises(ConfigError, match=match) as info:
        apply_overrides(job, [assignment])
    assert "\n" not in str(info.value)


def test_network_links():
    chain = load(qkd(link="distance_km = 7", network='topology = "chain"\nnum_nodes = 4'))
    assert chain.network_links() == [(0, 1, 7.0), (1, 2, 7.0), (2, 3, 7.0)]
    assert chain.distances_km() == [7.0, 7.0, 7.0]
    assert chain.network_links(distance_km=3) == [(0, 1, 3.0), (1, 2, 3.0), (2, 3, 3.0)]
    star = load(qkd(network='topology = "star"\nnum_nodes = 3\ndistances_km = [10, 20]'))
    assert star.network_links() == [(0, 1, 10.0), (0, 2, 20.0)]  # per-link distances win over [qkd.link]
    assert star.network_links(distance_km=3) == star.network_links()
    assert QkdNetworkSection(topology="chain", num_nodes=2).links() == [(0, 1)]
    assert QkdNetworkSection(topology="star", num_nodes=4).links() == [(0, 1), (0, 2), (0, 3)]
    single = load(qkd())
    assert single.network_links() == [(0, 1, 50.0)] and single.network_links(distance_km=0) == [(0, 1, 0.0)]


def test_network_links_of_a_sweep_need_a_distance():
    job = load(qkd(link=None, sweep="distances_km = [0, 50]"))
    assert job.distances_km() == [0.0, 50.0]
    assert [job.network_links(distance_km=d) for d in job.distances_km()] == [[(0, 1, 0.0)], [(0, 1, 50.0)]]
    with pytest.raises(ConfigError, match=r"QkdSection\.network_links: .*\[qkd\.link\]\.distance_km is not set"):
        job.network_links()


def test_sections_on_their_own():
    section = QkdSection(protocol="bbm92", link={"distance_km": 5})
    assert section.source.werner == 1.0 and section.distances_km() == [5.0]
    assert section.link == QkdLinkSection(distance_km=5.0)
    assert math.isclose(sum(QkdSection(link={"distance_km": 1}).source.probabilities), 1.0)
    with pytest.raises(ValueError, match="only used with protocol"):
        QkdSection(protocol="e91", source={"intensities": [0.5, 0.1], "probabilities": [0.5, 0.5]},
                   link={"distance_km": 1})


@pytest.mark.parametrize("correction", ["model", "cascade", "ldpc"])
def test_every_shipped_qkd_job_takes_each_error_correction_from_the_command_line(correction):
    """A shipped job sets no key that only one error correction uses, so a user's ``--set qkd.error_correction``
    (a comparison of reconciliations) works on every one (``bbm92_finite_key`` once set ``cascade_order``, and
    ``--set qkd.error_correction="model"`` was refused)."""
    for path in sorted(JOBS.glob("*.toml")):
        job = load_job(path)
        if isinstance(job, QkdJob):
            assert apply_overrides(job, [f'qkd.error_correction="{correction}"']).qkd.error_correction == correction


def test_repro_a_length_in_metres_is_a_warning_of_dqsim_check():
    """``distances_km = [0, 25000]`` (25 km typed in metres) was valid to ``dqsim check`` without a word: only the
    finished run's summary said the link passed no photon. Now every fibre of 1000 km or more is a warning line."""
    from dqsim.cli.check import check_job

    job = apply_overrides(load_job(JOBS / "bb84_distance_sweep.toml"), ["qkd.sweep.distances_km=[0, 25000]"])
    assert job.warnings() == [f"{job.source}: [qkd.sweep].distances_km[1] = 25000 km: 5000 dB of fibre loss, no "
                              "photon arrives; lengths are in km, not m"]
    assert apply_overrides(job, ["qkd.sweep.distances_km=[0, 999]"]).warnings() == []
    link = apply_overrides(load_job(JOBS / "bb84_decoy_50km.toml"), ["qkd.link.distance_km=50000"])
    assert [line.split(": ", 1)[1][:36] for line in link.warnings()] == ["[qkd.link].distance_km = 50000 km: 1"]
    lines = check_job(str(JOBS / "bb84_distance_sweep.toml"), ["qkd.sweep.distances_km=[0, 25000]"], 1)
    assert [line for line in lines if "lengths are in km" in line] == [f"# warning: {job.warnings()[0]}"]


def test_repro_an_inline_table_does_not_silently_drop_a_sections_keys():
    """``--set 'qkd.link={distance_km=5}'`` replaced the job's [qkd.link] table: its detector_efficiency = 0.8 and
    the others went back to their defaults without a word. Now refused, naming the keys and the one-key form."""
    job = load_job(JOBS / "bb84_distance_sweep.toml")
    with pytest.raises(ConfigError, match=r"^--set qkd\.link=\{distance_km=5\}: would replace the job's whole "
                                          r"\[qkd\.link\] table, dropping detector_efficiency, dark_count_rate_hz, "
                                          r"misalignment \(back to their defaults\); set one key with --set "
                                          r"qkd\.link\.distance_km=\.\.\., or drop the table first with --set "
                                          r"qkd\.link=$"):
        apply_overrides(job, ["qkd.link={distance_km=5}"])
    whole = "qkd.link={detector_efficiency=0.7, dark_count_rate_hz=1.0, misalignment=0.02}"
    assert apply_overrides(job, [whole]).qkd.link.detector_efficiency == 0.7  # every key given: a replacement
    default = QkdLinkSection.model_fields["detector_efficiency"].default
    assert apply_overrides(job, ["qkd.link=", "qkd.link={distance_km=5}"]).qkd.link.detector_efficiency == default
    assert apply_overrides(job, ["qkd.link.distance_km=5"]).qkd.link.detector_efficiency == 0.8
    eve = apply_overrides(job, ["qkd.eve={attack=\"intercept_resend\", fraction=0.5}"])  # no [qkd.eve] before
    assert eve.qkd.eve is not None
