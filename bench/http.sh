#!/usr/bin/env bash
# HTTP benchmark (issue 2): GET /v1/sys/health and an authenticated no-op
# (GET /v1/auth/whoami) on mamorid, side by side with nginx returning the
# same small JSON body, both on loopback, measured with wrk at 64 connections
# in the same run. Target: health >= 70% of nginx's requests/s, p99 < 10 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RESULTS=${RESULTS:-bench/results}
mkdir -p "$RESULTS"

start_mamorid $'threads = 2\n[log]\nlevel = "warn"\naccess_log = "off"'
trap 'stop_mamorid; [ -n "${NG_PID:-}" ] && kill $NG_PID 2>/dev/null; true' EXIT
body=$(curl -s "http://127.0.0.1:$MM_PORT/v1/sys/health")

NG_DIR=$(mktemp -d /tmp/nginx-bench-XXXXXX)
NG_PORT=$(free_port)
mkdir -p "$NG_DIR/logs"
esc=$(printf '%s' "$body" | sed "s/'/\\\\'/g")
cat > "$NG_DIR/nginx.conf" <<CONF
worker_processes 2;
pid $NG_DIR/nginx.pid;
error_log $NG_DIR/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NG_PORT reuseport;
    location / { default_type application/json; return 200 '$esc'; }
  }
}
CONF
nginx -c "$NG_DIR/nginx.conf" -p "$NG_DIR" -g 'daemon off;' &
NG_PID=$!
sleep 0.5

echo "# name requests/s p50_ms p99_ms non2xx"
n=$(run_wrk nginx_static "http://127.0.0.1:$NG_PORT/v1/sys/health")
echo "$n"
h=$(run_wrk mamori_health "http://127.0.0.1:$MM_PORT/v1/sys/health")
echo "$h"
a=$(run_wrk mamori_auth_noop "http://127.0.0.1:$MM_PORT/v1/auth/whoami" -H "Authorization: Bearer $MM_TOKEN")
echo "$a"
python3 - "$n" "$h" "$a" <<'PY'
import sys
n, h, a = (l.split() for l in sys.argv[1:4])
ratio = float(h[1]) / float(n[1])
ok = ratio >= 0.70 and float(h[3]) < 10
print("health/nginx ratio %.2f (target >= 0.70), health p99 %.2f ms (target < 10): %s"
      % (ratio, float(h[3]), "PASS" if ok else "FAIL"))
print("authenticated no-op: %.0f req/s, p99 %.2f ms" % (float(a[1]), float(a[3])))
PY
kill $NG_PID 2>/dev/null; wait $NG_PID 2>/dev/null || true
rm -rf "$NG_DIR"
