#!/bin/bash
# Wraps the official postgres entrypoint (runs as root first):
#  1. installs the uploaded secrets as postgres-owned 0600 files (uploads arrive root-owned);
#  2. on a replica's first start (empty PGDATA), clones the primary with pg_basebackup;
#  3. hands over to docker-entrypoint.sh, which runs the init scripts on a fresh primary only.
set -euo pipefail

role="${1:?usage: entrypoint.sh primary|replica [postgres args…]}"
shift

install -d -m 0700 -o postgres -g postgres /run/aidiary/secrets
for f in /run/aidiary/uploads/*; do
  if [ -f "$f" ]; then install -m 0600 -o postgres -g postgres "$f" "/run/aidiary/secrets/$(basename "$f")"; fi
done

# A replica whose data dir is not a standby's was the primary before a failover (the stack's
# primaryIndex moved): started as it is, it would be a second primary. It is cloned afresh from
# the new primary instead (clone-replica.sh empties it first).
if [ "$role" = replica ] && [ -s "$PGDATA/PG_VERSION" ] && [ ! -f "$PGDATA/standby.signal" ]; then
  echo "aidiary: $PGDATA was a primary's; re-cloning it from $AIDIARY_PRIMARY_HOST as a replica"
  gosu postgres /usr/local/bin/aidiary-clone-replica.sh
elif [ "$role" = replica ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  install -d -m 0700 -o postgres -g postgres "$PGDATA"
  gosu postgres /usr/local/bin/aidiary-clone-replica.sh
fi

exec docker-entrypoint.sh postgres "$@"
