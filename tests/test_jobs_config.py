"""Job files: validation, defaults, one-line errors naming the key, overrides, Pauli sums."""

import pytest
from pydantic import ValidationError

from dqsim.errors import ConfigError
from dqsim.circuit.pauli import parse_pauli_sum
from dqsim.jobs import CircuitJob, JobConfig, apply_overrides, check_observables, load_job
from job_helpers import bad, load

MINIMAL = """
[run]
name = "quickstart"

[circuit]
generator = "ghz"
num_qubits = 12
"""

FULL = """
[run]
name = "quickstart"
scenario = "circuit"
seed = 1234
output = "out/quick.h5"
backend = "numpy"
precision = "complex64"

[circuit]
generator = "random"
num_qubits = 12
depth = 20
measure = false

[simulation]
shots = 10
save_state = true
store_shots = true
observables = ["Z0 Z1", "0.5*X0 X1 - 0.25*Z2"]
exchange_chunk_mib = 64
max_gather_qubits = 20
"""


def with_circuit(circuit="generator = \"ghz\"\nnum_qubits = 4", simulation="", run=""):
    return f"[run]\nname = \"t\"\n{run}\n[circuit]\n{circuit}\n[simulation]\n{simulation}\n"


def test_minimal_job_and_defaults():
    job = load(MINIMAL)
    assert isinstance(job, CircuitJob) and isinstance(job, JobConfig)
    assert job.run.name == "quickstart" and job.run.scenario == "circuit"
    assert job.run.seed == 0 and job.run.output == "quickstart.h5"
    assert job.run.backend == "auto" and job.run.precision == "complex128"
    assert job.circuit.generator == "ghz" and job.circuit.num_qubits == 12
    assert job.circuit.measure is True and job.circuit.qasm is None and job.circuit.circuit_seed is None
    sim = job.simulation
    assert (sim.shots, sim.save_state, sim.store_shots, sim.observables) == (1000, False, False, [])
    assert (sim.exchange_chunk_mib, sim.max_gather_qubits) == (256, 24)
    assert job.text == MINIMAL and job.path is None and job.overrides == ()


def test_full_job():
    job = load(FULL)
    assert job.run.seed == 1234 and job.run.output == "out/quick.h5" and str(job.output_path) == "out/quick.h5"
    assert job.run.backend == "numpy" and job.run.precision == "complex64"
    assert job.circuit.depth == 20 and job.circuit.circuit_seed == 1234 and job.circuit.measure is False
    assert job.simulation.shots == 10 and job.simulation.store_shots
    assert job.simulation.parsed_observables()[1] == [(0.5, "XX", (0, 1)), (-0.25, "Z", (2,))]


def test_models_are_frozen():
    job = load(MINIMAL)
    with pytest.raises(ValidationError):
        job.simulation.shots = 5


