#!/usr/bin/env bash
# End-to-end check of the test fixtures: hack/registry.sh + hack/images.sh.
# Starts the registry (and stops it at the end only if this test started it), builds and pushes the
# images, then checks what the registry serves with curl + jq. Last line: "N passed, N failed".
#
#   bash test/e2e/fixtures_test.sh
set -euo pipefail
export LC_ALL=C

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly REPO_ROOT
readonly REGISTRY_SH="$REPO_ROOT/hack/registry.sh"
readonly IMAGES_SH="$REPO_ROOT/hack/images.sh"
readonly IMAGES_DIR="${FLINT_IMAGES_DIR:-/var/tmp/flint-images}"

readonly MT_OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
readonly MT_OCI_INDEX=application/vnd.oci.image.index.v1+json
readonly MT_DOCKER_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
readonly ACCEPT="$MT_OCI_MANIFEST, $MT_OCI_INDEX, $MT_DOCKER_MANIFEST, application/vnd.docker.distribution.manifest.list.v2+json"

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
check() { # check NAME COMMAND...: passes iff COMMAND succeeds
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}
check_eq() { # check_eq NAME WANT GOT
  if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1: want '$2', got '$3'"; fi
}

WORK=$(mktemp -d /tmp/flint-fixtures-test.XXXXXX)
STARTED_PLAIN=0
STARTED_AUTH=0
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  if ((STARTED_AUTH)); then "$REGISTRY_SH" stop-auth >/dev/null || true; fi
  if ((STARTED_PLAIN)); then "$REGISTRY_SH" stop >/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

finish() {
  echo "$PASSED passed, $FAILED failed"
  ((FAILED == 0))
  exit $?
}

# --- registry ------------------------------------------------------------------------------------
if ! "$REGISTRY_SH" status >/dev/null 2>&1; then
  STARTED_PLAIN=1
fi
if timeout 30 "$REGISTRY_SH" start; then pass "registry starts"; else fail "registry starts"; finish; fi
check "registry start is idempotent" timeout 30 "$REGISTRY_SH" start
REGISTRY=$("$REGISTRY_SH" addr)
readonly REGISTRY
check_eq "registry /v2/ answers 200" 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$REGISTRY/v2/")"

# --- images --------------------------------------------------------------------------------------
if timeout 300 "$IMAGES_SH" >"$WORK/images.out" 2>"$WORK/images.err"; then
  pass "images.sh builds and pushes"
else
  cat "$WORK/images.err"
  fail "images.sh builds and pushes"
  finish
fi
JSON="$IMAGES_DIR/images.json"
check "images.json written" test -s "$JSON"

# Second run must be served from the cache: no build, no push, same digests.
begin=$(date +%s%N)
timeout 120 "$IMAGES_SH" >"$WORK/images2.out" 2>"$WORK/images2.err" || fail "images.sh second run"
elapsed_ms=$((($(date +%s%N) - begin) / 1000000))
# shellcheck disable=SC2016 # $1 expands in the inner bash
check "images.sh second run builds/pushes nothing (${elapsed_ms} ms)" \
  bash -c '! grep -qE "building|pushing" "$1"' _ "$WORK/images2.err"
check_eq "images.sh second run prints the same table" "$(cat "$WORK/images.out")" "$(cat "$WORK/images2.out")"

manifest_digest() { jq -r --arg i "$REGISTRY/$1" '.images[] | select(.image == $i) | .manifest' "$JSON"; }

# get_manifest REPO REF OUT: saves body to OUT, prints "content-type digest-header".
get_manifest() {
  curl -sf --max-time 10 -H "Accept: $ACCEPT" -D "$3.headers" -o "$3" "http://$REGISTRY/v2/$1/manifests/$2" || return 1
  tr -d '\r' <"$3.headers" | awk -F': ' '
    tolower($1) == "content-type" {ct = $2}
    tolower($1) == "docker-content-digest" {d = $2}
    END {print ct, d}'
}

get_blob() { # get_blob REPO DIGEST OUT
  curl -sfL --max-time 60 -o "$3" "http://$REGISTRY/v2/$1/blobs/$2"
}

