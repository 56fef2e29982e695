#!/usr/bin/env bash
# Key manager benchmark (issue 5), in-process (build/bench/bench_keys):
#  - encrypt+decrypt of 1 KiB per core through the named-key ciphertext path
#    (target >= 400,000 ops/s per core), the audited batch API and the
#    audited single-call API (one durable audit event per call);
#  - bulk AES-256-GCM throughput of mamori's wrapper on 16 KiB buffers against
#    `openssl speed -evp aes-256-gcm` at 16 KiB in the same run, alternating,
#    ROUNDS times; the ratio of the medians (target >= 90%).
# Results go to $RESULTS/keys.txt. Short by default (SECS=2, ROUNDS=3).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RESULTS=${RESULTS:-bench/results}
SECS=${SECS:-2}
ROUNDS=${ROUNDS:-3}
mkdir -p "$RESULTS"
BENCH=$BUILD/bench/bench_keys
[ -x "$BENCH" ] || ninja -C "$BUILD" bench/bench_keys >/dev/null
out=$RESULTS/keys.txt
: > "$out"

echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
"$BENCH" --seconds "$SECS" --threads 2 2>/dev/null | grep -v '^{' | tee -a "$out"

ours=()
theirs=()
for r in $(seq "$ROUNDS"); do
  o=$("$BENCH" --seconds "$SECS" --only bulk | awk '/bulk_16k_MBps/ {print $2}')
  t=$(openssl speed -seconds "$SECS" -bytes 16384 -evp aes-256-gcm 2>/dev/null |
      awk '/^AES-256-GCM/ {sub("k", "", $2); printf "%.1f", $2 / 1000}')
  echo "round $r: mamori_bulk_16k_MBps $o openssl_speed_16k_MBps $t" | tee -a "$out"
  ours+=("$o")
  theirs+=("$t")
done
python3 - "${ours[*]}" "${theirs[*]}" <<'PY' | tee -a "$out"
import statistics, sys
o = statistics.median(float(x) for x in sys.argv[1].split())
t = statistics.median(float(x) for x in sys.argv[2].split())
print("bulk median: mamori %.1f MB/s, openssl speed %.1f MB/s, ratio %.1f%% (target >= 90%%)"
      % (o, t, 100 * o / t))
PY
awk '/engine_ops_per_s/ {printf "engine: %d encrypt/decrypt ops/s per core (target >= 400000): %s\n", $2, ($2 >= 400000 ? "met" : "NOT met")}' "$out" | tee -a "$out"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
