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
trap 'stop_mamorid; [ -z "${NG_PID:-}" ] || kill $NG_PID 2>/dev/null || true' EXIT
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

ROUNDS=${ROUNDS:-3}
echo "# name requests/s p50_ms p99_ms non2xx (round by round, alternating servers)"
: > "$RESULTS/http.rounds"
for r in $(seq "$ROUNDS"); do
  for case in nginx_static mamori_health mamori_auth_noop; do
    case $case in
      nginx_static) line=$(run_wrk "$case" "http://127.0.0.1:$NG_PORT/v1/sys/health") ;;
      mamori_health) line=$(run_wrk "$case" "http://127.0.0.1:$MM_PORT/v1/sys/health") ;;
      mamori_auth_noop) line=$(run_wrk "$case" "http://127.0.0.1:$MM_PORT/v1/auth/whoami" \
                            -H "Authorization: Bearer $MM_TOKEN") ;;
    esac
    echo "$line" | tee -a "$RESULTS/http.rounds"
  done
done
python3 - "$RESULTS/http.rounds" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[0], []).append((float(f[1]), float(f[2]), float(f[3])))
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in rows.items()}
print("# medians over %d rounds" % len(rows["nginx_static"]))
for k in ("nginx_static", "mamori_health", "mamori_auth_noop"):
    print("%-18s %10.0f req/s  p50 %.2f ms  p99 %.2f ms" % (k, *med[k]))
n, h, a = med["nginx_static"], med["mamori_health"], med["mamori_auth_noop"]
ratio = h[0] / n[0]
ok = ratio >= 0.70 and h[2] < 10
print("health/nginx ratio %.2f (target >= 0.70), health p99 %.2f ms (target < 10): %s"
      % (ratio, h[2], "PASS" if ok else "FAIL"))
print("authenticated no-op/nginx ratio %.2f, p99 %.2f ms" % (a[0] / n[0], a[2]))
sys.exit(0 if ok else 1)
PY
rc=$?
kill $NG_PID 2>/dev/null || true; wait $NG_PID 2>/dev/null || true; NG_PID=""
rm -rf "$NG_DIR"
exit $rc
