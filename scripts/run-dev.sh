#!/usr/bin/env bash
# `make run`: start bulwarkd in the foreground with the development configuration, plain MQTT
# on 127.0.0.1:1883 and TLS on 127.0.0.1:8883 with a development CA made on first start.
set -euo pipefail
cd "$(dirname "$0")/.."
conf=deploy/dev.yaml
ca=build/dev-ca
for port in 1883 8883; do
  if ss -ltn 2>/dev/null | grep -q "127.0.0.1:$port \|0.0.0.0:$port \|\[::\]:$port "; then
    echo "port $port is already in use (a mosquitto service?): stop it first, e.g. 'systemctl stop mosquitto'" >&2
    exit 1
  fi
done
if [ ! -f "$ca/ca.crt" ]; then
  build/bulwark ca init --dir "$ca" --name "bulwark development CA"
fi
if [ ! -f "$ca/server.crt" ]; then
  build/bulwark ca server-cert --dir "$ca" --dns localhost --ip 127.0.0.1 --out "$ca/server"
fi
if [ ! -f "$ca/demo-device.crt" ]; then
  build/bulwark ca issue --dir "$ca" --client-id demo-device --out "$ca/demo-device"
fi
cat <<MSG
bulwarkd: starting on 127.0.0.1:1883 (MQTT) and 127.0.0.1:8883 (MQTT over TLS), config $conf.
Stop with Ctrl-C. Try, in another terminal:
  mosquitto_sub -h 127.0.0.1 -p 1883 -t 'demo/#' -v
  mosquitto_pub -h 127.0.0.1 -p 1883 -t demo/hello -m 'hi' -q 1
Over TLS (development CA in $ca):
  mosquitto_sub -h localhost -p 8883 --cafile $ca/ca.crt -t 'demo/#' -v
  mosquitto_pub -h localhost -p 8883 --cafile $ca/ca.crt -t demo/hello -m 'hi over TLS'
With the demo device certificate (client id = its CN):
  mosquitto_pub -h localhost -p 8883 --cafile $ca/ca.crt --cert $ca/demo-device.crt \\
    --key $ca/demo-device.key -i demo-device -t demo/device -m 'hi from a device'
MSG
exec build/bulwarkd -c "$conf"
