#!/usr/bin/env bash
# Access check benchmark (issue 4): wrk at 64 connections against
# POST /v1/access/check for a user holding an active grant. Every answer
# waits for its audit record to be durable (group commit, synchronous=full).
# Target: >= 20,000 requests/s with p99 < 5 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RESULTS=${RESULTS:-bench/results}
mkdir -p "$RESULTS"

start_mamorid $'threads = 2\n[log]\nlevel = "warn"\naccess_log = "off"\n[target.bench]\nroles = ["ops"]\nactions = ["ssh"]'
trap 'stop_mamorid' EXIT
seal_init_unseal_enrol
python3 bench/access_setup.py "$MM_PORT" "$MM_TOKEN" >/dev/null

# Sanity: the request is allowed before measuring.
curl -sf -X POST -H "Authorization: Bearer $MM_TOKEN" -H 'Content-Type: application/json' \
  -d '{"user":"op1","target":"bench","action":"ssh"}' \
  "http://127.0.0.1:$MM_PORT/v1/access/check" | grep -q '"allowed":true'

ROUNDS=${ROUNDS:-3}
echo "# name requests/s p50_ms p99_ms non2xx"
: > "$RESULTS/access.rounds"
for r in $(seq "$ROUNDS"); do
  MAMORI_TOKEN=$MM_TOKEN run_wrk access_check "http://127.0.0.1:$MM_PORT/v1/access/check" \
    -s bench/bench_access.lua | tee -a "$RESULTS/access.rounds"
done
# Server-side view: the daemon's own latency histogram for the route (from
# request parsed to reply written; wrk's numbers add client scheduling and
# wrk's coordinated-omission correction, which turns one writer stall into
# many samples).
curl -sf -H "Authorization: Bearer $MM_TOKEN" "http://127.0.0.1:$MM_PORT/metrics" |
  grep 'duration_seconds_bucket{route="POST /v1/access/check",status="200"' > "$RESULTS/access.hist" || true
curl -sf -H "Authorization: Bearer $MM_TOKEN" "http://127.0.0.1:$MM_PORT/metrics" |
  awk '$1 == "mamori_store_commit_groups_total" { g = $2 } $1 == "mamori_store_jobs_total" { j = $2 }
       END { if (g > 0) printf "store (whole run, set-up included): %d group commits for %d jobs, %.1f jobs per group\n", g, j, j / g }'
python3 - "$RESULTS/access.hist" <<'PY'
import re, sys
b = [(float("inf") if m.group(1) == "+Inf" else float(m.group(1)), int(m.group(2)))
     for m in (re.search(r'le="([^"]+)"\} (\d+)', l) for l in open(sys.argv[1])) if m]
if b:
    total = b[-1][1]
    def pct(p):
        return next(le for le, n in b if n >= p * total)
    print("server-side (daemon histogram, %d requests): p50 <= %g ms, p99 <= %g ms, "
          "share within 5 ms %.2f%%" % (total, pct(0.5) * 1000, pct(0.99) * 1000,
                                         100.0 * dict(b)[0.005] / total))
PY
rounds_verdict "$RESULTS/access.rounds" "access_check"
