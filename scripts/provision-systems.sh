#!/usr/bin/env bash
# Provisions the real systems the application/configuration scenarios drive, idempotently, caching every built
# artefact OUTSIDE the clone (default /var/cache/cortex-rollback, or $CORTEX_CACHE) so a second clone or CI on the
# same machine does not rebuild:
#   systemd-image  a Debian bookworm rootfs (debootstrap --variant=minbase --include=systemd,systemd-sysv,git,...)
#                  imported as the Docker image cortex-systemd:bookworm, the host's Node.js is bind-mounted at run time;
#   k8s            etcd (Debian's etcd-server), kube-apiserver + kube-controller-manager v1.34.0 built from the Go
#                  module proxy, kwok v0.7.0 (go install); kubectl from PATH;
#   tofu           OpenTofu 1.10.6 built from its module source (go install refuses its replace directive);
#   compose        Docker Compose v2.40.3 built from its module source (go install refuses its exclude directive),
#                  installed as a Docker CLI plugin (~/.docker/cli-plugins/docker-compose -> the cached binary).
# Prints each step's cold time. Usage: scripts/provision-systems.sh [systemd-image] [k8s] [tofu] [compose]   (no argument: all)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${CORTEX_CACHE:-/var/cache/cortex-rollback}
BIN="$CACHE/bin"
mkdir -p "$BIN"
K8S_VERSION=1.34.0
TOFU_VERSION=1.10.6
COMPOSE_VERSION=2.40.3
KWOK_VERSION=0.7.0
SYSTEMD_IMAGE=cortex-systemd:bookworm
SYSTEMD_PKGS=systemd,systemd-sysv,dbus,git,ca-certificates,procps,iproute2
PKGS_KEY=$(printf '%s' "$SYSTEMD_PKGS" | sha256sum | cut -c1-12)
export DEBIAN_FRONTEND=noninteractive
log() { printf '[provision-systems] %s\n' "$*" >&2; }
die() { printf '[provision-systems] ERROR: %s\n' "$*" >&2; exit 1; }
timed() { local t0=$SECONDS; "$@"; log "$1 took $((SECONDS - t0)) s"; }
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return
  log "apt-get install ${missing[*]}"
  apt-get update -qq >/dev/null || true
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

