// PostgreSQL metrics the alert rules read, under CloudNativePG's metric names so that one rules
// file works everywhere. On Kubernetes the operator's exporter already serves `cnpg_pg_replication_*`,
// `cnpg_pg_replication_slots_*` and `cnpg_pg_database_*` (its default queries); the `aidiary_*`
// queries are ours and reach it through a custom-queries ConfigMap (CloudNativePG prefixes them
// with `cnpg_`). Locally and on staging prometheus-postgres-exporter runs all of them from a file
// with the `cnpg_` prefix written into the query names, so the metric names come out identical.
// Every query runs as the read-only monitoring role (pg_monitor).

export interface MetricColumn { usage: 'LABEL' | 'GAUGE' | 'COUNTER'; description: string }
export interface PgQuery { query: string; primary?: boolean; metrics: Record<string, MetricColumn>[] }

/** Queries CloudNativePG ships by default (same SQL and columns as its default monitoring queries). */
export const cnpgDefaultQueries: Record<string, PgQuery> = {
  pg_replication: {
    query: 'SELECT CASE WHEN (NOT pg_catalog.pg_is_in_recovery() OR pg_catalog.pg_last_wal_receive_lsn() = pg_catalog.pg_last_wal_replay_lsn()) THEN 0 '
      + 'ELSE GREATEST (0, EXTRACT(EPOCH FROM (now() - pg_catalog.pg_last_xact_replay_timestamp()))) END AS lag, '
      + 'pg_catalog.pg_is_in_recovery()::int AS in_recovery, EXISTS (TABLE pg_stat_wal_receiver)::int AS is_wal_receiver_up, '
      + '(SELECT count(*) FROM pg_catalog.pg_stat_replication) AS streaming_replicas',
    metrics: [
      { lag: { usage: 'GAUGE', description: 'Replication lag behind primary in seconds' } },
      { in_recovery: { usage: 'GAUGE', description: 'Whether the instance is in recovery (a replica)' } },
      { is_wal_receiver_up: { usage: 'GAUGE', description: 'Whether the instance wal_receiver is up' } },
      { streaming_replicas: { usage: 'GAUGE', description: 'Number of streaming replicas connected to the instance' } },
    ],
  },
  pg_replication_slots: {
    query: 'SELECT slot_name, slot_type, coalesce(database, \'\') AS database, active::int AS active, '
      + 'coalesce(CASE pg_catalog.pg_is_in_recovery() WHEN TRUE THEN pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_receive_lsn(), restart_lsn) '
      + 'ELSE pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn) END, 0) AS pg_wal_lsn_diff '
      + 'FROM pg_catalog.pg_replication_slots WHERE NOT temporary',
    metrics: [
      { slot_name: { usage: 'LABEL', description: 'Name of the replication slot' } },
      { slot_type: { usage: 'LABEL', description: 'Type of the replication slot' } },
      { database: { usage: 'LABEL', description: 'Name of the database' } },
      { active: { usage: 'GAUGE', description: 'Flag indicating whether the slot is active' } },
      { pg_wal_lsn_diff: { usage: 'GAUGE', description: 'Replication lag in bytes' } },
    ],
  },
  pg_database: {
    query: 'SELECT datname, pg_catalog.pg_database_size(datname) AS size_bytes FROM pg_catalog.pg_database WHERE datallowconn',
    metrics: [
      { datname: { usage: 'LABEL', description: 'Name of the database' } },
      { size_bytes: { usage: 'GAUGE', description: 'Disk space used by the database' } },
    ],
  },
};

/** Our own queries: shipped to CloudNativePG as custom queries, and run locally. */
export const aidiaryQueries: Record<string, PgQuery> = {
  aidiary_sync_standbys: {
    // On a replica both are 0: synchronous replication is the primary's business.
    query: 'SELECT CASE WHEN pg_catalog.pg_is_in_recovery() OR current_setting(\'synchronous_standby_names\') = \'\' THEN 0 '
      + 'ELSE coalesce(nullif(substring(current_setting(\'synchronous_standby_names\') from \'^\\s*(?:ANY|FIRST)?\\s*(\\d+)\\s*\\(\'), \'\')::int, 1) END AS configured, '
      + 'CASE WHEN pg_catalog.pg_is_in_recovery() THEN 0 ELSE (SELECT count(*) FROM pg_catalog.pg_stat_replication WHERE sync_state IN (\'sync\', \'quorum\') AND state = \'streaming\') END AS attached',
    metrics: [
      { configured: { usage: 'GAUGE', description: 'Synchronous standbys synchronous_standby_names requires (0 on a replica or when off)' } },
      { attached: { usage: 'GAUGE', description: 'Streaming standbys currently counted as synchronous or quorum members' } },
    ],
  },
  aidiary_wal: {
    query: 'SELECT coalesce(sum(size), 0) AS bytes FROM pg_catalog.pg_ls_waldir()',
    metrics: [{ bytes: { usage: 'GAUGE', description: 'Bytes of WAL segments in pg_wal' } }],
  },
};

/** The queries file for prometheus-postgres-exporter (--extend.query-path): names carry `cnpg_`. */
export function postgresExporterQueries(): Record<string, PgQuery> {
  const all = { ...cnpgDefaultQueries, ...aidiaryQueries };
  return Object.fromEntries(Object.entries(all).map(([name, q]) => [`cnpg_${name}`, q]));
}
