#!/usr/bin/env bash
# Installs the Debian 12 packages mamori builds, tests and benchmarks with.
# Idempotent: asks dpkg first and runs apt-get only for what is missing, so a
# second run on a ready machine costs a fraction of a second and no network.
set -euo pipefail

pkgs=(
  build-essential meson ninja-build pkg-config
  libssl-dev libevent-dev libjansson-dev libsqlite3-dev libpq-dev
  libargon2-dev liboath-dev libqrencode-dev libgfshare-dev libxlsxwriter-dev
  libcmocka-dev libcurl4-openssl-dev libyajl-dev
  clang libclang-rt-14-dev
  sqlite3 curl openssl oathtool wrk nginx-light john-data python3 unzip
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
