#!/usr/bin/env bash
# GPU checks of issue 13 on a machine with CUDA and the project's environment (.venv, or PYTHON=...):
#   bash benchmarks/cuda_check.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}"
"$PYTHON" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name(0))"
"$PYTHON" -m pytest tests/test_cuda.py -q -rs -s "$@"
