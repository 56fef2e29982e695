#!/usr/bin/env bash
# Keys over HTTP (issue 5): POST /v1/keys/NAME/encrypt with 1 KiB of plaintext
# at 64 connections with wrk. Every call is audited (one durable audit event
# per request, sharing group commits). Target: >= 20,000 requests/s, p99 < 5 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RESULTS=${RESULTS:-bench/results}
mkdir -p "$RESULTS"
start_mamorid $'threads = 2\n[log]\nlevel = "warn"\naccess_log = "off"'
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
echo "# name requests/s p50_ms p99_ms non2xx"
line=$(run_wrk keys_encrypt "$A/v1/keys/bench/encrypt" -s "$RESULTS/encrypt.lua")
echo "$line"
python3 - "$line" <<'PY'
import sys
f = sys.argv[1].split()
ok = float(f[1]) >= 20000 and float(f[3]) < 5 and f[4] == "0"
print("encrypt 1 KiB over HTTP: %.0f req/s (target >= 20000), p99 %.2f ms (target < 5), non-2xx %s: %s"
      % (float(f[1]), float(f[3]), f[4], "PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
PY
