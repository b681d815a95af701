"""Packaging beyond pyproject.toml: the example jobs under jobs/ ship in the wheel as dqsim.example_jobs.

The metadata lives in pyproject.toml. Here only the package list: every dqsim package, plus jobs/
(and jobs/circuits/, jobs/networks/) installed as the package data of ``dqsim.example_jobs``, which
``dqsim examples DIR`` copies out (dqsim/cli/examples.py).
"""

from setuptools import find_packages, setup

EXAMPLES = "dqsim.example_jobs"

setup(
    packages=[*find_packages(include=["dqsim", "dqsim.*"]), EXAMPLES, f"{EXAMPLES}.circuits", f"{EXAMPLES}.networks"],
    package_dir={EXAMPLES: "jobs", f"{EXAMPLES}.circuits": "jobs/circuits", f"{EXAMPLES}.networks": "jobs/networks"},
    package_data={EXAMPLES: ["*.toml"], f"{EXAMPLES}.circuits": ["*.qasm"], f"{EXAMPLES}.networks": ["*.csv"]},
)
