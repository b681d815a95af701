"""``dqsim merge``: combine the run files of a sweep (one run per task) into one run file.

The merged file is an ordinary run file (``dqsim inspect``, ``dqsim plot``
and :func:`dqsim.io.open_run` read it) laid out as follows:

* every table of every input, with a leading ``task`` column (the input's
  index in the list given) and the rows of all inputs one after the other,
  in task order. A table missing from some inputs simply has no rows for
  them. Tables of the same name must have the same fields (names, order,
  kinds and shapes; strings and numbers may differ in width). A plain
  (non-record) dataset becomes the columns ``task``, ``value``;
* root attributes equal in every input are kept as they are, plus
  ``num_tasks``;
* the network's node names (the ``node_names`` dataset, or in a file
  written before 2026-12-07 (morning) the root attribute): one
  ``node_names`` dataset as a run file's where every input has the same
  names, else a table of ``task`` and ``name`` (each input's names under
  its task);
* a ``tasks`` table: one row per input with ``task``, ``file`` (the input's
  file name), ``created_utc``, ``dqsim_version`` and ``dqsim_commit`` of that input
  (``""`` for a file written before dqsim recorded its commit), then one
  column per root attribute that differs between inputs (or is missing
  from some). A column holds bool, int or float where every input has a
  value of that type, else ``str``: strings as they are, other values as
  JSON text, a missing value as ``""``; then one column per key that the
  runs' ``--set`` assignments (attribute ``overrides``) set to different
  values (the swept keys; a run that did not ``--set`` the key has its job's own value, read from the job
  text it stores, since 2026-12-07 (night): before, ``""``), named by the key (``qkd.sweep.distances_km``)
  and typed the same way, a one-element
  list (a sweep task's ``distances_km=[25]``) as its element; ``run.output`` and ``[checkpoint]`` keys are
  where a task writes, not what it computes (the configuration hash leaves them out too), so they are no
  swept keys (they stay in the ``overrides`` column);
* attributes of a table (units) are kept where the inputs holding the table
  agree; those that differ are left out and reported in the summary.

With ``--allow-missing`` (slurm/merge.sbatch after a sweep with failed
tasks) an input that is missing or unreadable is skipped: the others keep
their task numbers (their place in the list), the merged file lists the
skipped tasks in the root attribute ``missing_tasks``, each is named on
stderr, and the command exits 1.

Final states (``save_state``) are not merged: the summary names the inputs
that had one; read them from the inputs. Inputs of different scenarios or
schema versions, merged files (with a ``tasks`` table) and a file given
twice are refused. An output that exists is replaced only where an earlier
merge wrote it (a ``tasks`` table and ``num_tasks``: rerunning a merge, e.g.
slurm/merge.sbatch, replaces it) or with ``--force``: ``dqsim merge
out/q1.h5 out/q2.h5`` (the output forgotten) would replace a run. The merged file is written with
:func:`dqsim.io.write_run_file` (temporary name, then rename), and its
manifest records the merge's identity (:func:`merge_identity`,
:data:`dqsim.io.manifest.MERGE_IDENTITY_KEYS`): each input's path, SHA-256
and run id, and the merge's dqsim version, commit and time; ``dqsim inspect``
shows them. A merged file is no run's output: ``dqsim run --skip-finished``
runs a job whose ``-o`` names one, and ``dqsim clean`` pairs no checkpoint
with it (a task's checkpoints go when the task's own output is whole).
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys
import tomllib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import numpy as np

import dqsim
from dqsim import io, jobs
from dqsim.errors import DqsimError
from dqsim.io import encoding, hashing, manifest, provenance
from dqsim.io.probe import probe_unverified
from dqsim.io.reader import NODE_NAMES

#: Exit status for bad input (as every dqsim command).
EXIT_BAD_INPUT = 2
#: The column added to every table: the input's index.
TASK_FIELD = "task"
#: The table of per-task root attributes, and the attribute counting the tasks.
TASKS_TABLE = "tasks"
NUM_TASKS_ATTR = "num_tasks"
#: Root attribute of a merge with ``--allow-missing``: the tasks that wrote no file.
MISSING_ATTR = "missing_tasks"
#: Exit status of ``dqsim merge --allow-missing`` when tasks are missing (the file is written).
EXIT_TASKS_MISSING = 1
#: Root attributes that always go to the ``tasks`` table (the writer sets its own).
ALWAYS_PER_TASK = ("created_utc", "dqsim_version", "dqsim_commit")
#: Root attributes that must be equal and are set by the writer again.
MUST_AGREE = ("schema_version", "scenario")
_WRITER_ATTRS = ("schema_version", "dqsim_file")
_MISSING = object()
#: ``--set`` keys that say where a run writes, not what it computes (as :func:`dqsim.jobs.config_sha256`):
#: never swept keys (the SLURM scripts set them per task).
_NOT_SWEPT = ("run.output", "checkpoint.")


def merge_files(inputs: Iterable[str | os.PathLike], output: str | os.PathLike, *, force: bool = False) -> dict:
    """Combine run files of one scenario (e.g. the tasks of a sweep) into one run file.

    Args:
        inputs: run files in task order: input ``i`` becomes task ``i``.
        output: the merged file to write (not one of the inputs): a new file or an earlier merge's output.
        force: replace ``output`` also where it exists and is no earlier merge's output (a run's file).

    Returns:
        A summary: ``output`` (Path), ``num_tasks``, ``tables`` (name -> rows),
        ``common_attrs`` and ``per_task_attrs`` (the ``tasks`` columns after
        ``file``), ``states_not_merged`` (file names) and
        ``dropped_table_attrs`` (``"table:attribute"`` that differed).

    Raises:
        DqsimError: one line naming the file (and table): an input is missing
            or not a run file, is already merged or given twice, has another
            scenario or schema version than the first, or a table's fields
            differ from the first input holding it; or the output cannot be
            written, is read-only, or (without ``force``) exists and is no
            earlier merge's output.

    Examples:
        >>> import tempfile, numpy as np
        >>> folder = Path(tempfile.mkdtemp())
        >>> for i, d in enumerate([10.0, 20.0]):
        ...     _ = io.write_run_file(folder / f"task-{i}.h5", attrs={"scenario": "qkd", "key_bits": 5 - i},
        ...         tables={"sweep": np.array([(d,)], dtype=[("distance_km", "f8")])})
        >>> summary = merge_files([folder / "task-0.h5", folder / "task-1.h5"], folder / "all.h5")
        >>> run = io.open_run(folder / "all.h5")
        >>> run.table("sweep").tolist(), run.attrs["num_tasks"], run.attrs["scenario"]
        ([(0, 10.0), (1, 20.0)], 2, 'qkd')
        >>> run.table("tasks")[["task", "file", "key_bits"]].tolist()
        [(0, 'task-0.h5', 5), (1, 'task-1.h5', 4)]
    """
    runs, errors = open_inputs(inputs)
    if errors:
        raise DqsimError(errors[0])
    return merge_runs(runs, Path(output), force=force)


def open_inputs(inputs: Iterable[str | os.PathLike], *, verify: bool = True) -> tuple[list, list[str]]:
    """Verify every input against its manifest (when it has one; without one HDF5 walks it in a child process
    first), then open it with :func:`dqsim.io.open_run`; ``verify=False`` (``dqsim merge --no-verify``): open it
    unchecked.

    Returns:
        The :class:`~dqsim.io.RunFile` of each input that opened, and one
        error line for each that did not (missing, not HDF5, not a run file).
    """
    runs, errors = [], []
    for path in inputs:
        try:
            # sizes and SHA-256 against its manifest, when it has one; else HDF5 walks it in a child first (since
            # 2026-12-07 (late night)); neither with --no-verify
            if verify and not io.verify_run_file(path):
                probe_unverified(path, command="merge")
            runs.append(io.open_run(path))
        except DqsimError as exc:
            errors.append(str(exc))
    return runs, errors


def merge_runs(runs: list, output: Path, *, task_ids: list[int] | None = None,
               missing: dict[int, str] | None = None, force: bool = False) -> dict:
    """:func:`merge_files` for inputs already opened (see there).

    ``task_ids`` numbers the runs (default 0, 1, ...: their order); ``missing`` (task -> file)
    names tasks that wrote no file: they are listed in the root attribute ``missing_tasks``
    and in the summary.
    """
    if not runs:
        raise DqsimError("merge: no input files; give the run files of the tasks")
    task_ids = list(range(len(runs))) if task_ids is None else list(task_ids)
    _check_inputs(runs, output, force)
    tables, table_paths = _merge_tables(runs, task_ids)
    common, per_task = _split_root_attrs(runs)
    names = _merge_node_names(runs, task_ids)
    if names is not None:
        tables[NODE_NAMES] = names
    groups_attrs, dropped = _merge_table_attrs(runs, table_paths)
    swept = _swept_keys(runs)
    tables[TASKS_TABLE] = _tasks_table(runs, per_task, swept, task_ids)
    extra = {MISSING_ATTR: sorted(missing)} if missing else {}
    io.write_run_file(output, attrs={**common, NUM_TASKS_ATTR: len(runs), **extra}, tables=tables,
                      groups_attrs=groups_attrs, manifest=True, manifest_facts=merge_identity(runs, task_ids, output))
    return {
        "output": output,
        "num_tasks": len(runs),
        "tables": {name: len(array) for name, array in tables.items()},
        "common_attrs": list(common),
        "per_task_attrs": [*ALWAYS_PER_TASK, *per_task],
        "swept_keys": list(swept),
        "states_not_merged": [run.path.name for run in runs if run.has_state],
        "dropped_table_attrs": dropped,
        "missing": dict(sorted((missing or {}).items())),
    }


def merge_identity(runs: list, task_ids: list[int], output: Path) -> dict:
    """The merge's identity that the merged file's manifest records (:data:`dqsim.io.manifest.MERGE_IDENTITY_KEYS`):
    for each input (``runs``, numbered ``task_ids``) its absolute path, its path relative to ``output``'s folder, the
    SHA-256 of its bytes (read here, once more: run files hold tables, a state up to ``max_gather_qubits`` at most)
    and the run id its manifest records (``None``: no manifest, or one written before run ids); then when it was
    merged and by which dqsim version and commit.

    Raises:
        DqsimError: an input cannot be read.
    """
    merged_from = []
    for task, run in zip(task_ids, runs):
        path = os.path.abspath(run.path)
        try:
            sha = manifest.file_digest(path, algorithm=hashing.SHA256)[1]
        except OSError as exc:
            raise DqsimError(f"{run.path}: cannot be read ({exc.strerror or exc})") from None
        try:
            run_id = manifest.read_manifest(manifest.run_manifest_path(path), kind="run").get("run_id")
        except DqsimError:  # no manifest (checked before the merge: only an older file has none)
            run_id = None
        merged_from.append({"task": task, "file": path,
                            "file_from_merged": os.path.relpath(path, os.path.abspath(output.parent)),
                            "sha256": sha, "run_id": run_id if isinstance(run_id, str) else None})
    return {"merged_from": merged_from, "merged_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "dqsim_version": dqsim.__version__, "dqsim_commit": provenance.code_commit()}


def _is_earlier_merge(path: Path) -> bool:
    """Whether ``path`` is a file an earlier ``dqsim merge`` wrote: a run file with a ``tasks`` table and the
    root attribute ``num_tasks`` (what :func:`merge_runs` writes; no run writes either)."""
    try:
        run = io.open_run(path)
    except DqsimError:
        return False
    return TASKS_TABLE in run.tables and NUM_TASKS_ATTR in run.attrs


def refuse_overwriting(output: Path, force: bool) -> None:
    """Raise when ``output`` exists and is no earlier merge's output, unless ``force``: ``dqsim merge OUT IN...``
    with the output forgotten would replace the first input, a finished run, with a merge of the others.

    Raises:
        DqsimError: one line naming the file and how to go on.
    """
    if force or not output.exists() or output.is_dir() or _is_earlier_merge(output):
        return
    raise DqsimError(f"{output}: the output exists and is not an earlier merge (a run's file?); nothing was merged "
                     "(the output comes first: dqsim merge OUT.h5 IN.h5 ...; give a new output file, or --force "
                     "to replace it)")


def _check_inputs(runs: list, output: Path, force: bool = False) -> None:
    io.refuse_read_only(output, "nothing was merged")
    seen: dict[Path, int] = {}
    target = output.resolve()
    for index, run in enumerate(runs):
        where = run.path.resolve()
        if where == target:
            raise DqsimError(f"{run.path}: is also the output; write the merged file elsewhere")
        if where in seen:
            raise DqsimError(f"{run.path}: given twice (tasks {seen[where]} and {index}); give each task's file once")
        seen[where] = index
        if TASKS_TABLE in run.tables or NUM_TASKS_ATTR in run.attrs:
            raise DqsimError(f"{run.path}: is already a merged file (table {TASKS_TABLE!r}); "
                             "merge the run files it came from")
    refuse_overwriting(output, force)
    first = runs[0]
    for name in MUST_AGREE:
        want = first.attrs.get(name)
        for run in runs[1:]:
            got = run.attrs.get(name)
            if got != want:
                raise DqsimError(f"{run.path}: {name} = {got!r} differs from {want!r} of {first.path} "
                                 f"(task 0); merge runs of one {name.replace('_', ' ')}")
    version = first.attrs["schema_version"]
    if version != dqsim.SCHEMA_VERSION:
        raise DqsimError(f"{first.path}: schema_version = {version}, but this dqsim {dqsim.__version__} writes "
                         f"{dqsim.SCHEMA_VERSION}; merge with the dqsim version that wrote the runs")


def _as_records(array: np.ndarray, run, name: str) -> np.ndarray:
    """A 1-D record array: plain datasets become one ``value`` field (rows along the first axis)."""
    if array.dtype.names is None:
        rows = array.reshape(1, *array.shape) if array.ndim == 0 else array
        records = np.empty(rows.shape[0], dtype=[("value", rows.dtype, rows.shape[1:])])
        records["value"] = rows
        return records
    if array.ndim > 1:
        raise DqsimError(f"{run.path}: table {name!r} is a {array.ndim}-D record array; "
                         "only 1-D tables can be merged")
    records = array.reshape(1) if array.ndim == 0 else array
    if TASK_FIELD in records.dtype.names:
        raise DqsimError(f"{run.path}: table {name!r} already has a {TASK_FIELD!r} field (a merged file?); "
                         "merge the run files it came from")
    return records


def _fields(dtype: np.dtype) -> list[tuple[str, str, tuple]]:
    """What must agree between inputs: each field's name, kind and shape (not its width)."""
    return [(name, dtype[name].base.kind, dtype[name].shape) for name in dtype.names]


