#!/usr/bin/env bash
# Builds Flint's OCI test images from Debian's busybox-static and pushes them to the local registry
# (hack/registry.sh). No docker, no network: layers are tar+gzip written here, manifests/configs are
# JSON written with jq into OCI layouts, and skopeo pushes them.
#
#   hack/images.sh [--large]      (--large or FLINT_LARGE_IMAGES=1 also builds flint/large, ~300 MB)
#
# Builds are deterministic (fixed mtimes/owners, sorted tar entries, gzip -n) so digests are stable,
# and cached under $FLINT_IMAGES_DIR (default /var/tmp/flint-images), keyed on this script and the
# busybox binary; a tag is re-pushed only if the registry doesn't already serve the expected digest.
# Prints image -> manifest digest -> config digest and writes it to $FLINT_IMAGES_DIR/images.json.
set -euo pipefail
shopt -s inherit_errexit
umask 022
export LC_ALL=C

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly IMAGES_DIR="${FLINT_IMAGES_DIR:-/var/tmp/flint-images}"
readonly BUSYBOX=/bin/busybox
readonly EPOCH=1704067200 # 2024-01-01T00:00:00Z, the mtime of every file and the "created" of every image
readonly CREATED=2024-01-01T00:00:00Z
readonly DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

readonly MT_OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
readonly MT_OCI_INDEX=application/vnd.oci.image.index.v1+json
readonly MT_OCI_CONFIG=application/vnd.oci.image.config.v1+json
readonly MT_OCI_LAYER_GZIP=application/vnd.oci.image.layer.v1.tar+gzip
readonly MT_DOCKER_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
readonly MT_DOCKER_LIST=application/vnd.docker.distribution.manifest.list.v2+json
readonly ACCEPT_ALL="$MT_OCI_MANIFEST, $MT_OCI_INDEX, $MT_DOCKER_MANIFEST, $MT_DOCKER_LIST"

die() { echo "images.sh: $*" >&2; exit 1; }
log() { echo "images.sh: $*" >&2; }

LARGE="${FLINT_LARGE_IMAGES:-0}"
for arg in "$@"; do
  case "$arg" in
    --large) LARGE=1 ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$arg' (usage: hack/images.sh [--large])" ;;
  esac
done

((EUID == 0)) || die "must run as root (layer files carry uid 0 / uid 1000 ownership and a setuid bit)"
for tool in skopeo jq curl tar gzip sha256sum openssl setfattr flock; do
  command -v "$tool" >/dev/null || die "$tool not found (run hack/install-deps.sh)"
done
[[ -x $BUSYBOX ]] || die "$BUSYBOX not found (apt-get install busybox-static)"

REGISTRY="${FLINT_REGISTRY_ADDR:-$("$SCRIPT_DIR/registry.sh" addr)}"
readonly REGISTRY
[[ $(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 2 --max-time 5 "http://$REGISTRY/v2/" || true) == 200 ]] ||
  die "no registry answers on http://$REGISTRY/v2/ (run hack/registry.sh start)"

# Cache key: anything that changes image content changes the key, and so the build dir.
CACHE_KEY="$(cat "$0" "$BUSYBOX" | sha256sum | cut -c1-16)"
readonly CACHE_KEY
readonly BUILD="$IMAGES_DIR/build-$CACHE_KEY"
mkdir -p "$BUILD"
# One build/push at a time per cache dir (parallel test runs may call this together).
exec 9>"$IMAGES_DIR/.lock"
flock -w 600 9 || die "timed out waiting for $IMAGES_DIR/.lock"
for old in "$IMAGES_DIR"/build-*; do
  [[ $old == "$BUILD" ]] || rm -rf "$old"
done

# ---------------------------------------------------------------------------------------------
# OCI layout helpers. Each image is its own OCI layout directory under $BUILD.

layout_init() {
  rm -rf "$1"
  mkdir -p "$1/blobs/sha256"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$1/oci-layout"
  echo '{"schemaVersion":2,"mediaType":"'"$MT_OCI_INDEX"'","manifests":[]}' >"$1/index.json"
}

# blob_put LAYOUT FILE MEDIATYPE: moves FILE into the layout; prints its descriptor JSON.
blob_put() {
  local layout=$1 file=$2 mt=$3 hex size
  hex=$(sha256sum "$file" | cut -d' ' -f1)
  size=$(stat -c %s "$file")
  if [[ -e $layout/blobs/sha256/$hex ]]; then
    rm -f "$file" # already stored (possibly as a hard link to this very file)
  else
    mv "$file" "$layout/blobs/sha256/$hex"
  fi
  jq -cn --arg mt "$mt" --arg d "sha256:$hex" --argjson s "$size" '{mediaType:$mt,digest:$d,size:$s}'
}

