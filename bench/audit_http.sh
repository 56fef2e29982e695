#!/usr/bin/env bash
# Audit appends over HTTP (issue 3): POST /v1/audit/events from 64 concurrent
# connections with wrk, durable before each response (group commit, fsync).
# Targets: >= 10,000 requests/s of single events; >= 50,000 events/s in
# batches of 100.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RESULTS=${RESULTS:-bench/results}
mkdir -p "$RESULTS"
start_mamorid $'threads = 2\n[log]\nlevel = "warn"\naccess_log = "off"'
trap stop_mamorid EXIT
A="http://127.0.0.1:$MM_PORT"
python3 - "$RESULTS" "$MM_TOKEN" <<'PY'
import json, sys
res, tok = sys.argv[1], sys.argv[2]
def ev(i):
    return {"actor": "app:billing", "action": "invoice.approve", "target": "invoice:%d" % i,
            "result": "success", "source": "10.1.2.3", "details": {"amount": 1000 + i, "currency": "JPY"}}
for name, body in (("single", ev(1)), ("batch100", {"events": [ev(i) for i in range(100)]})):
    with open("%s/audit_%s.lua" % (res, name), "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n'
                'wrk.headers["Authorization"] = "Bearer %s"\n' % (json.dumps(json.dumps(body)), tok))
PY
curl -sf -H "Authorization: Bearer $MM_TOKEN" -H "Content-Type: application/json" \
  -d '{"action":"bench.start","result":"success"}' "$A/v1/audit/events"; echo
echo "# name requests/s p50_ms p99_ms non2xx"
s=$(run_wrk audit_single "$A/v1/audit/events" -s "$RESULTS/audit_single.lua"); echo "$s"
b=$(run_wrk audit_batch100 "$A/v1/audit/events" -s "$RESULTS/audit_batch100.lua"); echo "$b"
python3 - "$s" "$b" <<'PY'
import sys
s, b = (l.split() for l in sys.argv[1:3])
ok1 = float(s[1]) >= 10000 and s[4] == "0"
ok2 = float(b[1]) * 100 >= 50000 and b[4] == "0"
print("single events: %.0f requests/s (target >= 10000), p99 %.2f ms: %s"
      % (float(s[1]), float(s[3]), "PASS" if ok1 else "FAIL"))
print("batches of 100: %.0f events/s (target >= 50000), p99 %.2f ms: %s"
      % (float(b[1]) * 100, float(b[3]), "PASS" if ok2 else "FAIL"))
sys.exit(0 if ok1 and ok2 else 1)
PY