def test_load_job_file_resolves_qasm_against_job_folder(tmp_path, monkeypatch):
    (tmp_path / "jobs" / "circuits").mkdir(parents=True)
    qasm = tmp_path / "jobs" / "circuits" / "random_12q.qasm"
    qasm.write_text("OPENQASM 2.0;\nqreg q[12];\n")
    job_file = tmp_path / "jobs" / "q.toml"
    text = '[run]\nname = "q"\n[circuit]\nqasm = "circuits/random_12q.qasm"\n[simulation]\nobservables = ["Z40"]\n'
    job_file.write_text(text)
    monkeypatch.chdir(tmp_path)  # the current directory does not matter for qasm
    job = load_job("jobs/q.toml")
    assert job.circuit.qasm == str(qasm) and job.path.name == "q.toml" and job.text == text
    assert job.run.output == "q.h5"  # output stays relative to the current directory
    with pytest.raises(ConfigError, match=r"jobs/q.toml: \[simulation\].observables\[0\] = \"Z40\": qubit 40"):
        check_observables(job.simulation.observables, 12, source=str(job.path))


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml: job file not found"):
        load_job(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_job(tmp_path)
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe[run]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_job(tmp_path / "bin.toml")


def test_repro_an_hdf5_file_given_as_the_job_names_the_command_that_reads_it(tmp_path):
    """``dqsim run out.h5`` (the run's output in place of its job) said only 'out.h5: not UTF-8 text (byte 0)'."""
    import h5py

    for name in ("out.h5", "sweep.1a2b3c4d.ckpt000-00000000000000000001.h5"):
        with h5py.File(tmp_path / name, "w") as handle:
            handle.attrs["x"] = 1
    with pytest.raises(ConfigError, match=r"out\.h5: an HDF5 file \(a run's output\?\), not a TOML job file: read it "
                                          r"with dqsim inspect .*out\.h5; its job is in its job_text attribute$"):
        load_job(tmp_path / "out.h5")
    with pytest.raises(ConfigError, match=r"ckpt000-00000000000000000001\.h5: an HDF5 file \(a checkpoint\), not a "
                                          r"TOML job file: continue its run with dqsim resume .*\.h5$"):
        load_job(tmp_path / "sweep.1a2b3c4d.ckpt000-00000000000000000001.h5")


def test_toml_syntax_error_names_the_line():
    message = bad("[run]\nname = \"t\"\nseed = = 3\n", r"TOML syntax error: .*line 3")
    assert "column" in message


@pytest.mark.parametrize("text, line", [
    ('[run]\nname = "abc\nseed = 1\n', 'line 2: a string is not closed (name = "abc): add its closing quote; '
                                        "Illegal character '\\n' (at line 2, column 12)"),
    ("[run]\nname = 'abc\nseed = 1\n", "line 2: a string is not closed (name = 'abc): add its closing quote; "),
    ('[run]\nname = "t" # it\'s\nseed = 1\nscenario = "circuit\n', "line 4: a string is not closed (scenario = "
                                                                 '"circuit): add its closing quote; '),
])
def test_repro_an_unclosed_string_is_named_as_such(text, line):
    """userwalk3 D8: an unclosed string read ``TOML syntax error: Illegal character '\\n' (at line 2, column 10)``,
    which says nothing of a string."""
    message = bad(text, r"TOML syntax error: ")
    assert f"TOML syntax error: {line}" in message and "\n" not in message, message


def test_a_syntax_error_that_is_no_open_string_gets_no_string_words():
    message = bad('[run]\nname = "t"\nseed = = 3\n', r"TOML syntax error: ")
    assert "not closed" not in message, message


@pytest.mark.parametrize("text, match", [
    (with_circuit("generator = \"ghz\"\nnum_qubits = -3"),
     r"\[circuit\]\.num_qubits = -3: must be >= 1 \(allowed 1\.\.40\)$"),
    (with_circuit("generator = \"qft\"\nnum_qubits = 41"), r"\[circuit\]\.num_qubits = 41: must be <= 40"),
    (with_circuit("generator = \"random\"\nnum_qubits = 4\ndepth = 0"), r"\[circuit\]\.depth = 0: must be >= 1"),
    (with_circuit(simulation="shots = 100000001"), r"\[simulation\]\.shots = 100000001: must be <= 100000000"),
    (with_circuit(simulation="exchange_chunk_mib = 2048"),
     r"\[simulation\]\.exchange_chunk_mib = 2048: must be <= 2047 \(allowed 1\.\.2047\)"),
    (with_circuit(simulation="max_gather_qubits = 35"), r"\[simulation\]\.max_gather_qubits = 35"),
    (with_circuit(run="seed = -1"), r"\[run\]\.seed = -1: must be >= 0"),
    # test_repro: a seed of 2**64 passed validation and the run ended in a traceback writing its output
    (with_circuit(run="seed = 18446744073709551616"),
     r"\[run\]\.seed = 18446744073709551616: must be <= 18446744073709551615"),
    (with_circuit("generator = \"random\"\nnum_qubits = 4\ncircuit_seed = 18446744073709551616"),
     r"\[circuit\]\.circuit_seed = 18446744073709551616: must be <= 18446744073709551615"),
])
def test_out_of_range(text, match):
    bad(text, match)


@pytest.mark.parametrize("text, match", [
    (with_circuit(simulation="shots = \"ten\""), r"\[simulation\]\.shots: expected an integer, got \"ten\""),
    (with_circuit(simulation="shots = 10.0"), r"\[simulation\]\.shots: expected an integer, got 10\.0"),
    (with_circuit(simulation="shots = true"), r"\[simulation\]\.shots: expected an integer, got true"),
    (with_circuit(simulation="save_state = 1"), r"\[simulation\]\.save_state: expected true or false, got 1"),
    (with_circuit(simulation="observables = \"Z0\""), r"\[simulation\]\.observables: expected an array"),
    (with_circuit(simulation="observables = [1]"), r"\[simulation\]\.observables\[0\]: expected a string, got 1"),
    (with_circuit(run="seed = \"7\""), r"\[run\]\.seed: expected an integer, got \"7\""),
    ("[run]\nname = 5\n[circuit]\ngenerator = \"ghz\"\nnum_qubits = 2", r"\[run\]\.name: expected a string"),
    ("run = 3", r"\[run\]: expected a table, got 3"),
    ("[run]\nname = \"t\"\ncircuit = 3", r"unknown key \[run\]\.circuit"),
])
def test_wrong_type(text, match):
    bad(text, match)


@pytest.mark.parametrize("text, match", [
    (with_circuit(run="backend = \"gpu\""), r"\[run\]\.backend = \"gpu\": must be one of \"auto\", \"numpy\", \"cupy\""),
    (with_circuit(run="precision = \"float32\""), r"\[run\]\.precision = \"float32\": must be one of"),
    (with_circuit(run="scenario = \"teleport\""), r"\[run\]\.scenario = \"teleport\": must be one of \"circuit\""),
    (with_circuit("generator = \"bell\"\nnum_qubits = 2"), r"\[circuit\]\.generator = \"bell\": must be one of"),
    ("[run]\nname = \"a b\"\n[circuit]\ngenerator = \"ghz\"\nnum_qubits = 2", r"\[run\]\.name = \"a b\": must be"),
])
def test_bad_choice(text, match):
    bad(text, match)


def test_unknown_keys_and_sections_list_the_allowed_ones():
    message = bad(with_circuit(simulation="shot = 3"), r"unknown key \[simulation\]\.shot; allowed keys: shots, ")
    assert "save_state" in message and "did you mean shots?" in message
    message = bad(MINIMAL + "[simulations]\nshots = 1\n",
                  r"unknown section \[simulations\]; allowed sections: run, checkpoint, circuit, simulation")
    # a circuit job (no [run].scenario) with a [network]: the sections are a dqc job's
    bad(MINIMAL + "[network]\n", r'no section \[network\]; these sections are those of scenario "dqc": add scenario')
    bad(with_circuit("generator = \"ghz\"\nnum_qubits = 2\nqubits = 3"), r"unknown key \[circuit\]\.qubits")


def test_missing_sections_and_keys():
    bad("[circuit]\ngenerator = \"ghz\"\nnum_qubits = 2", r"missing section \[run\]$")
    bad("[run]\nname = \"t\"\n", r"missing section \[circuit\]$")
    bad("[run]\n[circuit]\ngenerator = \"ghz\"\nnum_qubits = 2", r"missing key \[run\]\.name$")
    bad(with_circuit("generator = \"ghz\""), r"missing key \[circuit\]\.num_qubits \(1\.\.40; required with generator")
    bad(with_circuit("measure = true"), r"\[circuit\]: missing key generator or qasm")


def test_circuit_source_rules(tmp_path):
    (tmp_path / "c.qasm").write_text("OPENQASM 2.0;\n")
    bad(with_circuit("generator = \"ghz\"\nnum_qubits = 2\nqasm = \"c.qasm\""),
        r"\[circuit\]\.qasm = .*: give exactly one of generator or qasm", base_dir=tmp_path)
    bad(with_circuit("qasm = \"missing.qasm\""),
        r"\[circuit\]\.qasm = \"missing.qasm\": file not found \(looked for .*missing.qasm\)", base_dir=tmp_path)
    bad(with_circuit("qasm = \"c.qasm\"\nnum_qubits = 3"), r"\[circuit\]\.num_qubits = 3: only used with generator",
        base_dir=tmp_path)
    bad(with_circuit("generator = \"ghz\"\nnum_qubits = 2\ndepth = 3"),
        r"\[circuit\]\.depth = 3: only used with generator = \"random\"")
    bad(with_circuit("generator = \"qft\"\nnum_qubits = 2\ncircuit_seed = 3"), r"\[circuit\]\.circuit_seed = 3")
    job = load(with_circuit("qasm = \"c.qasm\""), base_dir=tmp_path)
    assert job.circuit.qasm == str(tmp_path / "c.qasm") and job.circuit.num_qubits is None


def test_circuit_seed_defaults_to_run_seed():
    job = load(with_circuit("generator = \"random\"\nnum_qubits = 3", run="seed = 99"))
    assert job.circuit.circuit_seed == 99
    job = load(with_circuit("generator = \"random\"\nnum_qubits = 3\ncircuit_seed = 5", run="seed = 99"))
    assert job.circuit.circuit_seed == 5


def test_observables_are_checked():
    bad(with_circuit(simulation="observables = [\"Z0 Z4\"]"),
        r"\[simulation\]\.observables\[0\] = \"Z0 Z4\": qubit 4 is outside 0\.\.3 \(the circuit has 4 qubits\)")
    bad(with_circuit(simulation="observables = [\"Z0\", \"X1 X1\"]"),
        r"\[simulation\]\.observables\[1\] = \"X1 X1\": qubit 1 appears twice")
    bad(with_circuit(simulation="observables = [\"Q1\"]"), r"\[simulation\]\.observables\[0\] = \"Q1\": bad Pauli letter")
    check_observables(["Z0 Z1", "1.5"], 2)
    with pytest.raises(ConfigError, match=r"^\[simulation\]\.observables\[0\] = \"I7\": qubit 7"):
        check_observables(["I7"], 2)


def test_several_problems_are_counted_on_one_line():
    message = bad(with_circuit(simulation="shots = -1\nmax_gather_qubits = 0"), r"\[simulation\]\.shots = -1")
    assert message.endswith("(and 1 more problem: dqsim check lists them)")


def test_overrides():
    job = load(FULL)
    new = apply_overrides(job, ["simulation.shots=10000", "circuit.num_qubits=8", "run.seed = 5",
                                "run.name=big", "simulation.observables=[\"X0\"]", "run.backend=\"cupy\""])
    assert new.simulation.shots == 10000 and new.circuit.num_qubits == 8 and new.run.seed == 5
    assert new.run.name == "big" and new.simulation.observables == ["X0"] and new.run.backend == "cupy"
    assert new.run.output == "out/quick.h5"  # given explicitly, so kept
    assert new.circuit.circuit_seed == 5  # default recomputed from the new seed
    assert new.text == job.text and new.overrides[0] == "simulation.shots=10000"
    assert job.simulation.shots == 10  # the original is unchanged
    # an empty value removes a key (back to its default)
    assert apply_overrides(job, ["circuit.depth="]).circuit.depth == 10
    assert apply_overrides(load(MINIMAL), ["run.name=other"]).run.output == "other.h5"


def test_override_qasm_is_relative_to_current_directory(tmp_path, monkeypatch):
    (tmp_path / "c.qasm").write_text("OPENQASM 2.0;\n")
    monkeypatch.chdir(tmp_path)
    job = apply_overrides(load(MINIMAL), ["circuit.generator=", "circuit.num_qubits=", "circuit.qasm=c.qasm"])
    assert job.circuit.qasm == str(tmp_path / "c.qasm") and job.circuit.generator is None


@pytest.mark.parametrize("assignment, match", [
    ("simulation.shots=ten", r"\(with --set simulation.shots=ten\): \[simulation\]\.shots: expected an integer"),
    ("circuit.num_qubits=0", r"\[circuit\]\.num_qubits = 0: must be >= 1"),
    ("simulation.shot=3", r"unknown key \[simulation\]\.shot"),
    ("network.x=1", r'no section \[network\]; these sections are those of scenario "dqc"'),
    ("shots=3", r"--set shots=3: key 'shots' must be SECTION\.KEY"),
    ("simulation.shots", r"--set simulation.shots: expected SECTION\.KEY=VALUE"),
    ("run.name.x=1", r"\[run\]\.name is \"quickstart\", not a table"),
    ("simulation.observables=[\"Z12\"]", r"\[simulation\]\.observables\[0\] = \"Z12\": qubit 12"),
    # an unclosed array or string is not taken as a bare word (it said "expected an array, got \"[\"Z0\"\"")
    ("simulation.observables=[\"Z0\"", r"--set simulation\.observables=\[\"Z0\": \[\"Z0\" is not a TOML value .*"
                                        r"write an array as \[0, 25\]"),
    ("run.name=\"big", r"--set run\.name=\"big: \"big is not a TOML value"),
    # a comma-separated word where an array belongs is shown in brackets (it said only: expected an array)
    ("simulation.observables=Z0,Z1", r"\[simulation\]\.observables: expected an array, got \"Z0,Z1\" \(an array is "
                                     r"written in brackets: \[\"Z0\", \"Z1\"\]; with --set quote it for the shell: "
                                     r"'KEY=\[\"Z0\", \"Z1\"\]'\)$"),
])
def test_override_errors(assignment, match):
    with pytest.raises(ConfigError, match=match) as info:
        apply_overrides(load(MINIMAL), [assignment])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, expected", [
    ("0.5*X0 X1 - Z2", [(0.5, "XX", (0, 1)), (-1.0, "Z", (2,))]),
    ("Z0 Z1", [(1.0, "ZZ", (0, 1))]),
    ("-Y3", [(-1.0, "Y", (3,))]),
    ("1e-3*Z0*Z1 + 2.5E+1*X12", [(0.001, "ZZ", (0, 1)), (25.0, "X", (12,))]),
    ("0.5*X0 X1 - 0.25*Z2", [(0.5, "XX", (0, 1)), (-0.25, "Z", (2,))]),
    ("1.5 - .5*Z0", [(1.5, "", ()), (-0.5, "Z", (0,))]),
    ("I0 Z1", [(1.0, "Z", (1,))]),
    ("  X0   +  X1 ", [(1.0, "X", (0,)), (1.0, "X", (1,))]),
])
def test_pauli_sum_parser(text, expected):
    assert parse_pauli_sum(text) == expected


