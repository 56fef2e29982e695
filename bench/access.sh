#!/usr/bin/env bash
# make bench, access (issue 4): the access-check HTTP benchmark and the
# in-process Argon2id login benchmark.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
status=0
bash bench/bench_access.sh || status=1
"$BUILD/bench/bench_login" || status=1
exit $status
