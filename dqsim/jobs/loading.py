"""Reading job files: TOML text validated into the scenario's job model, and ``--set`` overrides.

:func:`load_job` reads a file, :func:`load_job_text` a string; ``[run].scenario``
picks the model from :data:`dqsim.jobs.registry.JOB_MODELS`. Every model forbids
unknown keys and checks types strictly (TOML is typed: ``shots = "10"`` is an
error, not 10). Every problem becomes one :class:`~dqsim.errors.ConfigError`
line naming the file, the key, the value and what is allowed
(:mod:`dqsim.jobs.errors`)::

    jobs/x.toml: [network.link].distance_km = -1.0: must be in [0, inf)
    jobs/x.toml: [simulation].shots: expected an integer, got "ten"
    jobs/x.toml: TOML syntax error: Expected '=' after a key ... (at line 3, column 7)

:func:`apply_overrides` applies ``SECTION.KEY=VALUE`` assignments (``dqsim run --set``)
and validates again.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Iterable, Iterator

from pydantic import ValidationError

from dqsim.errors import ConfigError, toml_repr
from dqsim.jobs.base import RunSection
from dqsim.jobs.errors import NESTED_TABLES, config_error, format_key, one_of
from dqsim.jobs.file_hash import file_sha256
from dqsim.jobs.registry import JOB_MODELS, Job

__all__ = ["load_job", "load_job_text", "apply_overrides", "override_value", "overrides_from_job",
           "overrides_relative_to", "relative_inside", "input_file_hashes", "file_sha256", "MAX_NESTING"]

#: Keys whose value is a file the job reads (resolved to an absolute path when the job is loaded): a circuit's
#: QASM, a network's edge list (since 2026-12-07 (morning)).
INPUT_FILE_KEYS = ("qasm", "edges_file")


def _validate(data: dict, *, source: str, base_dir: Path) -> Job:
    """Pick the scenario's model (:data:`~dqsim.jobs.registry.JOB_MODELS`) and validate ``data`` with it."""
    run = data.get("run")
    if run is None:
        raise ConfigError(f"{source}: missing section [run]")
    if not isinstance(run, dict):
        raise ConfigError(f"{source}: [run]: expected a table, got {toml_repr(run)}")
    scenario = run.get("scenario", RunSection.model_fields["scenario"].default)
    if not isinstance(scenario, str) or scenario not in JOB_MODELS:  # a list or table is not hashable
        if not isinstance(scenario, str):
            raise ConfigError(f"{source}: [run].scenario: expected a string, got {toml_repr(scenario)}")
        raise ConfigError(f"{source}: [run].scenario = {toml_repr(scenario)}: "
                          f"must be one of {one_of(JOB_MODELS)}")
    model = JOB_MODELS[scenario]
    if "scenario" not in run:
        _check_default_scenario(data, run, source)
    try:
        return model.model_validate(data, context={"base_dir": str(base_dir)})
    except ValidationError as exc:
        raise config_error(source, model, exc) from None


def _check_default_scenario(data: dict, run: dict, source: str) -> None:
    """A job without ``[run].scenario`` is a ``circuit`` job: when its sections are another scenario's,
    say so in one line (rather than "missing section [circuit]" and an unknown section for each of them)."""
    default = RunSection.model_fields["scenario"].default
    foreign = [name for name in data if name not in JOB_MODELS[default].model_fields]
    if not foreign:
        return
    fitting = [name for name, model in JOB_MODELS.items() if all(section in model.model_fields for section in data)]
    if not fitting:
        return  # an unknown section: the model's own message names it
    misspelt = difflib.get_close_matches("scenario", [str(key) for key in run], n=1)
    hint = f" ([run].{misspelt[0]} is not a key: a misspelling?)" if misspelt else ""
    sections = " or ".join(f"[{name}]" for name in foreign)
    add = (f'add scenario = {toml_repr(fitting[0])} to [run]' if len(fitting) == 1
           else f"add scenario = one of {one_of(fitting)} to [run]")
    raise ConfigError(f"{source}: [run].scenario is not set{hint}, so this is a {toml_repr(default)} job, which has "
                      f"no section {sections}; these sections are those of scenario {one_of(fitting)}: {add}")


