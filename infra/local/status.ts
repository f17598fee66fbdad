import { isHealthy } from './http-probe';
import { appNodes, pgNodes, redisNodes } from './cluster-layout';
import { postmasterPid, superuserQuery, type PgNode } from './postgres';
import { monitoringStatus } from './monitoring';
import { isNodeProcess } from './preflight';
import { pingRedis, probeAuth } from './redis';
import { StateDir } from './state';
import { varnishStatus, type CdnStatus } from './varnish';

// `aidiary status [--json]` (shape in ARCHITECTURE.md, CLI contract), with each app's loopback control port
// (additive: the bench and drills switch cache layers there; null when the app has none):
// { url, stateDir, lb: {name, pid, port, healthy}, apps: [{name, pid, port, controlPort, healthy}],
//   postgres: [{name, role, pid, port, socketDir, dataDir, healthy, lagBytes, streaming, timeline, replayLagBytes}],
//   redis: [{name, role, pid, port, healthy}], monitoring: [{name, pid, port, url, healthy}],
//   cdn: {kind, url, pid, port, healthy} | null }
// The shape only grows (ARCHITECTURE.md, CLI contract): fields are added, never renamed or removed.
// streaming: a replica's WAL receiver is streaming (null on the primary or when unreachable);
// timeline: the timeline the node writes (primary) or receives/replays (replica);
// replayLagBytes: WAL a replica has received but not replayed yet (null on the primary).
// monitoring: Prometheus and the exporters of `up --monitoring` (always a list, empty while none
// runs); cdn: the CDN tier in front of nginx (`up --cdn varnish`; url is the public origin then),
// null when the topology has none.

export interface NodeStatus { name: string; pid: number | null; port: number; healthy: boolean }
export interface PgStatus extends NodeStatus {
  role: 'primary' | 'replica';
  socketDir: string;
  /** The node's data directory (under the recorded PostgreSQL home: infra/local/state.ts). */
  dataDir: string;
  lagBytes: number | null;
  streaming: boolean | null;
  timeline: number | null;
  replayLagBytes: number | null;
}
/** One entry per monitoring process (`up --monitoring`, infra/local/monitoring.ts); empty when monitoring is off. */
export interface MonitoringStatus { name: string; pid: number | null; port: number; url: string; healthy: boolean }
export interface AppStatus extends NodeStatus { controlPort: number | null }
export interface RedisStatus extends NodeStatus { role: 'sessions' | 'cache' }
export interface ClusterStatus {
  url: string;
  stateDir: string;
  lb: NodeStatus;
  apps: AppStatus[];
  postgres: PgStatus[];
  redis: RedisStatus[];
  monitoring: MonitoringStatus[];
  /** The local CDN tier (`up --cdn varnish`); null when the topology has none. */
  cdn: CdnStatus | null;
}

function livePid(state: StateDir, name: string): number | null {
  const pid = state.readPid(name);
  return isNodeProcess(name, pid) ? pid : null;
}

