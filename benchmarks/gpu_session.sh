#!/usr/bin/env bash
# The GPU measurements in one command: one H100/H200, JAX + torch, no TensorFlow, under 9 minutes.
#
#   here (network, ../shared):  bash benchmarks/gpu_session.sh prepare path/to/cifar10_npz path/to/cifar_compact.py
#   there (the device tool):    run(command="bash benchmarks/gpu_session.sh run", carry=[".gpu_carry"])
#   on tiny data, on a CPU:     GPU_SESSION_TINY=1 GPU_SESSION_NPZ=<tiny npz dir> bash benchmarks/gpu_session.sh run
#
# prepare: fills .gpu_carry/ (in .gitignore, about 55 MB): cp312 wheels the GPU image lacks (keras,
# namex, optree, torch-uncertainty), this project's wheel, the compact CIFAR-10 copy and its unpacker.
# run: installs them with --target, unpacks CIFAR-10, then runs the parts against one deadline
# (GPU_SESSION_BUDGET_S, default 510 s from the start of the run):
#   recipe  benchmarks.cifar10_quality --profile gpu_short (single seeds 0-2 and MIMO M=3 b=4; the
#           deep ensembles come from the singles)
#   shift   benchmarks.cifar10_shift_ood --profile gpu (temperature scaling, corruptions, held-out classes)
#   mixmo   benchmarks.cifar10_shift_ood --profile mixmo_gpu (not in the default list: it needs its own run)
#   peers   benchmarks.peers speed, WRN-28-10 M=3 b=4, 128 unique images: torch eager, JAX, torch jit_compile
# recipe and shift (and mixmo) train at the same time, two JAX processes on the one GPU; the peer
# timings run after them, alone on it. Every part writes its results when it ends (the studies
# after each variant) and the run re-packs everything finished into $OUT/gpu_session.tar.gz, so a
# cut run keeps what it finished. GPU_SESSION_PARTS chooses the parts (default "recipe shift peers").
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
CARRY="${GPU_SESSION_CARRY:-.gpu_carry}"

prepare() {
  local npz="$1" tool="$2"
  rm -rf "$CARRY" && mkdir -p "$CARRY/wheels"
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$CARRY/wheels" \
    keras==3.15.1 namex optree torch-uncertainty==0.13.0 || exit 1
  "$PY" -m pip wheel -q --no-deps -w "$CARRY/wheels" . || exit 1
  cp "$tool" "$CARRY/cifar_compact.py"
  "$PY" "$tool" pack "$npz" "$CARRY/cifar10_compact" || exit 1
  du -sh "$CARRY"
}

