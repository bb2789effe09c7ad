#!/usr/bin/env bash
# Create .venv and install sphinx-x with its web and test extras. Idempotent: reinstalls only when
# pyproject.toml changed. Torch comes first so that pip never pulls a different build for it.
#   TORCH_SPEC       torch requirement (default torch==2.13.0, the CPU build on this machine)
#   TORCH_INDEX_URL  a PyTorch wheel index for your CUDA version, on a GPU machine
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
stamp=.venv/.sphinx-x-installed
[ -x .venv/bin/python ] || "$python" -m venv .venv
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "${TORCH_SPEC:-torch==2.13.0}"
  .venv/bin/python -m pip install -q -e '.[web,quantize,lora,test]'
  touch "$stamp"
fi
