#!/usr/bin/env bash
# A local flist hub for tests, benchmarks and the demo: packed flists over plain HTTP on loopback
# (busybox httpd) and their blocks in a local redis-server (a zdb stand-in).
#
#   hack/hub.sh start                 start both servers (idempotent)
#   hack/hub.sh stop                  stop both servers
#   hack/hub.sh status                print state; exit 0 iff both answer
#   hack/hub.sh addr                  host:port of the HTTP side (flist refs: <addr>/<user>/<name>.fl)
#   hack/hub.sh store                 the block store URL (redis://127.0.0.1:<port>)
#   hack/hub.sh pack SRC USER/NAME    pack a directory or tarball into <flists>/USER/NAME.fl, blocks to the store
#
# Environment: FLINT_HUB_DIR (state, default /var/tmp/flint-hub: flists/, redis/, pid and log files),
# FLINT_HUB_PORT (HTTP, default 5070), FLINT_HUB_REDIS_PORT (default 5071),
# FLIST_TOOL (default: build/release then build/test flist-tool).
# flintd uses it with: flist: { hubs: ["http://<addr>"], default_store: "<store>" }.
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly DIR="${FLINT_HUB_DIR:-/var/tmp/flint-hub}"
readonly PORT="${FLINT_HUB_PORT:-5070}"
readonly REDIS_PORT="${FLINT_HUB_REDIS_PORT:-5071}"
readonly HOST=127.0.0.1

die() { echo "hub.sh: $*" >&2; exit 1; }

http_up() {
  [[ $(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 1 --max-time 2 "http://$HOST:$PORT/" || true) != 000 ]]
}
redis_up() { [[ $(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null || true) == PONG ]]; }

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_until() { # wait_until SECONDS CHECK...
  local i
  for ((i = 0; i < $1 * 10; i++)); do
    "${@:2}" && return 0
    sleep 0.1
  done
  return 1
}

start() {
  command -v redis-server >/dev/null || die "redis-server not found (apt-get install redis-server)"
  [[ -x /bin/busybox ]] || die "/bin/busybox not found (apt-get install busybox-static)"
  mkdir -p "$DIR/flists" "$DIR/redis"
  if ! redis_up; then
    # No persistence: blocks are re-packed when the hub dir is lost anyway; keeps stop instant.
    redis-server --bind "$HOST" --port "$REDIS_PORT" --dir "$DIR/redis" --save '' --appendonly no \
      --protected-mode no --daemonize yes --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" >/dev/null
    wait_until 10 redis_up || die "redis-server did not answer on $HOST:$REDIS_PORT (see $DIR/redis.log)"
  fi
  if ! http_up; then
    # busybox httpd daemonizes itself; -f keeps it in front so we can record the pid.
    nohup /bin/busybox httpd -f -p "$HOST:$PORT" -h "$DIR/flists" >"$DIR/httpd.log" 2>&1 &
    echo $! >"$DIR/httpd.pid"
    wait_until 10 http_up || die "httpd did not answer on $HOST:$PORT (see $DIR/httpd.log)"
  fi
  echo "hub: http://$HOST:$PORT (flists in $DIR/flists), blocks redis://$HOST:$REDIS_PORT"
}

stop_pidfile() { # stop_pidfile FILE: SIGTERM, bounded wait, SIGKILL
  local pid i
  [[ -f $1 ]] || return 0
  pid=$(cat "$1")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

stop() {
  stop_pidfile "$DIR/httpd.pid"
  stop_pidfile "$DIR/redis.pid"
}

status() {
  local ok=0
  if http_up; then echo "http: up on $HOST:$PORT"; else echo "http: down"; ok=1; fi
  if redis_up; then echo "redis: up on $HOST:$REDIS_PORT"; else echo "redis: down"; ok=1; fi
  return $ok
}

flist_tool() {
  local t
  for t in "${FLIST_TOOL:-}" "$ROOT/build/release/flist-snapshotter/flist-tool" \
    "$ROOT/build/test/flist-snapshotter/flist-tool"; do
    [[ -n $t && -x $t ]] && { echo "$t"; return 0; }
  done
  die "flist-tool not found (hack/build.sh release flist-tool, or set FLIST_TOOL)"
}

pack() { # pack SRC USER/NAME
  [[ $# == 2 ]] || die "usage: hub.sh pack SRC USER/NAME"
  [[ $2 =~ ^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$ ]] || die "name must be USER/NAME, got '$2'"
  redis_up || die "hub not running (hub.sh start)"
  local out="$DIR/flists/$2.fl"
  mkdir -p "$(dirname "$out")"
  "$(flist_tool)" pack "$1" "$out.tmp" --store "redis://$HOST:$REDIS_PORT" >&2
  mv -f "$out.tmp" "$out"
  echo "$HOST:$PORT/$2.fl"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  addr) echo "$HOST:$PORT" ;;
  store) echo "redis://$HOST:$REDIS_PORT" ;;
  pack) shift; pack "$@" ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
