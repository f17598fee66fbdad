import type { ReadContext } from './db';
import type { NodeStatus } from './node-monitor';
import { lsnToBigInt } from './lsn';

// Pure choice of the node for one read. Invariants 2 and 3: a replica only when it is up, within
// the lag bounds and (for read-your-writes) has replayed ctx.minLsn; else the primary.

export interface LagBounds {
  maxLagBytes: number;
  maxLagMs: number;
}

export type FallbackReason = 'forced' | 'min_lsn' | 'no_replica' | 'lag' | 'down';

export interface ReadChoice {
  node: string | null;
  /** Why the primary was chosen instead of a replica (undefined when a replica was chosen). */
  fallback?: FallbackReason;
  /** The replica was chosen because it has replayed ctx.minLsn. */
  pinned?: boolean;
}

export interface ChooseInput {
  ctx: ReadContext;
  nodes: NodeStatus[];
  primary: string | null;
  bounds: LagBounds;
  /** Nodes that already failed this read. */
  exclude?: ReadonlySet<string>;
  /** In-flight work per node (least busy first). */
  busy: (name: string) => number;
  /** Rotates ties so equal replicas share the load. */
  tieBreak: number;
}

export function chooseReadNode(input: ChooseInput): ReadChoice {
  const { ctx, nodes, primary, bounds, exclude, busy, tieBreak } = input;
  const primaryUsable = primary !== null && !exclude?.has(primary);
  const viaPrimary = (fallback: FallbackReason): ReadChoice => ({ node: primaryUsable ? primary : null, fallback });
  if (ctx.primary) return viaPrimary('forced');

  const replicas = nodes.filter((n) => n.role === 'replica' && n.name !== primary && !exclude?.has(n.name));
  if (replicas.length === 0) return viaPrimary(nodes.some((n) => n.role === 'replica') ? 'down' : 'no_replica');
  const up = replicas.filter((n) => n.healthy);
  if (up.length === 0) return viaPrimary('down');
  // With no reachable primary there is nothing newer to lag behind: every live replica is fresh.
  const fresh = primaryUsable
    ? up.filter((n) => n.lagBytes !== null && n.lagMs !== null && n.lagBytes <= bounds.maxLagBytes && n.lagMs <= bounds.maxLagMs)
    : up;
  if (fresh.length === 0) return viaPrimary('lag');
  let eligible = fresh;
  if (ctx.minLsn) {
    const need = lsnToBigInt(ctx.minLsn);
    eligible = fresh.filter((n) => n.replayLsn !== null && lsnToBigInt(n.replayLsn) >= need);
    if (eligible.length === 0) return viaPrimary('min_lsn');
  }
  const rotated = eligible.map((n, i) => ({ n, order: (i + tieBreak) % eligible.length }));
  rotated.sort((a, b) => busy(a.n.name) - busy(b.n.name) || a.order - b.order);
  return { node: rotated[0].n.name, pinned: Boolean(ctx.minLsn) };
}
