#!/usr/bin/env bash
# Keys over HTTP (issue 5): POST /v1/keys/NAME/encrypt with 1 KiB of plaintext
# at 64 connections with wrk. Every call is audited (one durable audit event
# per request, sharing group commits). Target: >= 20,000 requests/s, p99 < 5 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RESULTS=${RESULTS:-bench/results}
mkdir -p "$RESULTS"
start_mamorid "threads = ${MM_THREADS:-2}"$'\n[log]\nlevel = "warn"\naccess_log = "off"'"${MM_EXTRA_CONF:-}"
trap stop_mamorid EXIT
[ -n "${KEEP_FOR_PERF:-}" ] && echo "PID $MM_PID"
A="http://127.0.0.1:$MM_PORT"
auth=(-H "Authorization: Bearer $MM_TOKEN" -H "Content-Type: application/json")
shares=$(curl -sf "${auth[@]}" -d '{"secret_shares":3,"secret_threshold":2}' "$A/v1/sys/seal/init" |
  python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["shares"][:2]))')
for s in $shares; do
  curl -sf -H "Content-Type: application/json" -d "{\"key\":\"$s\"}" "$A/v1/sys/unseal" >/dev/null
done
# Unsealed: administrators must use TOTP from now on (issue 4).
enrol_admin_totp
curl -sf "${auth[@]}" -d '{"name":"bench","type":"aes256-gcm"}' "$A/v1/keys" >/dev/null
pt=$(head -c 1024 /dev/urandom | base64 -w0)
cat > "$RESULTS/encrypt.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"plaintext":"$pt","context":"Y3VzdG9tZXI6NDI="}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $MM_TOKEN"
LUA
curl -sf "${auth[@]}" -d "{\"plaintext\":\"$pt\"}" "$A/v1/keys/bench/encrypt" | head -c 80; echo
# Rounds and medians, like the access benchmark: one disk flush stall in a
# round moves its p99 (docs/benchmarks.md, "Disk flush stalls").
ROUNDS=${ROUNDS:-3}
echo "# name requests/s p50_ms p99_ms non2xx"
: > "$RESULTS/keys_encrypt.rounds"
store_snapshot "$RESULTS/keys_metrics.before"
thread_cpu "$RESULTS/keys_cpu.before"
total=0
for r in $(seq "$ROUNDS"); do
  run_wrk keys_encrypt "$A/v1/keys/bench/encrypt" -s "$RESULTS/encrypt.lua" |
    tee -a "$RESULTS/keys_encrypt.rounds"
  total=$((total + $(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$RESULTS/keys_encrypt.wrk")))
done
thread_cpu "$RESULTS/keys_cpu.after"
store_snapshot "$RESULTS/keys_metrics.after"
store_groups "$RESULTS/keys_metrics.before" "$RESULTS/keys_metrics.after"
thread_cpu_report "$RESULTS/keys_cpu.before" "$RESULTS/keys_cpu.after" "$total"
rounds_verdict "$RESULTS/keys_encrypt.rounds" "encrypt 1 KiB over HTTP"
