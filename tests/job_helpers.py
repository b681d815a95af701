"""Loading job texts in tests, and asserting their one-line errors."""

import pytest

from dqsim.errors import ConfigError
from dqsim.jobs import load_job_text


def load(text, **kw):
    return load_job_text(text, source="jobs/x.toml", **kw)


def bad(text, match, **kw):
    """Assert ``text`` fails with a one-line ConfigError matching ``match``; return the message."""
    with pytest.raises(ConfigError, match=match) as info:
        load(text, **kw)
    message = str(info.value)
    assert "\n" not in message and message.startswith("jobs/x.toml: ")
    return message
