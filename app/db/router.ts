import type { FastifyBaseLogger } from 'fastify';
import type pg from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AppConfig } from '../config';
import type { Db, Queryable, ReadContext, ReadResult, WriteResult } from './db';
import { createNodePool, type NodePool, type NodeTarget } from './node-pool';
import { MONITOR_CONNECTIONS_PER_NODE, NodeMonitor, type NodeStatus } from './node-monitor';
import { chooseReadNode } from './read-routing';
import { isConnectionError, isPrimaryLostError, isReadOnlyError } from './pg-errors';
import { lsnToBigInt, maxLsn } from './lsn';
import { ServiceIdentities } from './service-identity';

// The Db seam's real implementation (DESIGN.md invariants 2, 3, 6): writes in a transaction on
// the primary found by role, reads on a healthy, fresh-enough replica that has replayed the
// caller's LSN, else the primary. Node roles and LSNs come from a background monitor, so routing
// costs no round trip.
//
// Commit LSN: `COMMIT; SELECT pg_current_wal_insert_lsn()` in one simple-protocol round trip,
// i.e. read AFTER the commit. Read inside the transaction it would precede the commit record, so a
// replica could have replayed "the LSN" and still not show the row (breaks read-your-writes).
// After COMMIT returned, the insert LSN is at or past the end of our commit record; with
// synchronous replication COMMIT only returns once a standby has the record, and the LSN may
// include other sessions' later WAL, which only makes the RYW check stricter, never wrong.

export type { NodeStatus } from './node-monitor';

export interface WriteOptions {
  /** Re-running `fn` is harmless, so a write whose COMMIT outcome is unknown may be retried. */
  idempotent?: boolean;
}

export interface RoutedDb extends Db {
  write<T>(fn: (q: Queryable) => Promise<T>, opts?: WriteOptions): Promise<WriteResult<T>>;
  /** Per-node role, health, lag and replay LSN (status pages, /metrics). */
  nodes(): NodeStatus[];
  /** Poll every node now (tests, and after a known topology change). */
  refresh(): Promise<void>;
}

export interface RoutedDbDeps {
  config: AppConfig;
  logger: FastifyBaseLogger;
  metrics: Registry;
  /** Background poll period; 250 ms keeps a promotion visible within a few hundred ms. */
  pollIntervalMs?: number;
  /** How long a write waits for a primary to appear (failover in progress) before failing. */
  primaryWaitMs?: number;
}

/** No node can take this query; code 08001 so the HTTP layer answers 503. */
export class DbUnavailableError extends Error {
  readonly code = '08001';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DbUnavailableError';
  }
}

/** The connection broke during COMMIT: the write may or may not have committed. */
export class CommitOutcomeUnknownError extends Error {
  readonly code: string;
  constructor(node: string, cause: unknown) {
    super(`connection to ${node} failed during COMMIT; the write may or may not have been applied`, { cause });
    this.name = 'CommitOutcomeUnknownError';
    this.code = (cause as { code?: string } | null)?.code ?? '08006';
  }
}

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

function targetsOf(config: AppConfig): NodeTarget[] {
  if (config.dbNodes) return config.dbNodes;
  // Service mode (Kubernetes): the operator's -rw / -ro Services hide the nodes; the monitor
  // still learns the role and LSN behind each address.
  const targets: NodeTarget[] = [{ name: 'pg-rw', ...config.dbPrimaryService! }];
  if (config.dbReadService) targets.push({ name: 'pg-ro', ...config.dbReadService });
  return targets;
}

