import type { Topology } from '../topology';
import { pgNodes } from '../local/cluster-layout';
import { isInRecovery, postmasterPid, superuserQuery, writeStandbyConfig, type PgNode } from '../local/postgres';
import type { StateDir } from '../local/state';

// A minimal local promotion, used by the drills only while `aidiary failover`
// (infra/local/failover.ts, the router engineer's) is not available: promote the named or most
// advanced running replica with pg_promote(), then re-point every other running replica at it
// with primary_conninfo + pg_reload_conf() (no restart; each node already holds a slot for every
// peer and the synchronous_standby_names it needs as primary).

async function replayLsnBytes(node: PgNode): Promise<bigint | null> {
  try {
    const rows = await superuserQuery<{ b: string | null }>(node, "SELECT pg_wal_lsn_diff(coalesce(pg_last_wal_replay_lsn(), pg_last_wal_receive_lsn()), '0/0')::bigint::text AS b");
    return rows[0].b === null ? null : BigInt(rows[0].b);
  } catch {
    return null;
  }
}

export async function promoteLocally(state: StateDir, t: Topology, to?: string): Promise<string> {
  const nodes = pgNodes(state, t).filter((n) => postmasterPid(n.node));
  const replicas: { node: PgNode; slot: string; lsn: bigint }[] = [];
  for (const { node, db } of nodes) {
    try {
      if (!(await isInRecovery(node))) continue;
    } catch {
      continue;
    }
    const lsn = await replayLsnBytes(node);
    if (lsn !== null) replicas.push({ node, slot: db.slotName, lsn });
  }
  const target = to ? replicas.find((r) => r.node.name === to) : replicas.sort((a, b) => (b.lsn > a.lsn ? 1 : b.lsn < a.lsn ? -1 : 0))[0];
  if (!target) throw new Error(to ? `${to} is not a running replica` : 'no running replica to promote');
  const [{ ok }] = await superuserQuery<{ ok: boolean }>(target.node, 'SELECT pg_promote(true, 60) AS ok');
  if (!ok) throw new Error(`pg_promote on ${target.node.name} did not finish within 60 s`);
  for (const r of replicas.filter((x) => x !== target)) {
    writeStandbyConfig(r.node, target.node, r.slot);
    await superuserQuery(r.node, 'SELECT pg_reload_conf()');
  }
  return target.node.name;
}
