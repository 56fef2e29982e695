#!/usr/bin/env bash
# Instruction counts of POST /v1/access/check (issue 4), for comparing code
# changes on a loaded machine where wrk's requests/s are not repeatable.
# Same set-up as bench/bench_access.sh (threads = 2, an operator with an
# active grant), but mamorid runs under valgrind's callgrind: after a warm-up
# the counters are zeroed, REQUESTS checks are sent over CONNS keep-alive
# connections, and the counts are dumped per thread. Prints instructions per
# request for the HTTP workers, the store's writer and the whole process;
# the check's own store job and completion callback, which unlike the
# writer's total do not depend on how many jobs share a group commit; and
# the number of group commits. BUILD=dir measures another build (lib.sh).
# Needs valgrind; takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
REQUESTS=${REQUESTS:-2000}
CONNS=${CONNS:-16}
OUT=${OUT:-bench/results/callgrind}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
rm -f "$OUT"/callgrind.out.*

# start_mamorid runs $MAMORID: point it at a wrapper that runs the daemon
# under callgrind, with instrumentation off until the set-up is done.
wrap=$(mktemp /tmp/mamori-callgrind-XXXXXX)
cat > "$wrap" <<EOF
#!/bin/sh
exec valgrind -q --tool=callgrind --instr-atstart=no --separate-threads=yes \
  --callgrind-out-file=$OUT/callgrind.out.%p "$(realpath "$MAMORID")" "\$@"
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

store_counts() {
  curl -sf -H "Authorization: Bearer $MM_TOKEN" "http://127.0.0.1:$MM_PORT/metrics" |
    awk '$1 == "mamori_store_commit_groups_total" { g = $2 } $1 == "mamori_store_jobs_total" { j = $2 }
         END { print g + 0, j + 0 }'
}

callgrind_control -i on "$MM_PID" >/dev/null 2>&1
send 400                      # warm-up: statement caches, pools, the auth cache
before=$(store_counts)
callgrind_control -z "$MM_PID" >/dev/null 2>&1
send "$REQUESTS"
callgrind_control -d "$MM_PID" >/dev/null 2>&1
callgrind_control -i off "$MM_PID" >/dev/null 2>&1
after=$(store_counts)

python3 - "$OUT" "$REQUESTS" $before $after <<'PY'
import glob, os, re, subprocess, sys
out, n = sys.argv[1], int(sys.argv[2])
groups, jobs = int(sys.argv[5]) - int(sys.argv[3]), int(sys.argv[6]) - int(sys.argv[4])
rows, total = [], 0

def inclusive(path, fn):
    """Inclusive instructions of a mamori function in one thread's dump."""
    t = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                       capture_output=True, text=True).stdout
    m = re.search(r"^\s*([\d,]+) .*\b%s \[" % re.escape(fn), t, re.M)
    return int(m.group(1).replace(",", "")) if m else 0

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
    print("%-30s %-13s %12d Ir %9.0f Ir/request" % (os.path.basename(f), kind, ir, ir / n))
for kind, ir in sorted(by.items()):
    print("%-13s %9.0f Ir/request" % (kind, ir / n))
print("whole process %9.0f Ir/request (%d requests)" % (total / n, n))
# The writer's share per request depends on how many jobs each group commit
# carries (its per-group work is shared), which varies from run to run; the
# check's own job and completion callback do not.
w = [f for f, kind, _ in rows if kind == "store writer"]
if w:
    job = inclusive(w[0], "grants.c:check_job") + inclusive(w[0], "grants.c:check_done")
    print("check's store job + completion %9.0f Ir/request" % (job / n))
print("group commits %d for %d jobs (%.1f jobs per group)" %
      (groups, jobs, jobs / groups if groups else 0))
PY
