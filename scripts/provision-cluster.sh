#!/usr/bin/env bash
# Provisions, idempotently, what `npm run cluster` runs (scripts/cluster.ts): a real Temporal server v1.29.1 on
# PostgreSQL 15, cached OUTSIDE the clone in $CORTEX_CACHE/temporal-server-1.29.1 (default /var/cache/cortex-rollback):
#   server, sql   built from the Go module proxy (go install; skipped when both binaries run);
#   schema/       the module's PostgreSQL v12 schemas (temporal, visibility), used by `sql update-schema`;
#   PostgreSQL 15 Debian's postgresql-15 (initdb / pg_ctl under /usr/lib/postgresql/15/bin), installed when missing.
# The cluster itself (initdb, pg_ctl, the four services) is started by scripts/cluster.ts, never here.
# Usage: scripts/provision-cluster.sh   (prints the cold build time when it builds)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${CORTEX_CACHE:-/var/cache/cortex-rollback}
VERSION=1.29.1
DIR="$CACHE/temporal-server-$VERSION"
PG_BIN=/usr/lib/postgresql/15/bin
log() { printf '[provision-cluster] %s\n' "$*" >&2; }
die() { printf '[provision-cluster] ERROR: %s\n' "$*" >&2; exit 1; }
mkdir -p "$DIR"

built() { [ -x "$DIR/server" ] && [ -x "$DIR/sql" ] && "$DIR/server" --version 2>/dev/null | grep -q "$VERSION"; }

if built; then
  log "temporal server $VERSION: $DIR/server (cached)"
else
  command -v go >/dev/null || die "Go is needed to build the Temporal server (go install go.temporal.io/server/cmd/server@v$VERSION)"
  # Only one build at a time on a machine: a second caller waits for the first one's lock.
  exec 9>"$DIR/.build.lock"
  flock 9
  if ! built; then
    log "building temporal server $VERSION and its sql tool with $(go version | cut -d' ' -f3) (a few minutes, once)"
    t0=$SECONDS
    # newer servers need a newer toolchain (GOTOOLCHAIN=go1.27.3); v1.29.1 builds with the local one
    GOBIN="$DIR" go install "go.temporal.io/server/cmd/server@v$VERSION" "go.temporal.io/server/cmd/tools/sql@v$VERSION"
    log "built in $((SECONDS - t0)) s"
  fi
  flock -u 9
  built || die "the build did not produce a working $DIR/server"
fi

if [ ! -f "$DIR/schema/postgresql/v12/temporal/versioned/v1.0/manifest.json" ]; then
  mod=$(go env GOMODCACHE)/go.temporal.io/server@v$VERSION
  if [ ! -d "$mod/schema" ]; then
    log "downloading the module source for its schema files"
    (cd "$(mktemp -d)" && go mod download "go.temporal.io/server@v$VERSION")
  fi
  [ -d "$mod/schema/postgresql/v12" ] || die "no PostgreSQL schema in $mod"
  rm -rf "$DIR/schema.tmp" && mkdir -p "$DIR/schema.tmp/postgresql"
  cp -r "$mod/schema/postgresql/v12" "$DIR/schema.tmp/postgresql/"
  chmod -R u+w,a+rX "$DIR/schema.tmp"
  rm -rf "$DIR/schema" && mv "$DIR/schema.tmp" "$DIR/schema"
  log "schema: $DIR/schema/postgresql/v12"
fi

if [ ! -x "$PG_BIN/initdb" ]; then
  [ "$(id -u)" = 0 ] || die "PostgreSQL 15 is missing ($PG_BIN): apt-get install postgresql-15 (root needed)"
  log "installing Debian's postgresql-15"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || true
  apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
fi
# PostgreSQL refuses to run as root: as root, scripts/cluster.ts runs it as the 'postgres' user (Debian's package
# creates it); created here when missing.
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
fi
log "PostgreSQL: $("$PG_BIN/postgres" --version)"
