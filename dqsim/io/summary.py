"""What ``dqsim inspect`` shows: a JSON-ready summary of a run file and its text form.

:func:`summarize` reads a :class:`~dqsim.io.reader.RunFile` into plain
Python values (``dqsim inspect FILE --json`` prints them as JSON);
:func:`format_summary` turns that into aligned plain text for a person, with
no colour codes, so it reads the same in a terminal and through a pipe.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from dqsim.errors import DqsimError, count_of
from dqsim.io.encoding import jsonable
from dqsim.io.reader import RunFile

#: Tables with at most this many rows are included row by row.
SMALL_TABLE_ROWS = 20

#: Number of most frequent outcomes listed from a ``counts`` table.
TOP_COUNTS = 10

_COUNTS_NAMES = ("counts",)
_EXPECTATION_NAMES = ("expectation", "expectations")


def _basename(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _rows(array: np.ndarray) -> list:
    """Table rows as JSON-ready dicts (compound) or values (plain arrays)."""
    if array.dtype.names is None:
        return jsonable(array.tolist())
    return [{name: jsonable(row[name]) for name in array.dtype.names} for row in array]


def _find_table(run: RunFile, basenames: tuple[str, ...], fields: tuple[str, ...]) -> str | None:
    for name in run.tables:
        if _basename(name) in basenames:
            names = run.table_dtype(name).names or ()
            if all(f in names for f in fields):
                return name
    return None


def _top_counts(run: RunFile, name: str) -> dict[str, Any]:
    table = run.table(name)
    counts = table["count"].astype(np.int64)
    total = int(counts.sum())
    order = np.lexsort((table["bitstring"], -counts))[:TOP_COUNTS]
    top = [{"bitstring": str(table["bitstring"][i]), "count": int(counts[i]),
            "fraction": (int(counts[i]) / total) if total else 0.0} for i in order]
    return {"table": name, "total": total, "num_outcomes": int(table.shape[0]), "top": top}


def summarize(run: RunFile, *, skip_state_norm: bool = False) -> dict[str, Any]:
    """A JSON-serializable summary of a run file.

    Args:
        run: from :func:`dqsim.io.reader.open_run`.
        skip_state_norm: do not read the state to compute its norm (and to
            verify its checksums); useful for very large states.

    Returns:
        ``{"path", "attrs", "tables", "counts", "expectations", "state"}``:
        ``tables`` maps each table to ``num_rows``, ``fields`` (or None),
        ``attrs`` and, for tables of at most 20 rows, ``rows``; ``counts`` (or
        None) has the ``total``, ``num_outcomes`` and the ``top`` 10 outcomes
        of the ``counts`` table (fields ``bitstring``, ``count``); ``expectations``
        lists the rows of the ``expectation`` table (fields ``name``,
        ``observable``, ``value``); ``state`` (or None) has ``shape``,
        ``dtype``, ``num_qubits``, ``layout`` and ``norm``, or ``error`` when
        the state fails its checks.

    Examples:
        >>> import tempfile, json
        >>> from dqsim.io.writer import write_run_file
        >>> from dqsim.io.reader import open_run
        >>> counts = np.array([("00", 3), ("11", 5)], dtype=[("bitstring", "U2"), ("count", "i8")])
        >>> p = write_run_file(f"{tempfile.mkdtemp()}/r.h5", attrs={"name": "bell"}, tables={"counts": counts})
        >>> s = summarize(open_run(p))
        >>> [(e["bitstring"], e["count"]) for e in s["counts"]["top"]]
        [('11', 5), ('00', 3)]
        >>> _ = json.dumps(s)
    """
    tables: dict[str, Any] = {}
    for name in run.tables:
        num_rows = run.num_rows(name)
        dtype = run.table_dtype(name)
        entry: dict[str, Any] = {
            "num_rows": num_rows,
            "fields": list(dtype.names) if dtype.names else None,
            "dtype": str(dtype) if dtype.names is None else None,
            "attrs": jsonable(run.attrs_of(name)),
        }
        if num_rows <= SMALL_TABLE_ROWS:
            entry["rows"] = _rows(run.table(name))
        tables[name] = entry

    counts_name = _find_table(run, _COUNTS_NAMES, ("bitstring", "count"))
    expectation_name = _find_table(run, _EXPECTATION_NAMES, ("value",))
    expectations = _rows(run.table(expectation_name)) if expectation_name else []

    state = None
    if run.state_info is not None:
        info = run.state_info
        state = {"shape": list(info["shape"]), "dtype": info["dtype"], "num_qubits": info["num_qubits"],
                 "layout": info["layout"], "num_slabs": info["num_slabs"], "norm": None}
        if not skip_state_norm:
            try:
                state["norm"] = run.verify_state()
            except DqsimError as exc:
                state["error"] = str(exc)

    return {
        "path": str(run.path),
        "attrs": jsonable(run.attrs),
        "tables": tables,
        "counts": _top_counts(run, counts_name) if counts_name else None,
        "expectations": expectations,
        "state": state,
    }


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return _one_line(str(value), 40)
    return str(value)


def _one_line(text: str, limit: int = 72) -> str:
    lines = str(text).splitlines() or [""]
    first = lines[0]
    more = f" ... ({len(lines)} lines)" if len(lines) > 1 else ""
    if len(first) > limit:
        first, more = first[:limit - 3] + "...", more or ""
    return first + more


def _grid(header: list[str], rows: list[list[Any]], indent: str = "  ",
          right: tuple[int, ...] = ()) -> list[str]:
    """Rows aligned in columns: text left, numbers (and columns in ``right``) right."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [i in right or all(isinstance(row[i], (int, float)) and not isinstance(row[i], bool)
                                 for row in rows)
               for i in range(len(header))]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(header)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return (indent + "  ".join(parts)).rstrip()

    return [line(header)] + [line(c) for c in cells]