# json_blob_put LAYOUT MEDIATYPE JSON: stores JSON (compact, as given) as a blob; prints descriptor.
json_blob_put() {
  local tmp
  tmp=$(mktemp "$1/blob.XXXXXX")
  printf '%s' "$3" >"$tmp"
  blob_put "$1" "$tmp" "$2"
}

# layout_tag LAYOUT REF DESCRIPTOR: names DESCRIPTOR as REF in the layout's index.json.
layout_tag() {
  local tmp
  tmp=$(mktemp "$1/index.XXXXXX")
  jq -c --arg ref "$2" --argjson desc "$3" \
    '.manifests += [$desc + {annotations:{"org.opencontainers.image.ref.name":$ref}}]' \
    "$1/index.json" >"$tmp"
  mv -f "$tmp" "$1/index.json"
}

# make_layer SRCDIR OUTNAME [GZIP_LEVEL]: writes $BUILD/layers/OUTNAME.tar.gz and OUTNAME.diffid
# from the tree in SRCDIR. Entries are sorted, relative ("bin/sh", no "./"), mtime EPOCH, numeric
# owners as on disk, user.* xattrs kept; pax headers only where needed (xattrs).
make_layer() {
  local src=$1 out="$BUILD/layers/$2" level=${3:-6}
  mkdir -p "$BUILD/layers"
  (cd "$src" && find . -mindepth 1 -printf '%P\n' | sort) |
    tar --create --file="$out.tar" --directory="$src" --no-recursion --files-from=- \
      --format=posix --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
      --mtime="@$EPOCH" --numeric-owner --xattrs --xattrs-include='user.*'
  echo "sha256:$(sha256sum "$out.tar" | cut -d' ' -f1)" >"$out.diffid"
  gzip -n "-$level" -c "$out.tar" >"$out.tar.gz.tmp"
  mv -f "$out.tar.gz.tmp" "$out.tar.gz"
  rm -f "$out.tar"
}

# layer_put LAYOUT NAME: copies a built layer into LAYOUT; sets LAYER_DESC and LAYER_DIFFID.
layer_put() {
  local tmp
  tmp=$(mktemp "$1/layer.XXXXXX")
  ln -f "$BUILD/layers/$2.tar.gz" "$tmp" # blobs are immutable: share, do not copy
  LAYER_DESC=$(blob_put "$1" "$tmp" "$MT_OCI_LAYER_GZIP")
  LAYER_DIFFID=$(<"$BUILD/layers/$2.diffid")
}

# image_put LAYOUT ARCH CONFIG_JSON LAYER_NAME...: writes config + manifest blobs for an image made
# of the named layers; sets MANIFEST_DESC (without platform) and CONFIG_DESC.
image_put() {
  local layout=$1 arch=$2 runconfig=$3 name layers='[]' diffids='[]' history='[]' config manifest
  shift 3
  for name in "$@"; do
    layer_put "$layout" "$name"
    layers=$(jq -c --argjson d "$LAYER_DESC" '. + [$d]' <<<"$layers")
    diffids=$(jq -c --arg d "$LAYER_DIFFID" '. + [$d]' <<<"$diffids")
    history=$(jq -c --arg c "$CREATED" --arg by "flint hack/images.sh: layer $name" \
      '. + [{created:$c,created_by:$by}]' <<<"$history")
  done
  config=$(jq -cn --arg c "$CREATED" --arg arch "$arch" --argjson cfg "$runconfig" \
    --argjson diffids "$diffids" --argjson history "$history" \
    '{created:$c,architecture:$arch}
     + (if $arch == "arm64" then {variant:"v8"} else {} end)
     + {os:"linux",config:$cfg,rootfs:{type:"layers",diff_ids:$diffids},history:$history}')
  CONFIG_DESC=$(json_blob_put "$layout" "$MT_OCI_CONFIG" "$config")
  manifest=$(jq -cn --arg mt "$MT_OCI_MANIFEST" --argjson cfg "$CONFIG_DESC" --argjson layers "$layers" \
    '{schemaVersion:2,mediaType:$mt,config:$cfg,layers:$layers}')
  MANIFEST_DESC=$(json_blob_put "$layout" "$MT_OCI_MANIFEST" "$manifest")
}

# ---------------------------------------------------------------------------------------------
# Layer contents.

write_file() { # write_file PATH MODE CONTENT
  mkdir -p "$(dirname "$1")"
  printf '%s' "$3" >"$1"
  chmod "$2" "$1"
}

# Busybox with a real link for every applet, and the usual top-level directories.
build_layer_base() {
  [[ -f $BUILD/layers/base.tar.gz ]] && return 0
  local root="$BUILD/src/base" applet
  rm -rf "$root"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,tmp,root,var,run}
  chmod 1777 "$root/tmp"
  chmod 0700 "$root/root"
  cp "$BUSYBOX" "$root/bin/busybox"
  chmod 0755 "$root/bin/busybox"
  while read -r applet; do
    [[ -n $applet && $applet != bin/busybox ]] || continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sfn /bin/busybox "$root/$applet"
  done < <("$BUSYBOX" --list-full)
  write_file "$root/etc/passwd" 0644 $'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'
  write_file "$root/etc/group" 0644 $'root:x:0:\nnogroup:x:65534:\n'
  make_layer "$root" base
}