@pytest.mark.parametrize("text, match", [
    ("X0 X0", "qubit 0 appears twice"),
    ("Z0 I0", "qubit 0 appears twice"),
    ("A0", "bad Pauli letter 'A'"),
    ("x0", "bad Pauli letter 'x'"),
    ("X", "has no qubit index"),
    ("0.5*", r"expected Pauli factors like X0 after '\*'"),
    ("2X0", r"expected '\*' between coefficient 2 and X0"),
    ("Z0 +", "a term is missing after the last sign"),
    ("Z0 Z1 3", "expected \\+ or - before '3'"),
    ("Z0 & Z1", "unexpected character '&'"),
    ("", "empty"),
    ("1e400*Z0", "not finite"),
    ("Z0 - - Z1", "expected a term"),
])
def test_pauli_sum_errors(text, match):
    with pytest.raises(ConfigError, match=match) as info:
        parse_pauli_sum(text)
    assert str(info.value).startswith("Pauli sum ") and "\n" not in str(info.value)



@pytest.mark.parametrize("sections, match", [
    ('[qkd]\n[qkd.link]\ndistance_km = 5.0\n', r'no section \[qkd\]; these sections are those of scenario "qkd": '
     r'add scenario = "qkd" to \[run\]$'),
    ('[chain]\nnum_links = [1]\ntotal_distance_km = [10.0]\n', r'no section \[chain\]; these sections are those of '
     r'scenario "repeater": add scenario = "repeater" to \[run\]$'),
    ('[network]\ntopology = "line"\nnum_nodes = 2\n[network.link]\ndistance_km = 1.0\n',
     r'no section \[network\]; these sections are those of scenario "dqc", "trotter", "cloud": add scenario = one of '
     r'"dqc", "trotter", "cloud" to \[run\]$'),
])
def test_repro_a_job_without_its_scenario_names_the_scenario(sections, match):
    """A job whose [run] lacks scenario = ... is a circuit job: its own sections were each refused as unknown
    ("missing section [circuit]" first), now one line says which scenario they belong to."""
    message = bad(f'[run]\nname = "t"\n{sections}', r'\[run\]\.scenario is not set, so this is a "circuit" job, '
                  r"which has " + match)
    assert "(and" not in message


