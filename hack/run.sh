#!/usr/bin/env bash
# Installs what Flint needs, builds it, starts flintd with the default configuration,
# shows that it answers over its socket (Version/Status) and runs a demo pod: an image
# pulled from a local registry (Debian's docker-registry, images built from busybox-static),
# a pod on a CNI bridge, a container whose output is printed.
# Usage: hack/run.sh        (as root, on Debian 12)
#        hack/run.sh stop   (stops the flintd this script started)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $EUID -eq 0 ]] || { echo "hack/run.sh must run as root" >&2; exit 1; }

pidfile=/run/flint/flintd.pid
logfile=/var/log/flint/flintd.log
if [[ "${1:-}" == "stop" ]]; then
  if [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null; then echo "flintd stopped"; else echo "flintd not running"; fi
  exit 0
fi

hack/install-deps.sh
hack/setup-host.sh --fix || true
hack/build.sh release flintd flintctl flint-shim flint-pause flint-bridge flint-host-local flist-mount
install -m 0755 build/release/cri/flintd build/release/flintctl/flintctl build/release/shim/flint-shim \
  build/release/cri/oci/flint-pause build/release/flist-snapshotter/flist-mount /usr/local/bin/
install -d /opt/cni/bin
install -m 0755 build/release/cni/bin/flint-bridge build/release/cni/bin/flint-host-local /opt/cni/bin/

# A pod network, unless the node already has one (Calico, Flannel, ... own this directory).
mkdir -p /etc/cni/net.d
if ! ls /etc/cni/net.d/*.conf* /etc/cni/net.d/*.json >/dev/null 2>&1; then
  cat >/etc/cni/net.d/10-flint.conflist <<'JSON'
{"cniVersion": "1.0.0", "name": "flint",
 "plugins": [
  {"type": "flint-bridge", "bridge": "flint0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "flint-host-local", "ranges": [[{"subnet": "10.88.0.0/16"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
fi

# The demo image comes from a local registry (no network needed).
hack/registry.sh start
hack/images.sh >/dev/null

mkdir -p /etc/flint /run/flint /var/log/flint
[[ -f /etc/flint/flint.yaml ]] || flintd --print-default-config >/etc/flint/flint.yaml

if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "flintd already running (pid $(cat "$pidfile")); restarting it"
  kill "$(cat "$pidfile")"
  for _ in $(seq 50); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
fi
setsid flintd --config /etc/flint/flint.yaml >>"$logfile" 2>&1 </dev/null &
echo $! >"$pidfile"
for _ in $(seq 100); do
  [[ -S /run/flint/flint.sock ]] && flintctl check >/dev/null 2>&1 && break
  sleep 0.1
done
echo "flintd running (pid $(cat "$pidfile")), socket unix:///run/flint/flint.sock, log $logfile"
flintctl check || true
echo
echo "Demo pod:"
flintctl smoke-test --image "$(hack/registry.sh addr)/flint/busybox:latest"
