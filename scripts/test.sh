#!/usr/bin/env bash
# Builds mamori twice (optimised, and with AddressSanitizer + UBSan) and runs
# the whole suite (unit and integration tests) in both. Ends with the single
# summary line "N passed, N failed" counting test programs in both builds.
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
ASAN=${ASAN:-build-asan}
jobs=$(nproc)

setup() {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null || return 1
  fi
  ninja -C "$dir" >/dev/null || { ninja -C "$dir"; return 1; }
}

passed=0
failed=0
count() {
  local log=$1/meson-logs/testlog.json
  if [ -f "$log" ]; then
    local p f
    p=$(python3 -c 'import json,sys
n=0
for l in open(sys.argv[1]):
    r=json.loads(l)
    n+= r["result"] in ("OK","EXPECTEDFAIL","SKIP")
print(n)' "$log")
    f=$(python3 -c 'import json,sys
n=0
for l in open(sys.argv[1]):
    r=json.loads(l)
    n+= r["result"] not in ("OK","EXPECTEDFAIL","SKIP")
print(n)' "$log")
    passed=$((passed + p))
    failed=$((failed + f))
  fi
}

run_suite() {
  local dir=$1; shift
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes "$jobs" "$@"
  count "$dir"
}

if setup "$BUILD" --buildtype=debugoptimized; then
  run_suite "$BUILD"
else
  echo "test: build failed" >&2
  failed=$((failed + 1))
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if setup "$ASAN" --buildtype=debug -Dsanitize=true -Db_lundef=false; then
  run_suite "$ASAN" --timeout-multiplier 4
else
  echo "test: sanitizer build failed" >&2
  failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
