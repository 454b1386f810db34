#!/usr/bin/env bash
# Checks what a Flint node needs (overlayfs, FUSE, network namespaces, cgroups, OCI
# runtimes, CNI plugins) and prints what is missing. With --fix it repairs what it safely can.
set -uo pipefail

fix=0
[[ "${1:-}" == "--fix" ]] && fix=1
problems=0
ok() { printf '  ok    %s\n' "$1"; }
bad() { printf '  MISSING %s\n        -> %s\n' "$1" "$2"; problems=$((problems + 1)); }
fixed() { printf '  fixed %s\n' "$1"; }

echo "Flint host check ($(uname -r))"
[[ $EUID -eq 0 ]] && ok "running as root" || bad "root" "flintd needs root (mounts, namespaces, cgroups)"

if grep -qw overlay /proc/filesystems || { ((fix)) && modprobe overlay 2>/dev/null && grep -qw overlay /proc/filesystems; }; then
  ok "overlayfs"
else
  bad "overlayfs" "modprobe overlay (kernel module)"
fi

if [[ -c /dev/fuse ]] || { ((fix)) && modprobe fuse 2>/dev/null && [[ -c /dev/fuse ]]; }; then
  ok "FUSE (/dev/fuse)"
else
  bad "FUSE" "modprobe fuse; flist images need /dev/fuse"
fi
command -v fusermount3 >/dev/null && ok "fusermount3" || bad "fusermount3" "apt-get install fuse3"

if unshare --net true 2>/dev/null; then ok "network namespaces"; else bad "network namespaces" "kernel without CONFIG_NET_NS or no privilege"; fi
if unshare --pid --fork --mount-proc true 2>/dev/null; then ok "pid/mount namespaces"; else bad "pid/mount namespaces" "unshare failed"; fi

# cgroups: v2 unified, or v1 (possibly hybrid with an empty cgroup2 at /sys/fs/cgroup/unified).
if [[ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" == "cgroup2fs" ]]; then
  ok "cgroup v2 (unified)"
elif [[ -d /sys/fs/cgroup/memory && -d /sys/fs/cgroup/cpu,cpuacct || -d /sys/fs/cgroup/cpu ]]; then
  ok "cgroup v1 (memory, cpu)"
  # crun refuses v1-hybrid while a controller is bound to the cgroup2 mount; hugetlb is the usual one.
  unified=/sys/fs/cgroup/unified
  if [[ -f $unified/cgroup.controllers && -n "$(cat $unified/cgroup.controllers 2>/dev/null)" ]]; then
    ctrls=$(cat $unified/cgroup.controllers)
    if ((fix)); then
      for c in $ctrls; do
        mkdir -p "/sys/fs/cgroup/$c"
        mountpoint -q "/sys/fs/cgroup/$c" || mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" 2>/dev/null
      done
      if [[ -z "$(cat $unified/cgroup.controllers 2>/dev/null)" ]]; then fixed "moved '$ctrls' from cgroup2 to v1 mounts (crun needs this)"; else bad "cgroup hybrid" "controllers '$(cat $unified/cgroup.controllers)' still on cgroup2"; fi
    else
      bad "cgroup hybrid: controllers '$ctrls' on $unified" "crun refuses this; run: hack/setup-host.sh --fix (mounts them as v1)"
    fi
  else
    ok "no controller stuck on the cgroup2 mount"
  fi
else
  bad "cgroups" "no cgroup v1 memory/cpu hierarchy and no cgroup2 mount"
fi

for rt in runc crun; do command -v "$rt" >/dev/null && ok "$rt ($("$rt" --version | head -1))" || bad "$rt" "apt-get install $rt"; done
[[ -x /usr/lib/cni/host-local || -x /opt/cni/bin/host-local ]] && ok "reference CNI plugins" || bad "CNI plugins" "apt-get install containernetworking-plugins"
command -v iptables >/dev/null && ok "iptables" || bad "iptables" "apt-get install iptables"

if [[ "$(cat /proc/sys/net/ipv4/ip_forward)" == 1 ]]; then
  ok "net.ipv4.ip_forward=1"
elif ((fix)); then
  sysctl -qw net.ipv4.ip_forward=1 && fixed "net.ipv4.ip_forward=1"
else
  bad "net.ipv4.ip_forward=0" "pods cannot reach beyond the node; sysctl -w net.ipv4.ip_forward=1"
fi

# Lowering oom_score_adj needs CAP_SYS_RESOURCE; without it flintd clamps instead of failing.
cur=$(cat /proc/self/oom_score_adj)
if (echo $((cur - 1)) >/proc/self/oom_score_adj) 2>/dev/null; then ok "can lower oom_score_adj"; else echo "  note  no CAP_SYS_RESOURCE: container oom_score_adj is clamped to >= $cur"; fi

if ((problems)); then echo "$problems problem(s) found"; exit 1; fi
echo "host is ready for Flint"
