import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as pulumi from '@pulumi/pulumi';
import * as docker from '@pulumi/docker';
import { dbInstances, synchronousStandbyNames, type DbInstance, type Topology } from '../topology';
import { containerLabels } from './container-labels';
import { postgresImage } from './images';
import { requireExitZero } from './one-shot-gate';
import { secretUpload } from './secret-files';

export interface DatabaseArgs {
  topology: Topology;
  networkName: pulumi.Input<string>;
  superuserPassword: pulumi.Output<string>;
  replicationPassword: pulumi.Output<string>;
  dbPassword: pulumi.Output<string>;
  /** K of the primary pg-K (stack config primaryIndex, 0 unless a failover moved it). */
  primaryIndex?: number;
}

export const replicationUser = 'replicator';
const pgData = '/var/lib/postgresql/data/pgdata';
const initDir = fileURLToPath(new URL('./postgres-init/', import.meta.url));
const script = (file: string) => readFileSync(join(initDir, file), 'utf8');

/**
 * Server settings shared by every node, so any replica can be promoted as is. Sized for the
 * topology's maximum of 8 replicas (plus base backups) and maxAppReplicas rather than the current
 * counts: scaling must not change, and so restart, the primary.
 */
export function postgresServerArgs(t: Topology): string[] {
  const settings: Record<string, string | number> = {
    listen_addresses: '*',
    max_connections: t.database.maxConnections,
    superuser_reserved_connections: Math.min(t.database.reservedConnections, 10),
    wal_level: 'replica',
    max_wal_senders: 16,
    max_replication_slots: 16,
    wal_keep_size: '256MB',
    // A lagging or vanished replica's slot holds back at most this much WAL, then PostgreSQL
    // invalidates the slot (that replica needs a fresh clone) instead of filling the disk.
    max_slot_wal_keep_size: `${t.database.maxSlotWalKeepSizeMb}MB`,
    hot_standby: 'on',
    hot_standby_feedback: 'on',
    wal_log_hints: 'on',
  };
  return Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
}

/** Replication slots of replicas the topology no longer has: pg_K with K > dbReplicas. */
function removedSlotsCondition(t: Topology): string {
  // CASE, not AND: SQL does not promise to test the pattern before the cast.
  return `slot_type = 'physical' AND CASE WHEN slot_name ~ '^pg_[0-9]+$' THEN substr(slot_name, 4)::int > ${t.dbReplicas} ELSE false END`;
}

/**
 * The one-shot run on the primary whenever the standby set changes (its text names the set, so
 * a count change replaces it): sets synchronous_standby_names, then drops the slots of replicas
 * the topology no longer has. Pulumi removes a dropped replica's container only at the end of the
 * update, so its walsender may still hold the slot: it is ended first (the replica is leaving;
 * apps stop reading from it as it falls behind), retrying if the replica reconnects in between.
 * Without this, the removed replica's slot would pin WAL on the primary for good.
 */
export function syncConfigScript(t: Topology, primaryName = 'pg-0'): string {
  const names = synchronousStandbyNames(t, primaryName);
  return [
    'set -eu',
    'host="${AIDIARY_PRIMARY_HOST:?}"; port="${AIDIARY_PRIMARY_PORT:-5432}"',
    'until pg_isready -q -h "$host" -p "$port"; do sleep 1; done',
    `psql -X -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U postgres -d postgres <<'SQL'`,
    `ALTER SYSTEM SET synchronous_standby_names = '${names}';`,
    'SELECT pg_reload_conf();',
    'DO $$',
    'DECLARE slot text;',
    'BEGIN',
    `  FOR slot IN SELECT slot_name FROM pg_replication_slots WHERE ${removedSlotsCondition(t)} LOOP`,
    '    FOR attempt IN 1..20 LOOP',
    '      BEGIN',
    '        PERFORM pg_terminate_backend(active_pid, 5000) FROM pg_replication_slots WHERE slot_name = slot AND active_pid IS NOT NULL;',
    '        PERFORM pg_drop_replication_slot(slot);',
    "        RAISE NOTICE 'dropped replication slot % (its replica left the topology)', slot;",
    '        EXIT;',
    '      EXCEPTION WHEN object_in_use THEN',
    '        IF attempt = 20 THEN RAISE; END IF;',
    '        PERFORM pg_sleep(0.5);',
    '      END;',
    '    END LOOP;',
    '  END LOOP;',
    'END $$;',
    'SQL',
  ].join('\n');
}

/**
 * PostgreSQL primary pg-0 and `dbReplicas` streaming replicas pg-1…pg-M from the official image,
 * one named volume each. Containers have fixed names (`<stack>-pg-K`, what drills `docker kill`)
 * and the node name as network alias. The replica count enters only the replica containers and a
 * small one-shot that sets synchronous_standby_names on the primary through ALTER SYSTEM, so
 * adding a replica never replaces the primary.
 */
export class Database extends pulumi.ComponentResource {
  /** Container names by node (pg-0 first). */
  readonly containerNames: pulumi.Output<string>[];
  /** The one-shot applying the durability mode; later tiers depend on it. */
  readonly syncConfig: docker.Container;
  /** Its container name once it exited 0; a failure stops the migrations and the apps. */
  readonly syncConfigApplied: pulumi.Output<string>;
  /** The node run as the primary (pg-K of primaryIndex). */
  readonly primaryName: string;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:docker:Database', name, {}, opts);
    const t = args.topology;
    const superuserPgpass = pulumi.interpolate`*:*:*:postgres:${args.superuserPassword}`;
    const replicationPgpass = pulumi.interpolate`*:*:*:${replicationUser}:${args.replicationPassword}`;

