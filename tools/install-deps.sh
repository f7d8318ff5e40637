#!/usr/bin/env bash
# Install what a fresh Debian machine lacks to build and test varia. Only
# packages that are missing are installed; nothing happens when all are there.
set -euo pipefail
pkgs=(gcc meson ninja-build pkg-config libcjson-dev libpng-dev zlib1g-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
