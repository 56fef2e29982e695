#!/usr/bin/env bash
# bench/audit.sh: the audit benchmark (called by bench/run.sh). In-process and
# durable (synchronous=FULL): batched appends, bytes per event, offline
# verification and proof latency at AUDIT_EVENTS events (default 10 million;
# needs about 3 GiB of free space in TMPDIR for the run, removed afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RESULTS=${RESULTS:-bench/results}
EVENTS=${AUDIT_EVENTS:-10000000}
mkdir -p "$RESULTS"
ninja -C "$BUILD" bench/bench_audit >/dev/null
"$BUILD/bench/bench_audit" --events "$EVENTS" --batch 10000 --targets 1000 --threads 2 --proofs 2000 \
  | tee "$RESULTS/audit.txt"
