#!/usr/bin/env bash
# Builds every libFuzzer target with clang (ASan + UBSan + fuzzer) and runs
# each for FUZZ_SECONDS (default 60) starting from its seed corpus. New
# interesting inputs go to build-fuzz/corpus/<target>; crashes to
# build-fuzz/crash-<target>-*.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ=${FUZZ:-build-fuzz}
secs=${FUZZ_SECONDS:-60}
if [ ! -f "$FUZZ/build.ninja" ]; then
  CC=clang meson setup "$FUZZ" -Dfuzz=true --buildtype=debug \
    -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=false >/dev/null
fi
ninja -C "$FUZZ" >/dev/null
status=0
for exe in "$FUZZ"/tests/fuzz/fuzz_*; do
  [ -f "$exe" ] && [ -x "$exe" ] || continue
  name=$(basename "$exe")
  mkdir -p "$FUZZ/corpus/$name"
  echo "fuzz: $name for ${secs}s"
  if ! "$exe" -max_total_time="$secs" -max_len=65536 -artifact_prefix="$FUZZ/crash-$name-" \
      "$FUZZ/corpus/$name" "tests/fuzz/corpus/$name" 2>"$FUZZ/$name.log"; then
    echo "fuzz: $name FAILED, see $FUZZ/$name.log" >&2
    status=1
  fi
  grep -E "^(#[0-9]+.*DONE|Done)" "$FUZZ/$name.log" | tail -1 || true
done
exit $status
