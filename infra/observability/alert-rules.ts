// The alert rules every target loads (local Prometheus, staging's container, the prod
// PrometheusRule), from one template whose `for` and window durations are parameters: the
// production profile (minutes) and a short profile (seconds, with a 2 s scrape/evaluation
// interval) that the e2e test uses to make alerts fire and clear on a real cluster.
//
// PostgreSQL metrics carry CloudNativePG's names (`cnpg_…`): on Kubernetes the operator's own
// exporter serves them; locally and on staging prometheus-postgres-exporter runs the same queries
// (postgres-queries.ts), so one expression works on every target.

import { defaultTopology } from '../topology';

export interface AlertProfile {
  /** rate()/ratio window of the request alerts */
  requestWindow: string;
  latencyFor: string;
  errorRateFor: string;
  downFor: string;
  replicaLagFor: string;
  notStreamingFor: string;
  syncDegradedFor: string;
  /** a role change inside this window is a failover */
  failoverWindow: string;
  sessionsFor: string;
  cacheWindow: string;
  cacheFor: string;
  walFor: string;
  /** range the disk-growth prediction looks back over */
  growthWindow: string;
  backupFor: string;
  jobsWindow: string;
}

export const productionProfile: AlertProfile = {
  requestWindow: '5m', latencyFor: '10m', errorRateFor: '5m', downFor: '1m', replicaLagFor: '5m',
  notStreamingFor: '2m', syncDegradedFor: '2m', failoverWindow: '30m', sessionsFor: '1m',
  cacheWindow: '15m', cacheFor: '15m', walFor: '15m', growthWindow: '6h', backupFor: '30m', jobsWindow: '15m',
};

/** Seconds-scale durations for the e2e test (Prometheus runs with a 2 s scrape and evaluation interval). */
export const shortProfile: AlertProfile = {
  requestWindow: '10s', latencyFor: '4s', errorRateFor: '4s', downFor: '4s', replicaLagFor: '4s',
  notStreamingFor: '4s', syncDegradedFor: '4s', failoverWindow: '30s', sessionsFor: '4s',
  cacheWindow: '20s', cacheFor: '4s', walFor: '4s', growthWindow: '1m', backupFor: '4s', jobsWindow: '20s',
};

/** Thresholds: the same for every profile. */
export const alertThresholds = {
  /** the seed plan's latency objective */
  p99LatencySeconds: 0.1,
  /** the seed plan's error-rate objective */
  errorRatio: 0.01,
  /** the apps' read-routing bound (the topology's maxReplicaLagBytes): past it reads leave the replica */
  replicaLagBytes: defaultTopology.database.maxReplicaLagBytes,
  cacheHitRatio: 0.95,
  /** WAL kept on a node: the topology's default max_slot_wal_keep_size; past it a slot is about to be invalidated */
  walBytes: defaultTopology.database.maxSlotWalKeepSizeMb * 1024 * 1024,
  /** database size predicted 24 h ahead */
  databaseBytes24h: 50 * 1024 * 1024 * 1024,
  /** the prod ScheduledBackup runs daily; two missed runs' worth of slack */
  backupMaxAgeSeconds: 26 * 3600,
} as const;

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: 'page' | 'ticket' };
  annotations: { summary: string; description: string };
}

export interface RuleGroup { name: string; interval?: string; rules: AlertRule[] }