export async function clusterStatus(stateDir: string): Promise<ClusterStatus> {
  const state = new StateDir(stateDir);
  const s = state.read();
  if (!s) throw new Error(`no cluster in ${state.root}; run \`aidiary up\` first`);
  const t = s.topology;

  const lbPid = livePid(state, 'lb');
  const lb: NodeStatus = { name: 'lb', pid: lbPid, port: t.ports.lb, healthy: lbPid !== null && (await isHealthy(`http://${t.host}:${t.ports.lb}/health`)) };

  const apps = await Promise.all(appNodes(t).map(async (a): Promise<AppStatus> => {
    const pid = livePid(state, a.name);
    const healthy = pid !== null && (await isHealthy(`http://${t.host}:${a.port}/health`));
    return { name: a.name, pid, port: a.port, controlPort: state.readControlPort(a.name), healthy };
  }));

  const postgres = await Promise.all(pgNodes(state, t).map(async ({ db, node }): Promise<PgStatus & { slot: string }> => {
    const pid = postmasterPid(node);
    let role: 'primary' | 'replica' = db.initialRole;
    let healthy = false;
    let replication: Pick<PgStatus, 'streaming' | 'timeline' | 'replayLagBytes'> = { streaming: null, timeline: null, replayLagBytes: null };
    if (pid) {
      try {
        const rows = await superuserQuery<{ r: boolean }>(node, 'SELECT pg_is_in_recovery() AS r');
        role = rows[0].r ? 'replica' : 'primary';
        healthy = true;
        replication = await replicationOf(node, role);
      } catch {
        healthy = false;
      }
    }
    return { name: node.name, role, pid, port: node.port, socketDir: node.socketDir, dataDir: node.dataDir, healthy, lagBytes: null, ...replication, slot: db.slotName };
  }));
  // Lag is measured where it is known: the primary's view of each standby's replay position.
  const primary = postgres.find((p) => p.role === 'primary' && p.healthy);
  if (primary) {
    primary.lagBytes = 0;
    try {
      const node = pgNodes(state, t).find((n) => n.node.name === primary.name)!.node;
      const rows = await superuserQuery<{ application_name: string; lag: string | null }>(node,
        'SELECT application_name, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag FROM pg_stat_replication');
      for (const r of rows) {
        const replica = postgres.find((p) => p.slot === r.application_name);
        if (replica && r.lag !== null) replica.lagBytes = Number(r.lag);
      }
    } catch {
      /* primary stopped answering between the two queries: lag stays unknown */
    }
  }

  const redis = await Promise.all(redisNodes(state, t).map(async (r): Promise<RedisStatus> => {
    const pid = livePid(state, r.name);
    return { name: r.name, role: r.role, pid, port: r.port, healthy: pid !== null && (await pingRedis(r.host, r.port, 1000, probeAuth(r))) };
  }));

  return {
    url: `http://${t.host}:${t.ports.lb}/`,
    stateDir: state.root,
    lb,
    apps,
    postgres: postgres.map(({ slot: _slot, ...p }) => p),
    redis,
    monitoring: await monitoringStatus(state.root),
    cdn: await varnishStatus(state, t),
  };
}

/**
 * The node's own view of replication. A primary's timeline is the one of the WAL it writes (the
 * first 8 hex digits of the current WAL file name); a replica's is the one its WAL receiver gets,
 * else the one of its last restartpoint.
 */
async function replicationOf(node: PgNode, role: 'primary' | 'replica'): Promise<Pick<PgStatus, 'streaming' | 'timeline' | 'replayLagBytes'>> {
  if (role === 'primary') {
    const [r] = await superuserQuery<{ tli: number }>(node, "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS tli");
    return { streaming: null, timeline: Number(r.tli), replayLagBytes: null };
  }
  const [r] = await superuserQuery<{ streaming: boolean; tli: number | null; lag: string | null }>(node, `
    SELECT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming,
           COALESCE((SELECT received_tli FROM pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint())) AS tli,
           pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint AS lag`);
  return { streaming: r.streaming, timeline: r.tli === null ? null : Number(r.tli), replayLagBytes: r.lag === null ? null : Math.max(0, Number(r.lag)) };
}

/** The human table for `aidiary status`. */
export function formatStatus(s: ClusterStatus): string {
  const mark = (ok: boolean) => (ok ? 'up' : 'DOWN');
  const rows: string[][] = [['node', 'role', 'pid', 'port', 'health', 'lag']];
  if (s.cdn) rows.push(['cdn', s.cdn.kind, String(s.cdn.pid ?? '-'), String(s.cdn.port), mark(s.cdn.healthy), '']);
  rows.push([s.lb.name, 'nginx', String(s.lb.pid ?? '-'), String(s.lb.port), mark(s.lb.healthy), '']);
  for (const a of s.apps) rows.push([a.name, 'app', String(a.pid ?? '-'), String(a.port), mark(a.healthy), '']);
  for (const p of s.postgres) rows.push([p.name, p.role, String(p.pid ?? '-'), String(p.port), mark(p.healthy), p.lagBytes === null ? '?' : `${p.lagBytes} B`]);
  for (const r of s.redis) rows.push([r.name, r.role, String(r.pid ?? '-'), String(r.port), mark(r.healthy), '']);
  for (const m of s.monitoring) rows.push([m.name, 'monitoring', String(m.pid ?? '-'), String(m.port), mark(m.healthy), '']);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
  const head = s.cdn ? `${s.cdn.url}  (${s.cdn.kind} in front of ${s.url})` : s.url;
  return [`${head}  (state: ${s.stateDir})`, ...lines].join('\n');
}
