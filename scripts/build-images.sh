#!/usr/bin/env bash
# Builds the demo images locally, FROM scratch (no registry is reachable here):
#   cortex-node-base:local       the host's node binary plus the libraries ldd lists
#   cortex-memory-mcp:v2.0.0     healthy
#   cortex-memory-mcp:v2.1.0     answers /health with 503 (the "bad deploy" to roll back from)
# Idempotent: an image whose content-hash label matches is not rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
log() { printf '[images] %s\n' "$*" >&2; }

NODE=$(readlink -f "$(command -v node)")
APP="$ROOT/images/cortex-mcp/server.js"
hash=$( { sha256sum "$NODE" "$APP" "$0" | awk '{print $1}'; } | sha256sum | cut -c1-16)

docker_build() {
  local out
  out=$(DOCKER_BUILDKIT=0 docker build -q -t "$1" "$2" 2>&1) || { printf '%s\n' "$out" >&2; log "building $1 failed"; exit 1; }
}

current_hash() { docker image inspect --format '{{ index .Config.Labels "cortex-rollback.build-hash" }}' "$1" 2>/dev/null || true; }

build_base() {
  [ "$(current_hash cortex-node-base:local)" = "$hash" ] && { log "cortex-node-base:local is current"; return; }
  local ctx
  ctx=$(mktemp -d)
  mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/app" "$ctx/rootfs/tmp"
  cp "$NODE" "$ctx/rootfs/usr/bin/node"
  # every library the dynamic linker resolves for node, at the same path
  ldd "$NODE" | awk '$2 == "=>" {print $3} $1 ~ /^\// {print $1}' | sort -u | while read -r lib; do
    [ -f "$lib" ] || continue
    mkdir -p "$ctx/rootfs$(dirname "$lib")"
    cp -L "$lib" "$ctx/rootfs$lib"
  done
  cp "$APP" "$ctx/rootfs/app/server.js"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY rootfs/ /
LABEL cortex-rollback.build-hash="$hash"
WORKDIR /app
ENTRYPOINT ["/usr/bin/node", "/app/server.js"]
DOCKERFILE
  log "building cortex-node-base:local"
  docker_build cortex-node-base:local "$ctx"
  rm -rf "$ctx"
}

build_version() {
  local version=$1 health=$2 tag="cortex-memory-mcp:$1"
  [ "$(current_hash "$tag")" = "$hash" ] && { log "$tag is current"; return; }
  local ctx
  ctx=$(mktemp -d)
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM cortex-node-base:local
ENV CORTEX_VERSION=$version CORTEX_HEALTH=$health PORT=3000 NODE_ENV=production
LABEL org.opencontainers.image.version="$version" cortex-rollback.build-hash="$hash"
STOPSIGNAL SIGTERM
DOCKERFILE
  log "building $tag (health: $health)"
  docker_build "$tag" "$ctx"
  rm -rf "$ctx"
}

build_base
build_version v2.0.0 healthy
build_version v2.1.0 unhealthy
