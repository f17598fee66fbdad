import { clusterStatus } from '../local/status';
import type { ClusterDriver } from './cluster-driver';
import { LocalDriver } from './local-driver';

// Is the cluster whole after a drill? Every node answers its health check, exactly one PostgreSQL
// node is primary, and every replica streams from it. On the local cluster this reads
// `aidiary status` (infra/local/status.ts: each replica's own WAL receiver state); elsewhere the
// driver's node list and the primary's view of its standbys.

export interface HealthNode {
  name: string;
  kind: string;
  role?: string;
  healthy: boolean;
  /** Replicas: streaming from the primary (null when unknown). */
  streaming?: boolean | null;
}

export interface ClusterHealth {
  healthy: boolean;
  /** What is wrong, one line each; empty when healthy. */
  problems: string[];
  /** Seconds the runner waited after the drill for the cluster to become healthy (or gave up). */
  waitedSeconds: number;
}

/** The problems a snapshot shows (pure: unit-tested). */
export function healthProblems(nodes: readonly HealthNode[], notStreaming: readonly string[] = []): string[] {
  const problems = nodes.filter((n) => !n.healthy).map((n) => `${n.name} (${n.kind}) is down`);
  const pg = nodes.filter((n) => n.kind === 'postgres' && n.healthy);
  const primaries = pg.filter((n) => n.role === 'primary').map((n) => n.name);
  if (nodes.some((n) => n.kind === 'postgres')) {
    if (primaries.length === 0) problems.push('no PostgreSQL primary answers');
    if (primaries.length > 1) problems.push(`more than one primary: ${primaries.join(', ')}`);
  }
  for (const r of pg.filter((n) => n.role === 'replica' && n.streaming !== true)) problems.push(`replica ${r.name} is not streaming`);
  for (const name of notStreaming) problems.push(`replica ${name} is not streaming (seen by the primary)`);
  return problems;
}

async function snapshot(driver: ClusterDriver): Promise<string[]> {
  if (driver instanceof LocalDriver) {
    const s = await clusterStatus(driver.state.root);
    return healthProblems([
      { name: s.lb.name, kind: 'lb', healthy: s.lb.healthy },
      ...s.apps.map((a) => ({ name: a.name, kind: 'app', healthy: a.healthy })),
      ...s.postgres.map((p) => ({ name: p.name, kind: 'postgres', role: p.role, healthy: p.healthy, streaming: p.streaming })),
      ...s.redis.map((r) => ({ name: r.name, kind: 'redis', healthy: r.healthy })),
      ...s.monitoring.map((m) => ({ name: m.name, kind: 'monitoring', healthy: m.healthy })),
    ]);
  }
  const nodes = await driver.listNodes();
  let notStreaming: string[] = [];
  try {
    const rep = await driver.replicationState();
    notStreaming = rep.expected.filter((n) => !rep.streaming.includes(n));
  } catch (err) {
    return [...healthProblems(nodes), `replication state unknown: ${(err as Error).message}`];
  }
  // The primary's view stands for the replicas' own (the remote drivers have no per-replica state).
  return healthProblems(nodes.map((n) => (n.role === 'replica' ? { ...n, streaming: true } : n)), notStreaming);
}

/** Checks until the cluster is healthy or timeoutMs has passed; the last check's problems are the answer. */
export async function waitForClusterHealth(driver: ClusterDriver, timeoutMs: number, intervalMs = 500): Promise<ClusterHealth> {
  const started = Date.now();
  for (;;) {
    let problems: string[];
    try {
      problems = await snapshot(driver);
    } catch (err) {
      problems = [`health check failed: ${(err as Error).message}`];
    }
    const waitedSeconds = Math.round((Date.now() - started) / 100) / 10;
    if (!problems.length || Date.now() - started >= timeoutMs) return { healthy: problems.length === 0, problems, waitedSeconds };
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
