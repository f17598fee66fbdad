#!/bin/bash
# Runs once, on the primary's first start (docker-entrypoint-initdb.d, as postgres): the
# replication role, the app's non-superuser role owning the database, pg_trgm, and the pg_hba
# line for replicas. Passwords are read by psql from the 0600 files, never put on a command line.
set -euo pipefail

: "${AIDIARY_DB_USER:?}" "${AIDIARY_REPLICATION_USER:?}" "${POSTGRES_DB:?}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  --set app_user="$AIDIARY_DB_USER" --set repl_user="$AIDIARY_REPLICATION_USER" --set db="$POSTGRES_DB" <<'SQL'
\set app_password `cat "${AIDIARY_SECRETS_DIR:-/run/aidiary/secrets}/db-password"`
\set repl_password `cat "${AIDIARY_SECRETS_DIR:-/run/aidiary/secrets}/replication-password"`
CREATE ROLE :"repl_user" WITH REPLICATION LOGIN PASSWORD :'repl_password';
CREATE ROLE :"app_user" WITH LOGIN PASSWORD :'app_password';
ALTER DATABASE :"db" OWNER TO :"app_user";
\connect :"db"
ALTER SCHEMA public OWNER TO :"app_user";
CREATE EXTENSION IF NOT EXISTS pg_trgm;
SQL

echo "host replication $AIDIARY_REPLICATION_USER all scram-sha-256" >> "$PGDATA/pg_hba.conf"
