# bench/lib.sh: helpers shared by the benchmark scripts (sourced, not run).
# Starts mamorid on a free port with a temporary data dir, and runs wrk.

BUILD=${BUILD:-build}
MAMORID=${MAMORID:-$BUILD/src/daemon/mamorid}
MAMORI=$BUILD/src/cli/mamori
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-64}
WRK_SECS=${WRK_SECS:-10}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_mamorid CONFIG_TEXT: sets MM_PID, MM_PORT, MM_DIR, MM_TOKEN (the first
# administrator's session) and MM_PASSWORD.
start_mamorid() {
  MM_DIR=$(mktemp -d /tmp/mamori-bench-XXXXXX)
  MM_PORT=$(free_port)
  printf '%s\n' "$1" > "$MM_DIR/mamori.conf"
  "$MAMORID" --config "$MM_DIR/mamori.conf" --data "$MM_DIR/var" \
    --listen "127.0.0.1:$MM_PORT" >"$MM_DIR/out" 2>"$MM_DIR/err" &
  MM_PID=$!
  for _ in $(seq "${MM_START_TRIES:-100}"); do # tenths of a second
    grep -q "listening on" "$MM_DIR/out" 2>/dev/null && break
    sleep 0.1
  done
  local boot
  boot=$(grep -o 'mmb_[A-Za-z0-9_-]*' "$MM_DIR/out" || true)
  MM_TOKEN=""
  if [ -n "$boot" ]; then
    # The first administrator gets a password (administrators must also use
    # TOTP once the seal is initialised: see enrol_admin_totp).
    MM_PASSWORD="Load harness passphrase $(od -An -N6 -tx1 /dev/urandom | tr -d ' ')"
    MM_TOKEN=$(printf '%s\n' "$MM_PASSWORD" | MAMORI_CONFIG_DIR=$MM_DIR/cli \
      "$MAMORI" --json --addr "http://127.0.0.1:$MM_PORT" \
      init --admin bench --bootstrap-token "$boot" --password-stdin --no-save |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  fi
}

# enrol_admin_totp: enrols TOTP for MM_TOKEN's user (codes from oathtool);
# needed once the daemon is unsealed. Sets MM_TOTP_SECRET.
enrol_admin_totp() {
  local cli="$MAMORI --json --addr http://127.0.0.1:$MM_PORT"
  MM_TOTP_SECRET=$(MAMORI_TOKEN=$MM_TOKEN MAMORI_CONFIG_DIR=$MM_DIR/cli $cli user mfa enroll |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
  MAMORI_TOKEN=$MM_TOKEN MAMORI_CONFIG_DIR=$MM_DIR/cli $cli user mfa confirm \
    "$(oathtool --totp -b "$MM_TOTP_SECRET")" >/dev/null
}

# seal_init_unseal_enrol: one-share seal, unseal, then enrol_admin_totp.
seal_init_unseal_enrol() {
  local a="http://127.0.0.1:$MM_PORT" share
  share=$(curl -sf -H "Authorization: Bearer $MM_TOKEN" -H "Content-Type: application/json" \
    -d '{"secret_shares":1,"secret_threshold":1}' "$a/v1/sys/seal/init" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["shares"][0])')
  curl -sf -H "Content-Type: application/json" -d "{\"key\":\"$share\"}" "$a/v1/sys/unseal" >/dev/null
  enrol_admin_totp
}

stop_mamorid() {
  kill "$MM_PID" 2>/dev/null; wait "$MM_PID" 2>/dev/null
  rm -rf "$MM_DIR"
}

# run_wrk NAME URL [wrk args...]: prints "NAME rps p50_ms p99_ms" and keeps
# the full wrk output in $RESULTS/NAME.wrk.
run_wrk() {
  local name=$1 url=$2; shift 2
  wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${WRK_SECS}s" --latency "$@" "$url" > "$RESULTS/$name.wrk" 2>&1
  python3 - "$name" "$RESULTS/$name.wrk" <<'PY'
import re, sys
name, path = sys.argv[1], sys.argv[2]
t = open(path).read()
def ms(v, unit):
    v = float(v)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
p = {k: ms(*re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % k, t).groups()) for k in ("50", "99")}
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
errs = re.search(r"Socket errors: (.*)", t)
print("%s %s %.3f %.3f %s %s" % (name, rps.group(1) if rps else "0", p["50"], p["99"],
      non2xx.group(1) if non2xx else "0", "errors:" + errs.group(1).replace(" ", "") if errs else ""))
PY
}

# store_snapshot FILE: saves the daemon's /metrics text. store_groups A B
# prints what the store's writer did between two snapshots: group commits,
# jobs per group, and the mean and histogram of group and commit (fsync)
# durations — where a request's wait for its durable audit event goes.
store_snapshot() {
  curl -sf -H "Authorization: Bearer $MM_TOKEN" "http://127.0.0.1:$MM_PORT/metrics" > "$1"
}
store_groups() {
  python3 - "$1" "$2" <<'PY'
import sys
def load(p):
    m = {}
    for l in open(p):
        if l.startswith("mamori_store_"):
            k, v = l.rsplit(" ", 1)
            m[k] = float(v)
    return m
a, b = load(sys.argv[1]), load(sys.argv[2])
d = {k: b[k] - a.get(k, 0) for k in b}
g = d["mamori_store_commit_groups_total"]
if g <= 0:
    sys.exit(0)
print("store: %d group commits, %.1f jobs/group, group %.2f ms, commit %.2f ms (means)"
      % (g, d["mamori_store_jobs_total"] / g, 1e3 * d["mamori_store_group_seconds_sum"] / g,
         1e3 * d["mamori_store_commit_seconds_sum"] / g))
for h in ("group", "commit"):
    name = "mamori_store_%s_seconds_bucket" % h
    ks = [k for k in b if k.startswith(name)]
    prev, parts = 0, []
    for k in ks:
        le = k.split('"')[1]
        parts.append("<=%s: %d" % (le, d[k] - prev) if le != "+Inf" else ">: %d" % (d[k] - prev))
        prev = d[k]
    print("store: %s durations %s" % (h, ", ".join(parts)))
PY
}

# thread_cpu FILE: saves the CPU time of each of mamorid's threads (by
# name). thread_cpu_report A B REQUESTS prints CPU microseconds per request
# of each thread group between two snapshots: unlike requests/s, this hardly
# moves with the machine's load, so it separates a code change from noise.
thread_cpu() {
  local t
  for t in /proc/"$MM_PID"/task/*; do
    printf '%s %s\n' "$(tr ' ' '_' < "$t/comm")" "$(cut -d' ' -f14,15 "$t/stat" 2>/dev/null)"
  done > "$1"
}
thread_cpu_report() {
  python3 - "$1" "$2" "$3" <<'PY'
import collections, os, re, sys
hz = os.sysconf("SC_CLK_TCK")
def load(p):
    m = collections.Counter()
    for l in open(p):
        name, u, s = l.split()
        m[(re.sub(r"-\d+$", "-N", name), "user")] += int(u)
        m[(re.sub(r"-\d+$", "-N", name), "sys")] += int(s)
    return m
a, b, n = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
names = sorted({k[0] for k in b}, key=lambda x: -(b[(x, "user")] + b[(x, "sys")] - a[(x, "user")] - a[(x, "sys")]))
tot = 0
parts = []
for x in names:
    u = (b[(x, "user")] - a[(x, "user")]) / hz * 1e6 / n
    s = (b[(x, "sys")] - a[(x, "sys")]) / hz * 1e6 / n
    tot += u + s
    if u + s >= 0.05:
        parts.append("%s %.1f+%.1f" % (x, u, s))
print("cpu per request (us, user+sys): total %.1f; %s" % (tot, ", ".join(parts)))
PY
}

# rounds_verdict FILE LABEL: the medians of run_wrk rounds collected in FILE
# (one line each), against the HTTP targets of issues 4 and 5 (>= 20,000
# requests/s, p99 < 5 ms, no error status); prints the verdict and exits 1
# when missed.
rounds_verdict() {
  python3 - "$1" "$2" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
rps = statistics.median(float(r[1]) for r in rows)
p50 = statistics.median(float(r[2]) for r in rows)
p99 = statistics.median(float(r[3]) for r in rows)
non2xx = sum(int(r[4]) for r in rows)
ok = rps >= 20000 and p99 < 5 and non2xx == 0
print("%s, median of %d rounds: %.0f req/s (target >= 20000), p50 %.2f ms, p99 %.2f ms "
      "(target < 5), non-2xx %d: %s"
      % (sys.argv[2], len(rows), rps, p50, p99, non2xx, "PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
PY
}