    const instances = dbInstances(t);
    const primaryName = instances[args.primaryIndex ?? 0]?.name;
    if (!primaryName) throw new Error(`primaryIndex ${args.primaryIndex}: no such PostgreSQL node (pg-0…pg-${t.dbReplicas})`);
    // The primary first: every replica clones from it and depends on it.
    const ordered = [...instances.filter((n) => n.name === primaryName), ...instances.filter((n) => n.name !== primaryName)];
    const containers = new Map<string, docker.Container>();
    for (const node of ordered) {
      const volume = new docker.Volume(`${name}-${node.name}-data`, {
        name: `${t.name}-${node.name}-data`,
        labels: [{ label: 'aidiary.stack', value: t.name }],
      }, { parent: this });

      // After a failover the stack's primary is the promoted node; the old primary's container is
      // re-created as a replica, and the entrypoint re-clones a data dir that was a primary's.
      const isPrimary = node.name === primaryName;
      const uploads = [
        { file: '/usr/local/bin/aidiary-entrypoint.sh', content: script('entrypoint.sh'), executable: true },
        secretUpload('/run/aidiary/uploads/superuser-password', args.superuserPassword, '0400'),
        secretUpload('/run/aidiary/uploads/replication.pgpass', replicationPgpass, '0400'),
        ...(isPrimary
          ? [
              { file: '/docker-entrypoint-initdb.d/10-aidiary-roles.sh', content: script('10-aidiary-roles.sh'), executable: true },
              secretUpload('/run/aidiary/uploads/replication-password', args.replicationPassword, '0400'),
              secretUpload('/run/aidiary/uploads/db-password', args.dbPassword, '0400'),
            ]
          : [{ file: '/usr/local/bin/aidiary-clone-replica.sh', content: script('clone-replica.sh'), executable: true }]),
      ];

      containers.set(node.name, new docker.Container(`${name}-${node.name}`, {
        name: `${t.name}-${node.name}`,
        image: postgresImage,
        hostname: node.name,
        entrypoints: ['/usr/local/bin/aidiary-entrypoint.sh'],
        command: [isPrimary ? 'primary' : 'replica', ...postgresServerArgs(t)],
        envs: nodeEnv(t, node, isPrimary ? null : primaryName),
        uploads,
        volumes: [{ volumeName: volume.name, containerPath: '/var/lib/postgresql/data' }],
        networksAdvanced: [{ name: args.networkName, aliases: [node.name] }],
        labels: containerLabels(t.name, isPrimary ? 'postgres-primary' : 'postgres-replica', node.name),
        healthcheck: {
          tests: ['CMD', 'pg_isready', '-q', '-h', '127.0.0.1', '-p', '5432', '-U', 'postgres'],
          interval: '2s', timeout: '2s', retries: 5, startPeriod: '120s',
        },
        restart: 'unless-stopped',
        stopTimeout: 30,
        shmSize: 256,
        wait: true,
        waitTimeout: 600,
      }, {
        parent: this,
        // Fixed name and one data volume per node: the old container must be gone first.
        deleteBeforeReplace: true,
        dependsOn: isPrimary ? [] : [containers.get(primaryName)!],
      }));
    }
    const nodes = instances.map((n) => containers.get(n.name)!);

    // Replacing this one-shot (its script names the standbys) re-applies the durability mode.
    this.syncConfig = new docker.Container(`${name}-sync-config`, {
      image: postgresImage,
      entrypoints: ['bash', '-c', syncConfigScript(t, primaryName)],
      envs: [`AIDIARY_PRIMARY_HOST=${primaryName}`, 'PGPASSFILE=/run/aidiary/pgpass', 'PGCONNECT_TIMEOUT=5'],
      uploads: [secretUpload('/run/aidiary/pgpass', superuserPgpass, '0400')],
      networksAdvanced: [{ name: args.networkName }],
      labels: containerLabels(t.name, 'postgres-sync-config', primaryName),
      mustRun: false,
      restart: 'no',
      attach: true,
      logs: true,
    }, { parent: this, dependsOn: nodes });

    this.syncConfigApplied = pulumi.all([this.syncConfig.name, this.syncConfig.exitCode, this.syncConfig.urn])
      .apply(([n, code, urn]) => requireExitZero('sync-config (synchronous_standby_names, replication slots)', n, code, urn));
    this.primaryName = primaryName;
    this.containerNames = nodes.map((c) => c.name);
    this.registerOutputs({ containerNames: this.containerNames });
  }
}

function nodeEnv(t: Topology, node: DbInstance, primaryHost: string | null): string[] {
  const env: Record<string, string> = {
    PGDATA: pgData,
    POSTGRES_USER: 'postgres',
    POSTGRES_DB: t.database.name,
    POSTGRES_PASSWORD_FILE: '/run/aidiary/secrets/superuser-password',
    POSTGRES_INITDB_ARGS: '--encoding=UTF8 --locale=C.UTF-8',
    AIDIARY_DB_USER: t.database.appUser,
    AIDIARY_REPLICATION_USER: replicationUser,
  };
  if (primaryHost) {
    env.AIDIARY_PRIMARY_HOST = primaryHost;
    env.AIDIARY_SLOT_NAME = node.slotName;
  }
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}
