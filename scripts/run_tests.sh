#!/usr/bin/env bash
# Installs keras-mimo from a freshly built wheel into its own virtualenv and
# runs the test suite once per Keras backend (tensorflow, jax, torch).
#   bash scripts/run_tests.sh            # all three backends
#   BACKENDS="jax" bash scripts/run_tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv-test}"
BACKENDS="${BACKENDS:-tensorflow jax torch}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then "$PY" -m venv "$VENV"; fi
. "$VENV/bin/activate"
pip install -q --upgrade pip build
# Pinned CPU builds: torch==2.13.0 is a local CPU wheel here (a plain `torch`
# would pull a multi-GB CUDA build); TF-CPU 2.21 and keras 3.15.1 likewise.
pip install -q torch==2.13.0 tensorflow-cpu==2.21.0 keras==3.15.1 "jax[cpu]==0.10.2"
rm -rf dist && python -m build --wheel --outdir dist . >/dev/null
pip install -q --force-reinstall --no-deps dist/keras_mimo-*.whl
pip install -q "$(ls dist/keras_mimo-*.whl)[tensorflow,jax,torch,examples,test,docs]"
# TFP needs tf-keras next to TF; --no-deps keeps it from pulling full tensorflow.
pip install -q --no-deps tf-keras==2.21.0
# keras-hub (a test dependency: nested keras-hub backbones). Its
# tensorflow-text requirement pulls the full TensorFlow wheel next to
# tensorflow-cpu, so it goes in without dependencies, plus the light ones it
# imports (none of its tested parts needs tensorflow-text).
pip install -q --no-deps keras-hub==0.32.0
pip install -q regex rich kagglehub sentencepiece tokenizers packaging

status=0
for backend in $BACKENDS; do
  echo "=== pytest, KERAS_BACKEND=$backend"
  set +e
  KERAS_BACKEND="$backend" KERAS_MIMO_EXPECT_INSTALLED=1 pytest -q -p no:cacheprovider "$@"
  rc=$?
  set -e
  # pytest exit code 5 = "no tests collected": fine for a backend with none.
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then status=$rc; fi
done
echo "=== docs: mkdocs build --strict (API reference from the docstrings)"
mkdocs build --strict --quiet -d "$VENV/site" || status=1
exit $status