#: tomllib's messages for a string that runs to the end of its line or of the file.
_UNCLOSED_MESSAGES = ("Illegal character '\\n'", "Unterminated string", "Expected \"'\"", "Expected '\"'")


def _unclosed_string_words(text: str, message: str) -> str:
    """``line N: a string is not closed (NAME = "abc); `` where tomllib's ``message`` is one a string left open
    gives (``Illegal character '\\n'``, which said nothing of a string before 2026-12-07 (late night): userwalk3 D8)
    and :func:`unclosed_string_line` finds it; else ``""``.

    Examples:
        >>> _unclosed_string_words('name = "abc\\nseed = 1\\n', "Illegal character '\\\\n' (at line 1, column 12)")
        'line 1: a string is not closed (name = "abc): add its closing quote; '
    """
    if not message.startswith(_UNCLOSED_MESSAGES):
        return ""
    found = unclosed_string_line(text)
    if found is None:
        return ""
    number, line = found
    return f"line {number}: a string is not closed ({line.strip()[:80]}): add its closing quote; "


def unclosed_string_line(text: str) -> tuple[int, str] | None:
    """``(line number, line)`` of the first string in TOML ``text`` that is not closed (a basic or literal string
    that reaches the end of its line, a multi-line one the end of the text), or ``None``; comments skipped.

    Examples:
        >>> unclosed_string_line("a = 'x' # the 'x\\nb = 'y\\n")
        (2, "b = 'y")
        >>> unclosed_string_line("a = '''x\\n'y'\\n'''\\nb = 'z'\\n") is None
        True
    """
    lines = text.split("\n")
    open_multi: tuple[str, int] | None = None  # (delimiter, line it opened on)
    for number, line in enumerate(lines, start=1):
        i = 0
        while i < len(line):
            if open_multi is not None:
                end = line.find(open_multi[0], i)
                if end < 0:
                    break
                i, open_multi = end + 3, None
                continue
            char = line[i]
            if char == "#":
                break
            if line.startswith(('"""', "'''"), i):
                open_multi, i = (line[i:i + 3], number), i + 3
                continue
            if char in "\"'":
                j = i + 1
                while j < len(line) and line[j] != char:
                    j += 2 if char == '"' and line[j] == "\\" else 1
                if j >= len(line):
                    return number, line
                i = j + 1
                continue
            i += 1
    if open_multi is not None:
        return open_multi[1], lines[open_multi[1] - 1]
    return None


#: Deepest nesting of tables and arrays a job file may have (real jobs use 3 or 4).
MAX_NESTING = 16


