"""Exceptions a user can act on.

Every dqsim error that stems from input (a job file, a circuit, an argument)
is a :class:`DqsimError` whose message is one line naming what is wrong and
the allowed values. The command line prints that line and exits non-zero,
without a traceback. :func:`toml_repr` quotes values in those messages.
"""

import json


class DqsimError(ValueError):
    """Bad input: the message says what is wrong and how to fix it."""


class ConfigError(DqsimError):
    """A job file key, type or value is invalid.

    Attributes:
        problems: every problem found, one line each (the message is the
            first, with a count of the others); ``dqsim check`` prints them all.
    """

    def __init__(self, message: str, problems: "list[str] | None" = None):
        super().__init__(message)
        self.problems = list(problems) if problems else [message]


class DamagedFileError(DqsimError):
    """A file listed in a manifest is missing, resized or damaged (its bytes differ from the listed checksums)."""


class CircuitError(DqsimError):
    """A circuit (or its QASM text) is invalid."""


class ResourceError(DqsimError):
    """The run does not fit the memory or ranks it was given."""


class RankCountError(ResourceError):
    """A state vector split over the ranks, on a rank count that is not a power of two.

    Attributes:
        num_ranks: the run's rank count.
        below, above: the nearest powers of two (``below`` may equal ``num_ranks - 1``).
    """

    def __init__(self, message: str, *, num_ranks: int, below: int, above: int):
        super().__init__(message)
        self.num_ranks, self.below, self.above = num_ranks, below, above


def toml_repr(value, limit: int = 60) -> str:
    """A value as a job file would write it (TOML), for error messages; cut to ``limit`` characters.

    Examples:
        >>> toml_repr(True), toml_repr("up"), toml_repr([1, 2.5]), toml_repr({"a": "b"})
        ('true', '"up"', '[1, 2.5]', '{a = "b"}')
    """
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(toml_repr(v, limit) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k} = {toml_repr(v, limit)}" for k, v in value.items()) + "}"
    else:
        text = repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def count_of(number: int, noun: str, plural: str | None = None) -> str:
    """``number`` and ``noun``, plural unless ``number`` is 1 (``plural`` default: ``noun + "s"``), for messages.

    Examples:
        >>> count_of(1, "qubit"), count_of(0, "rank"), count_of(3, "QPU"), count_of(1, "entry", "entries")
        ('1 qubit', '0 ranks', '3 QPUs', '1 entry')
    """
    return f"{number} {noun if number == 1 else (plural if plural is not None else noun + 's')}"
