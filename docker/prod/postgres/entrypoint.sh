#!/bin/bash
# Initialises $PGDATA on first start (superuser $POSTGRES_USER with $POSTGRES_PASSWORD, scram-sha-256 over TCP),
# then runs postgres in the foreground as the postgres user, listening on $POSTGRES_LISTEN (default all interfaces
# of the container; the compose file publishes nothing of it).
set -euo pipefail
: "${POSTGRES_USER:=temporal}" "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" "${POSTGRES_LISTEN:=*}"
mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp) && printf '%s' "$POSTGRES_PASSWORD" >"$pwfile" && chown postgres "$pwfile"
  su postgres -s /bin/sh -c "initdb -D '$PGDATA' -U '$POSTGRES_USER' --pwfile='$pwfile' --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8" >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "[postgres] initialised $PGDATA"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses="$POSTGRES_LISTEN" -c max_connections=200
