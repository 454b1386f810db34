#!/usr/bin/env bash
# Runs local OCI registries (Debian's docker-registry) for Flint's tests.
#
#   hack/registry.sh start        plain HTTP registry on 127.0.0.1:$FLINT_REGISTRY_PORT (default 5055)
#   hack/registry.sh start-auth   second instance with htpasswd basic auth (user flint / password flintpass)
#                                 on 127.0.0.1:$FLINT_REGISTRY_AUTH_PORT (default 5056); it serves the same
#                                 storage, so images pushed to the plain one are pullable through it
#   hack/registry.sh stop         stops both instances (stop-auth: only the auth one)
#   hack/registry.sh status       prints the state of both instances; exit 0 iff the plain one answers
#   hack/registry.sh addr         prints host:port of the plain instance (addr-auth: of the auth one)
#
# State lives under $FLINT_REGISTRY_DIR (default /var/tmp/flint-registry): data/, config, pid and log files.
set -euo pipefail
shopt -s inherit_errexit

readonly PORT="${FLINT_REGISTRY_PORT:-5055}"
readonly AUTH_PORT="${FLINT_REGISTRY_AUTH_PORT:-5056}"
readonly DIR="${FLINT_REGISTRY_DIR:-/var/tmp/flint-registry}"
readonly HOST=127.0.0.1
readonly AUTH_USER=flint
readonly AUTH_PASSWORD=flintpass
readonly REGISTRY_BIN="${FLINT_REGISTRY_BIN:-/usr/bin/docker-registry}"

die() { echo "registry.sh: $*" >&2; exit 1; }

# instance_* helpers take the instance name: "plain" or "auth".
instance_port() { if [[ $1 == auth ]]; then echo "$AUTH_PORT"; else echo "$PORT"; fi; }
instance_pidfile() { echo "$DIR/$1.pid"; }
instance_log() { echo "$DIR/$1.log"; }
instance_config() { echo "$DIR/$1.yml"; }

# HTTP status of /v2/ ("000" if nothing answers).
probe() {
  curl -s -o /dev/null -w '%{http_code}' --connect-timeout 1 --max-time 2 \
    "http://$HOST:$(instance_port "$1")/v2/" 2>/dev/null || true
}

# Status /v2/ must return when the instance is healthy: 401 means auth is enforced.
expected_status() { if [[ $1 == auth ]]; then echo 401; else echo 200; fi; }

# Prints the pid of a running instance we started, or nothing.
running_pid() {
  local pidfile pid
  pidfile=$(instance_pidfile "$1")
  [[ -f $pidfile ]] || return 0
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  # Guard against pid reuse: the process must still be a registry serving our config.
  if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$(instance_config "$1")"; then
    echo "$pid"
  fi
}

write_config() {
  local name=$1 port
  port=$(instance_port "$name")
  {
    echo "version: 0.1"
    echo "log:"
    echo "  level: info"
    echo "  accesslog:"
    echo "    disabled: true"
    echo "storage:"
    echo "  filesystem:"
    echo "    rootdirectory: $DIR/data"
    echo "  delete:"
    echo "    enabled: true"
    echo "  cache:"
    echo "    blobdescriptor: inmemory"
    echo "  maintenance:"
    echo "    uploadpurging:"
    echo "      enabled: false"
    echo "http:"
    echo "  addr: $HOST:$port"
    echo "  secret: flint-test-registry-$name"
    echo "health:"
    echo "  storagedriver:"
    echo "    enabled: false"
    if [[ $name == auth ]]; then
      echo "auth:"
      echo "  htpasswd:"
      echo "    realm: flint-test"
      echo "    path: $DIR/htpasswd"
    fi
  } >"$(instance_config "$name")"
}

start_instance() {
  local name=$1 port pid status want i
  port=$(instance_port "$name")
  want=$(expected_status "$name")
  [[ -x $REGISTRY_BIN ]] || die "$REGISTRY_BIN not found (apt-get install docker-registry)"
  command -v curl >/dev/null || die "curl not found"
  mkdir -p "$DIR/data"

  pid=$(running_pid "$name")
  if [[ -n $pid ]]; then
    status=$(probe "$name")
    if [[ $status == "$want" ]]; then
      echo "registry.sh: $name registry already running on $HOST:$port (pid $pid)"
      return 0
    fi
    die "$name registry pid $pid is running but /v2/ on $HOST:$port answers '$status' (want $want); see $(instance_log "$name")"
  fi
  status=$(probe "$name")
  [[ $status == 000 ]] || die "port $port is already in use by something else (/v2/ answers '$status'); set FLINT_REGISTRY_PORT/FLINT_REGISTRY_AUTH_PORT"

  if [[ $name == auth ]]; then
    command -v htpasswd >/dev/null || die "htpasswd not found (apt-get install apache2-utils)"
    # docker-registry only accepts bcrypt entries.
    htpasswd -Bbn "$AUTH_USER" "$AUTH_PASSWORD" >"$DIR/htpasswd.tmp" 2>/dev/null
    mv "$DIR/htpasswd.tmp" "$DIR/htpasswd"
  fi
  write_config "$name"

  local log
  log=$(instance_log "$name")
  # setsid: the registry must outlive this script and its caller's process group.
  # 9>&-: the registry must not inherit (and hold forever) the start/stop lock.
  setsid "$REGISTRY_BIN" serve "$(instance_config "$name")" >"$log" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$(instance_pidfile "$name")"

  for ((i = 0; i < 100; i++)); do
    status=$(probe "$name")
    [[ $status == "$want" ]] && { echo "registry.sh: $name registry up on $HOST:$port (pid $pid)"; return 0; }
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; rm -f "$(instance_pidfile "$name")"; die "$name registry exited during startup; log: $log"; }
    sleep 0.1
  done
  stop_instance "$name" >/dev/null 2>&1 || true
  die "$name registry did not answer /v2/ with $want within 10s (last status '$status'); log: $log"
}

stop_instance() {
  local name=$1 pid i
  pid=$(running_pid "$name")
  if [[ -z $pid ]]; then
    rm -f "$(instance_pidfile "$name")"
    echo "registry.sh: $name registry not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  kill -0 "$pid" 2>/dev/null && die "$name registry pid $pid did not exit"
  rm -f "$(instance_pidfile "$name")"
  echo "registry.sh: $name registry stopped (pid $pid)"
}

status_instance() {
  local name=$1 pid status
  pid=$(running_pid "$name")
  status=$(probe "$name")
  if [[ -n $pid && $status == "$(expected_status "$name")" ]]; then
    echo "$name: running on $HOST:$(instance_port "$name") (pid $pid)"
    return 0
  fi
  echo "$name: not running (pid '${pid:-none}', /v2/ status $status)"
  return 1
}

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

# Serialize start/stop so concurrent callers don't race on the pid files.
if [[ ${1:-} == start* || ${1:-} == stop* ]]; then
  mkdir -p "$DIR"
  exec 9>"$DIR/.lock"
  flock -w 60 9 || die "timed out waiting for $DIR/.lock"
fi

case "${1:-}" in
  start) start_instance plain ;;
  start-auth) start_instance auth ;;
  stop) stop_instance auth; stop_instance plain ;;
  stop-auth) stop_instance auth ;;
  status)
    rc=0
    status_instance plain || rc=1
    status_instance auth || true
    exit "$rc"
    ;;
  addr) echo "$HOST:$PORT" ;;
  addr-auth) echo "$HOST:$AUTH_PORT" ;;
  *) usage ;;
esac