def _describe(fields: list[tuple[str, str, tuple]]) -> str:
    kinds = {"U": "str", "b": "bool", "i": "int", "u": "uint", "f": "float", "c": "complex"}
    return ", ".join(f"{name}:{kinds.get(kind, kind)}{list(shape) if shape else ''}" for name, kind, shape in fields)


def _merge_tables(runs: list, task_ids: list[int]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Every table of every input with a leading ``task`` column; also the table names in order."""
    names: list[str] = []
    for run in runs:
        names += [name for name in run.tables if name not in names and name != NODE_NAMES]
    merged: dict[str, np.ndarray] = {}
    for name in names:
        parts = [(index, run, _as_records(run.table(name), run, name))
                 for index, run in zip(task_ids, runs) if name in run.tables]
        _, first_run, first = parts[0]
        want = _fields(first.dtype)
        dtypes = {field: first.dtype[field] for field in first.dtype.names}
        for _, run, records in parts[1:]:
            got = _fields(records.dtype)
            if got != want:
                raise DqsimError(f"{run.path}: table {name!r} has fields ({_describe(got)}) but {first_run.path} "
                                 f"has ({_describe(want)}); merge runs whose tables have the same fields")
            for field in dtypes:
                base = np.promote_types(dtypes[field].base, records.dtype[field].base)
                dtypes[field] = np.dtype((base, dtypes[field].shape))
        out = np.empty(sum(len(records) for _, _, records in parts),
                       dtype=[(TASK_FIELD, np.int64), *((field, dtype) for field, dtype in dtypes.items())])
        start = 0
        for index, _, records in parts:
            rows = slice(start, start + len(records))
            out[TASK_FIELD][rows] = index
            for field in dtypes:
                out[field][rows] = records[field]
            start += len(records)
        merged[name] = out
    return merged, names


def _merge_node_names(runs: list, task_ids: list[int]) -> np.ndarray | None:
    """The merged file's ``node_names`` dataset, from each input's node names in either layout (the dataset, or
    the root attribute of a file written before 2026-12-07 (morning): :meth:`dqsim.io.RunFile.node_names`): the
    names once, as a run file holds them, where every input has the same (as a root attribute equal in every
    input is kept); else a table of ``task`` and ``name``, each input's names under its task; ``None`` where no
    input has any."""
    per_task = [(task, run.node_names()) for task, run in zip(task_ids, runs)]
    if all(names is None for _, names in per_task):
        return None
    first = per_task[0][1]
    if first is not None and all(names == first for _, names in per_task[1:]):
        return np.array(first, dtype=str)
    held = [(task, names) for task, names in per_task if names is not None]
    width = max((len(name) for _, names in held for name in names), default=1)
    table = np.empty(sum(len(names) for _, names in held), dtype=[(TASK_FIELD, np.int64), ("name", f"U{width}")])
    start = 0
    for task, names in held:
        table[TASK_FIELD][start:start + len(names)] = task
        table["name"][start:start + len(names)] = names
        start += len(names)
    return table


def _same_key(value: Any) -> str:
    """A text equal for two attribute values exactly when they are the same value of the same type."""
    kind = f"ndarray:{value.dtype.kind}{value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
    return kind + ":" + json.dumps(encoding.jsonable(value), sort_keys=True)


def _lacks_some(values: list) -> bool:
    """Whether an input lacks the value (by identity: ``_MISSING in values`` would compare an array
    attribute, such as trotter's ``site_assignment``, element by element and raise)."""
    return any(value is _MISSING for value in values)


def _agreeing(values: list) -> bool:
    return not _lacks_some(values) and len({_same_key(v) for v in values}) == 1


def _split_root_attrs(runs: list) -> tuple[dict[str, Any], list[str]]:
    """Root attributes equal in every input, and the names of those that are not."""
    skip = set(_WRITER_ATTRS) | set(ALWAYS_PER_TASK) | {NODE_NAMES}  # (node names: _merge_node_names)
    names: list[str] = []
    for run in runs:
        names += [name for name in run.attrs if name not in names and name not in skip]
    common, per_task = {}, []
    for name in names:
        values = [run.attrs.get(name, _MISSING) for run in runs]
        if _agreeing(values):
            common[name] = values[0]
        else:
            per_task.append(name)
    clash = sorted({TASK_FIELD, "file"} & set(per_task))
    if clash:
        raise DqsimError(f"root attribute {clash[0]!r} differs between the inputs but its name is a column of the "
                         f"{TASKS_TABLE!r} table; rename it in the runs to merge them")
    return common, per_task


def _column(values: list) -> np.ndarray:
    """One ``tasks`` column: bool, int or float where every value is one, else str (JSON for non-str)."""
    if not _lacks_some(values):
        if all(isinstance(v, bool) for v in values):
            return np.array(values, dtype=bool)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            column = np.array(values)
            if column.dtype.kind in "iu":
                return column
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return np.array(values, dtype=np.float64)
    texts = ["" if v is _MISSING else v if isinstance(v, str) else json.dumps(encoding.jsonable(v))
             for v in values]
    return np.array(texts, dtype=str)


def _one_value(value: Any) -> Any:
    """A one-element list (a sweep task's ``distances_km=[25]``) as its element; None as missing."""
    if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], (list, dict)):
        value = value[0]
    return _MISSING if value is None else value