def _parse_toml(text: str, source: str) -> dict:
    """Parse a job's TOML; a leading UTF-8 byte-order mark is accepted (editors on Windows write one)."""
    text = text.removeprefix("\ufeff")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: TOML syntax error: {_unclosed_string_words(text, str(exc))}{exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: arrays or tables nested too deeply (at most {MAX_NESTING} levels)") from None
    _check_nesting(data, source)
    return data


def _check_nesting(data: dict, source: str) -> None:
    """Refuse values nested deeper than :data:`MAX_NESTING` (walked without recursion)."""
    pending = [(data, 1, "")]
    while pending:
        value, depth, where = pending.pop()
        if depth > MAX_NESTING:
            raise ConfigError(f"{source}: {where or 'the file'} is nested {depth} levels deep; "
                              f"allowed at most {MAX_NESTING}")
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            if isinstance(item, (dict, list)):
                pending.append((item, depth + 1, (f"{where}.{key}" if where else key) if isinstance(key, str)
                                else f"{where}[{key}]"))


def load_job_text(text: str, *, source: str = "<string>", base_dir: str | os.PathLike = ".",
                  path: str | os.PathLike | None = None) -> Job:
    """Validate a job given as TOML text.

    Args:
        text: the job file's contents.
        source: name used as the prefix of error messages.
        base_dir: folder against which relative paths in the job resolve
            (``[circuit].qasm``).
        path: the job file the text came from, kept as ``job.path`` (not read;
            ``dqsim resume`` passes the one stored in the checkpoint).

    Returns:
        The validated job: an instance of the scenario's :class:`JobConfig` subclass.

    Raises:
        ConfigError: one line naming the key, its value and what is allowed.

    Examples:
        >>> load_job_text('[run]\\nname = "x"\\n[circuit]\\ngenerator = "qft"\\nnum_qubits = 50')
        Traceback (most recent call last):
        ...
        dqsim.errors.ConfigError: <string>: [circuit].num_qubits = 50: must be <= 40 (allowed 1..40)
    """
    return _load(text, source=source, base_dir=base_dir, path=Path(path) if path else None)


def _load(text: str, *, source: str, base_dir: str | os.PathLike, path: Path | None) -> Job:
    data = _parse_toml(text, source)
    job = _validate(data, source=source, base_dir=Path(base_dir))
    job.remember_origin(text=text, source=source, base_dir=Path(os.path.abspath(base_dir)), raw=data, path=path)
    return job


def load_job(path: str | os.PathLike, overrides: Iterable[str] = ()) -> Job:
    """Read and validate a job file, with ``--set`` assignments applied before it is validated.

    Relative paths inside the file (``[circuit].qasm``) resolve against the
    file's folder; ``[run].output`` stays relative to the current directory.
    The job is validated once, with the ``overrides`` applied (as
    :func:`apply_overrides` applies them), so an assignment can replace a value
    the file alone would be refused for (``--set network.num_nodes=64`` on a file
    with 100000; until 2026-12-06 the file's value was refused first).

    Args:
        path: the TOML job file.
        overrides: ``SECTION.KEY=VALUE`` assignments (``dqsim run --set``).

    Returns:
        The validated job, with ``job.text`` (the file's text) and ``job.path``.

    Raises:
        ConfigError: the file is missing or unreadable, is not valid TOML, or
            a key is unknown, missing, of the wrong type or out of range.
    """
    source = str(path)
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: job file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{source}: is a folder, not a job file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(_not_text(file, source, exc.start)) from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the job file ({exc.strerror or exc})") from None
    overrides = list(overrides)
    if not overrides:
        return _load(text, source=source, base_dir=file.parent, path=file)
    data = _parse_toml(text, source)
    recorded = _override(data, overrides)
    job = _validate(data, source=_source_with(source, overrides), base_dir=file.parent)
    job.remember_origin(text=text, source=source, base_dir=Path(os.path.abspath(file.parent)), raw=data, path=file,
                        overrides=tuple(recorded))
    return job


#: The first 8 bytes of every HDF5 file (the HDF5 File Format Specification, "Format Signature").
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _not_text(file: Path, source: str, start: int) -> str:
    """The one line for a job file that is not UTF-8 text; an HDF5 file (a run's output, a checkpoint) is named so.

    A user hands ``dqsim run`` the output of a run or a checkpoint in place of its job: say which command reads it.
    """
    try:
        with open(file, "rb") as handle:
            head = handle.read(len(_HDF5_SIGNATURE))
    except OSError:
        head = b""
    if head != _HDF5_SIGNATURE:
        return f"{source}: not UTF-8 text (byte {start}); a job file is TOML text"
    if ".ckpt" in file.name:
        return (f"{source}: an HDF5 file (a checkpoint), not a TOML job file: continue its run with dqsim resume "
                f"{source}")
    return (f"{source}: an HDF5 file (a run's output?), not a TOML job file: read it with dqsim inspect {source}; "
            "its job is in its job_text attribute")


#: Keys whose relative paths resolve against the job file's folder; given
#: through ``--set`` they resolve against the current directory instead.
_JOB_RELATIVE_PATH_KEYS = {("circuit", "qasm"), ("network", "edges_file")}


_REMOVE = object()  # marks an override that deletes its key
#: First characters of a --set value that can only be meant as TOML (an array, a table, a quoted string).
_TOML_OPENERS = ("[", "{", '"', "'")


def _parse_override(assignment: str) -> tuple[list[str], Any]:
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment}: expected SECTION.KEY=VALUE, e.g. simulation.shots=10")
    key, value_text = assignment.split("=", 1)
    key, value_text = key.strip(), value_text.strip()
    parts = [p.strip() for p in key.split(".")]
    if len(parts) < 2 or not all(parts):
        raise ConfigError(f"--set {assignment}: key {key!r} must be SECTION.KEY, e.g. simulation.shots")
    if not value_text:
        return parts, _REMOVE
    try:
        value = tomllib.loads(f"value = {value_text}")["value"]
    except tomllib.TOMLDecodeError as exc:
        if value_text[0] in _TOML_OPENERS:
            raise ConfigError(f"--set {assignment}: {value_text} is not a TOML value ({exc}); write an array as "
                              f"[0, 25], a table as {{x = 1}}, a string as '\"text\"' (quote the whole --set "
                              f"for the shell: --set '{key}=[...]')") from None
        value = value_text  # a bare word: take it as a string
    except RecursionError:
        raise ConfigError(f"--set {assignment}: nested too deeply (at most {MAX_NESTING} levels)") from None
    _check_nesting({"value": value}, f"--set {assignment}")
    return parts, value