sha256_of() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# check_image_manifest REPO TAG WANT_MEDIATYPE: manifest retrievable, right type, digest and blobs
# verified; leaves the manifest in $WORK/<repo>_<tag>.json
check_image_manifest() {
  local repo=$1 tag=$2 want=$3 name="$1:$2" out headers ct dgst blob i n
  out="$WORK/${repo//\//_}_$tag.json"
  if ! headers=$(get_manifest "$repo" "$tag" "$out"); then fail "$name: manifest retrievable"; return; fi
  pass "$name: manifest retrievable"
  read -r ct dgst <<<"$headers"
  check_eq "$name: Content-Type" "$want" "$ct"
  check_eq "$name: mediaType" "$want" "$(jq -r .mediaType "$out")"
  check_eq "$name: body digest matches Docker-Content-Digest" "$dgst" "$(sha256_of "$out")"
  local want_digest want_config
  if [[ $tag == sha256:* ]]; then # a platform manifest of an index, recorded under .platforms
    want_digest=$tag
    want_config=$(jq -r --arg m "$tag" '[.images[].platforms // [] | .[] | select(.manifest == $m)][0].config' "$JSON")
  else
    want_digest=$(manifest_digest "$name")
    want_config=$(jq -r --arg i "$REGISTRY/$name" '.images[] | select(.image == $i) | .config' "$JSON")
  fi
  check_eq "$name: digest recorded in images.json" "$want_digest" "$dgst"
  [[ $want == "$MT_OCI_INDEX" ]] && return
  check_eq "$name: config digest recorded in images.json" "$want_config" "$(jq -r .config.digest "$out")"
  # config + every layer: sha256 and size match the descriptor
  n=$(jq '.layers | length' "$out")
  for ((i = -1; i < n; i++)); do
    local sel=".config"
    ((i >= 0)) && sel=".layers[$i]"
    dgst=$(jq -r "$sel.digest" "$out")
    blob="$WORK/blob-${dgst#sha256:}"
    if [[ ! -f $blob ]] && ! get_blob "$repo" "$dgst" "$blob"; then fail "$name: blob $sel retrievable"; continue; fi
    check_eq "$name: $sel sha256" "$dgst" "$(sha256_of "$blob")"
    check_eq "$name: $sel size" "$(jq -r "$sel.size" "$out")" "$(stat -c %s "$blob")"
  done
}

blob_path() { echo "$WORK/blob-$(jq -r "$2.digest" "$1" | sed 's/^sha256://')"; }

check_image_manifest flint/busybox latest "$MT_OCI_MANIFEST"
check_image_manifest flint/busybox 1.36 "$MT_OCI_MANIFEST"
check_eq "flint/busybox:1.36 is flint/busybox:latest" "$(manifest_digest flint/busybox:latest)" "$(manifest_digest flint/busybox:1.36)"
check_image_manifest flint/busybox-docker latest "$MT_DOCKER_MANIFEST"
check_eq "busybox-docker layer media type" application/vnd.docker.image.rootfs.diff.tar.gzip \
  "$(jq -r '.layers[0].mediaType' "$WORK/flint_busybox-docker_latest.json")"
check_image_manifest flint/busybox-multi latest "$MT_OCI_INDEX"
check_image_manifest flint/layers latest "$MT_OCI_MANIFEST"
check_image_manifest flint/config latest "$MT_OCI_MANIFEST"
check_image_manifest flint/user-name latest "$MT_OCI_MANIFEST"
check_image_manifest flint/user-uid-group latest "$MT_OCI_MANIFEST"

