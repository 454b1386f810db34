# shellcheck shell=bash
# Debian's containerd (1.6, CRI plugin) as the reference next to flintd in the benchmarks.
# Sourced (bash); the caller has `set -euo pipefail`. Functions:
#
#   containerd_unavailable            prints why containerd cannot run here, or nothing; installs
#                                     Debian's containerd with apt-get first when it is missing
#                                     (benchmarks only: not an install-deps package)
#   containerd_push_pause_image REGISTRY PAUSE_BIN WORKDIR
#                                     pushes REGISTRY/flint/pause:latest: one layer holding PAUSE_BIN
#                                     as /pause (containerd's sandbox_image; registry.k8s.io is not
#                                     reachable here); prints the reference
#   containerd_start DIR REGISTRY [RUNTIME_BINARY]
#                                     writes DIR/config.toml (root, state, sockets all under DIR;
#                                     REGISTRY over plain http; overlayfs; the runc shim running
#                                     RUNTIME_BINARY, default runc) and starts containerd; sets
#                                     CONTAINERD_PID and CONTAINERD_SOCKET; when no socket appears
#                                     within 30 s, kills it, prints the log's tail, returns 1
#
# Settings every caller needs on this VM (see hack/bench/exec/README.md):
#   restrict_oom_score_adj: the sandbox asks for oom_score_adj -998, which needs CAP_SYS_RESOURCE;
#   stream_server_port = "0": the kernel picks a free port, so daemons side by side do not collide.

containerd_unavailable() {
  if ! command -v containerd >/dev/null; then
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y --no-install-recommends containerd \
      >/dev/null 2>&1 || { echo "containerd not installed and apt-get install containerd failed"; return 0; }
  fi
  command -v containerd-shim-runc-v2 >/dev/null || echo "containerd-shim-runc-v2 not installed"
}

containerd_push_pause_image() {
  local registry=$1 pause_bin=$2 dir=$3/pause-image
  local layout=$dir/oci ref=$1/flint/pause:latest hex size diffid cfg cfg_hex man man_hex
  rm -rf "$dir"
  mkdir -p "$dir/rootfs" "$layout/blobs/sha256"
  install -m 0755 "$pause_bin" "$dir/rootfs/pause"
  tar --create --file="$dir/layer.tar" --directory="$dir/rootfs" --numeric-owner --owner=0 --group=0 \
    --mtime=@1704067200 pause
  diffid=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
  gzip -n -c "$dir/layer.tar" >"$dir/layer.tar.gz"
  hex=$(sha256sum "$dir/layer.tar.gz" | cut -d' ' -f1)
  size=$(stat -c %s "$dir/layer.tar.gz")
  mv "$dir/layer.tar.gz" "$layout/blobs/sha256/$hex"
  cfg=$(jq -cn --arg d "sha256:$diffid" '{architecture:"amd64",os:"linux",
    config:{Entrypoint:["/pause"],WorkingDir:"/"},rootfs:{type:"layers",diff_ids:[$d]}}')
  printf '%s' "$cfg" >"$dir/config.json"
  cfg_hex=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
  mv "$dir/config.json" "$layout/blobs/sha256/$cfg_hex"
  man=$(jq -cn --arg c "sha256:$cfg_hex" --argjson cs "${#cfg}" --arg l "sha256:$hex" --argjson ls "$size" \
    '{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",
      config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$c,size:$cs},
      layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar+gzip",digest:$l,size:$ls}]}')
  printf '%s' "$man" >"$dir/manifest.json"
  man_hex=$(sha256sum "$dir/manifest.json" | cut -d' ' -f1)
  mv "$dir/manifest.json" "$layout/blobs/sha256/$man_hex"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  jq -cn --arg d "sha256:$man_hex" --argjson s "${#man}" '{schemaVersion:2,manifests:[{
    mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$d,size:$s,
    annotations:{"org.opencontainers.image.ref.name":"latest"}}]}' >"$layout/index.json"
  skopeo --insecure-policy copy --quiet --dest-tls-verify=false --preserve-digests \
    "oci:$layout:latest" "docker://$ref" >&2
  rm -rf "$dir"
  echo "$ref"
}

containerd_start() {
  local dir=$1 registry=$2 runtime_binary=${3:-$(command -v runc)} i
  mkdir -p "$dir/cni" "$dir/certs.d/$registry"
  CONTAINERD_SOCKET=$dir/containerd.sock
  cat >"$dir/certs.d/$registry/hosts.toml" <<EOF
server = "http://$registry"
[host."http://$registry"]
  capabilities = ["pull", "resolve"]
EOF
  cat >"$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$CONTAINERD_SOCKET"
[ttrpc]
  address = "$CONTAINERD_SOCKET.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$registry/flint/pause:latest"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$runtime_binary"
        Root = "$dir/runtime-state"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$dir/certs.d"
EOF
  containerd --config "$dir/config.toml" --log-level warn >"$dir/containerd.log" 2>&1 &
  CONTAINERD_PID=$!
  for ((i = 0; i < 300; i++)); do
    [[ -S $CONTAINERD_SOCKET ]] && return 0
    kill -0 "$CONTAINERD_PID" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$dir/containerd.log" >&2
  kill -KILL "$CONTAINERD_PID" 2>/dev/null || true
  wait "$CONTAINERD_PID" 2>/dev/null || true
  return 1
}