def override_value(assignment: str) -> tuple[str, Any]:
    """The key and value of one ``--set SECTION.KEY=VALUE`` assignment, as :func:`apply_overrides` reads it.

    Returns:
        ``("section.key", value)``; value None for an empty value (the key goes back to its default).

    Raises:
        ConfigError: a malformed assignment.

    Examples:
        >>> override_value("qkd.sweep.distances_km=[25]"), override_value("run.name=big")
        (('qkd.sweep.distances_km', [25]), ('run.name', 'big'))
    """
    parts, value = _parse_override(assignment)
    return ".".join(parts), None if value is _REMOVE else value


_ENTRY = re.compile(r"(?P<name>[^\[\]]+)\[(?P<index>\d+)\]")


def _override_child(table: dict, parts: list[str], depth: int, assignment: str) -> dict:
    """The table ``parts[depth]`` of ``table`` for an override, made if absent; ``name[i]`` is entry i of an array.

    Raises:
        ConfigError: the key holds a value that is not a table, an array of tables is named without
            an entry index, or the index is past the array's end.
    """
    part = parts[depth]
    entry = _ENTRY.fullmatch(part)
    if entry is not None:
        name, index = entry.group("name"), int(entry.group("index"))
        entries = table.get(name)
        where = "[[" + ".".join([*parts[:depth], name]) + "]]"
        if not isinstance(entries, list):
            where = "[" + ".".join([*parts[:depth], name]) + "]"
            held = "absent" if entries is None else f"{toml_repr(entries)}, not an array of tables"
            raise ConfigError(f"--set {assignment}: {where} is {held}; NAME[N] picks entry N of an array "
                              f"of tables ([[...]] in the job file)")
        if index >= len(entries) or not isinstance(entries[index], dict):
            raise ConfigError(f"--set {assignment}: {where} has {len(entries)} entries (indices "
                              f"0..{len(entries) - 1}), got index {index}; add entries in the job file")
        return entries[index]
    child = table.setdefault(part, {})
    if isinstance(child, list) and child and all(isinstance(item, dict) for item in child):
        rest = parts[depth + 1:]
        index, rest = (rest[0], rest[1:]) if rest[0].isdigit() else ("0", rest)
        example = ".".join([*parts[:depth], f"{part}[{index}]", *rest])
        raise ConfigError(f"--set {assignment}: [[{'.'.join(parts[:depth + 1])}]] is an array of "
                          f"{len(child)} table(s): name one entry, e.g. --set {example}=...")
    if not isinstance(child, dict):
        raise ConfigError(f"--set {assignment}: {format_key(parts[:depth + 1])} "
                          f"is {toml_repr(child)}, not a table")
    return child