def _resolved_job(run) -> dict | None:
    """The run's job as resolved (defaults filled in) from its stored ``job_text``, or None where the file
    has no job text or it no longer validates (then only the raw TOML, or nothing)."""
    text = run.attrs.get("job_text")
    if not isinstance(text, str):
        return None
    try:
        return jobs.load_job_text(text, source=str(run.path)).model_dump()
    except (DqsimError, ValueError):
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return None


def _job_value(job: dict | None, key: str) -> Any:
    """The value of dotted ``key`` in a resolved job (``_MISSING`` where it has none)."""
    node: Any = job
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return _one_value(node)


def _swept_keys(runs: list) -> dict[str, list]:
    """Key -> its value in each run, for every key the runs' ``overrides`` set to values that are not the
    same in all of them. A run that did not ``--set`` the key has its job's own value (from the job text
    it stores, defaults filled in; ``_MISSING`` where the file has no job text)."""
    per_run = []
    for run in runs:
        values: dict[str, Any] = {}
        for assignment in run.attrs.get("overrides") or []:
            try:
                key, value = jobs.override_value(str(assignment))
            except DqsimError:
                continue  # not an assignment dqsim run took; it stays in the overrides column
            if key.startswith(_NOT_SWEPT):
                continue
            values[key] = _one_value(value)
        per_run.append(values)
    keys: list[str] = []
    for values in per_run:
        keys += [key for key in values if key not in keys]
    resolved = [_resolved_job(run) if any(key not in values for key in keys) else None
                for run, values in zip(runs, per_run)]
    columns = {key: [values[key] if key in values else _job_value(job, key)
                     for values, job in zip(per_run, resolved)] for key in keys}
    return {key: values for key, values in columns.items() if not _agreeing(values)}