export function alertRules(p: AlertProfile, opts: { interval?: string } = {}): RuleGroup[] {
  const t = alertThresholds;
  const http = 'aidiary_http_request_duration_seconds';
  const rules: AlertRule[] = [
    {
      alert: 'AidiaryHighLatencyP99',
      expr: `histogram_quantile(0.99, sum by (le) (rate(${http}_bucket[${p.requestWindow}]))) > ${t.p99LatencySeconds}`,
      for: p.latencyFor,
      labels: { severity: 'page' },
      annotations: {
        summary: 'p99 request latency across the apps is above 100 ms',
        description: 'p99 is {{ $value | humanizeDuration }}. First look at the dashboard\'s latency-by-route and cache hit ratio panels: a cold or disabled cache, a slow replica or a saturated DB pool are the usual causes.',
      },
    },
    {
      alert: 'AidiaryHighErrorRate',
      expr: `sum(rate(${http}_count{status="5xx"}[${p.requestWindow}])) / sum(rate(${http}_count[${p.requestWindow}])) > ${t.errorRatio}`,
      for: p.errorRateFor,
      labels: { severity: 'page' },
      annotations: {
        summary: 'More than 1 % of requests answer 5xx',
        description: '5xx ratio is {{ $value | humanizePercentage }}. Find the failing requests with `aidiary logs` (level 50 lines carry reqId; `aidiary logs --request-id ID` follows one across edge and app) and check the database and Redis alerts.',
      },
    },
    {
      alert: 'AidiaryAppDown',
      expr: 'up{job="aidiary-app"} == 0',
      for: p.downFor,
      labels: { severity: 'page' },
      annotations: {
        summary: 'App {{ $labels.instance }} does not answer its metrics scrape',
        description: 'nginx routes around it, but capacity is reduced. Check `aidiary status` and the app\'s log; restart it with `aidiary scale` or `aidiary up`.',
      },
    },
    {
      alert: 'AidiaryEdgeDown',
      expr: 'up{job=~"aidiary-edge.*"} == 0 or nginx_up == 0',
      for: p.downFor,
      labels: { severity: 'page' },
      annotations: {
        summary: 'The nginx edge (or its exporter) {{ $labels.instance }} is down',
        description: 'Nothing reaches the apps through this edge. Check the nginx process (`aidiary status`), its error log, and `nginx -t` on its rendered config.',
      },
    },
    {
      alert: 'AidiaryReplicaLagHigh',
      expr: `max by (node) (aidiary_db_replica_lag_bytes) > ${t.replicaLagBytes}`,
      for: p.replicaLagFor,
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'Replica {{ $labels.node }} is past the read-routing bound (16 MiB of WAL)',
        description: 'Lag is {{ $value | humanize1024 }}B: reads have moved to the primary. Check the replica\'s disk and CPU and long queries on it; a lag that keeps growing means replay is stuck.',
      },
    },
    {
      alert: 'AidiaryReplicaNotStreaming',
      expr: 'cnpg_pg_replication_slots_active{slot_type="physical"} == 0 unless on (instance) cnpg_pg_replication_in_recovery == 1',
      for: p.notStreamingFor,
      labels: { severity: 'page' },
      annotations: {
        summary: 'Replica slot {{ $labels.slot_name }} has no streaming replica',
        description: 'The replica behind this slot is down or disconnected; the primary keeps WAL for it up to max_slot_wal_keep_size. Start it (`aidiary status` shows which), or rejoin/re-clone it.',
      },
    },
    {
      alert: 'AidiarySyncDurabilityDegraded',
      expr: 'cnpg_aidiary_sync_standbys_configured > 0 and cnpg_aidiary_sync_standbys_attached < cnpg_aidiary_sync_standbys_configured',
      for: p.syncDegradedFor,
      labels: { severity: 'page' },
      annotations: {
        summary: 'Fewer synchronous standbys than required on {{ $labels.instance }}',
        description: '{{ $value }} synchronous standby(s) attached: commits wait (or are acknowledged with less durability than configured). Bring the replicas back or lower the synchronous count knowingly.',
      },
    },
    {
      alert: 'AidiaryFailoverHappened',
      expr: `changes(cnpg_pg_replication_in_recovery[${p.failoverWindow}]) > 0`,
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'PostgreSQL node {{ $labels.instance }} changed role recently (a failover or switchover)',
        description: 'Confirm the new primary is the one you expect (`aidiary status`), the old one rejoined as a replica, and synchronous durability is back.',
      },
    },
    {
      alert: 'AidiarySessionsRedisUnreachable',
      expr: 'min by (app) (aidiary_session_store_up) == 0',
      for: p.sessionsFor,
      labels: { severity: 'page' },
      annotations: {
        summary: 'App {{ $labels.app }} cannot reach the sessions Redis',
        description: 'Logins and signed-in pages fail on this app. Check the sessions Redis process and its ACL login (the app\'s Redis password in the state dir or Secret).',
      },
    },
    {
      alert: 'AidiaryCacheHitRatioLow',
      expr: `(sum(rate(aidiary_cache_hits_total[${p.cacheWindow}])) + sum(rate(aidiary_cache_stale_served_total[${p.cacheWindow}]))) / (sum(rate(aidiary_cache_hits_total[${p.cacheWindow}])) + sum(rate(aidiary_cache_stale_served_total[${p.cacheWindow}])) + sum(rate(aidiary_cache_renders_total[${p.cacheWindow}]))) < ${t.cacheHitRatio}`,
      for: p.cacheFor,
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'Anonymous page cache hit ratio is below 95 %',
        description: 'Hit ratio is {{ $value | humanizePercentage }}. Look for a purge storm (invalidations panel), cache Redis errors or evictions (maxmemory too small), or a cache layer left disabled on the control port.',
      },
    },
    {
      alert: 'AidiaryWalGrowing',
      expr: `cnpg_aidiary_wal_bytes > ${t.walBytes}`,
      for: p.walFor,
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'WAL on {{ $labels.instance }} is above 2 GiB',
        description: 'WAL is {{ $value | humanize1024 }}B. Usually an inactive replication slot or failing archiving: check AidiaryReplicaNotStreaming and the archiver (`aidiary backup` / the Backup resources).',
      },
    },
    {
      alert: 'AidiaryDatabaseDiskGrowth',
      expr: `predict_linear(cnpg_pg_database_size_bytes[${p.growthWindow}], 86400) > ${t.databaseBytes24h}`,
      for: p.walFor,
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'Database {{ $labels.datname }} is predicted to pass 50 GiB within a day',
        description: 'At this growth rate the volume fills. Check what writes (media uploads, jobs), then grow the storage before it is full.',
      },
    },
    {
      alert: 'AidiaryBackupTooOld',
      expr: `time() - max(cnpg_collector_last_available_backup_timestamp) > ${t.backupMaxAgeSeconds}`,
      for: p.backupFor,
      labels: { severity: 'page' },
      annotations: {
        summary: 'The last base backup is older than the daily schedule allows (26 h)',
        description: 'Point-in-time recovery depends on it. Check the ScheduledBackup/Backup resources and the object store credentials, then take one now (`aidiary backup` locally).',
      },
    },
    {
      alert: 'AidiaryJobsFailing',
      expr: `sum by (queue, job) (increase(aidiary_jobs_finished_total{outcome="failed"}[${p.jobsWindow}])) > 0`,
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'Background job {{ $labels.queue }}/{{ $labels.job }} failed recently',
        description: 'Read the failing job\'s error in the app logs (`aidiary logs`, msg "job failed"); scheduled posts may be late until it passes.',
      },
    },
    {
      // Each app reports the cluster-wide count of the cdn-purge queue's failed set: max, not sum.
      alert: 'AidiaryCdnPurgeDeadLetters',
      expr: 'max(aidiary_cdn_purge_dead_letters) > 0',
      labels: { severity: 'ticket' },
      annotations: {
        summary: '{{ $value }} CDN purge batch(es) failed every attempt: the CDN may serve pages older than their last write',
        description: 'Read the provider\'s error in the app logs (`aidiary logs`, msg "cdn purge gave up after every attempt"; a 401/403 means the API token). Once the CDN answers again, purge the tag `site` at the CDN (or wait out its TTL) and remove the failed jobs of the cdn-purge queue.',
      },
    },
  ];
  return [{ name: 'aidiary', ...(opts.interval ? { interval: opts.interval } : {}), rules }];
}