# User "flint" (uid/gid 1000) and a /work dir it owns; shared by the config/user-* images.
build_layer_users() {
  [[ -f $BUILD/layers/users.tar.gz ]] && return 0
  local root="$BUILD/src/users"
  rm -rf "$root"
  mkdir -p "$root/etc" "$root/work" "$root/home/flint"
  write_file "$root/etc/passwd" 0644 $'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nflint:x:1000:1000:flint:/home/flint:/bin/sh\n'
  write_file "$root/etc/group" 0644 $'root:x:0:\nflint:x:1000:\nnogroup:x:65534:\n'
  chown 1000:1000 "$root/work" "$root/home/flint"
  make_layer "$root" users
}

# Layer 2 of flint/layers: plain files, dirs, setuid file, hard link, symlink, xattr.
build_layer_files() {
  [[ -f $BUILD/layers/files.tar.gz ]] && return 0
  local root="$BUILD/src/files"
  rm -rf "$root"
  mkdir -p "$root"
  write_file "$root/data/a" 0644 $'file a\n'
  write_file "$root/data/b" 0644 $'file b\n'
  write_file "$root/data/dir/x" 0644 $'file x\n'
  write_file "$root/opq/old1" 0644 $'old file in opq\n'
  write_file "$root/special/setuid" 4755 $'#!/bin/sh\necho setuid\n'
  ln "$root/data/b" "$root/special/hardlink-to-b"
  ln -s ../data/b "$root/special/symlink-to-b"
  write_file "$root/special/xattr" 0644 $'has user.flint xattr\n'
  setfattr -n user.flint -v yes "$root/special/xattr" ||
    die "cannot set user.* xattr under $BUILD (filesystem without user xattr support?)"
  make_layer "$root" files
}

# Layer 3 of flint/layers: whiteout of /data/a, opaque /opq with a new file.
build_layer_whiteouts() {
  [[ -f $BUILD/layers/whiteouts.tar.gz ]] && return 0
  local root="$BUILD/src/whiteouts"
  rm -rf "$root"
  mkdir -p "$root/data" "$root/opq"
  write_file "$root/data/.wh.a" 0644 ''
  write_file "$root/opq/.wh..wh..opq" 0644 ''
  write_file "$root/opq/new" 0644 $'new file in opaque opq\n'
  make_layer "$root" whiteouts
}

readonly LARGE_LAYERS=6
readonly LARGE_LAYER_BYTES=$((50 * 1024 * 1024))

# Deterministic incompressible data: AES-CTR keystream of a fixed password.
build_layer_large() { # build_layer_large N
  [[ -f $BUILD/layers/large-$1.tar.gz ]] && return 0
  local root="$BUILD/src/large-$1"
  rm -rf "$root"
  mkdir -p "$root/data"
  { openssl enc -aes-256-ctr -pass "pass:flint-$1" -nosalt -pbkdf2 </dev/zero 2>/dev/null || true; } |
    head -c "$LARGE_LAYER_BYTES" >"$root/data/large-$1.bin"
  make_layer "$root" "large-$1" 1
  rm -rf "$root"
}

# ---------------------------------------------------------------------------------------------
# Images. Each build_image_* fills an OCI layout; a stamp marks it complete.

runconfig_default() {
  jq -cn --arg path "PATH=$DEFAULT_PATH" '{Env:[$path],Cmd:["sh"]}'
}

