#!/bin/bash
# The compose stack's Temporal image, one entrypoint for its three roles:
#   cortex-temporal server <frontend|history|matching|worker>   one Temporal service (config rendered from env)
#   cortex-temporal schema      create and migrate the temporal + temporal_visibility databases (idempotent)
#   cortex-temporal namespace   wait for the frontend, register $TEMPORAL_NAMESPACE and the project's search
#                               attributes (/etc/temporal/search-attributes.txt, from common/dev-server.ts; idempotent)
set -euo pipefail
: "${POSTGRES_HOST:=postgres}" "${POSTGRES_PORT:=5432}" "${POSTGRES_USER:=temporal}"
log() { printf '[cortex-temporal] %s\n' "$*" >&2; }

sql() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_HOST" -p "$POSTGRES_PORT" -u "$POSTGRES_USER" --pw "$POSTGRES_PASSWORD" "$@"; }

schema() {
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
  local db dir
  for pair in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
    db=${pair%%:*} dir=/etc/temporal/schema/postgresql/v12/${pair#*:}/versioned
    for _ in $(seq 1 60); do sql --db "$db" create-database >/tmp/create.log 2>&1 && break
      grep -q 'already exists' /tmp/create.log && break
      log "waiting for PostgreSQL at $POSTGRES_HOST:$POSTGRES_PORT"; sleep 1; done
    # setup-schema -v 0.0 only creates the version tables; update-schema applies what is missing.
    sql --db "$db" setup-schema -v 0.0 >/tmp/setup.log 2>&1 || grep -q 'already exists' /tmp/setup.log || { cat /tmp/setup.log >&2; exit 1; }
    sql --db "$db" update-schema -d "$dir" >/tmp/update.log 2>&1 || { cat /tmp/update.log >&2; exit 1; }
    log "database $db is at the schema of $dir"
  done
}

namespace() {
  local address=${FRONTEND_ADDRESS:-frontend:7233} ns=${TEMPORAL_NAMESPACE:-default}
  for _ in $(seq 1 120); do temporal operator cluster health --address "$address" >/dev/null 2>&1 && break; sleep 1; done
  temporal operator cluster health --address "$address"
  if ! temporal operator namespace describe --address "$address" -n "$ns" >/dev/null 2>&1; then
    temporal operator namespace create --address "$address" -n "$ns" --retention "${NAMESPACE_RETENTION:-168h}"
  fi
  # a namespace created a moment ago is not in every frontend's cache yet
  local have=""
  for _ in $(seq 1 60); do have=$(temporal operator search-attribute list --address "$address" -n "$ns" 2>/dev/null) && break; sleep 1; done
  [ -n "$have" ] || { log "namespace $ns is not visible on $address"; exit 1; }
  local name type
  while read -r name type; do
    [ -n "$name" ] || continue
    grep -qw "$name" <<<"$have" && continue
    temporal operator search-attribute create --address "$address" -n "$ns" --name "$name" --type "$type"
  done </etc/temporal/search-attributes.txt
  log "namespace $ns ready with $(wc -l </etc/temporal/search-attributes.txt) search attributes"
}

case "${1:-}" in
  server)
    [ -n "${2:-}" ] || { log "usage: server <frontend|history|matching|worker>"; exit 2; }
    ip=$(hostname -i | awk '{print $1}')
    export BIND_ON_IP=${BIND_ON_IP:-$ip} TEMPORAL_BROADCAST_ADDRESS=${TEMPORAL_BROADCAST_ADDRESS:-$ip}
    exec temporal-server --root /etc/temporal --config config --env docker --allow-no-auth start --service "$2" ;;
  schema) schema ;;
  namespace) namespace ;;
  *) exec "$@" ;;
esac
