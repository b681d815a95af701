"""Where the job of a checkpoint written before 2026-12-07 reads its files once its project folder has moved.

Since 2026-12-07 a checkpoint records its job's folder relative to the checkpoint folder
(``job_base_dir_from_checkpoints``) and its ``--set`` overrides with a ``circuit.qasm`` inside the job's folder
relative to it (``overrides_from_job``), so ``dqsim resume`` finds a moved or copied project's files
(:func:`dqsim.cli.main._job_folders`). Checkpoints written before record only the job's folder as it was
(``job_base_dir``), the ``--set`` overrides as typed, and the SHA-256 of each file the job read by its absolute path
then (``input_sha256``, since 2026-12-06). For those, :func:`folder_holding_inputs` looks around the checkpoint's
folder for the one that holds every file the job read inside its old folder, at the same path relative to it and
with the same SHA-256 (the same bytes: the resume computes the same circuit), and :func:`missing_input_line` says in
one line which file is missing where, and what to do, when no folder does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from dqsim import jobs
from dqsim.errors import ConfigError


def recorded_folder(attrs: dict) -> str:
    """The job's folder as a checkpoint (its root attributes ``attrs``) records it, absolute."""
    return os.path.abspath(attrs.get("job_base_dir") or ".")


def inputs_inside(attrs: dict) -> dict[str, str]:
    """The SHA-256 of the files the checkpoint's job read inside its recorded folder, by their path relative to it
    (``{}``: none recorded, or none inside: files elsewhere stay where they were)."""
    recorded, base = attrs.get("input_sha256"), recorded_folder(attrs)
    if not isinstance(recorded, dict):
        return {}
    inside = {jobs.relative_inside(path, base): sha for path, sha in recorded.items()}
    return {relative: sha for relative, sha in inside.items() if relative is not None}


def folders_near(checkpoint_folder: str | os.PathLike, recorded: str) -> Iterator[str]:
    """The folders, existing ones, where a moved project's job folder may be, nearest first: the checkpoint's folder
    and each folder above it, each as it is and with the last 1, 2, ... names of the job's ``recorded`` folder below
    it (``project/ck`` beside the job in ``project/``, or ``project/checkpoints`` beside ``project/jobs/``); not
    ``recorded`` itself."""
    names = Path(recorded).parts[1:]
    seen = {recorded}
    start = Path(os.path.abspath(checkpoint_folder))
    for above in (start, *start.parents):
        for count in range(len(names) + 1):
            folder = os.path.join(above, *names[len(names) - count:])
            if folder not in seen and os.path.isdir(folder):
                seen.add(folder)
                yield folder


def folder_holding_inputs(attrs: dict, checkpoint_path: str | os.PathLike) -> str | None:
    """The first folder of :func:`folders_near` that holds every file of :func:`inputs_inside` with its recorded
    SHA-256 (:func:`dqsim.jobs.file_sha256`), for a checkpoint written before 2026-12-07 (root attributes
    ``attrs``); ``None``: none does, or the job read no file inside its folder."""
    inside = inputs_inside(attrs)
    if not inside:
        return None
    for folder in folders_near(Path(checkpoint_path).parent, recorded_folder(attrs)):
        if all(_sha256_or_none(os.path.join(folder, relative)) == sha for relative, sha in inside.items()):
            return folder
    return None


def _sha256_or_none(path: str) -> str | None:
    """The file's SHA-256, ``None`` where it is not a readable file."""
    if not os.path.isfile(path):
        return None
    try:
        return jobs.file_sha256(path)
    except ConfigError:
        return None


def missing_input_line(attrs: dict, checkpoint_path: str | os.PathLike) -> str | None:
    """The one line refusing a resume of a checkpoint written before 2026-12-07 (root attributes ``attrs``) whose
    job reads a file missing at the absolute path it recorded, that no folder near the checkpoint
    (:func:`folders_near`) holds at the same place in it with the same SHA-256; ``None``: no file the job read is
    missing there."""
    recorded = attrs.get("input_sha256")
    if not isinstance(recorded, dict):
        return None
    missing = sorted(path for path in recorded if not os.path.isfile(path))
    if not missing:
        return None
    path, base = missing[0], recorded_folder(attrs)
    relative = jobs.relative_inside(path, base)
    head = f"{checkpoint_path}: {path}, which its job reads, is missing"
    before = "(written before 2026-12-07, the checkpoint names the file only by that absolute path)"
    if relative is None:  # outside the job's folder: nothing to look for
        return f"{head} {before}: put the file back at {path}, or run the job again"
    return (f"{head}, and neither {Path(checkpoint_path).parent} nor a folder above it holds {relative} with the "
            f"SHA-256 the checkpoint recorded {before}: put the file back at {path}, or name the folder that now "
            f"holds the job and {relative} (dqsim resume {checkpoint_path} --job-folder DIR), or run the job again")