def _tasks_table(runs: list, per_task: list[str], swept: dict[str, list], task_ids: list[int]) -> np.ndarray:
    names = [TASK_FIELD, "file", *ALWAYS_PER_TASK, *per_task, *swept]
    columns = [np.array(task_ids, dtype=np.int64), np.array([run.path.name for run in runs], dtype=str)]
    columns += [_column([run.attrs.get(name, _MISSING) for run in runs])
                for name in [*ALWAYS_PER_TASK, *per_task]]
    columns += [_column(values) for values in swept.values()]
    table = np.empty(len(runs), dtype=[(name, column.dtype) for name, column in zip(names, columns)])
    for name, column in zip(names, columns):
        table[name] = column
    return table


def _merge_table_attrs(runs: list, table_names: list[str]) -> tuple[dict[str, dict], list[str]]:
    """Attributes of every table and of the groups above it, where the inputs holding it agree."""
    paths: list[str] = []
    for name in table_names:
        parts = name.strip("/").split("/")
        paths += [p for p in ("/".join(parts[:i]) for i in range(1, len(parts) + 1)) if p not in paths]
    groups_attrs: dict[str, dict] = {}
    dropped: list[str] = []
    for path in paths:
        holders = [run for run in runs if any(t == path or t.startswith(path + "/") for t in run.tables)]
        per_run = [run.attrs_of(path) for run in holders]
        keys: list[str] = []
        for attrs in per_run:
            keys += [key for key in attrs if key not in keys]
        kept = {}
        for key in keys:
            values = [attrs.get(key, _MISSING) for attrs in per_run]
            if _agreeing(values):
                kept[key] = values[0]
            else:
                dropped.append(f"{path}:{key}")
        if kept:
            groups_attrs[path] = kept
    return groups_attrs, dropped


