#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ and runs each for
# FUZZ_SECONDS (default 60) from its seed corpus in tests/fuzz/corpus/NAME.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ=${FUZZ:-build-fuzz}
secs=${FUZZ_SECONDS:-60}
if [ ! -f "$FUZZ/build.ninja" ]; then
  # Every library is instrumented for coverage (fuzzer-no-link) and the
  # sanitizers; clang's -Wformat-nonliteral also flags the v*printf wrappers.
  CC=clang meson setup "$FUZZ" -Dfuzz=true --buildtype=debugoptimized -Db_lundef=false \
    -Dc_args="-fsanitize=fuzzer-no-link,address,undefined -Wno-format-nonliteral" \
    -Dc_link_args="-fsanitize=address,undefined" >/dev/null
fi
ninja -C "$FUZZ" -j"${JOBS:-2}" >/dev/null
for bin in "$FUZZ"/tests/fuzz/fuzz_*; do
  [ -f "$bin" ] && [ -x "$bin" ] || continue
  name=$(basename "$bin")
  corpus="tests/fuzz/corpus/$name"
  work="$FUZZ/corpus-$name"
  mkdir -p "$work"
  echo "fuzz: $name for ${secs}s"
  "$bin" -max_total_time="$secs" -max_len=4096 "$work" "$corpus" 2>&1 | tail -3
done