systemd_image() {
  # The image is rebuilt when the package list changes (its hash is the image's label and the cached tar's name).
  if [ "$(docker image inspect -f '{{index .Config.Labels "cortex.pkgs"}}' "$SYSTEMD_IMAGE" 2>/dev/null)" = "$PKGS_KEY" ]; then
    log "image $SYSTEMD_IMAGE present"; return
  fi
  local tar="$CACHE/systemd-bookworm-$PKGS_KEY.tar"
  if [ ! -s "$tar" ]; then
    apt_install debootstrap
    local root
    root=$(mktemp -d /var/tmp/cortex-rootfs.XXXX)
    log "debootstrap bookworm (minbase + systemd) into $root"
    debootstrap --variant=minbase --include="$SYSTEMD_PKGS" \
      bookworm "$root" >"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
    # No getty/udev noise in a container; the journal keeps what units print.
    rm -f "$root"/etc/systemd/system/getty.target.wants/* || true
    tar -C "$root" -cf "$tar.tmp" . && mv -f "$tar.tmp" "$tar"
    rm -rf "$root"
  fi
  log "docker import $tar as $SYSTEMD_IMAGE"
  docker import -c 'CMD ["/lib/systemd/systemd"]' -c "LABEL cortex.pkgs=$PKGS_KEY" "$tar" "$SYSTEMD_IMAGE" >/dev/null
}

k8s() {
  apt_install etcd-server
  if [ ! -x "$BIN/kube-apiserver" ] || [ ! -x "$BIN/kube-controller-manager" ]; then
    local mod="$CACHE/k8s-build"
    mkdir -p "$mod"
    log "building kube-apiserver + kube-controller-manager v$K8S_VERSION from the Go module proxy (~6 min once)"
    (
      cd "$mod"
      export GOFLAGS=-mod=mod
      local gomod
      gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
      {
        echo "module cortex.local/k8sbuild"
        echo "go 1.24"
        echo "require k8s.io/kubernetes v$K8S_VERSION"
        # k8s.io/kubernetes replaces its staging modules with ./staging/...; name the published v0.x of each.
        grep -E '^\s*k8s.io/[a-z0-9-]+ => \./staging' "$gomod" | awk -v v="v0.${K8S_VERSION#1.}" '{print "replace " $1 " => " $1 " " v}'
      } > go.mod
      printf 'package main\nimport (\n _ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n _ "k8s.io/kubernetes/cmd/kube-controller-manager/app"\n)\nfunc main() {}\n' > tools.go
      go mod tidy >/dev/null 2>&1 || true
      go build -o "$BIN/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver && mv -f "$BIN/kube-apiserver.tmp" "$BIN/kube-apiserver"
      go build -o "$BIN/kube-controller-manager.tmp" k8s.io/kubernetes/cmd/kube-controller-manager && mv -f "$BIN/kube-controller-manager.tmp" "$BIN/kube-controller-manager"
    )
  fi
  if [ ! -x "$BIN/kwok" ]; then
    log "go install sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
    GOBIN="$BIN" go install "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  fi
  if ! command -v kubectl >/dev/null 2>&1 && [ ! -x "$BIN/kubectl" ]; then
    log "building kubectl v$K8S_VERSION"
    (cd "$CACHE/k8s-build" && go build -o "$BIN/kubectl" k8s.io/kubernetes/cmd/kubectl)
  fi
  log "k8s binaries in $BIN: $(ls "$BIN" | tr '\n' ' ')"
}

# build_module <module@version> <dest binary> <package dir> <ldflags>: go build from a copy of the module source.
build_module() {
  local modver=$1 dest=$2 pkg=$3 ldflags=$4 dir work
  dir=$(go mod download -json "$modver" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  work=$(mktemp -d /var/tmp/cortex-build.XXXX)
  cp -r "$dir/." "$work/" && chmod -R u+w "$work"
  (cd "$work" && go build -trimpath -ldflags "$ldflags" -o "$dest.tmp" "$pkg") && mv -f "$dest.tmp" "$dest"
  rm -rf "$work"
}

tofu() {
  if [ -x "$BIN/tofu" ] && "$BIN/tofu" version 2>/dev/null | grep -q "v$TOFU_VERSION"; then log "tofu v$TOFU_VERSION present"; return; fi
  log "building OpenTofu v$TOFU_VERSION from the module source (~7 min once)"
  build_module "github.com/opentofu/opentofu@v$TOFU_VERSION" "$BIN/tofu" ./cmd/tofu \
    "-s -w -X github.com/opentofu/opentofu/version.dev=no"
}

compose() {
  if [ ! -x "$BIN/docker-compose" ] || ! "$BIN/docker-compose" version 2>/dev/null | grep -q "v$COMPOSE_VERSION"; then
    log "building Docker Compose v$COMPOSE_VERSION from the module source (~3 min once)"
    build_module "github.com/docker/compose/v2@v$COMPOSE_VERSION" "$BIN/docker-compose" ./cmd \
      "-w -X github.com/docker/compose/v2/internal.Version=v$COMPOSE_VERSION"
  fi
  mkdir -p "$HOME/.docker/cli-plugins"
  ln -sfn "$BIN/docker-compose" "$HOME/.docker/cli-plugins/docker-compose"
  log "$(docker compose version)"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(systemd-image k8s tofu compose)
for s in "${steps[@]}"; do
  case "$s" in
    systemd-image) timed systemd_image ;;
    k8s) timed k8s ;;
    tofu) timed tofu ;;
    compose) timed compose ;;
    *) die "unknown step '$s' (systemd-image|k8s|tofu|compose)" ;;
  esac
done