build_image_busybox() {
  build_layer_base
  image_put "$1" amd64 "$(runconfig_default)" base
  layout_tag "$1" latest "$MANIFEST_DESC"
  layout_tag "$1" 1.36 "$MANIFEST_DESC"
}

build_image_multi() {
  local amd64 arm64 index
  build_layer_base
  image_put "$1" amd64 "$(runconfig_default)" base
  amd64=$(jq -c '. + {platform:{architecture:"amd64",os:"linux"}}' <<<"$MANIFEST_DESC")
  # arm64 reuses the (amd64) busybox layer: only the config/platform differ, which is what pull tests need.
  image_put "$1" arm64 "$(runconfig_default)" base
  arm64=$(jq -c '. + {platform:{architecture:"arm64",os:"linux",variant:"v8"}}' <<<"$MANIFEST_DESC")
  index=$(jq -cn --arg mt "$MT_OCI_INDEX" --argjson a "$amd64" --argjson b "$arm64" \
    '{schemaVersion:2,mediaType:$mt,manifests:[$a,$b]}')
  layout_tag "$1" latest "$(json_blob_put "$1" "$MT_OCI_INDEX" "$index")"
}

build_image_layers() {
  build_layer_base
  build_layer_files
  build_layer_whiteouts
  image_put "$1" amd64 "$(runconfig_default)" base files whiteouts
  layout_tag "$1" latest "$MANIFEST_DESC"
}

build_image_config() {
  build_layer_base
  build_layer_users
  local cfg
  cfg=$(jq -cn '{User:"1000:1000",Env:["FOO=bar","PATH=/bin"],WorkingDir:"/work",
    Entrypoint:["/bin/sh","-c"],Cmd:["echo hello from config"],StopSignal:"SIGUSR1",
    Labels:{"org.flint.test":"config"}}')
  image_put "$1" amd64 "$cfg" base users
  layout_tag "$1" latest "$MANIFEST_DESC"
}

build_image_user_name() {
  build_layer_base
  build_layer_users
  image_put "$1" amd64 "$(jq -cn --arg path "PATH=$DEFAULT_PATH" '{User:"flint",Env:[$path],Cmd:["id"]}')" base users
  layout_tag "$1" latest "$MANIFEST_DESC"
}

build_image_user_uid_group() {
  build_layer_base
  build_layer_users
  image_put "$1" amd64 "$(jq -cn --arg path "PATH=$DEFAULT_PATH" '{User:"1003:50000",Env:[$path],Cmd:["id"]}')" base users
  layout_tag "$1" latest "$MANIFEST_DESC"
}

build_image_large() {
  local i names=(base)
  build_layer_base
  for ((i = 1; i <= LARGE_LAYERS; i++)); do
    build_layer_large "$i"
    names+=("large-$i")
  done
  image_put "$1" amd64 "$(jq -cn --arg path "PATH=$DEFAULT_PATH" \
    '{Env:[$path],Entrypoint:["/bin/sh","-c","head -c 4194304 /data/large-3.bin | wc -c"]}')" "${names[@]}"
  layout_tag "$1" latest "$MANIFEST_DESC"
}

build_image() { # build_image NAME FUNCTION
  local layout="$BUILD/oci/$1"
  if [[ -f $layout/.built ]]; then
    return 0
  fi
  log "building $1"
  layout_init "$layout"
  "$2" "$layout"
  touch "$layout/.built"
}

# ---------------------------------------------------------------------------------------------
# Pushing.

# remote_digest REPO TAG: the digest the registry serves for REPO:TAG, or nothing.
remote_digest() {
  curl -s -I --connect-timeout 2 --max-time 10 -H "Accept: $ACCEPT_ALL" \
    "http://$REGISTRY/v2/$1/manifests/$2" 2>/dev/null |
    tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}'
}

PUSHED=() # "repo:tag" in push order

# push LAYOUT_NAME REF REPO TAG [skopeo args...]
push() {
  local layout="$BUILD/oci/$1" ref=$2 repo=$3 tag=$4 stamp remote
  shift 4
  stamp="$BUILD/pushed/${repo//\//_}_$tag.digest"
  mkdir -p "$BUILD/pushed"
  remote=$(remote_digest "$repo" "$tag")
  if [[ -n $remote && -f $stamp && $remote == "$(<"$stamp")" ]]; then
    PUSHED+=("$repo:$tag")
    return 0
  fi
  log "pushing $REGISTRY/$repo:$tag"
  skopeo --insecure-policy copy --quiet --dest-tls-verify=false --digestfile "$stamp.tmp" "$@" \
    "oci:$layout:$ref" "docker://$REGISTRY/$repo:$tag" ||
    die "skopeo copy oci:$layout:$ref -> $REGISTRY/$repo:$tag failed"
  mv -f "$stamp.tmp" "$stamp"
  remote=$(remote_digest "$repo" "$tag")
  [[ $remote == "$(<"$stamp")" ]] ||
    die "$REGISTRY/$repo:$tag serves '$remote' right after pushing $(<"$stamp")"
  PUSHED+=("$repo:$tag")
}

