// The one interface the drill runner uses to act on a cluster, whatever runs it: local processes
// (local-driver.ts), Docker staging (docker-driver.ts) or Kubernetes prod (kubernetes-driver.ts).
// Scenarios only speak in node names (app-K, pg-K, redis-sessions, redis-cache, lb).

export type NodeKind = 'lb' | 'app' | 'postgres' | 'redis';

export interface DriverNode {
  name: string;
  kind: NodeKind;
  /** postgres: primary|replica (live role); redis: sessions|cache. */
  role?: 'primary' | 'replica' | 'sessions' | 'cache';
  healthy: boolean;
}

export interface PromotionResult {
  /** The node that is primary afterwards. */
  promoted: string;
  elapsedMs: number;
}

export interface ClusterDriver {
  readonly kind: 'local' | 'docker' | 'kubernetes';
  /** Public base URL of the load balancer, e.g. http://127.0.0.1:8080 (no trailing slash). */
  baseUrl(): Promise<string>;
  listNodes(): Promise<DriverNode[]>;
  /** Sends a signal (default SIGKILL): an unplanned crash. */
  killNode(name: string, signal?: NodeJS.Signals): Promise<void>;
  /** Planned stop (apps drain, PostgreSQL fast shutdown). */
  stopNode(name: string): Promise<void>;
  /** Starts a stopped/killed node again with its previous role and settings; resolves once it answers. */
  startNode(name: string): Promise<void>;
  /** Unplanned: promotes the named (or most advanced) replica; the others follow it. */
  failover(to?: string): Promise<PromotionResult>;
  /** Planned: the primary stops cleanly first, then a replica is promoted and the old primary rejoins. */
  switchover(to?: string): Promise<PromotionResult>;
  scale(counts: { apps?: number; dbReplicas?: number }): Promise<void>;
  /** Freezes a node (it stops answering but keeps its sockets): a network partition as clients see it. */
  pause(name: string): Promise<void>;
  resume(name: string): Promise<void>;
  /** Resolves once every node of the current topology is healthy; throws after timeoutMs. */
  waitHealthy(timeoutMs: number): Promise<void>;
  /** True when the named PostgreSQL node answers a query within timeoutMs (a monitor's health check). */
  checkDbNode(name: string, timeoutMs: number): Promise<boolean>;
  /** Runs a read-only verification query as the superuser on the current primary, database of the app. */
  primaryQuery<R extends Record<string, unknown>>(sql: string): Promise<R[]>;
  /** Replica names expected to stream and those streaming now (seen by the primary). */
  replicationState(): Promise<{ expected: string[]; streaming: string[] }>;
  /** The account the load generator logs in with. */
  adminCredentials(): Promise<{ username: string; password: string }>;
  close(): Promise<void>;
}

/** An external command the Docker/Kubernetes drivers run; injected so tests can record it. */
export type CommandExecutor = (command: string, args: string[]) => Promise<{ stdout: string }>;

/** Quotes a value as an SQL literal (drivers that go through psql cannot bind parameters). */
export function sqlLiteral(value: string | number): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
    return String(value);
  }
  return `'${value.replace(/'/g, "''")}'`;
}

/** Wraps a query so psql prints its rows as one JSON array (parsed by psqlRows). */
export function jsonRowsSql(sql: string): string {
  return `SELECT coalesce(json_agg(t), '[]'::json) FROM (${sql.replace(/;\s*$/, '')}) t`;
}

export function psqlRows<R>(stdout: string): R[] {
  const text = stdout.trim();
  if (!text) return [];
  return JSON.parse(text) as R[];
}