def format_table(run: RunFile, name: str) -> str:
    """Every row of the table ``name``, aligned, with a line of units (``dqsim inspect --table``).

    Raises:
        DqsimError: no such table.
    """
    columns = run.columns(name)
    units = run.units(name)
    header = list(columns)
    rows = [[jsonable(columns[h][i]) for h in header] for i in range(len(next(iter(columns.values()), [])))]
    out = [f"table {name} ({count_of(len(rows), 'row')}) of {run.path}"]
    if units:
        out.append("  units: " + ", ".join(f"{k} [{v}]" for k, v in units.items()))
    return "\n".join(out + _grid(header, rows))


def table_csv(run: RunFile, name: str, stream) -> None:
    """Write the table ``name`` to ``stream`` as CSV: a header of column names, then every row.

    A column with a unit is headed ``name [unit]`` (``distance_km [km]``), as :func:`format_table`'s
    line of units writes it. Floats are written with all their digits (``repr``), strings as they
    are (quoted where CSV needs it).

    Raises:
        DqsimError: no such table.
    """
    import csv  # noqa: PLC0415 - only for this output

    columns = run.columns(name)
    units = run.units(name)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([f"{column} [{units[column]}]" if units.get(column) else column for column in columns])
    values = [column.tolist() for column in columns.values()]
    writer.writerows(zip(*values))


#: Hex digits of a SHA-256 shown in ``dqsim inspect``'s text (``--json`` gives all 64).
SHA256_SHOWN = 16


def _identity_lines(identity: dict[str, Any] | None) -> list[str]:
    """The lines of a run's or a merge's identity as its manifest records it (``dqsim inspect``; none: ``[]``).

    Examples:
        >>> print("\\n".join(_identity_lines({"merged_from": [{"task": 0, "file": "/r/a.h5", "sha256": "ab" * 32,
        ...     "run_id": "c" * 32}], "merged_utc": "2026-12-07T00:00:00+00:00", "dqsim_version": "0.1.0",
        ...     "dqsim_commit": "unknown"})))
        <BLANKLINE>
        merge (its manifest): by dqsim 0.1.0, commit unknown, at 2026-12-07T00:00:00+00:00, of 1 run file
          task  file     run_id                            sha256
             0  /r/a.h5  cccccccccccccccccccccccccccccccc  abababababababab...
    """
    if not identity:
        return []
    merged = identity.get("merged_from")
    if isinstance(merged, list):
        head = (f"merge (its manifest): by dqsim {identity.get('dqsim_version')}, commit "
                f"{identity.get('dqsim_commit')}, at {identity.get('merged_utc')}, "
                f"of {count_of(len(merged), 'run file')}")
        rows = [[entry.get("task"), entry.get("file"), entry.get("run_id") or "(none recorded)",
                 str(entry.get("sha256"))[:SHA256_SHOWN] + "..."] for entry in merged if isinstance(entry, dict)]
        return ["", head, *_grid(["task", "file", "run_id", "sha256"], rows, right=(0,))]
    shown = {key: value for key, value in identity.items() if key not in ("dqsim_version", "dqsim_commit")}
    rows = [[key, _one_line(json.dumps(value) if not isinstance(value, str) else value, 100)]
            for key, value in shown.items()]
    return ["", "run identity (its manifest)", *_grid(["name", "value"], rows)[1:]]