fetch_manifest() { # fetch_manifest REPO REFERENCE
  curl -sf --connect-timeout 2 --max-time 10 -H "Accept: $ACCEPT_ALL" \
    "http://$REGISTRY/v2/$1/manifests/$2" || die "cannot fetch manifest $1@$2 from $REGISTRY"
}

# ---------------------------------------------------------------------------------------------

start=$(date +%s)
build_image busybox build_image_busybox
build_image busybox-multi build_image_multi
build_image layers build_image_layers
build_image config build_image_config
build_image user-name build_image_user_name
build_image user-uid-group build_image_user_uid_group
if [[ $LARGE == 1 ]]; then
  build_image large build_image_large
fi
rm -rf "$BUILD/src"

preserve=(--preserve-digests)
push busybox latest flint/busybox latest "${preserve[@]}"
push busybox 1.36 flint/busybox 1.36 "${preserve[@]}"
push busybox latest flint/busybox-docker latest --format v2s2
push busybox-multi latest flint/busybox-multi latest --all "${preserve[@]}"
push layers latest flint/layers latest "${preserve[@]}"
push config latest flint/config latest "${preserve[@]}"
push user-name latest flint/user-name latest "${preserve[@]}"
push user-uid-group latest flint/user-uid-group latest "${preserve[@]}"
if [[ $LARGE == 1 ]]; then
  push large latest flint/large latest "${preserve[@]}"
fi

# Record what the registry serves: digests, media types, per-platform entries for indexes.
entries='[]'
for ref in "${PUSHED[@]}"; do
  repo=${ref%:*}
  tag=${ref##*:}
  digest=$(remote_digest "$repo" "$tag")
  manifest=$(fetch_manifest "$repo" "$digest")
  mt=$(jq -r '.mediaType' <<<"$manifest")
  if [[ $mt == "$MT_OCI_INDEX" || $mt == "$MT_DOCKER_LIST" ]]; then
    platforms='[]'
    while read -r pdigest platform; do
      pconfig=$(fetch_manifest "$repo" "$pdigest" | jq -r '.config.digest')
      platforms=$(jq -c --arg p "$platform" --arg m "$pdigest" --arg c "$pconfig" \
        '. + [{platform:$p,manifest:$m,config:$c}]' <<<"$platforms")
    done < <(jq -r '.manifests[] | "\(.digest) \(.platform.os)/\(.platform.architecture)\(if .platform.variant then "/" + .platform.variant else "" end)"' <<<"$manifest")
    entry=$(jq -cn --arg image "$REGISTRY/$ref" --arg m "$digest" --arg mt "$mt" --argjson p "$platforms" \
      '{image:$image,manifest:$m,mediaType:$mt,config:null,platforms:$p}')
  else
    config=$(jq -r '.config.digest' <<<"$manifest")
    entry=$(jq -cn --arg image "$REGISTRY/$ref" --arg m "$digest" --arg mt "$mt" --arg c "$config" \
      '{image:$image,manifest:$m,mediaType:$mt,config:$c}')
  fi
  entries=$(jq -c --argjson e "$entry" '. + [$e]' <<<"$entries")
done

jq -n --arg registry "$REGISTRY" --argjson images "$entries" '{registry:$registry,images:$images}' \
  >"$IMAGES_DIR/images.json.tmp"
mv -f "$IMAGES_DIR/images.json.tmp" "$IMAGES_DIR/images.json"

printf '%-44s %-72s %s\n' IMAGE MANIFEST CONFIG
jq -r '.images[] | if .platforms then
    "\(.image)\t\(.manifest)\t-",
    (.platforms[] | "  \(.platform)\t\(.manifest)\t\(.config)")
  else "\(.image)\t\(.manifest)\t\(.config)" end' "$IMAGES_DIR/images.json" |
  while IFS=$'\t' read -r image manifest config; do printf '%-44s %-72s %s\n' "$image" "$manifest" "$config"; done
log "done in $(($(date +%s) - start))s; table written to $IMAGES_DIR/images.json"
