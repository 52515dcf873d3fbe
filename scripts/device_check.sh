#!/usr/bin/env bash
# The CUDA-path checks, as one command for a GPU machine. Run from the repository root:
#   bash scripts/device_check.sh
# Carried wheels in .whl/ (transformers at the oracle's version) are installed to /tmp/site first.
# Logs go to $OUT (default /tmp/device-logs). Exit status: that of tests/cuda. Bounded to about 300 s.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/device-logs}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
CUDA_TESTS_S=200  # tests/cuda: expected 1-2 minutes on an H100, one torch.compile graph included
CPU_SUITES_S=80   # a few CPU suites against this machine's torch, if time is left

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
timeout -k 10 "$CUDA_TESTS_S" python3 -m pytest -q -p no:cacheprovider -rA --durations=10 tests/cuda 2>&1 \
    | tee "$OUT/cuda_tests.log"
status=${PIPESTATUS[0]}
[ "$status" -eq 124 ] && echo "device_check: tests/cuda passed its ${CUDA_TESTS_S}s limit" | tee -a "$OUT/cuda_tests.log"

# The same CPU suites under this machine's torch and transformers (another version than the dev machine's).
echo "== CPU suites (limit ${CPU_SUITES_S}s)"
timeout -k 10 "$CPU_SUITES_S" python3 -m pytest -q -p no:cacheprovider -x \
    tests/model/test_parity_hf.py tests/model/test_cache_and_generate.py tests/systems/test_knobs.py \
    tests/systems/test_space.py tests/plan 2>&1 | tee "$OUT/cpu_suites.log"
[ "${PIPESTATUS[0]}" -eq 124 ] && echo "device_check: CPU suites passed their ${CPU_SUITES_S}s limit" \
    | tee -a "$OUT/cpu_suites.log"

echo "device_check: tests/cuda exit status $status"
exit "$status"
