#!/usr/bin/env bash
# Build the SeQUeNCe 0.8.5 virtual environment that bench/sequence_chain.py runs SeQUeNCe in.
#
# SeQUeNCe is a peer simulator used only by benchmarks, so it lives in its own venv (default
# /work/venvs/sequence; SEQUENCE_VENV=/path overrides) and never in dqsim's .venv. Idempotent:
# a no-op when the venv already imports SeQUeNCe 0.8.5. Needs Python >= 3.11 and PyPI.
# Usage: scripts/sequence_env.sh      (PYTHON=python3.12 scripts/sequence_env.sh to pick the interpreter)
set -euo pipefail
PYTHON=${PYTHON:-python3.11}
VENV=${SEQUENCE_VENV:-/work/venvs/sequence}
VERSION=0.8.5

works() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c \
        "import sys, sequence; from importlib.metadata import version; sys.exit(0 if version('sequence') == '$VERSION' else 1)" \
        >/dev/null 2>&1
}

if works; then
    echo "sequence_env: $VENV already has SeQUeNCe $VERSION; nothing to do"
    exit 0
fi
command -v "$PYTHON" >/dev/null 2>&1 || { echo "sequence_env: $PYTHON not found" >&2; exit 1; }
echo "sequence_env: building $VENV with SeQUeNCe $VERSION"
mkdir -p "$(dirname "$VENV")"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip --disable-pip-version-check install --quiet "sequence==$VERSION"
works || { echo "sequence_env: $VENV does not import SeQUeNCe $VERSION after the install" >&2; exit 1; }
echo "sequence_env: done"