def test_a_misspelt_scenario_key_is_named():
    bad('[run]\nname = "t"\nscenarios = "qkd"\n[qkd]\n[qkd.link]\ndistance_km = 5.0\n',
        r"\[run\]\.scenario is not set \(\[run\]\.scenarios is not a key: a misspelling\?\), so this is a "
        r'"circuit" job')
    # a circuit job's own sections keep the usual message
    bad('[run]\nname = "t"\nscenarios = "circuit"\n[circuit]\ngenerator = "ghz"\nnum_qubits = 2\n',
        r"unknown key \[run\]\.scenarios; .*did you mean scenario\?$")
    # a section of no scenario keeps the usual message too
    bad('[run]\nname = "t"\n[qkd]\n[nonsense]\n', r"missing section \[circuit\]")


@pytest.mark.parametrize("value, match", [
    ("1e300", r"\[checkpoint\]\.every_sim_s = 1e\+300: must be in \[1e-12, 1_000_000\]$"),  # was an OverflowError
    ("nan", r"\[checkpoint\]\.every_sim_s = nan: must be a finite number in \[1e-12, 1_000_000\]$"),
    ("1e-13", r"\[checkpoint\]\.every_sim_s = 1e-13: must be in \[1e-12, 1_000_000\]$"),
])
def test_repro_a_checkpoint_period_beyond_the_clock_is_refused(value, match):
    """``every_sim_s = 1e300`` loaded, then the run ended in an OverflowError traceback converting it to ps."""
    bad(f'[run]\nname = "t"\nscenario = "qkd"\n[qkd.link]\ndistance_km = 1.0\n[checkpoint]\nevery_sim_s = {value}\n',
        match)
    job = load('[run]\nname = "t"\nscenario = "qkd"\n[qkd.link]\ndistance_km = 1.0\n[checkpoint]\nevery_sim_s = 1\n')
    assert job.checkpoint.every_sim_s == 1.0



