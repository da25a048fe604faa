#!/usr/bin/env bash
# `make run`: start bulwarkd in the foreground with the development configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
conf=deploy/dev.yaml
if ss -ltn 2>/dev/null | grep -q '127.0.0.1:1883 \|0.0.0.0:1883 \|\[::\]:1883 '; then
  echo "port 1883 is already in use (a mosquitto service?): stop it first, e.g. 'systemctl stop mosquitto'" >&2
  exit 1
fi
cat <<MSG
bulwarkd: starting on 127.0.0.1:1883 (config $conf). Stop with Ctrl-C.
Try, in another terminal:
  mosquitto_sub -h 127.0.0.1 -p 1883 -t 'demo/#' -v
  mosquitto_pub -h 127.0.0.1 -p 1883 -t demo/hello -m 'hi' -q 1
MSG
exec build/bulwarkd -c "$conf"