// Rendered by hand rather than with a YAML library: the structure is fixed and every string is
// written as a JSON string, which is a valid YAML double-quoted scalar.
export function renderAlertRulesYaml(p: AlertProfile, opts: { interval?: string; header?: string } = {}): string {
  const q = (s: string) => JSON.stringify(s);
  const out: string[] = [];
  if (opts.header) out.push(...opts.header.split('\n').map((l) => `# ${l}`.trimEnd()));
  out.push('groups:');
  for (const g of alertRules(p, opts)) {
    out.push(`  - name: ${q(g.name)}`);
    if (g.interval) out.push(`    interval: ${g.interval}`);
    out.push('    rules:');
    for (const r of g.rules) {
      out.push(`      - alert: ${r.alert}`, `        expr: ${q(r.expr)}`);
      if (r.for) out.push(`        for: ${r.for}`);
      out.push('        labels:', ...Object.entries(r.labels).map(([k, v]) => `          ${k}: ${q(v)}`));
      out.push('        annotations:', ...Object.entries(r.annotations).map(([k, v]) => `          ${k}: ${q(v)}`));
    }
  }
  return `${out.join('\n')}\n`;
}

export const alertRulesHeader = 'Generated from infra/observability/alert-rules.ts (production profile): edit that file, then\n'
  + 'run `npx tsx infra/observability/render-alert-rules.ts`. test/unit/alert-rules.test.ts checks they match.';
