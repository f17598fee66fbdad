import type { FastifyBaseLogger } from 'fastify';
import type { NodePool } from './node-pool';
import { lsnDiffBytes, lsnToBigInt } from './lsn';

// Background polling of every node: role (pg_is_in_recovery()), replay / current LSN, and lag
// against the primary. Reads are routed on these cached values so a page pays no extra round trip.

export type NodeRole = 'primary' | 'replica' | 'unknown';

/**
 * Connections the monitor holds on each node (its own probe pool, app/db/router.ts). The topology's
 * pool sizing counts them (infra/topology/derive.ts MONITOR_CONNECTIONS_PER_APP).
 */
export const MONITOR_CONNECTIONS_PER_NODE = 1;

export interface NodeStatus {
  name: string;
  role: NodeRole;
  healthy: boolean;
  /** Bytes of WAL the node has not replayed yet, vs the primary's insert LSN (0 on the primary). */
  lagBytes: number | null;
  /** How long ago the primary was where this node is now (0 when caught up). */
  lagMs: number | null;
  /** Replayed LSN on a replica, current insert LSN on the primary. */
  replayLsn: string | null;
  /** Date.now() of the last successful poll. */
  checkedAtMs: number | null;
}

interface Sample { atMs: number; lsn: string }

// timeline_id breaks a tie between two writable nodes (an unfenced old primary): the promoted
// one is on a newer timeline (once its end-of-recovery checkpoint is written).
const pollSql = `SELECT pg_is_in_recovery() AS recovery,
  CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text ELSE pg_current_wal_insert_lsn()::text END AS lsn,
  (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline`;

export interface NodeMonitorOptions {
  pollIntervalMs?: number;
  /** Primary LSN history kept to turn a replica's replay LSN into a lag in ms. */
  historyMs?: number;
}

export class NodeMonitor {
  private readonly states = new Map<string, NodeStatus>();
  /** When a node was last seen turning primary: with two writable nodes, the newest promotion wins. */
  private readonly promotedAtMs = new Map<string, number>();
  private readonly timelines = new Map<string, number>();
  private primaryHistory: Sample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private readonly pollIntervalMs: number;
  private readonly historyMs: number;
  private closed = false;

  constructor(
    private readonly probes: NodePool[],
    private readonly logger: FastifyBaseLogger,
    opts: NodeMonitorOptions = {},
  ) {
    this.pollIntervalMs = opts.pollIntervalMs ?? 250;
    this.historyMs = opts.historyMs ?? 120_000;
    for (const p of probes) {
      this.states.set(p.target.name, { name: p.target.name, role: 'unknown', healthy: false, lagBytes: null, lagMs: null, replayLsn: null, checkedAtMs: null });
    }
  }

  start(): void {
    const loop = () => {
      if (this.closed) return;
      void this.refresh().finally(() => {
        if (!this.closed) this.timer = setTimeout(loop, this.pollIntervalMs).unref();
      });
    };
    loop();
  }

  /** Polls every node now (concurrent callers share one round). */
  refresh(): Promise<void> {
    if (!this.inFlight) {
      this.inFlight = this.pollAll().finally(() => { this.inFlight = null; });
    }
    return this.inFlight;
  }

  status(): NodeStatus[] {
    return [...this.states.values()].map((s) => ({ ...s }));
  }

  get(name: string): NodeStatus | undefined {
    return this.states.get(name);
  }

  primaryName(): string | null {
    let best: string | null = null;
    let bestTimeline = -1;
    let bestAt = -1;
    for (const s of this.states.values()) {
      if (s.role !== 'primary' || !s.healthy) continue;
      const timeline = this.timelines.get(s.name) ?? 0;
      const at = this.promotedAtMs.get(s.name) ?? 0;
      if (timeline > bestTimeline || (timeline === bestTimeline && at > bestAt)) { best = s.name; bestTimeline = timeline; bestAt = at; }
    }
    return best;
  }

  /** A query on the node failed with a connection-class error: stop routing to it until the next good poll. */
  markDown(name: string, err?: unknown): void {
    const s = this.states.get(name);
    if (!s) return;
    if (s.healthy) this.logger.warn({ node: name, err }, 'db node marked down');
    s.healthy = false;
  }

  /** A read or write saw this node at `lsn`: move the cached value forward (never back). */
  observeLsn(name: string, lsn: string): void {
    const s = this.states.get(name);
    if (s && (!s.replayLsn || lsnToBigInt(lsn) > lsnToBigInt(s.replayLsn))) s.replayLsn = lsn;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async pollAll(): Promise<void> {
    await Promise.all(this.probes.map((p) => this.pollOne(p)));
    this.computeLag();
  }

  private async pollOne(probe: NodePool): Promise<void> {
    const s = this.states.get(probe.target.name)!;
    try {
      const { rows } = await probe.pool.query<{ recovery: boolean; lsn: string | null; timeline: number | null }>(pollSql);
      if (rows[0].timeline !== null) this.timelines.set(s.name, Number(rows[0].timeline));
      const role: NodeRole = rows[0].recovery ? 'replica' : 'primary';
      if (role === 'primary' && s.role !== 'primary') {
        this.promotedAtMs.set(s.name, Date.now());
        if (s.role === 'replica') this.logger.warn({ node: s.name }, 'db node is now the primary');
      }
      s.role = role;
      s.healthy = true;
      s.checkedAtMs = Date.now();
      // A replica that has replayed nothing yet (fresh clone) reports null: keep it unusable for RYW.
      s.replayLsn = rows[0].lsn;
    } catch (err) {
      if (s.healthy) this.logger.warn({ node: s.name, err }, 'db node poll failed; marked down');
      s.healthy = false;
    }
  }

  private computeLag(): void {
    const now = Date.now();
    const primary = this.primaryName();
    const primaryLsn = primary ? this.states.get(primary)!.replayLsn : null;
    if (primaryLsn) {
      const last = this.primaryHistory.at(-1);
      if (!last || last.lsn !== primaryLsn) this.primaryHistory.push({ atMs: now, lsn: primaryLsn });
      while (this.primaryHistory.length > 2 && this.primaryHistory[0].atMs < now - this.historyMs) this.primaryHistory.shift();
    }
    for (const s of this.states.values()) {
      if (s.name === primary) { s.lagBytes = 0; s.lagMs = 0; continue; }
      if (!primaryLsn || !s.replayLsn || s.role !== 'replica') { s.lagBytes = null; s.lagMs = null; continue; }
      s.lagBytes = lsnDiffBytes(primaryLsn, s.replayLsn);
      s.lagMs = this.lagMsFor(s.replayLsn, now);
    }
  }

  // Time since the primary first wrote WAL this replica has not replayed. Unlike
  // now() - pg_last_xact_replay_timestamp(), an idle primary does not look like lag.
  private lagMsFor(replayLsn: string, now: number): number {
    const replay = lsnToBigInt(replayLsn);
    const firstAhead = this.primaryHistory.find((h) => lsnToBigInt(h.lsn) > replay);
    return firstAhead ? now - firstAhead.atMs : 0;
  }
}