run() {
  local start work out budget deadline parts npz tiny
  start=$(date +%s)
  budget="${GPU_SESSION_BUDGET_S:-510}"
  deadline=$((start + budget))
  out="${OUT:-runs/gpu_session_out}"
  work="${GPU_SESSION_WORK:-runs/gpu_session}"
  parts="${GPU_SESSION_PARTS:-recipe shift peers}"
  tiny="${GPU_SESSION_TINY:-0}"
  mkdir -p "$out" "$work/docs/results" "$work/logs"
  export PYTHONUNBUFFERED=1 KERAS_BACKEND=jax

  if [ "$tiny" != 1 ] && compgen -G "$CARRY/wheels/*.whl" >/dev/null; then  # tiny: this machine's own packages
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      "$CARRY"/wheels/*.whl || exit 1
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  npz="${GPU_SESSION_NPZ:-}"
  if [ -z "$npz" ]; then
    npz=/tmp/cifar10_npz
    [ -f "$npz/test.npz" ] || "$PY" "$CARRY/cifar_compact.py" unpack "$CARRY/cifar10_compact" "$npz" || exit 1
  fi
  "$PY" - > "$work/environment.json" <<'EOF'
import json, platform, keras, numpy
info = {"keras": keras.__version__, "numpy": numpy.__version__, "python": platform.python_version()}
for name in ("jax", "torch", "torch_uncertainty"):
    try:
        info[name] = __import__(name).__version__
    except Exception as e:  # noqa: BLE001 - recorded, not fatal
        info[name] = f"missing ({type(e).__name__})"
try:
    import jax
    info["jax_devices"] = [str(d) for d in jax.devices()]
except Exception:
    pass
print(json.dumps(info, indent=1))
EOF

  # the tiny-data overrides (a CPU check of the whole command); empty on the GPU
  local recipe_tiny=() shift_tiny=() peers_tiny=()
  if [ "$tiny" = 1 ]; then
    recipe_tiny=(--epochs 1 --depth 10 --width_multiplier 1 --batch_repetitions 2 --train_examples 128
      --test_examples 30 --calibration_examples 40 --corruption_examples 6 --variants single_s0 mimo3 single_s1)
    shift_tiny=(--epochs 1 --depth 10 --width_multiplier 1 --train_examples 40 --calibration_examples 40
      --batch_size 16 --corruption_examples 6 --test_examples 30 --variants single_s0 mimo3 single_s1)
    peers_tiny=(--depth 10 --width 1 --unique_batch 4 --inference_batch 8 --repeats 1)
  fi

  pack() {  # everything finished so far, without the models (tens of MB each), data caches and TensorBoard logs
    (
      flock 9
      tar czf "$out/gpu_session.tar.gz.tmp" --exclude='*.keras' --exclude='*.npz' --exclude='tb' -C "$work" . \
        && mv "$out/gpu_session.tar.gz.tmp" "$out/gpu_session.tar.gz"
      cp "$work/status.txt" "$out/status.txt" 2>/dev/null
    ) 9>"$work/.pack.lock"
  }
  status() { echo "$(( $(date +%s) - start )) s: $*" | tee -a "$work/status.txt"; }
  left() { echo $(( deadline - $(date +%s) - ${1:-0} )); }
  want() { [[ " $parts " == *" $1 "* ]]; }

  # studies: at the same time, until the deadline less the peers' share
  local reserve=0 pids=()
  want peers && reserve="${GPU_SESSION_PEERS_S:-170}"
  study() {  # name, module, profile, tiny flags...
    local name="$1" module="$2" profile="$3"
    shift 3
    status "$name: started"
    XLA_PYTHON_CLIENT_MEM_FRACTION="${GPU_SESSION_MEM_FRACTION:-0.3}" timeout "$(left "$reserve")" \
      "$PY" -m "benchmarks.$module" --npz_dir "$npz" --profile "$profile" --run_dir "$work/runs/$name" \
      --docs_dir "$work/docs" "$@" > "$work/logs/$name.log" 2>&1
    local rc=$?
    status "$name: ended rc=$rc$([ $rc = 124 ] && echo ' (cut at the deadline)')"
    if [ $rc != 0 ]; then  # a finished study wrote its report; a cut or failed one reports what it finished
      "$PY" -m "benchmarks.$module" --npz_dir "$npz" --profile "$profile" --run_dir "$work/runs/$name" \
        --docs_dir "$work/docs" --report_only "$@" >> "$work/logs/$name.log" 2>&1
      status "$name: report rc=$?"
    fi
    pack
  }
  want recipe && { study recipe cifar10_quality gpu_short "${recipe_tiny[@]}" & pids+=($!); }
  want shift && { study shift cifar10_shift_ood gpu "${shift_tiny[@]}" & pids+=($!); }
  want mixmo && { study mixmo cifar10_shift_ood mixmo_gpu "${shift_tiny[@]/mimo3/cut_mixmo2}" & pids+=($!); }
  for pid in "${pids[@]}"; do wait "$pid"; done

  if want peers; then
    if ! "$PY" -c "import torch_uncertainty" 2>/dev/null; then
      status "peers: skipped (torch_uncertainty is not installed)"
    else
      local peer_args=(speed --unique_batch 128 --inference_batch 512 --repeats 10 --results_dir "$work/docs/results")
      [ "$tiny" = 1 ] && peer_args=(speed "${peers_tiny[@]}" --results_dir "$work/docs/results")
      for run in "torch false" "jax auto" "torch true"; do  # the compiled torch step last: its compile is the unknown
        set -- $run
        if [ "$(left 5)" -le 0 ]; then status "peers $1 jit_compile=$2: no time left"; continue; fi
        status "peers $1 jit_compile=$2: started"
        KERAS_BACKEND="$1" timeout "$(left 5)" "$PY" -m benchmarks.peers "${peer_args[@]}" --jit_compile "$2" \
          >> "$work/logs/peers.log" 2>&1
        status "peers $1 jit_compile=$2: ended rc=$?"
      done
      "$PY" -m benchmarks.peers report --results_dir "$work/docs/results" >> "$work/logs/peers.log" 2>&1
    fi
    pack
  fi
  status "done"
  pack
}

case "${1:-}" in
  prepare) shift; [ $# -eq 2 ] || { echo "usage: $0 prepare CIFAR10_NPZ_DIR CIFAR_COMPACT_PY" >&2; exit 2; }; prepare "$@" ;;
  run) run ;;
  *) echo "usage: $0 prepare CIFAR10_NPZ_DIR CIFAR_COMPACT_PY | run" >&2; exit 2 ;;
esac
