#!/usr/bin/env bash
# Key manager benchmark (issue 5), in-process (build/bench/bench_keys):
#  - encrypt+decrypt of 1 KiB per core through the named-key ciphertext path
#    (target >= 400,000 ops/s per core), then the audited APIs: batches of 256
#    (one durable audit event per batch) and single calls (one per call) on
#    1 and 2 threads;
#  - bulk AES-256-GCM throughput of mamori's wrapper against
#    `openssl speed -evp aes-256-gcm -bytes N` in the same run, at 1 MiB (bulk:
#    the target, >= 90%) and at 16 KiB (where mamori's one-shot calls pay a
#    per-call key setup that `openssl speed` does once).
# The machine is shared, so the CPU-bound measurements alternate over ROUNDS
# rounds (engine, mamori bulk, openssl speed) and report median and best.
# Results go to $RESULTS/keys.txt. Short by default (SECS=1, ROUNDS=5).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RESULTS=${RESULTS:-bench/results}
SECS=${SECS:-1}
ROUNDS=${ROUNDS:-5}
mkdir -p "$RESULTS"
BENCH=$BUILD/bench/bench_keys
[ -x "$BENCH" ] || ninja -C "$BUILD" bench/bench_keys >/dev/null
out=$RESULTS/keys.txt
: > "$out"

echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
ossl() {
  openssl speed -seconds "$SECS" -bytes "$1" -evp aes-256-gcm 2>/dev/null |
    awk '/^AES-256-GCM/ {sub("k", "", $2); printf "%.1f", $2 / 1000}'
}
mine() {
  "$BENCH" --seconds "$SECS" --only bulk --bulk-size "$1" | awk '/^bulk_/ {print $2}'
}
eng=(); o16=(); t16=(); o1m=(); t1m=()
for r in $(seq "$ROUNDS"); do
  e=$("$BENCH" --seconds "$SECS" --only engine | awk '/engine_ops_per_s/ {print $2}')
  a=$(mine 1048576); b=$(ossl 1048576); c=$(mine 16384); d=$(ossl 16384)
  echo "round $r: engine_ops_per_s $e bulk_1MiB_MBps mamori $a openssl $b" \
       "bulk_16KiB_MBps mamori $c openssl $d" | tee -a "$out"
  eng+=("$e"); o1m+=("$a"); t1m+=("$b"); o16+=("$c"); t16+=("$d")
done
"$BENCH" --seconds "$((SECS * 2))" --only batch 2>/dev/null | grep -v '^{' | tee -a "$out"
"$BENCH" --seconds "$((SECS * 2))" --only single --threads 2 2>/dev/null | grep -v '^{' |
  tee -a "$out"
python3 - "${eng[*]}" "${o1m[*]}" "${t1m[*]}" "${o16[*]}" "${t16[*]}" <<'PY' | tee -a "$out"
import statistics, sys
e, o, t, o16, t16 = ([float(x) for x in a.split()] for a in sys.argv[1:6])
print("engine (1 KiB encrypt or decrypt, one core): median %.0f ops/s (%.0f encrypt+decrypt "
      "pairs/s), best %.0f ops/s; target >= 400000 ops/s: %s"
      % (statistics.median(e), statistics.median(e) / 2, max(e),
         "met" if statistics.median(e) >= 400000 else "NOT met"))
for label, o, t in (("1 MiB (bulk)", o, t), ("16 KiB", o16, t16)):
    mo, mt = statistics.median(o), statistics.median(t)
    print("AES-256-GCM %s: mamori median %.1f MB/s best %.1f; openssl speed median %.1f "
          "best %.1f; ratio of medians %.1f%%, of bests %.1f%% (target >= 90%%)"
          % (label, mo, max(o), mt, max(t), 100 * mo / mt, 100 * max(o) / max(t)))
PY
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
