import { appendFileSync, chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createAppRoleAndDatabase, createReplica, findPostgresBinDir, initPrimary, startPostgres, stopPostgres, superuserQuery,
  type PgNode, type PgSettings,
} from '../../../infra/local/postgres';
import type { CnpgCluster } from './kubernetes-workloads';

// PostgreSQL where no declared process exists on this machine.
//
// Staging declares its PostgreSQL containers completely: the replay runs their uploaded
// entrypoint (infra/docker/postgres-init/entrypoint.sh) and init scripts for real. That entrypoint
// hands over to the postgres image's own docker-entrypoint.sh and uses its gosu; `postgresStandIns`
// writes stand-ins for those two (the image's behaviour, reduced to what the stack uses) into a
// directory the replay puts first on PATH for postgres-image workloads, with this machine's
// PostgreSQL binaries after it.
//
// Prod declares a CloudNativePG `Cluster`; the operator's pods are not part of the stack, so
// `CnpgEmulation` stands in for them with the local cluster's helpers (infra/local/postgres.ts):
// the declared instances (a primary and streaming replicas), parameters, bootstrap database,
// owner and password (from the declared Secret) and post-init SQL, listening on the addresses the
// plan gives the operator's `-rw`/`-ro` Services.

const dockerEntrypoint = `#!/bin/bash
# Stand-in for the postgres image's docker-entrypoint.sh (not on this machine), reduced to what the
# staging stack uses: as root, create PGDATA and the socket directory and re-run as postgres; on an
# empty PGDATA run initdb (superuser password from POSTGRES_PASSWORD_FILE, POSTGRES_INITDB_ARGS),
# allow password logins from the network, create POSTGRES_DB and run the
# docker-entrypoint-initdb.d scripts against a socket-only server; then exec postgres "$@".
set -euo pipefail
if [ "\${1:-}" != postgres ]; then exec "$@"; fi
sock=""
for a in "$@"; do case "$a" in unix_socket_directories=*) sock="\${a#*=}" ;; esac; done
: "\${sock:?the replay passes -c unix_socket_directories=<root>/var/run/postgresql}"
# The image's own paths sit under the same workload root as its socket directory.
root="\${sock%/var/run/postgresql}"
if [ "$(id -u)" = 0 ]; then
  install -d -m 0700 -o postgres -g postgres "$PGDATA"
  install -d -m 2775 -o postgres -g postgres "$sock"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi
shift
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -n "\${POSTGRES_PASSWORD_FILE:-}" ]; then POSTGRES_PASSWORD="$(< "$POSTGRES_PASSWORD_FILE")"; fi
  : "\${POSTGRES_PASSWORD:?}"
  initdb --username="\${POSTGRES_USER:-postgres}" --pwfile=<(printf '%s\\n' "$POSTGRES_PASSWORD") \${POSTGRES_INITDB_ARGS:-}
  printf '\\nhost all all all scram-sha-256\\n' >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories='$sock'" start
  export PGHOST="$sock" PGUSER="\${POSTGRES_USER:-postgres}"
  db="\${POSTGRES_DB:-$PGUSER}"
  if [ "$db" != postgres ]; then psql -v ON_ERROR_STOP=1 --no-password --dbname postgres --set db="$db" <<<'CREATE DATABASE :"db";'; fi
  for f in "$root"/docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql) psql -v ON_ERROR_STOP=1 --no-password --dbname "$db" -f "$f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
fi
exec postgres "$@"
`;

const gosu = `#!/bin/sh
# Stand-in for gosu (in the postgres image): run a command as a user, environment kept.
user="$1"; shift
exec setpriv --reuid="$user" --regid="$user" --init-groups "$@"
`;

/** Writes the stand-ins into `dir`; returns the PATH prefix for postgres-image workloads. */
export function postgresStandIns(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'docker-entrypoint.sh'), dockerEntrypoint, { mode: 0o755 });
  writeFileSync(join(dir, 'gosu'), gosu, { mode: 0o755 });
  return `${dir}:${findPostgresBinDir()}`;
}