def _natural_key(text: str) -> list:
    """Sort key comparing digit runs as numbers: ``task-2`` before ``task-10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def expand_inputs(patterns: Iterable[str], output: str | os.PathLike) -> tuple[list[Path], list[str]]:
    """Input arguments as files: an existing path as given; a glob pattern as its matches in natural order.

    Matches of a pattern that are the output itself are left out (so ``OUT_DIR/*.h5`` may
    include the merged file of an earlier merge).

    Returns:
        The files, and one error line per pattern that matches nothing.
    """
    target = Path(output).resolve()
    files: list[Path] = []
    errors: list[str] = []
    for pattern in patterns:
        if Path(pattern).exists() or not any(char in pattern for char in "*?["):
            files.append(Path(pattern))
            continue
        matches = [Path(m) for m in sorted(glob.glob(pattern), key=_natural_key)]
        matches = [m for m in matches if m.resolve() != target]
        if not matches:
            errors.append(f"{pattern}: no file matches")
        files += matches
    return files, errors


def cmd_merge(args) -> int:
    """``dqsim merge OUT.h5 IN.h5 ...``: ``args.output``, ``args.inputs`` (files or glob patterns)."""
    files, errors = expand_inputs(args.inputs, args.output)
    runs, task_ids, missing = [], [], {}
    verify = not getattr(args, "no_verify", False)
    if not verify and files:
        print(f"dqsim: note: --no-verify: the {len(files)} input(s) are read unchecked (not against their manifests, "
              "not walked in a separate process first)", file=sys.stderr, flush=True)
    for task, path in enumerate(files):
        opened, open_errors = open_inputs([path], verify=verify)
        if opened:
            runs.append(opened[0])
            task_ids.append(task)
        elif getattr(args, "allow_missing", False):
            missing[task] = open_errors[0]
        else:
            errors += open_errors
    summary = None
    if not errors:
        try:
            output = Path(args.output)
            output.parent.mkdir(parents=True, exist_ok=True)
            summary = merge_runs(runs, output, task_ids=task_ids, missing=missing,
                                 force=getattr(args, "force", False))
        except OSError as exc:
            errors.append(f"{args.output}: cannot create its folder ({exc.strerror or exc})")
        except DqsimError as exc:
            errors.append(str(exc))
    if errors:
        for line in errors:
            print(f"dqsim: error: {line}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    tables = ", ".join(f"{name} ({rows})" for name, rows in summary["tables"].items())
    lines = [f"merged {summary['num_tasks']} task(s) into {summary['output']}: rows per table {tables}",
             f"  per task (table {TASKS_TABLE}): {', '.join(summary['per_task_attrs'])}"]
    if summary["swept_keys"]:
        lines.append(f"  swept keys (columns of {TASKS_TABLE}): {', '.join(summary['swept_keys'])}")
    if summary["states_not_merged"]:
        lines.append("  final states not merged (read them from the inputs): "
                     + ", ".join(summary["states_not_merged"]))
    if summary["dropped_table_attrs"]:
        lines.append(f"  table attributes left out (they differ between inputs): "
                     f"{', '.join(summary['dropped_table_attrs'])}")
    print("\n".join(lines))
    if summary["missing"]:
        for task, reason in summary["missing"].items():
            print(f"dqsim merge: task {task} not merged: {reason}", file=sys.stderr)
        print(f"dqsim merge: {len(summary['missing'])} of {len(files)} task(s) failed or wrote no file: "
              f"{', '.join(map(str, summary['missing']))} (root attribute {MISSING_ATTR})", file=sys.stderr, flush=True)
        return EXIT_TASKS_MISSING
    return 0
