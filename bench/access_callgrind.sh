#!/usr/bin/env bash
# Instruction counts of POST /v1/access/check (issue 4), for comparing code
# changes on a loaded machine where wrk's requests/s are not repeatable.
# Same set-up as bench/bench_access.sh (threads = 2, an operator with an
# active grant), but mamorid runs under valgrind's callgrind: after a warm-up
# the counters are zeroed, REQUESTS checks are sent over CONNS keep-alive
# connections, and the counts are dumped per thread. Prints instructions per
# request for the HTTP workers, the store's writer, and the whole process.
# Needs valgrind; takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
REQUESTS=${REQUESTS:-2000}
CONNS=${CONNS:-16}
OUT=${OUT:-bench/results/callgrind}
mkdir -p "$OUT"
rm -f "$OUT"/callgrind.out.*

# start_mamorid runs $MAMORID: point it at a wrapper that runs the daemon
# under callgrind, with instrumentation off until the set-up is done.
wrap=$(mktemp /tmp/mamori-callgrind-XXXXXX)
cat > "$wrap" <<EOF
#!/bin/sh
exec valgrind -q --tool=callgrind --instr-atstart=no --separate-threads=yes \
  --callgrind-out-file=$PWD/$OUT/callgrind.out.%p "$PWD/$MAMORID" "\$@"
EOF
chmod +x "$wrap"
MAMORID=$wrap
start_mamorid $'threads = 2\n[log]\nlevel = "warn"\naccess_log = "off"\n[target.bench]\nroles = ["ops"]\nactions = ["ssh"]'
trap 'stop_mamorid; rm -f "$wrap"' EXIT
seal_init_unseal_enrol
python3 bench/access_setup.py "$MM_PORT" "$MM_TOKEN" >/dev/null

send() {
  python3 - "$MM_PORT" "$MM_TOKEN" "$1" "$CONNS" <<'PY'
import http.client, sys, threading
port, tok, n, conns = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
body = b'{"user":"op1","target":"bench","action":"ssh"}'
hdr = {"Content-Type": "application/json", "Authorization": "Bearer " + tok}
bad = []
def run(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(k):
        c.request("POST", "/v1/access/check", body, hdr)
        r = c.getresponse()
        b = r.read()
        if r.status != 200 or b'"allowed":true' not in b:
            bad.append((r.status, b))
ts = [threading.Thread(target=run, args=(n // conns + (i < n % conns),)) for i in range(conns)]
for t in ts: t.start()
for t in ts: t.join()
if bad:
    sys.exit("unexpected replies: %d, first %r" % (len(bad), bad[0]))
PY
}

callgrind_control -i on "$MM_PID" >/dev/null 2>&1
send 400                      # warm-up: statement caches, pools, the auth cache
callgrind_control -z "$MM_PID" >/dev/null 2>&1
send "$REQUESTS"
callgrind_control -d "$MM_PID" >/dev/null 2>&1
callgrind_control -i off "$MM_PID" >/dev/null 2>&1

python3 - "$OUT" "$REQUESTS" <<'PY'
import glob, os, re, sys
out, n = sys.argv[1], int(sys.argv[2])
rows, total = [], 0
for f in sorted(glob.glob(os.path.join(out, "callgrind.out.*.1-*"))):
    t = open(f, errors="replace").read()
    m = re.search(r"^summary:\s+(\d+)", t, re.M) or re.search(r"^totals:\s+(\d+)", t, re.M)
    ir = int(m.group(1)) if m else 0
    if ir == 0:
        continue
    # Name a thread by what it runs: the check's store job or the HTTP
    # request callback.
    kind = "other"
    if re.search(r"^c?fn=\(\d+\) check_job$", t, re.M):
        kind = "store writer"
    elif re.search(r"^c?fn=\(\d+\) on_request$", t, re.M):
        kind = "http workers"
    rows.append((f, kind, ir))
    total += ir
by = {}
for f, kind, ir in rows:
    by[kind] = by.get(kind, 0) + ir
    print("%-60s %-13s %12d Ir %9.0f Ir/request" % (os.path.basename(f), kind, ir, ir / n))
for kind, ir in sorted(by.items()):
    print("%-13s %9.0f Ir/request" % (kind, ir / n))
print("whole process %9.0f Ir/request (%d requests)" % (total / n, n))
PY
