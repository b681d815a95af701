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


def lossless_link(fidelity) -> str:
    """A ``[network.link]`` table of 1 km direct links without loss or dark counts (every attempt heralds),
    pairs of Werner fidelity ``fidelity``."""
    return f"""[network.link]
distance_km = 1.0
scheme = "direct"
attenuation_db_per_km = 0.0
detector_efficiency = 1.0
dark_count_rate_hz = 0.0
source_fidelity = {fidelity!r}"""
