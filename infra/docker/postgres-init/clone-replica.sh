#!/bin/bash
# First start of a streaming replica (runs as postgres): base backup from the primary through a
# physical slot named after this node, then standby.signal. Not `-R`: that would write the
# replication password into postgresql.auto.conf; primary_conninfo points at a 0600 passfile.
set -euo pipefail

: "${AIDIARY_PRIMARY_HOST:?}" "${AIDIARY_SLOT_NAME:?}" "${AIDIARY_REPLICATION_USER:?}" "${PGDATA:?}"
passfile="${AIDIARY_SECRETS_DIR:-/run/aidiary/secrets}/replication.pgpass"
port="${AIDIARY_PRIMARY_PORT:-5432}"
export PGPASSFILE="$passfile"

until pg_isready -q -h "$AIDIARY_PRIMARY_HOST" -p "$port"; do
  echo "waiting for primary $AIDIARY_PRIMARY_HOST"; sleep 1
done

backup() {
  rm -rf "${PGDATA:?}"/*
  pg_basebackup -h "$AIDIARY_PRIMARY_HOST" -p "$port" -U "$AIDIARY_REPLICATION_USER" -D "$PGDATA" \
    -X stream -c fast "$@" -S "$AIDIARY_SLOT_NAME"
}
# The slot survives on the primary when this replica's volume was recreated: reuse it then.
backup -C || backup

touch "$PGDATA/standby.signal"
cat >> "$PGDATA/postgresql.auto.conf" <<CONF
primary_conninfo = 'host=$AIDIARY_PRIMARY_HOST port=$port user=$AIDIARY_REPLICATION_USER application_name=$AIDIARY_SLOT_NAME passfile=$passfile'
primary_slot_name = '$AIDIARY_SLOT_NAME'
CONF
chmod 0700 "$PGDATA"
