#!/usr/bin/env bash
# Idle memory of one flint-shim (Release build) next to conmon's, each holding
# a running busybox `sleep` container under runc. Needs root.
#   hack/bench/shim-rss.sh            # builds build-shim-bench/ if needed
#   FLINT_SHIM=/path/to/flint-shim hack/bench/shim-rss.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNTIME=${RUNTIME:-$(command -v runc || echo /usr/sbin/runc)}
SHIM=${FLINT_SHIM:-}
if [[ -z "$SHIM" ]]; then
  BUILD="$ROOT/build-shim-bench"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLINT_TESTS=OFF >/dev/null
  ninja -C "$BUILD" -j2 flint-shim >/dev/null
  SHIM="$BUILD/shim/flint-shim"
fi

WORK=$(mktemp -d /tmp/shim-rss.XXXXXX)
SHIM_ID="rss-flint-$$"
CONMON_ID="rss-conmon-$$"
cleanup() {
  "$RUNTIME" delete --force "$SHIM_ID" >/dev/null 2>&1 || true
  "$RUNTIME" delete --force "$CONMON_ID" >/dev/null 2>&1 || true
  if [[ -f "$WORK/conmon.pid" ]]; then kill "$(cat "$WORK/conmon.pid")" 2>/dev/null || true; fi
  if [[ -f "$WORK/shim/status.json" ]]; then
    pid=$(sed -n 's/.*"shim_pid":\([0-9]*\).*/\1/p' "$WORK/shim/status.json")
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

BUNDLE="$WORK/bundle"
mkdir -p "$BUNDLE/rootfs/bin" "$BUNDLE/rootfs/proc" "$BUNDLE/rootfs/dev"
cp /bin/busybox "$BUNDLE/rootfs/bin/busybox"
ln -s busybox "$BUNDLE/rootfs/bin/sleep"
cat >"$BUNDLE/config.json" <<'JSON'
{"ociVersion":"1.0.2",
 "process":{"terminal":false,"user":{"uid":0,"gid":0},"args":["sleep","100000"],"env":["PATH=/bin"],"cwd":"/"},
 "root":{"path":"rootfs","readonly":true},
 "mounts":[{"destination":"/proc","type":"proc","source":"proc"},
           {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755"]}],
 "linux":{"namespaces":[{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},{"type":"network"}]}}
JSON

mem() {  # pid -> "VmRSS RssAnon Pss" in KiB
  local rss anon pss
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$1/status")
  anon=$(awk '/^RssAnon:/{print $2}' "/proc/$1/status")
  pss=$(awk '/^Pss:/{print $2}' "/proc/$1/smaps_rollup")
  echo "$rss $anon $pss"
}

printf '%-10s %10s %12s %10s  %s\n' process "VmRSS KiB" "RssAnon KiB" "Pss KiB" binary

"$SHIM" --id "$SHIM_ID" --bundle "$BUNDLE" --runtime "$RUNTIME" --state-dir "$WORK/shim" \
  --log-path "$WORK/flint.log" --socket "$WORK/shim/shim.sock"
"$RUNTIME" start "$SHIM_ID"  # same effect as the shim's `start` request, no client needed
sleep 1
SHIM_PID=$(sed -n 's/.*"shim_pid":\([0-9]*\).*/\1/p' "$WORK/shim/status.json")
read -r rss anon pss < <(mem "$SHIM_PID")
printf '%-10s %10s %12s %10s  %s\n' flint-shim "$rss" "$anon" "$pss" "$SHIM"

if command -v conmon >/dev/null; then
  mkdir -p "$WORK/exits" "$WORK/attach"
  conmon --cid "$CONMON_ID" --cuuid "$CONMON_ID" --name "$CONMON_ID" --runtime "$RUNTIME" \
    --bundle "$BUNDLE" --container-pidfile "$WORK/ctr.pid" --conmon-pidfile "$WORK/conmon.pid" \
    --log-path "k8s-file:$WORK/conmon.log" --exit-dir "$WORK/exits" --socket-dir-path "$WORK/attach" \
    >/dev/null 2>&1
  for _ in $(seq 100); do [[ -s "$WORK/conmon.pid" && -s "$WORK/ctr.pid" ]] && break; sleep 0.05; done
  "$RUNTIME" start "$CONMON_ID"
  sleep 1
  read -r rss anon pss < <(mem "$(cat "$WORK/conmon.pid")")
  printf '%-10s %10s %12s %10s  %s\n' conmon "$rss" "$anon" "$pss" "$(command -v conmon) ($(conmon --version | head -1))"
else
  echo "conmon: not installed (apt-cache policy conmon; apt-get install conmon to compare)"
fi
