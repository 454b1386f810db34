#!/usr/bin/env bash
# Installs what Flint needs, builds it, starts flintd with the default configuration
# and shows that it answers over its socket (Version/Status).
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
hack/build.sh release flintd flintctl
install -m 0755 build/release/cri/flintd build/release/flintctl/flintctl /usr/local/bin/

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