# --- busybox content: real applet links, runnable ---------------------------------------------
BB="$WORK/flint_busybox_latest.json"
tar -tvzf "$(blob_path "$BB" '.layers[0]')" >"$WORK/base.list"
check "busybox layer has bin/busybox" grep -qE '^-rwxr-xr-x .* bin/busybox$' "$WORK/base.list"
check "busybox layer links bin/sh -> /bin/busybox" grep -qE ' bin/sh -> /bin/busybox$' "$WORK/base.list"
applets=$(grep -c -- ' -> /bin/busybox$' "$WORK/base.list" || true)
check_eq "busybox layer links every applet" "$(/bin/busybox --list-full | grep -vc '^bin/busybox$')" "$applets"
# shellcheck disable=SC2016 # $1 expands in the inner bash
check "busybox layer entries have no ./ prefix" bash -c '! grep -q " \./" "$1"' _ "$WORK/base.list"
if ((EUID == 0)); then
  mkdir -p "$WORK/rootfs"
  tar -xzf "$(blob_path "$BB" '.layers[0]')" -C "$WORK/rootfs"
  # shellcheck disable=SC2016 # expands inside the chroot's sh
  check_eq "busybox rootfs runs sh and applets under chroot" "hello 3" \
    "$(timeout 10 chroot "$WORK/rootfs" /bin/sh -c 'echo hello $(ls /bin/busybox /bin/sh /bin/ls | wc -l)' 2>&1)"
fi
check_eq "busybox config: architecture amd64, Cmd sh" "amd64 sh" \
  "$(jq -r '"\(.architecture) \(.config.Cmd | join(" "))"' "$(blob_path "$BB" .config)")"

# --- multi-platform index ----------------------------------------------------------------------
MULTI="$WORK/flint_busybox-multi_latest.json"
check_eq "multi: platforms" "linux/amd64 linux/arm64" \
  "$(jq -r '[.manifests[].platform | "\(.os)/\(.architecture)"] | join(" ")' "$MULTI")"
for arch in amd64 arm64; do
  pd=$(jq -r --arg a "$arch" '.manifests[] | select(.platform.architecture == $a) | .digest' "$MULTI")
  check_eq "multi: $arch entry is an OCI manifest" "$MT_OCI_MANIFEST" \
    "$(jq -r --arg a "$arch" '.manifests[] | select(.platform.architecture == $a) | .mediaType' "$MULTI")"
  check_image_manifest flint/busybox-multi "$pd" "$MT_OCI_MANIFEST"
  PM="$WORK/flint_busybox-multi_$pd.json"
  check_eq "multi: $arch config architecture" "$arch" "$(jq -r .architecture "$(blob_path "$PM" .config)")"
done

# --- layers image --------------------------------------------------------------------------------
LAYERS="$WORK/flint_layers_latest.json"
check_eq "layers: 3 layers" 3 "$(jq '.layers | length' "$LAYERS")"
check_eq "layers: config has 3 diff_ids" 3 "$(jq '.rootfs.diff_ids | length' "$(blob_path "$LAYERS" .config)")"
for i in 0 1 2; do
  gunzip -c "$(blob_path "$LAYERS" ".layers[$i]")" >"$WORK/layer$i.tar"
  check_eq "layers: layer $i diff_id" "$(jq -r ".rootfs.diff_ids[$i]" "$(blob_path "$LAYERS" .config)")" \
    "$(sha256_of "$WORK/layer$i.tar")"
done
tar --xattrs -tvf "$WORK/layer1.tar" >"$WORK/layer1.list"
tar -tf "$WORK/layer2.tar" >"$WORK/layer2.list"
for f in data/a data/b data/dir/x opq/old1; do
  check "layers: layer 2 has $f" grep -qx "$f" <(tar -tf "$WORK/layer1.tar")
done
check "layers: layer 2 has setuid file (4755)" grep -qE '^-rwsr-xr-x .* special/setuid$' "$WORK/layer1.list"
check "layers: layer 2 has hard link" grep -qE '^h.* special/hardlink-to-b link to data/b$' "$WORK/layer1.list"
check "layers: layer 2 has symlink" grep -qE '^l.* special/symlink-to-b -> \.\./data/b$' "$WORK/layer1.list"
check "layers: layer 2 has xattr user.flint=yes" grep -qa 'SCHILY.xattr.user.flint=yes' "$WORK/layer1.tar"
check "layers: layer 3 whiteout data/.wh.a" grep -qx 'data/.wh.a' "$WORK/layer2.list"
check "layers: layer 3 opaque opq/.wh..wh..opq" grep -qx 'opq/.wh..wh..opq' "$WORK/layer2.list"
check "layers: layer 3 adds opq/new" grep -qx 'opq/new' "$WORK/layer2.list"

