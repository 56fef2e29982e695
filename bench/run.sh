#!/usr/bin/env bash
# make bench: runs every benchmark in turn (each prints its own results and
# targets). Module benchmarks add a bench/<module>.sh script.
set -uo pipefail
cd "$(dirname "$0")/.."
export RESULTS=${RESULTS:-bench/results}
mkdir -p "$RESULTS"
status=0
for s in bench/http.sh bench/audit.sh bench/audit_http.sh bench/keys.sh bench/keys_http.sh bench/access.sh; do
  [ -f "$s" ] || continue
  echo "== $s"
  if ! bash "$s"; then
    echo "== $s: FAILED (exit status above)"
    failed="${failed:-} $s"
    status=1
  fi
done
[ $status -eq 0 ] || echo "make bench: failed:${failed}"
exit $status