@pytest.mark.parametrize("text, match", [
    ('[run]\nname = "t"\nscenario = "qkd"\n[qkd.link]\ndistance_km = "10km"\n',
     r'\[qkd\.link\]\.distance_km: expected a number, got "10km" \(write 10 without "km": the key\'s name carries its '
     r"unit\)$"),
    ('[run]\nname = "t"\nscenario = "qkd"\n[qkd.link]\ndistance_km = 5\n[qkd.source]\nsource_rate_hz = "1e9 Hz"\n',
     r'source_rate_hz: expected a number, got "1e9 Hz" \(write 1e9 without "Hz": '),
    ('[run]\nname = "t"\nscenario = "dqc"\n[circuit]\ngenerator = "ghz"\nnum_qubits = 2\n[network]\n'
     'topology = "line"\nnum_nodes = 2\n[network.link]\ndistance_km = "0.5 km"\n[network.node]\nnum_data_qubits = 1\n',
     r'\[network\.link\]\.distance_km = "0\.5 km": must be a real number in \[0, inf\) \(write 0\.5 without "km": '),
    ('[run]\nname = "t"\nscenario = "qkd"\n[qkd.sweep]\ndistances_km = [0, "25km"]\n',
     r'\[qkd\.sweep\]\.distances_km\[1\]: expected a number, got "25km" \(write 25 without "km"'),
])
def test_a_number_with_its_unit_says_to_drop_the_unit(text, match):
    """``distance_km = "10km"`` said only "expected a number, got "10km""; the line now says what to write."""
    bad(text, match)


def test_a_word_is_no_number_with_a_unit():
    message = bad('[run]\nname = "t"\nscenario = "qkd"\n[qkd.link]\ndistance_km = "far"\n',
                  r'expected a number, got "far"$')
    assert "without" not in message