# --- config images -------------------------------------------------------------------------------
CFG="$(blob_path "$WORK/flint_config_latest.json" .config)"
check_eq "config: User" "1000:1000" "$(jq -r .config.User "$CFG")"
check_eq "config: Env" '["FOO=bar","PATH=/bin"]' "$(jq -c .config.Env "$CFG")"
check_eq "config: WorkingDir" /work "$(jq -r .config.WorkingDir "$CFG")"
check_eq "config: Entrypoint" '["/bin/sh","-c"]' "$(jq -c .config.Entrypoint "$CFG")"
check_eq "config: Cmd" '["echo hello from config"]' "$(jq -c .config.Cmd "$CFG")"
check_eq "config: StopSignal" SIGUSR1 "$(jq -r .config.StopSignal "$CFG")"
check_eq "config: label" config "$(jq -r '.config.Labels["org.flint.test"]' "$CFG")"
USERS_LAYER="$(blob_path "$WORK/flint_config_latest.json" '.layers[1]')"
check "config: /etc/passwd has flint uid 1000" grep -qx 'flint:x:1000:1000:flint:/home/flint:/bin/sh' \
  <(tar -xzOf "$USERS_LAYER" etc/passwd)
check "config: /etc/group has flint gid 1000" grep -qx 'flint:x:1000:' <(tar -xzOf "$USERS_LAYER" etc/group)
check "config: /work owned by 1000:1000" grep -qE '^d.* 1000/1000 .* work/$' <(tar --numeric-owner -tvzf "$USERS_LAYER")
check_eq "user-name: User" flint "$(jq -r .config.User "$(blob_path "$WORK/flint_user-name_latest.json" .config)")"
check_eq "user-uid-group: User" 1003:50000 \
  "$(jq -r .config.User "$(blob_path "$WORK/flint_user-uid-group_latest.json" .config)")"

# --- determinism: a fresh build elsewhere yields the same digests -------------------------------
if timeout 300 env FLINT_IMAGES_DIR="$WORK/fresh" "$IMAGES_SH" >"$WORK/fresh.out" 2>"$WORK/fresh.err"; then
  check_eq "fresh rebuild gives identical digests" \
    "$(jq -c '[.images[] | {image, manifest, config, platforms}]' "$JSON")" \
    "$(jq -c '[.images[] | {image, manifest, config, platforms}]' "$WORK/fresh/images.json")"
else
  cat "$WORK/fresh.err"
  fail "fresh rebuild"
fi

# --- auth registry -------------------------------------------------------------------------------
if ! "$REGISTRY_SH" status 2>/dev/null | grep -q '^auth: running'; then
  STARTED_AUTH=1
fi
if timeout 30 "$REGISTRY_SH" start-auth; then
  pass "auth registry starts"
  AUTH=$("$REGISTRY_SH" addr-auth)
  check_eq "auth: /v2/ without credentials is 401" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$AUTH/v2/")"
  check "auth: 401 carries a Basic challenge" grep -qi '^www-authenticate: basic' \
    <(curl -s -D - -o /dev/null --max-time 5 "http://$AUTH/v2/" | tr -d '\r')
  check_eq "auth: wrong password is 401" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -u flint:wrong "http://$AUTH/v2/")"
  check_eq "auth: flint/flintpass is 200" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -u flint:flintpass "http://$AUTH/v2/")"
  check_eq "auth: serves the pushed images" "$(manifest_digest flint/busybox:latest)" \
    "$(curl -sf --max-time 5 -u flint:flintpass -H "Accept: $ACCEPT" "http://$AUTH/v2/flint/busybox/manifests/latest" | sha256sum | sed 's/^/sha256:/; s/ .*//')"
else
  fail "auth registry starts"
fi

finish
