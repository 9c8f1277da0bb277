#!/usr/bin/env bash
# The README's test command (CI's .ci/run calls it): installs keras-mimo from a
# freshly built wheel into its own virtualenv and runs the two test tiers.
#   bash scripts/run_tests.sh          # ruff; the unit tier on tensorflow, jax and torch;
#                                      # the large tier once (each test on the backend it
#                                      # concerns, the rest on $LARGE_BACKEND); mkdocs --strict;
#                                      # the sdist and wheel built and checked (twine check)
#   bash scripts/run_tests.sh --quick  # ruff; the unit tier on one backend ($KERAS_BACKEND, else torch,
#                                      # the fastest here); 2 pytest-xdist workers on tensorflow and jax
#   BACKENDS="tensorflow jax" bash scripts/run_tests.sh   # skip (and do not install) torch
# Other arguments go to every pytest call. When every step of the whole command
# passes on a clean work tree, the commit is written to .test-results/last-pass.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv-test}"
BACKENDS="${BACKENDS:-tensorflow jax torch}"
# The backend-independent large tests run once, under torch where it is installed: it runs
# tiny models fastest on this CPU (docs/results/unit_tiers.md).
case " $BACKENDS " in *" torch "*) default_large=torch;; *) default_large="${BACKENDS%% *}";; esac
LARGE_BACKEND="${LARGE_BACKEND:-$default_large}"
PY="${PYTHON:-python3}"
QUICK=0
if [ "${1:-}" = "--quick" ]; then
  QUICK=1
  shift
  BACKENDS="${KERAS_BACKEND:-torch}"
fi
# pytest-xdist workers per pytest call (0: none). --quick runs one pytest call alone: 2 workers on
# tensorflow and jax (unit tier 153 s against 224 s, 143 s against 240 s in one process), none on torch
# (94 s against 85 s); the whole command runs its calls two at a time instead
# (docs/results/unit_tiers.md, docs/backends.md#test-tiers).
quick_workers=2
if [ "$BACKENDS" = torch ]; then quick_workers=0; fi
if [ "$QUICK" = 1 ]; then WORKERS="${PYTEST_WORKERS:-$quick_workers}"; else WORKERS="${PYTEST_WORKERS:-0}"; fi
RESULTS=.test-results
mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.xml

if [ ! -x "$VENV/bin/python" ]; then "$PY" -m venv "$VENV"; fi
. "$VENV/bin/activate"
# The dependencies are installed once per version of this script and of
# pyproject.toml (a stamp in the virtualenv); the wheel is rebuilt every time.
stamp="$VENV/.deps-$(cat "$0" pyproject.toml | sha256sum | cut -c1-16)"
installed=1
for backend in $BACKENDS; do grep -qw "$backend" "$stamp" 2>/dev/null || installed=0; done
extras="tensorflow,examples,test,docs"
case " $BACKENDS " in *" jax "*) extras="$extras,jax";; esac
case " $BACKENDS " in *" torch "*) extras="$extras,torch";; esac
if [ "$installed" = 0 ]; then
  pip install -q --upgrade pip build twine
  # CPU builds only. TensorFlow and JAX: tensorflow-cpu and jax[cpu] from PyPI.
  # TensorFlow is installed whatever BACKENDS says: the data pipelines, TFDS,
  # the TFP references and the SavedModel export tests use it.
  pip install -q tensorflow-cpu==2.21.0 keras==3.15.1
  case " $BACKENDS " in *" jax "*) pip install -q "jax[cpu]==0.10.2";; esac
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
    fi;;
  esac
  # Installs the extras' dependencies (the package itself is reinstalled below).
  pip install -q ".[$extras]"
  # TFP needs tf-keras next to TF; --no-deps keeps it from pulling full tensorflow.
  pip install -q --no-deps tf-keras==2.21.0
  # keras-hub (a test dependency: nested keras-hub backbones). Its
  # tensorflow-text requirement pulls the full TensorFlow wheel next to
  # tensorflow-cpu, so it goes in without dependencies, plus the light ones it
  # imports (none of its tested parts needs tensorflow-text).
  pip install -q --no-deps keras-hub==0.32.0
  pip install -q regex rich kagglehub sentencepiece tokenizers packaging pytest-xdist
  rm -f "$VENV"/.deps-*
  echo "$BACKENDS" > "$stamp"
fi
rm -rf dist && python -m build --wheel --outdir dist . >/dev/null
pip install -q --force-reinstall --no-deps dist/keras_mimo-*.whl

