#!/usr/bin/env bash
# Installs everything Flint needs to build, run and test, from Debian's repositories only.
# Idempotent: packages already present are left as they are.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libyaml-cpp-dev libnl-3-dev libnl-route-3-dev libgtest-dev libgmock-dev
  libfuse3-dev libsqlite3-dev libcurl4-openssl-dev libarchive-dev libssl-dev
  nlohmann-json3-dev zlib1g-dev libsnappy-dev libzstd-dev
  # runtime tools
  runc crun containernetworking-plugins docker-registry skopeo umoci redis-server
  iptables iproute2 fuse3 busybox-static jq curl util-linux procps sqlite3
  apache2-utils openssl attr  # test fixtures: htpasswd (auth registry), deterministic data, xattrs
  golang-go golang-github-docker-spdystream-dev golang-github-gorilla-websocket-dev  # streaming interop peers
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# docker-registry's package starts a system service on :5000; our fixtures run their own.
if command -v service >/dev/null 2>&1; then service docker-registry stop >/dev/null 2>&1 || true; fi