def format_summary(summary: dict[str, Any]) -> str:
    """Plain text for a person from :func:`summarize`'s result (no colours; fine in a pipe).

    Examples:
        >>> print(format_summary({"path": "r.h5", "attrs": {"schema_version": 1, "name": "bell"},
        ...     "tables": {}, "counts": None, "expectations": [], "state": None}))
        run file r.h5
          schema 1
        <BLANKLINE>
        attributes
          name  bell
    """
    attrs = dict(summary.get("attrs") or {})
    out = [f"run file {summary.get('path', '?')}"]
    about = [f"schema {attrs.pop('schema_version', '?')}"]
    if "dqsim_version" in attrs:
        about.append(f"written by dqsim {attrs.pop('dqsim_version')}")
    if "dqsim_commit" in attrs:
        about.append(f"commit {attrs.pop('dqsim_commit')}")
    if "created_utc" in attrs:
        about.append(f"at {attrs.pop('created_utc')}")
    attrs.pop("dqsim_file", None)
    out.append("  " + ", ".join(about))

    if attrs:
        out += ["", "attributes"]
        out += _grid(["name", "value"], [[k, _one_line(v) if isinstance(v, str) else v]
                                         for k, v in attrs.items()])[1:]

    tables = summary.get("tables") or {}
    if tables:
        out += ["", "tables"]
        rows = []
        for name, t in tables.items():
            columns = ", ".join(t["fields"]) if t.get("fields") else (t.get("dtype") or "")
            rows.append([name, t["num_rows"], _one_line(columns, 60)])
        out += _grid(["name", "rows", "fields"], rows)
        if any(t["num_rows"] > SMALL_TABLE_ROWS for t in tables.values()):
            out.append(f"  (tables over {SMALL_TABLE_ROWS} rows are not shown below; print one whole with "
                       "dqsim inspect FILE --table NAME [--csv])")

    counts = summary.get("counts")
    if counts:
        out += ["", f"top counts ({counts['total']} shots, {counts['num_outcomes']} outcomes, "
                    f"table {counts['table']})"]
        out += _grid(["bitstring", "count", "fraction"],
                     [[e["bitstring"], e["count"], f"{100 * e['fraction']:.2f}%"] for e in counts["top"]],
                     right=(2,))

    expectations = summary.get("expectations") or []
    if expectations:
        out += ["", "expectation values"]
        if isinstance(expectations[0], dict):
            header = list(expectations[0])
            out += _grid(header, [[row.get(h) for h in header] for row in expectations])
        else:
            out += ["  " + _cell(v) for v in expectations]

    shown = {counts["table"]} if counts else set()
    shown |= {name for name in tables if name.rsplit("/", 1)[-1] in _EXPECTATION_NAMES}
    for name, t in tables.items():
        if name in shown or not t.get("rows"):
            continue
        out += ["", f"table {name} ({count_of(t['num_rows'], 'row')})"]
        attrs = dict(t.get("attrs") or {})
        units = attrs.pop("units", None)
        if isinstance(units, dict) and units:
            out.append("  units: " + _one_line(", ".join(f"{k} [{v}]" for k, v in units.items()), 100))
        if attrs:
            out.append("  " + _one_line(", ".join(f"{k}={_cell(v)}" for k, v in attrs.items()), 100))
        if isinstance(t["rows"][0], dict):
            header = list(t["rows"][0])
            out += _grid(header, [[row[h] for h in header] for row in t["rows"]])
        else:
            out.append("  " + _one_line(", ".join(_cell(v) for v in t["rows"]), 100))

    out += _identity_lines(summary.get("identity"))

    state = summary.get("state")
    if state:
        out += ["", "state"]
        size = "x".join(str(n) for n in state["shape"])
        where = {"slabs": f"{state.get('num_slabs')} slab files",
                 "collective": f"one dataset written by {count_of(state.get('num_slabs'), 'rank')}"}
        where = where.get(state.get("layout"), "one dataset")
        qubits = count_of(state.get("num_qubits"), "qubit")
        out.append(f"  {size} amplitudes ({qubits}), {state['dtype']}, in {where}")
        if state.get("error"):
            out.append(f"  ERROR: {state['error']}")
        elif state.get("norm") is not None:
            out.append(f"  norm {state['norm']:.12f} (checksums verified)")
    return "\n".join(out)
