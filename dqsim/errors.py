"""Exceptions a user can act on.

Every dqsim error that stems from input (a job file, a circuit, an argument)
is a :class:`DqsimError` whose message is one line naming what is wrong and
the allowed values. The command line prints that line and exits non-zero,
without a traceback.
"""


class DqsimError(ValueError):
    """Bad input: the message says what is wrong and how to fix it."""


class ConfigError(DqsimError):
    """A job file key, type or value is invalid."""


class CircuitError(DqsimError):
    """A circuit (or its QASM text) is invalid."""


class ResourceError(DqsimError):
    """The run does not fit the memory or ranks it was given."""
