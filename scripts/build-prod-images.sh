#!/usr/bin/env bash
# Builds the images of the production compose stack (docker-compose.yml) locally, on the project's Debian base
# cortex-systemd:bookworm (scripts/provision-systems.sh; no image registry is reachable here):
#   cortex-stack-postgres:15         Debian's postgresql-15 (apt inside the build, hence --network host)
#   cortex-stack-temporal:1.29.1     the Temporal server + sql tool built from the Go module proxy
#                                    ($CORTEX_CACHE/temporal-server-1.29.1), its PostgreSQL schemas, the temporal CLI
#                                    (.tools/bin/temporal) for the namespace job, docker/prod/temporal/*
#   cortex-stack-worker:local        the host's node, the project source, production node_modules, the workflow bundle
#   cortex-stack-ui:v2.54.1 (+:local) the Temporal Web UI server, built once into $CORTEX_CACHE/ui-server
# Idempotent: an image whose cortex-rollback.build-hash label matches its inputs' hash is not rebuilt.
# Usage: scripts/build-prod-images.sh [postgres] [temporal] [worker] [ui]   (no argument: all)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${CORTEX_CACHE:-/var/cache/cortex-rollback}
TEMPORAL_VERSION=1.29.1
SERVER_DIR="$CACHE/temporal-server-$TEMPORAL_VERSION"
UI_DIR="$CACHE/ui-server"
UI_VERSION=v2.54.1
UI_TOOLCHAIN=go1.27.3
PROD="$ROOT/docker/prod"
log() { printf '[prod-images] %s\n' "$*" >&2; }
die() { printf '[prod-images] ERROR: %s\n' "$*" >&2; exit 1; }

current_hash() { docker image inspect --format '{{ index .Config.Labels "cortex-rollback.build-hash" }}' "$1" 2>/dev/null || true; }
hash_of() { sha256sum "$@" | awk '{print $1}' | sha256sum | cut -c1-16; }

# build <tag> <hash> <context>: the Dockerfile in the context gets the hash label; --network host for apt.
build() {
  local tag=$1 hash=$2 ctx=$3 t0=$SECONDS out
  printf '\nLABEL cortex-rollback.build-hash="%s"\n' "$hash" >>"$ctx/Dockerfile"
  log "building $tag"
  out=$(DOCKER_BUILDKIT=0 docker build --network host -q -t "$tag" "$ctx" 2>&1) || { printf '%s\n' "$out" >&2; die "building $tag failed"; }
  log "$tag built in $((SECONDS - t0)) s"
}

need_base() {
  docker image inspect cortex-systemd:bookworm >/dev/null 2>&1 \
    || die "base image cortex-systemd:bookworm is missing: run scripts/provision-systems.sh systemd-image"
}

postgres_image() {
  local tag=cortex-stack-postgres:15 hash ctx
  hash=$(hash_of "$PROD/postgres/Dockerfile" "$PROD/postgres/entrypoint.sh" "$0")
  [ "$(current_hash "$tag")" = "$hash" ] && { log "$tag is current"; return; }
  ctx=$(mktemp -d) && cp -a "$PROD/postgres/." "$ctx/"
  build "$tag" "$hash" "$ctx"
  rm -rf "$ctx"
}

search_attributes() {
  node --import tsx --input-type=module -e \
    "const m = await import('$ROOT/common/dev-server.ts'); for (const [k, v] of Object.entries(m.SEARCH_ATTRIBUTES)) console.log(k + ' ' + v)"
}

temporal_image() {
  local tag=cortex-stack-temporal:$TEMPORAL_VERSION hash ctx cli
  if { [ ! -x "$SERVER_DIR/server" ] || [ ! -x "$SERVER_DIR/sql" ]; } && [ -f "$ROOT/scripts/provision-cluster.sh" ]; then
    bash "$ROOT/scripts/provision-cluster.sh"
  fi
  [ -x "$SERVER_DIR/server" ] && [ -x "$SERVER_DIR/sql" ] \
    || die "the Temporal server binaries are missing in $SERVER_DIR (go install go.temporal.io/server/cmd/server@v$TEMPORAL_VERSION go.temporal.io/server/cmd/tools/sql@v$TEMPORAL_VERSION)"
  local schema="$SERVER_DIR/schema/postgresql/v12"
  [ -d "$schema" ] || schema="$(go env GOMODCACHE)/go.temporal.io/server@v$TEMPORAL_VERSION/schema/postgresql/v12"
  [ -d "$schema/temporal/versioned" ] || die "no PostgreSQL schema at $schema"
  cli=$(readlink -f "${TEMPORAL_CLI:-$ROOT/.tools/bin/temporal}")
  [ -x "$cli" ] || die "the temporal CLI is missing (scripts/provision.sh temporal)"
  ctx=$(mktemp -d)
  mkdir -p "$ctx/bin" "$ctx/schema/postgresql"
  cp -a "$PROD/temporal/." "$ctx/"
  search_attributes >"$ctx/search-attributes.txt"
  # The binaries are hashed by size+mtime (128 MB each; a rebuild changes both) to keep the no-op run fast.
  hash=$( { stat -c '%s %Y' "$SERVER_DIR/server" "$SERVER_DIR/sql" "$cli"; find "$schema" -type f -exec sha256sum {} + | sort -k2 | awk '{print $1}';
            sha256sum "$ctx/Dockerfile" "$ctx/config.yaml.tmpl" "$ctx/dynamicconfig.yaml" "$ctx/entrypoint.sh" "$ctx/search-attributes.txt" "$0" | awk '{print $1}'; } | sha256sum | cut -c1-16)
  if [ "$(current_hash "$tag")" = "$hash" ]; then log "$tag is current"; rm -rf "$ctx"; return; fi
  cp "$SERVER_DIR/server" "$ctx/bin/temporal-server"
  cp "$SERVER_DIR/sql" "$ctx/bin/temporal-sql-tool"
  cp "$cli" "$ctx/bin/temporal"
  cp -r "$schema" "$ctx/schema/postgresql/"
  chmod -R a+rX "$ctx"
  build "$tag" "$hash" "$ctx"
  rm -rf "$ctx"
}