def apply_overrides(job: Job, assignments: Iterable[str], *, paths_from_job: bool = False) -> Job:
    """Return a copy of ``job`` with ``SECTION.KEY=VALUE`` assignments applied and revalidated.

    Values are TOML values (``10``, ``true``, ``"text"``, ``["Z0", "X1"]``);
    a value that is not valid TOML is taken as a string, so ``run.name=big``
    works (one opening with ``[``, ``{`` or a quote is refused instead: a typo in an
    array, table or string; an inline table in place of a table header that would
    drop some of its keys is refused too), and an empty value removes the key (back to its default), so
    ``circuit.generator= circuit.num_qubits= circuit.qasm=c.qasm`` switches a
    generated circuit to a QASM file. ``NAME[N]`` in the key is entry N (from 0) of an array of
    tables: ``qkd.classical_channels[0].launch_power_dbm=3``. A relative ``circuit.qasm`` given here resolves against the current
    directory, not the job file's folder (with ``paths_from_job``: against the job's folder, as
    :func:`overrides_from_job` records it). Defaults that depend on other keys
    (``[run].output``, ``[circuit].circuit_seed``) are recomputed.

    Args:
        job: a loaded job.
        assignments: e.g. ``["simulation.shots=10", "circuit.num_qubits=8"]``.
        paths_from_job: relative ``circuit.qasm`` values are relative to ``job.base_dir`` (recorded overrides
            read back: ``dqsim resume``, ``--skip-finished``).

    Returns:
        A new validated job; ``job`` is unchanged. ``text`` and ``path`` are kept,
        and ``overrides`` lists every assignment applied so far, a ``circuit.qasm``
        one with the file's absolute path (as it resolved).

    Raises:
        ConfigError: a malformed assignment, or a value the job rejects, in the
            same one-line format as :func:`load_job`.

    Examples:
        >>> job = load_job_text('[run]\\nname = "a"\\n[circuit]\\ngenerator = "ghz"\\nnum_qubits = 4')
        >>> apply_overrides(job, ["circuit.num_qubits=80"])
        Traceback (most recent call last):
        ...
        dqsim.errors.ConfigError: <string> (with --set circuit.num_qubits=80): [circuit].num_qubits = 80: must be <= 40 (allowed 1..40)
    """
    assignments = list(assignments)
    data = job.raw
    recorded = _override(data, assignments, paths_from=job.base_dir if paths_from_job else None)
    new = _validate(data, source=_source_with(job.source, assignments), base_dir=job.base_dir)
    new.remember_origin(text=job.text, source=job.source, base_dir=job.base_dir, raw=data, path=job.path,
                        overrides=job.overrides + tuple(recorded))
    return new


def overrides_from_job(job: Job) -> list[str]:
    """``job.overrides`` as a run records them for a project folder that may move (``overrides_from_job`` beside
    ``overrides`` in checkpoints and outputs, since 2026-12-07): a ``circuit.qasm`` assignment names its file
    relative to the job file's folder where the file lies inside it, by its absolute path otherwise; the others
    as given. :func:`apply_overrides` with ``paths_from_job`` reads them back against the job's folder, wherever
    the project is then.

    Examples:
        >>> job = load_job_text('[run]\\nname = "a"\\n[circuit]\\ngenerator = "ghz"\\nnum_qubits = 4', base_dir="/p")
        >>> job.remember_origin(text=job.text, source=job.source, base_dir=Path("/p"), raw=job.raw,
        ...                     overrides=('circuit.qasm="/p/c/x.qasm"', 'circuit.qasm="/q/y.qasm"', "run.seed=2"))
        >>> overrides_from_job(job)
        ['circuit.qasm="c/x.qasm"', 'circuit.qasm="/q/y.qasm"', 'run.seed=2']
    """
    return overrides_relative_to(job.overrides, job.base_dir)


def overrides_relative_to(overrides: Iterable[str], base_dir: str | os.PathLike) -> list[str]:
    """``overrides`` with a ``circuit.qasm`` assignment of an absolute path inside the folder ``base_dir`` made
    relative to it (:func:`overrides_from_job`; ``dqsim resume`` of a checkpoint written before 2026-12-07 in a
    project folder moved elsewhere, whose assignments name the files where they were)."""
    recorded = []
    for assignment in overrides:
        parts, value = _parse_override(assignment)
        if tuple(parts) in _JOB_RELATIVE_PATH_KEYS and isinstance(value, str) and os.path.isabs(value):
            inside = relative_inside(value, base_dir)
            if inside is not None:
                assignment = f"{'.'.join(parts)}={json.dumps(inside)}"
        recorded.append(assignment)
    return recorded


