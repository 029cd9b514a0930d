#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs every build and test dependency of fief from Debian 12 packages.
# Idempotent: when everything is present it prints nothing and exits 0.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config clang llvm libclang-rt-14-dev
  libevent-dev libjansson-dev libsqlite3-dev sqlite3 libpq-dev postgresql libsodium-dev
  libcurl4-openssl-dev libinih-dev libcmocka-dev
  curl ca-certificates python3 valgrind
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js and npm run the tests' official OpenAI client. A machine that already
# has them (NodeSource's node bundles npm) keeps its own.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