WORKER_SOURCES=(activities approval-gateway client common config workers workflows scripts/codec-server.ts package.json package-lock.json tsconfig.json)

worker_image() {
  local tag=cortex-stack-worker:local hash ctx node
  node=$(readlink -f "$(command -v node)")
  hash=$( { find "${WORKER_SOURCES[@]}" -type f -exec sha256sum {} + | sort -k2; stat -c '%s %Y' "$node";
            sha256sum "$PROD/worker/Dockerfile" "$PROD/worker/start-worker.sh" "$0" | awk '{print $1}'; } | sha256sum | cut -c1-16)
  [ "$(current_hash "$tag")" = "$hash" ] && { log "$tag is current"; return; }
  ctx=$(mktemp -d)
  mkdir -p "$ctx/app/scripts"
  cp "$PROD/worker/Dockerfile" "$PROD/worker/start-worker.sh" "$ctx/"
  cp "$node" "$ctx/node"
  for s in "${WORKER_SOURCES[@]}"; do cp -a "$s" "$ctx/app/$(dirname "$s")/"; done
  cp -a "$(readlink -f node_modules)" "$ctx/app/node_modules"
  # production dependencies only, from the lockfile, without the network
  (cd "$ctx/app" && npm prune --omit=dev --offline --no-audit --no-fund >/dev/null 2>&1) || log "npm prune failed; keeping all node_modules"
  build "$tag" "$hash" "$ctx"
  rm -rf "$ctx"
}

# The Web UI server: built once from the Go module proxy (its go.mod wants a newer toolchain than the local one;
# the newest release's dependencies are not all on the proxy, v2.54.1 - the temporal CLI v1.9.1's - builds). A failed
# build is remembered ($UI_DIR/FAILED) and not retried; delete that file to retry.
ui_server() {
  [ -x "$UI_DIR/server" ] && [ -f "$UI_DIR/config/docker.yaml" ] && return 0
  [ -f "$UI_DIR/FAILED" ] && return 1
  mkdir -p "$UI_DIR"
  log "building the Temporal Web UI server $UI_VERSION (once, ~2 min)"
  local t0=$SECONDS
  if GOTOOLCHAIN=$UI_TOOLCHAIN GOBIN="$UI_DIR" go install "github.com/temporalio/ui-server/v2/cmd/server@$UI_VERSION" >"$UI_DIR/build.log" 2>&1; then
    mkdir -p "$UI_DIR/config"
    cp "$(go env GOMODCACHE)/github.com/temporalio/ui-server/v2@$UI_VERSION/config/docker.yaml" "$UI_DIR/config/docker.yaml"
    chmod u+w "$UI_DIR/config/docker.yaml"
    echo "$UI_VERSION" >"$UI_DIR/VERSION"
    log "Web UI server built in $((SECONDS - t0)) s"
  else
    cp "$UI_DIR/build.log" "$UI_DIR/FAILED"
    log "the Web UI server did not build (see $UI_DIR/FAILED); the stack runs without the UI"
    return 1
  fi
}

ui_image() {
  ui_server || return 0
  local tag=cortex-stack-ui:$UI_VERSION hash ctx
  hash=$( { stat -c '%s %Y' "$UI_DIR/server"; sha256sum "$UI_DIR/config/docker.yaml" "$PROD/ui/Dockerfile" "$0" | awk '{print $1}'; } | sha256sum | cut -c1-16)
  if [ "$(current_hash "$tag")" != "$hash" ]; then
    ctx=$(mktemp -d)
    cp -a "$PROD/ui/." "$ctx/" && cp "$UI_DIR/server" "$ctx/ui-server" && cp -r "$UI_DIR/config" "$ctx/config"
    chmod -R a+rX "$ctx"
    build "$tag" "$hash" "$ctx"
    rm -rf "$ctx"
  else
    log "$tag is current"
  fi
  docker tag "$tag" cortex-stack-ui:local
}

T0=$SECONDS
need_base
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(postgres temporal worker ui)
for s in "${steps[@]}"; do
  case "$s" in
    postgres) postgres_image ;;
    temporal) temporal_image ;;
    worker) worker_image ;;
    ui) ui_image ;;
    *) die "unknown image '$s' (postgres|temporal|worker|ui)" ;;
  esac
done
log "done in $((SECONDS - T0)) s"
