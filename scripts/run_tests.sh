#!/usr/bin/env bash
# Installs keras-mimo from a freshly built wheel into its own virtualenv and
# runs the test suite once per Keras backend (tensorflow, jax, torch).
#   bash scripts/run_tests.sh                      # all three backends
#   BACKENDS="tensorflow jax" bash scripts/run_tests.sh   # skip (and do not install) torch
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv-test}"
BACKENDS="${BACKENDS:-tensorflow jax torch}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then "$PY" -m venv "$VENV"; fi
. "$VENV/bin/activate"
pip install -q --upgrade pip build
# CPU builds only. TensorFlow and JAX: tensorflow-cpu and jax[cpu] from PyPI.
# TensorFlow is installed whatever BACKENDS says: the data pipelines, TFDS,
# the TFP references and the SavedModel export tests use it.
pip install -q tensorflow-cpu==2.21.0 keras==3.15.1
extras="tensorflow,examples,test,docs"
case " $BACKENDS " in *" jax "*) pip install -q "jax[cpu]==0.10.2"; extras="$extras,jax";; esac
case " $BACKENDS " in *" torch "*)
  # PyPI's Linux torch wheels are CUDA builds of several GB; the CPU build
  # (torch==2.13.0+cpu) comes from a local wheel when pip's find-links has
  # one, else from PyTorch's CPU index. Other systems get PyPI's CPU wheel.
  if [ "$(uname -s)" = "Linux" ]; then
    if pip download -q --no-index --no-deps -d "$(mktemp -d)" "torch==2.13.0+cpu" >/dev/null 2>&1; then
      pip install -q "torch==2.13.0+cpu"
    else
      pip install -q "torch==2.13.0+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
    fi
  else
    pip install -q "torch==2.13.0"
  fi
  extras="$extras,torch";;
esac
rm -rf dist && python -m build --wheel --outdir dist . >/dev/null
pip install -q --force-reinstall --no-deps dist/keras_mimo-*.whl
pip install -q "$(ls dist/keras_mimo-*.whl)[$extras]"
# TFP needs tf-keras next to TF; --no-deps keeps it from pulling full tensorflow.
pip install -q --no-deps tf-keras==2.21.0
# keras-hub (a test dependency: nested keras-hub backbones). Its
# tensorflow-text requirement pulls the full TensorFlow wheel next to
# tensorflow-cpu, so it goes in without dependencies, plus the light ones it
# imports (none of its tested parts needs tensorflow-text).
pip install -q --no-deps keras-hub==0.32.0
pip install -q regex rich kagglehub sentencepiece tokenizers packaging

status=0
echo "=== ruff check, ruff format --check (line length and rules: pyproject.toml)"
ruff check . || status=1
ruff format --check . || status=1
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
