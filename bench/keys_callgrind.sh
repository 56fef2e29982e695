#!/usr/bin/env bash
# Keys over HTTP, counted in instructions (issue 5): runs mamorid under
# valgrind --tool=callgrind with the same configuration and request body as
# bench/keys_http.sh (1 KiB plaintext as base64 in JSON, threads = 2), sends N
# sequential encrypt requests then N decrypt requests over one keep-alive
# connection, and prints the daemon's instructions per request for each phase
# (all threads: HTTP workers, the store's writer and SQLite). Instruction
# counts are repeatable on a loaded machine, where wrk's requests/s are not.
# The callgrind files stay in $OUT (callgrind_annotate them for a breakdown).
# Usage: N=2000 OUT=/tmp/cg bash bench/keys_callgrind.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${N:-2000}
OUT=${OUT:-$(mktemp -d /tmp/mamori-callgrind-XXXXXX)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
REAL=$PWD/$MAMORID
# A wrapper keeps lib.sh's start_mamorid unchanged: exec keeps the pid, so
# MM_PID is valgrind's.
MAMORID=$OUT/mamorid-callgrind
cat > "$MAMORID" <<SH
#!/bin/sh
exec valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=$OUT/callgrind.out.%p "$REAL" "\$@"
SH
chmod +x "$MAMORID"
MM_START_TRIES=1200 start_mamorid $'threads = 2\n[log]\nlevel = "warn"\naccess_log = "off"'
trap stop_mamorid EXIT
[ -n "$MM_TOKEN" ] || { echo "mamorid did not start; see $MM_DIR/err" >&2; exit 1; }
seal_init_unseal_enrol
A="http://127.0.0.1:$MM_PORT"
curl -sf -H "Authorization: Bearer $MM_TOKEN" -H "Content-Type: application/json" \
  -d '{"name":"bench","type":"aes256-gcm"}' "$A/v1/keys" >/dev/null
python3 - "$MM_PORT" "$MM_TOKEN" "$N" "$MM_PID" "$OUT" <<'PY'
import base64, http.client, json, os, subprocess, sys
port, token, n, pid, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
def call(path, body):
    c.request("POST", path, body, h)
    r = c.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit("%s: %d %s" % (path, r.status, data[:200]))
    return json.loads(data)
pt = base64.b64encode(os.urandom(1024)).decode()
enc = json.dumps({"plaintext": pt, "context": "Y3VzdG9tZXI6NDI="}, separators=(",", ":"))
ct = call("/v1/keys/bench/encrypt", enc)["ciphertext"]
dec = json.dumps({"ciphertext": ct, "context": "Y3VzdG9tZXI6NDI="}, separators=(",", ":"))
assert call("/v1/keys/bench/decrypt", dec)["plaintext"] == pt
def ctl(*a):
    subprocess.run(["callgrind_control", *a, pid], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
def dumps():
    return {f for f in os.listdir(out) if f.startswith("callgrind.out.%s." % pid)}
def total(path):
    for line in open(path):
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise SystemExit("no totals in " + path)
for name, path, body in (("encrypt", "/v1/keys/bench/encrypt", enc),
                         ("decrypt", "/v1/keys/bench/decrypt", dec)):
    for _ in range(50):  # warm the request pools and statement caches
        call(path, body)
    ctl("-z")
    for _ in range(n):
        call(path, body)
    before = dumps()
    ctl("-d", name)
    # One file per thread (--separate-threads): the whole daemon is their
    # sum; the largest are the HTTP worker that served the connection and
    # the store's writer.
    files = sorted(os.path.join(out, f) for f in dumps() - before)
    per = sorted((total(f) / n for f in files), reverse=True)
    print("%s: %d requests, %.0f instructions per request (threads: %s) (%s)"
          % (name, n, sum(per), ", ".join("%.0f" % x for x in per if x >= 500),
             os.path.dirname(files[0]) if files else out))
PY