const currentLsnSql = 'SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END)::text AS lsn';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function createRoutedDb(deps: RoutedDbDeps): RoutedDb {
  const { config, logger, metrics } = deps;
  const primaryWaitMs = deps.primaryWaitMs ?? 5000;
  const serviceMode = !config.dbNodes;
  const targets = targetsOf(config);
  const pools = new Map<string, NodePool>(targets.map((t) => [t.name, createNodePool(t, config, logger)]));
  // Probes get their own one-connection pools so a saturated app pool cannot blind the monitor.
  const probes = targets.map((t) => createNodePool(t, config, logger, { max: MONITOR_CONNECTIONS_PER_NODE, connectionTimeoutMs: 1000, statementTimeoutMs: 1000, purpose: 'monitor' }));
  const monitor = new NodeMonitor(probes, logger, { pollIntervalMs: deps.pollIntervalMs });

  const reads = metric(metrics, 'aidiary_db_reads_total', () => new Counter({ name: 'aidiary_db_reads_total', help: 'Reads by the node that answered', labelNames: ['node'], registers: [metrics] }));
  const fallbacks = metric(metrics, 'aidiary_db_read_fallbacks_total', () => new Counter({ name: 'aidiary_db_read_fallbacks_total', help: 'Reads that could not use a replica (or were retried), by reason', labelNames: ['reason'], registers: [metrics] }));
  const rywPins = metric(metrics, 'aidiary_db_ryw_pins_total', () => new Counter({ name: 'aidiary_db_ryw_pins_total', help: 'Reads with a minimum LSN served by a replica that had replayed it', registers: [metrics] }));
  const writes = metric(metrics, 'aidiary_db_writes_total', () => new Counter({ name: 'aidiary_db_writes_total', help: 'Committed writes by node', labelNames: ['node'], registers: [metrics] }));
  const writeRetries = metric(metrics, 'aidiary_db_write_retries_total', () => new Counter({ name: 'aidiary_db_write_retries_total', help: 'Writes re-sent after the primary was lost before COMMIT', registers: [metrics] }));
  // Gauges read the live state at scrape time; the last RoutedDb created on a registry wins.
  const lagGauge = metric(metrics, 'aidiary_db_replica_lag_bytes', () => new Gauge({ name: 'aidiary_db_replica_lag_bytes', help: 'WAL bytes not yet replayed, by node', labelNames: ['node'], registers: [metrics] }));
  const inUseGauge = metric(metrics, 'aidiary_db_pool_in_use', () => new Gauge({ name: 'aidiary_db_pool_in_use', help: 'Checked-out plus waiting pool clients, by node', labelNames: ['node'], registers: [metrics] }));
  (lagGauge as unknown as { collect?: () => void }).collect = () => {
    for (const s of monitor.status()) if (s.lagBytes !== null) lagGauge.set({ node: s.name }, s.lagBytes);
  };
  (inUseGauge as unknown as { collect?: () => void }).collect = () => {
    for (const p of pools.values()) inUseGauge.set({ node: p.target.name }, p.busy());
  };

  const identities = new ServiceIdentities(logger);
  const readService = serviceMode ? pools.get('pg-ro') : undefined;
  if (readService) identities.attach(readService.pool);

  monitor.start();
  let tieBreak = 0;
  let closed = false;

  async function waitForPrimary(): Promise<string> {
    const deadline = Date.now() + primaryWaitMs;
    for (;;) {
      const primary = monitor.primaryName();
      if (primary) return primary;
      if (closed || Date.now() > deadline) throw new DbUnavailableError(`no usable database node is the primary (checked ${targets.map((t) => t.name).join(', ')})`);
      await monitor.refresh();
      if (!monitor.primaryName()) await sleep(100);
    }
  }

  // A caller that passes `minLsn` (even null: a logged-in session, a cache fill) keeps monotonic
  // reads from the returned LSN, which must then cover everything its snapshot saw. The polled
  // value is older than the snapshot, so it is read on the same connection right after the
  // query: one cheap extra round trip, only for these callers (anonymous page reads skip it).
  function tracksLsn(ctx: ReadContext): boolean {
    return ctx.trackLsn !== false && Object.prototype.hasOwnProperty.call(ctx, 'minLsn');
  }

  async function lsnAfterRead(client: pg.PoolClient, node: string): Promise<string | null> {
    try {
      const { rows } = await client.query<{ lsn: string | null }>(currentLsnSql);
      const lsn = rows[0].lsn;
      if (lsn) {
        monitor.observeLsn(node, lsn);
        const id = identities.identity(client);
        if (id) identities.observe(id, lsn);
      }
      return lsn;
    } catch {
      return null; // the read itself succeeded; the polled value stands
    }
  }

  async function readOnce<T>(node: string, ctx: ReadContext, fn: (q: Queryable) => Promise<T>): Promise<ReadResult<T>> {
    const state = monitor.get(node);
    const lsnAtStart = state?.replayLsn ?? null;
    const client = await pools.get(node)!.pool.connect();
    let broken: Error | undefined;
    try {
      const value = await fn(client as unknown as Queryable);
      reads.inc({ node: node === 'pg-ro' ? identities.identity(client)?.label ?? node : node });
      // Never report less than the caller asked for: a node is only chosen once it has replayed
      // ctx.minLsn (the primary has everything).
      let lsn = maxLsn(lsnAtStart, ctx.minLsn);
      if (tracksLsn(ctx)) lsn = maxLsn(lsn, await lsnAfterRead(client, node));
      // Behind the read Service, name the server that actually answered (X-DB-Node).
      const shown = node === 'pg-ro' ? identities.identity(client)?.label ?? node : node;
      return { value, node: shown, lsn };
    } catch (err) {
      if (isConnectionError(err)) broken = err as Error;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  function choose(ctx: ReadContext, exclude: ReadonlySet<string>) {
    const choice = chooseReadNode({
      // Service mode: the -ro Service may hand us any replica, so RYW reads go to the primary.
      ctx: serviceMode && ctx.minLsn ? { ...ctx, primary: true } : ctx,
      nodes: monitor.status(),
      primary: monitor.primaryName(),
      exclude,
      bounds: { maxLagBytes: config.dbMaxLagBytes, maxLagMs: config.dbMaxLagMs },
      busy: (name) => pools.get(name)?.busy() ?? 0,
      tieBreak,
    });
    // Rotate only when a replica was picked, so primary fallbacks do not skew the alternation.
    if (!choice.fallback) tieBreak++;
    return choice;
  }

  // Service mode, read-your-writes: use the read Service when the node behind this very
  // connection is known (or just checked) to have replayed ctx.minLsn; null → use the primary.
  async function readViaReplicaService<T>(ctx: ReadContext & { minLsn: string }, fn: (q: Queryable) => Promise<T>): Promise<ReadResult<T> | null> {
    let client: pg.PoolClient;
    try {
      client = await readService!.pool.connect();
    } catch {
      return null;
    }
    let broken: Error | undefined;
    try {
      const need = lsnToBigInt(ctx.minLsn);
      let known = identities.identity(client) ? identities.knownLsn(identities.identity(client)!) : undefined;
      if (!known || lsnToBigInt(known) < need) {
        const { rows } = await client.query<{ lsn: string | null }>(currentLsnSql);
        known = rows[0].lsn ?? undefined;
        const id = identities.identity(client);
        if (id && known) identities.observe(id, known);
      }
      if (!known || lsnToBigInt(known) < need) {
        fallbacks.inc({ reason: 'min_lsn' });
        return null;
      }
      rywPins.inc();
      const value = await fn(client as unknown as Queryable);
      const node = identities.identity(client)?.label ?? 'pg-ro';
      reads.inc({ node });
      const after = await lsnAfterRead(client, 'pg-ro');
      return { value, node, lsn: maxLsn(maxLsn(known, ctx.minLsn), after) };
    } catch (err) {
      if (!isConnectionError(err)) throw err;
      broken = err as Error;
      fallbacks.inc({ reason: 'retry' });
      return null;
    } finally {
      client.release(broken);
    }
  }

  async function read<T>(ctx: ReadContext, fn: (q: Queryable) => Promise<T>): Promise<ReadResult<T>> {
    if (readService && ctx.minLsn && !ctx.primary && monitor.get('pg-ro')?.healthy) {
      const viaService = await readViaReplicaService({ ...ctx, minLsn: ctx.minLsn }, fn);
      if (viaService) return viaService;
    }
    const exclude = new Set<string>();
    let lastErr: unknown;
    for (let attempt = 0; attempt < 2; attempt++) {
      let choice = choose(ctx, exclude);
      if (!choice.node && attempt === 0 && !exclude.size) {
        // Nothing known yet (first request after start) or everything looked down: poll once.
        await monitor.refresh();
        choice = choose(ctx, exclude);
      }
      if (!choice.node) throw new DbUnavailableError('no usable database node for this read', { cause: lastErr });
      if (choice.fallback && choice.fallback !== 'forced') fallbacks.inc({ reason: choice.fallback });
      if (choice.pinned) rywPins.inc();
      try {
        return await readOnce(choice.node, ctx, fn);
      } catch (err) {
        // 40001 on a standby: the query was cancelled by a recovery conflict; another node can answer.
        const retryable = isConnectionError(err) || (monitor.get(choice.node)?.role === 'replica' && (err as { code?: string }).code === '40001');
        if (!retryable || attempt === 1) throw err;
        if (isConnectionError(err)) monitor.markDown(choice.node, err);
        exclude.add(choice.node);
        fallbacks.inc({ reason: 'retry' });
        lastErr = err;
      }
    }
    throw new DbUnavailableError('read failed on two nodes', { cause: lastErr });
  }

  async function write<T>(fn: (q: Queryable) => Promise<T>, opts: WriteOptions = {}): Promise<WriteResult<T>> {
    // Up to 3 attempts: enough to ride through one promotion (old primary refused, new one found).
    for (let attempt = 0; ; attempt++) {
      const node = await waitForPrimary();
      let stage: 'connect' | 'transaction' | 'commit' = 'connect';
      let client: pg.PoolClient | undefined;
      let broken: Error | undefined;
      try {
        client = await pools.get(node)!.pool.connect();
        stage = 'transaction';
        await client.query('BEGIN');
        const value = await fn(client as unknown as Queryable);
        stage = 'commit';
        const results = (await client.query('COMMIT; SELECT pg_current_wal_insert_lsn()::text AS lsn')) as unknown as pg.QueryResult[];
        const lsn = (results.at(-1)!.rows[0] as { lsn: string }).lsn;
        monitor.observeLsn(node, lsn);
        writes.inc({ node });
        return { value, node, lsn };
      } catch (err) {
        if (isConnectionError(err)) broken = err as Error;
        else if (stage === 'transaction' && client) await client.query('ROLLBACK').catch((e) => { broken = e as Error; });
        client?.release(broken);
        client = undefined;
        if (!isPrimaryLostError(err)) throw err;
        // The node is gone or is a standby now: find the primary again.
        if (isReadOnlyError(err)) await monitor.refresh(); else monitor.markDown(node, err);
        // Safe to re-send: nothing reached the server, the server refused it (25006), or the
        // transaction died before COMMIT was sent (PostgreSQL rolls it back). A broken COMMIT
        // may have committed, so only an idempotent write is re-sent.
        const safe = stage !== 'commit' || isReadOnlyError(err) || opts.idempotent === true;
        if (!safe) throw new CommitOutcomeUnknownError(node, err);
        if (attempt >= 2) throw err;
        writeRetries.inc();
        logger.warn({ node, stage, attempt, err }, 'db write: primary lost, retrying on the current primary');
        void monitor.refresh();
      } finally {
        client?.release(broken);
      }
    }
  }

  return {
    read,
    write,
    nodes: () => monitor.status(),
    refresh: () => monitor.refresh(),
    async canServeReads() {
      if (monitor.status().some((s) => s.healthy)) return true;
      await monitor.refresh();
      return monitor.status().some((s) => s.healthy);
    },
    async close() {
      closed = true;
      monitor.close();
      await Promise.all([...pools.values(), ...probes].map((p) => p.close().catch(() => {})));
    },
  };
}