status=0
step() { echo; echo "=== $*"; }
# One pytest call (a tier on a backend): its output goes to $RESULTS/<tier>-<backend>.log, its
# exit status to .rc (pytest's 5, "no tests collected", counts as a pass: a tier may have none).
run_pytest() {
  local backend=$1 tier=$2
  shift 2
  local workers=() selection=(-m "not large")
  if [ "$WORKERS" != "0" ]; then workers=(-n "$WORKERS"); fi
  if [ "$tier" = large ]; then selection=(-m large --large_backend="$LARGE_BACKEND"); fi
  local rc=0
  KERAS_BACKEND="$backend" KERAS_MIMO_EXPECT_INSTALLED=1 pytest -q -p no:cacheprovider "${workers[@]}" \
    --junitxml="$RESULTS/$tier-$backend.xml" "${selection[@]}" "$@" > "$RESULTS/$tier-$backend.log" 2>&1 || rc=$?
  if [ "$rc" -eq 5 ]; then rc=0; fi
  echo "$rc" > "$RESULTS/$tier-$backend.rc"
}
export -f run_pytest
export RESULTS WORKERS LARGE_BACKEND

start=$(date +%s)
step "ruff check, ruff format --check (line length and rules: pyproject.toml)"
ruff check . || status=1
ruff format --check . || status=1
# The tiers' pytest calls, longest first, run in $TEST_LANES lanes (2: two at a time; one pytest
# process keeps about one of this machine's 2 cores busy, two at once finished a measured set of
# calls 1.4x sooner); their outputs are printed in order when all have finished.
steps=()
for backend in $BACKENDS; do steps+=("$backend unit"); done
if [ "$QUICK" = 0 ]; then for backend in $BACKENDS; do steps+=("$backend large"); done; fi
order=(torch:large jax:unit tensorflow:unit jax:large torch:unit tensorflow:large)  # longest first (measured)
queue=()
for key in "${order[@]}"; do
  for item in "${steps[@]}"; do [ "${item/ /:}" = "$key" ] && queue+=("$item"); done
done
for item in "${steps[@]}"; do  # any backend not in the measured order goes last
  case " ${order[*]} " in *" ${item/ /:} "*) ;; *) queue+=("$item");; esac
done
rm -f "$RESULTS"/*.log "$RESULTS"/*.rc
# xargs appends each queued "backend tier" after this script's own pytest arguments
printf '%s\n' "${queue[@]}" | xargs -P "${TEST_LANES:-2}" -L 1 \
  bash -c 'run_pytest "${@: -2:1}" "${@: -1}" "${@:1:$#-2}"' _ "$@" || true
for item in "${steps[@]}"; do
  set -- $item
  if [ "$2" = unit ]; then step "unit tier, KERAS_BACKEND=$1"
  else step "large tier, KERAS_BACKEND=$1 (backend-independent large tests under $LARGE_BACKEND only)"; fi
  cat "$RESULTS/$2-$1.log" 2>/dev/null || echo "(no output)"
  rc=$(cat "$RESULTS/$2-$1.rc" 2>/dev/null || echo 1)
  if [ "$rc" -ne 0 ]; then status=$rc; fi
done
if [ "$QUICK" = 0 ]; then
  step "docs: mkdocs build --strict (API reference from the docstrings)"
  mkdocs build --strict --quiet -d "$VENV/site" || status=1
  step "release: python -m build (sdist and wheel), twine check --strict, LICENSE and CHANGELOG.md in the sdist"
  packages=$(mktemp -d)
  if python -m build --outdir "$packages" . >/dev/null && twine check --strict "$packages"/*; then
    listing=$(tar tzf "$packages"/*.tar.gz)
    for file in LICENSE CHANGELOG.md; do
      grep -q "^keras_mimo-[^/]*/$file\$" <<< "$listing" || { echo "the sdist lacks $file"; status=1; }
    done
  else
    status=1
  fi
  rm -rf "$packages"
fi
step "the 25 slowest tests of this run (setup + call + teardown)"
python scripts/slowest_tests.py "$RESULTS"/*.xml --top 25 || true
echo "tests took $(( $(date +%s) - start )) s (status $status)"
if [ "$status" = 0 ] && [ "$QUICK" = 0 ]; then
  commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
  if [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit-dirty"; fi
  echo "$commit" > "$RESULTS/last-pass"
  echo "passed: $commit written to $RESULTS/last-pass"
fi
exit $status