def relative_inside(path: str | os.PathLike, folder: str | os.PathLike) -> str | None:
    """The absolute ``path`` relative to the absolute ``folder`` where it lies inside it, else ``None``.

    Examples:
        >>> relative_inside("/p/c/x.qasm", "/p"), relative_inside("/q/y.qasm", "/p")
        ('c/x.qasm', None)
    """
    inside = os.path.relpath(path, folder)
    return None if inside == os.pardir or inside.startswith(os.pardir + os.sep) else inside


def _source_with(source: str, assignments: list[str]) -> str:
    """How error lines name a job file read with ``--set`` assignments: ``FILE (with --set A B)``.

    An output path (``-o``, which the commands pass as ``run.output``) is not
    named: it is not a ``--set`` the user gave.

    Examples:
        >>> _source_with("a.toml", ["x.y=1", 'run.output="o.h5"']), _source_with("a.toml", ['run.output="o.h5"'])
        ('a.toml (with --set x.y=1)', 'a.toml')
    """
    shown = [item for item in assignments if not item.startswith("run.output=")]
    return f"{source} (with --set {' '.join(shown)})" if shown else source


def _override(data: dict, assignments: list[str], *, paths_from: str | os.PathLike | None = None) -> list[str]:
    """Apply ``SECTION.KEY=VALUE`` assignments to a parsed job table, in place (see :func:`apply_overrides`); a
    relative ``circuit.qasm`` resolves against ``paths_from`` (``None``: the current directory).

    Returns:
        The assignments as the job records them: a ``circuit.qasm`` one with the absolute path it resolved to
        (before 2026-12-07 as given, so a resume from another directory read another file).
    """
    recorded = []
    for assignment in assignments:
        parts, value = _parse_override(assignment)
        if tuple(parts) in _JOB_RELATIVE_PATH_KEYS and isinstance(value, str):
            value = os.path.abspath(os.path.join(paths_from or os.getcwd(), os.path.expanduser(value)))
            assignment = f"{'.'.join(parts)}={json.dumps(value)}"
        recorded.append(assignment)
        table = data
        for depth, part in enumerate(parts[:-1]):
            table = _override_child(table, parts, depth, assignment)
        if value is _REMOVE:
            table.pop(parts[-1], None)
        else:
            _refuse_dropping_keys(parts, table.get(parts[-1]), value, assignment)
            table[parts[-1]] = value
    return recorded


def _refuse_dropping_keys(parts: list[str], old: Any, value: Any, assignment: str) -> None:
    """Refuse an inline table that would replace a table header of the job (``[qkd.link]``) and drop some of its keys.

    ``--set 'qkd.link={distance_km=5}'`` replaced the whole table, the job's ``detector_efficiency`` and others
    going back to their defaults without a word (until 2026-12-07). A value table of a key (``[noise].gates``)
    is replaced as any value is, and so is a header table whose keys the new one all gives.

    Raises:
        ConfigError: one line: the keys it would drop and the ``--set`` that changes one key.
    """
    if not (isinstance(value, dict) and isinstance(old, dict) and tuple(parts) in NESTED_TABLES):
        return
    dropped = [key for key in old if key not in value]
    if not dropped:
        return
    name = ".".join(parts)
    first = next(iter(value), "KEY")
    raise ConfigError(f"--set {assignment}: would replace the job's whole [{name}] table, dropping "
                      f"{', '.join(dropped)} (back to their defaults); set one key with --set {name}.{first}=..., "
                      f"or drop the table first with --set {name}=")


def _input_file_slots(data: Any) -> Iterator[tuple[dict, str]]:
    """``(table, key)`` of every value of :data:`INPUT_FILE_KEYS` (a path, a string) in a dumped job, wherever in
    it (a cloud queue's user jobs), tables before what they hold, walked without recursion: the one walk of
    :func:`input_file_hashes` and :func:`config_sha256`."""
    pending = [data]
    while pending:
        value = pending.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        inner = []
        for key, item in items:
            if key in INPUT_FILE_KEYS and isinstance(item, str):
                yield value, key
            elif isinstance(item, (dict, list)):
                inner.append(item)
        pending.extend(reversed(inner))  # in the job's order


