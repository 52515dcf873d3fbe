#!/usr/bin/env bash
# The CUDA-path checks, as one command for a GPU machine. Run from the repository root:
#   bash scripts/device_check.sh
# Carried wheels in .whl/ (transformers at the oracle's version) are installed to /tmp/site first.
# Logs go to $OUT (default /tmp/device-logs), six flat files: env.log, cuda_tests.log, bench_train_medium.json,
# bench_train_small.json, bench_train.log, cpu_suites.log. Exit status: that of tests/cuda. Bounded to about 420 s.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/device-logs}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# Each limit can be set from the environment (a lease's remaining minutes decide); CPU_SUITES_S=0 skips
# those suites, BENCH_BATCHES="8 16" also measures medium at other batch sizes.
CUDA_TESTS_S=${CUDA_TESTS_S:-240}  # tests/cuda: training, the GPU knobs and two torch.compile graphs (one CUDA-graphed) included
BENCH_S=${BENCH_S:-70}        # each sonar bench train on the GPU (medium: 2.5B parameters, 1.1B active; then small)
BENCH_PRESETS=${BENCH_PRESETS:-medium small}
BENCH_BATCHES=${BENCH_BATCHES:-}
CPU_SUITES_S=${CPU_SUITES_S:-30}   # a few CPU suites against this machine's torch, if time is left

if compgen -G ".whl/*.whl" >/dev/null; then
    if python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
            .whl/*.whl; then
        export PYTHONPATH=/tmp/site:src
    else
        echo "device_check: installing .whl/ failed; using the machine's own packages" >&2
        export PYTHONPATH=src
    fi
else
    export PYTHONPATH=src
fi

{
    echo "PYTHONPATH=$PYTHONPATH"
    python3 --version
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
               'available', torch.cuda.is_available())"
    python3 -c "import transformers; print('transformers', transformers.__version__)"
    nvidia-smi -L
} 2>&1 | tee "$OUT/env.log"

echo "== tests/cuda (limit ${CUDA_TESTS_S}s)"
# cuBLAS gives the same bits every run only with a fixed workspace, set before its first use: the
# exact-resume test on the GPU relies on it.
CUBLAS_WORKSPACE_CONFIG=:4096:8 timeout -k 10 "$CUDA_TESTS_S" \
    python3 -m pytest -q -p no:cacheprovider -rA --durations=10 tests/cuda 2>&1 | tee "$OUT/cuda_tests.log"
status=${PIPESTATUS[0]}
[ "$status" -eq 124 ] && echo "device_check: tests/cuda passed its ${CUDA_TESTS_S}s limit" | tee -a "$OUT/cuda_tests.log"

# Training throughput in bf16: MFU against a bf16 matmul peak measured in the same process. medium's
# 16k-token steps (8 x 2048) keep its 2048-wide matmuls compute-bound; small is the CPU-sized reference.
# One process per preset, so an out-of-memory in one still leaves the other's report.
bench_status=0
for preset in $BENCH_PRESETS; do
    echo "== sonar bench train --device cuda --presets $preset (limit ${BENCH_S}s)"
    timeout -k 10 "$BENCH_S" python3 -m sonar bench train --device cuda --presets "$preset" --steps 5 --json \
        >"$OUT/bench_train_$preset.json" 2>>"$OUT/bench_train.log"
    rc=$?
    [ "$rc" -eq 124 ] && echo "device_check: bench train $preset passed its ${BENCH_S}s limit" >>"$OUT/bench_train.log"
    [ "$rc" -ne 0 ] && bench_status=$rc
    python3 - "$OUT/bench_train_$preset.json" <<'PY' 2>&1 | tee -a "$OUT/bench_train.log"
import json, sys
try:
    report = json.load(open(sys.argv[1]))
except (OSError, ValueError) as err:
    sys.exit(f"bench train: no JSON report in {sys.argv[1]} ({err})")
print(f"{report['matmul_peak_dtype']} matmul peak {report['matmul_peak_flops_per_s'] / 1e12:.0f} TFLOP/s on "
      f"{report['device_name']}")
for r in report["results"]:
    print(f"{r['preset']:>7} (batch {r['batch_size']} x {r['seq_len']}): {r['tokens_per_s']:,.0f} tok/s, "
          f"{r['achieved_flops_per_s'] / 1e12:.0f} TFLOP/s, MFU {r['mfu']:.1%}, step {r['step_seconds'] * 1e3:.0f} ms, "
          f"peak memory {(r['max_memory_allocated_bytes'] or 0) / 2**30:.1f} GiB")
PY
done
[ "$bench_status" -ne 0 ] && tail -n 30 "$OUT/bench_train.log"

for batch in $BENCH_BATCHES; do
    echo "== sonar bench train --device cuda --presets medium --batch-size $batch (limit ${BENCH_S}s)"
    timeout -k 10 "$BENCH_S" python3 -m sonar bench train --device cuda --presets medium --batch-size "$batch" \
        --steps 5 --json >"$OUT/bench_train_medium_b$batch.json" 2>>"$OUT/bench_train.log"
    python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print('medium batch', r['batch_size'], \
'MFU', round(r['mfu'], 4), 'tok/s', round(r['tokens_per_s']))" "$OUT/bench_train_medium_b$batch.json" \
        2>&1 | tee -a "$OUT/bench_train.log"
done

# The same CPU suites under this machine's torch and transformers (another version than the dev machine's).
if [ "$CPU_SUITES_S" -gt 0 ]; then
    echo "== CPU suites (limit ${CPU_SUITES_S}s)"
    timeout -k 10 "$CPU_SUITES_S" python3 -m pytest -q -p no:cacheprovider -x \
        tests/model/test_parity_hf.py tests/model/test_cache_and_generate.py tests/systems/test_knobs.py \
        tests/systems/test_space.py tests/plan 2>&1 | tee "$OUT/cpu_suites.log"
    [ "${PIPESTATUS[0]}" -eq 124 ] && echo "device_check: CPU suites passed their ${CPU_SUITES_S}s limit" \
        | tee -a "$OUT/cpu_suites.log"
fi

echo "device_check: tests/cuda exit status $status, bench train exit status $bench_status"
exit "$status"
