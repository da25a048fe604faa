#!/usr/bin/env bash
# Installs the Debian packages bulwark builds and tests with, only those missing.
set -euo pipefail
pkgs=(
  build-essential pkg-config
  libyaml-dev libsodium-dev libseccomp-dev libwolfssl-dev liblmdb-dev
  libcmocka-dev python3 python3-pytest python3-paho-mqtt
  mosquitto mosquitto-clients openssl
  afl++ clang libclang-rt-14-dev
)
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