const quoteSetting = (v: string) => (/^-?\d+(\.\d+)?$/.test(v) || /^(on|off|true|false)$/.test(v) ? v : `'${v.replace(/'/g, "''")}'`);

export class CnpgEmulation {
  readonly nodes: PgNode[];

  /** Instance i (1-based, as the operator names its pods) at `addressOf(podName)`. */
  constructor(readonly cluster: CnpgCluster, root: string, addressOf: (podName: string) => string) {
    this.nodes = Array.from({ length: cluster.spec.instances }, (_, i) => {
      const name = `${cluster.name}-${i + 1}`;
      const dir = join(root, name);
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      chmodSync(dir, 0o755);
      return { name, host: addressOf(name), port: 5432, dataDir: join(dir, 'pgdata'), socketDir: join(dir, 'socket'), logFile: join(dir, 'postgres.log') };
    });
  }

  static podNames(cluster: CnpgCluster): string[] {
    return Array.from({ length: cluster.spec.instances }, (_, i) => `${cluster.name}-${i + 1}`);
  }

  private slot(node: PgNode): string {
    return `_cnpg_${node.name.replace(/-/g, '_')}`;
  }

  private settings(): PgSettings {
    const pgSpec = this.cluster.spec.postgresql ?? {};
    const params: Record<string, string> = { ...pgSpec.parameters };
    const sync = pgSpec.synchronous;
    if (sync && sync.method !== 'any') throw new Error(`${this.cluster.source}: synchronous.method ${sync.method} is not emulated`);
    const standbys = this.nodes.slice(1).map((n) => `"${this.slot(n)}"`);
    return {
      maxConnections: Number(params.max_connections ?? 100),
      synchronousStandbyNames: sync ? `ANY ${sync.number} (${standbys.join(', ')})` : '',
      extra: Object.fromEntries(Object.entries(params).filter(([k]) => k !== 'max_connections').map(([k, v]) => [k, quoteSetting(String(v))])),
    };
  }

  async start(): Promise<void> {
    const initdb = this.cluster.spec.bootstrap.initdb;
    if (initdb.encoding !== 'UTF8' || (initdb.localeCType ?? 'C.UTF-8') !== 'C.UTF-8' || (initdb.localeCollate ?? 'C.UTF-8') !== 'C.UTF-8') {
      throw new Error(`${this.cluster.source}: the emulation creates UTF8 / C.UTF-8 databases; the Cluster asks for ${JSON.stringify(initdb)}`);
    }
    const owner = this.cluster.bootstrapSecret;
    if (owner.username !== initdb.owner) throw new Error(`${this.cluster.source}: bootstrap Secret username "${owner.username}" is not the owner "${initdb.owner}"`);
    const [primary, ...replicas] = this.nodes;
    const settings = this.settings();
    // Quorum commit starts once the standbys stream (the bootstrap's own commits cannot wait for them).
    await initPrimary(primary, { ...settings, synchronousStandbyNames: '' });
    // The operator's pg_hba accepts password (SCRAM) logins from the network.
    appendFileSync(join(primary.dataDir, 'pg_hba.conf'), '\nhost all all all scram-sha-256\n');
    await startPostgres(primary);
    await createAppRoleAndDatabase(primary, { user: initdb.owner, password: owner.password, database: initdb.database });
    for (const sql of initdb.postInitApplicationSQL ?? []) await superuserQuery(primary, sql, [], initdb.database);
    for (const replica of replicas) {
      await createReplica(primary, replica, { slotName: this.slot(replica), settings });
      await startPostgres(replica);
    }
    if (settings.synchronousStandbyNames) {
      await superuserQuery(primary, `ALTER SYSTEM SET synchronous_standby_names = '${settings.synchronousStandbyNames.replace(/'/g, "''")}'`);
      await superuserQuery(primary, 'SELECT pg_reload_conf()');
    }
  }

  async stop(): Promise<void> {
    for (const node of [...this.nodes].reverse()) await stopPostgres(node, 'fast').catch(() => {});
  }
}