def input_file_hashes(job: Job) -> dict[str, str]:
    """SHA-256 of every file the job reads besides its own text (its QASM circuits), by path
    (:func:`file_sha256`: once per process for a file that stays as it was).

    A checkpoint stores the job's text, not these files: ``dqsim resume`` compares their hashes
    with those the checkpoint recorded, so an edited circuit is refused instead of mixed in.

    Raises:
        ConfigError: a file cannot be read.
    """
    return {table[key]: file_sha256(table[key]) for table, key in _input_file_slots(job.model_dump(mode="json"))}


#: Keys left out of :func:`config_sha256`: where a run writes, not what it computes.
CONFIG_HASH_SKIPS = (("run", "output"), ("checkpoint",))


def config_sha256(job: Job) -> str:
    """SHA-256 of the job's resolved configuration: what tells two jobs of one ``[run].name`` apart.

    The configuration is every key of the validated job, defaults filled in
    and ``--set`` overrides applied (what ``dqsim check`` prints), as JSON
    with sorted keys, without ``[run].output`` and ``[checkpoint]``: another
    output file or checkpoint folder or period does not change the results,
    and a requeued SLURM job passes them again. A file the job reads (QASM)
    counts by its content, its SHA-256 (:func:`input_file_hashes`), not by
    where it lies, so a project folder moved or copied elsewhere keeps its
    checkpoints' names (before 2026-12-07 its absolute path counted:
    :func:`config_sha256_by_path`, which finds checkpoints named then).
    Checkpoints carry its first 8 hex digits in their names
    (:func:`dqsim.engine.checkpoint.checkpoint_prefix`).

    Raises:
        ConfigError: a file the job reads cannot be read.

    Examples:
        >>> a = load_job_text('[run]\\nname = "a"\\n[circuit]\\ngenerator = "ghz"\\nnum_qubits = 4')
        >>> config_sha256(a) == config_sha256(apply_overrides(a, ['run.output="b.h5"']))
        True
        >>> config_sha256(a) == config_sha256(apply_overrides(a, ["run.seed=2"]))
        False
    """
    return _configuration_sha256(job, lambda path: {"sha256": file_sha256(path)})


def config_sha256_by_path(job: Job) -> str:
    """The configuration hash as :func:`config_sha256` gave it before 2026-12-07: a file the job reads (QASM) by its
    absolute path. The same as :func:`config_sha256` for a job that reads none; for one that does, the hash in the
    names of its checkpoints written then, which ``dqsim run``, ``dqsim clean`` and ``slurm/run_step.sh`` still
    look up (``dqsim check`` prints the prefix they had)."""
    return _configuration_sha256(job, lambda path: path)


def config_sha256_with(job: Job, file_hashes: dict[str, str]) -> str:
    """:func:`config_sha256` of ``job`` had each file it reads the SHA-256 ``file_hashes`` gives (by its absolute
    path, as :func:`input_file_hashes` keys them): what the job's hash was when its files had those contents, which
    tells checkpoints of this job written before a file was edited in place (:mod:`dqsim.cli.edited`).

    Raises:
        KeyError: a file the job reads that ``file_hashes`` lacks.
    """
    return _configuration_sha256(job, lambda path: {"sha256": file_hashes[path]})


def _configuration_sha256(job: Job, input_file) -> str:
    """SHA-256 of ``job``'s configuration (see :func:`config_sha256`), each value of :data:`INPUT_FILE_KEYS` (an
    absolute path) replaced by ``input_file(path)``."""
    data = job.model_dump(mode="json")
    for path in CONFIG_HASH_SKIPS:
        parent = data
        for key in path[:-1]:
            parent = parent.get(key, {})
        parent.pop(path[-1], None)
    for table, key in list(_input_file_slots(data)):  # the input files, wherever in the job they are
        table[key] = input_file(table[key])
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()
