import { chownSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createReplica, ensureSlot, postmasterPid, runPgBinary, startPostgres, stopPostgres, superuserQuery, writeStandbyConfig, type PgNode,
} from './postgres';
import { compareLsn } from '../../app/db/db';
import { isPrimaryDataDir } from './cluster-layout';
import { emptyDataDir, rewindOnto } from './postgres-replication';
import { sleep } from './process';

// Bringing a node back as a standby of the current primary, and choosing the primary when the
// cluster starts again. Used by `aidiary failover` (the old primary rejoins) and by `aidiary up`
// (a node whose timeline diverged while it was away: old primary that missed a failover, or a
// standby that cannot follow the new timeline).
//
// Why a node may not follow although it "looks" like a standby: its last checkpoint lies past the
// point where the primary's timeline forked. PostgreSQL then refuses to start it ("requested
// timeline N is not a child of this server's history") once it holds the new timeline's history
// file, or starts and never streams. Both cases are detected (start failure, not attached to the
// primary) and repaired with pg_rewind, or a fresh pg_basebackup when rewind cannot.

export interface StandbyNode extends PgNode {
  /** Physical slot / application_name of this node as a standby (pg_K). */
  slotName: string;
}

export type RejoinHow = 'rewind' | 'reclone';

/** application_names attached to `primary` (streaming or still catching up). */
async function attached(primary: PgNode): Promise<Set<string>> {
  const rows = await superuserQuery<{ application_name: string }>(primary, 'SELECT application_name FROM pg_stat_replication').catch(() => []);
  return new Set(rows.map((r) => r.application_name));
}

/** True once the standby's walsender shows up on the primary; false when it dies or time runs out. */
export async function followsWithin(node: StandbyNode, primary: PgNode, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await attached(primary)).has(node.slotName)) return true;
    if (!postmasterPid(node) || Date.now() > deadline) return false;
    await sleep(100);
  }
}

/** Fresh pg_basebackup of `node` from `primary`, keeping the node's own settings file (port, socket, quorum rule). */
async function reclone(node: StandbyNode, primary: PgNode): Promise<void> {
  const settingsFile = join(node.dataDir, 'aidiary.conf');
  const ownSettings = existsSync(settingsFile) ? readFileSync(settingsFile, 'utf8') : null;
  if (postmasterPid(node)) await stopPostgres(node, 'immediate');
  emptyDataDir(node);
  await createReplica(primary, node, { slotName: node.slotName, settings: { maxConnections: 100 } });
  if (ownSettings !== null) {
    const owner = statSync(node.dataDir);
    writeFileSync(settingsFile, ownSettings, { mode: 0o600 });
    chownSync(settingsFile, owner.uid, owner.gid);
  }
}

async function startQuietly(node: PgNode): Promise<boolean> {
  try {
    await startPostgres(node);
    return true;
  } catch {
    return false;
  }
}

/**
 * Brings `node` back as a standby of `primary`: pg_rewind (re-clone when rewind fails), standby
 * config, start, and a check that it really follows; a node that does not is re-cloned. Slots it
 * kept from primary days (restart_lsn set, nobody attached) would pin WAL forever on a standby:
 * they are dropped (callers re-create reserve-on-use slots for the peers).
 */
export async function rejoinAsReplica(node: StandbyNode, primary: PgNode, log: (line: string) => void = () => {}, followTimeoutMs = 20_000): Promise<RejoinHow> {
  if (postmasterPid(node)) await stopPostgres(node, 'fast');
  await ensureSlot(primary, node.slotName);
  // A fresh promotion writes its end-of-recovery checkpoint asynchronously; until then the
  // control file still shows the old timeline and pg_rewind wrongly answers "no rewind required".
  await superuserQuery(primary, 'CHECKPOINT');
  // pg_rewind first finishes crash recovery of a node that was not shut down cleanly, in
  // single-user mode, which refuses to run with standby.signal present.
  rmSync(join(node.dataDir, 'standby.signal'), { force: true });
  let how: RejoinHow = 'rewind';
  try {
    await rewindOnto(node, primary);
    log(`${node.name}: pg_rewind onto ${primary.name} done`);
  } catch (err) {
    // Rewind needs the divergence point's WAL on both sides; when it is gone, clone afresh.
    log(`${node.name}: pg_rewind failed (${(err as Error).message.split('\n')[0]}); re-cloning from ${primary.name}`);
    await reclone(node, primary);
    how = 'reclone';
  }
  writeStandbyConfig(node, primary, node.slotName);
  if (!((await startQuietly(node)) && (await followsWithin(node, primary, followTimeoutMs)))) {
    if (how === 'reclone') throw new Error(`${node.name}: a fresh clone of ${primary.name} does not follow it; see ${node.logFile}`);
    log(`${node.name}: does not follow ${primary.name} after the rewind; re-cloning`);
    await reclone(node, primary);
    writeStandbyConfig(node, primary, node.slotName);
    await startPostgres(node);
    if (!(await followsWithin(node, primary, followTimeoutMs))) throw new Error(`${node.name}: a fresh clone of ${primary.name} does not follow it; see ${node.logFile}`);
    how = 'reclone';
  }
  await superuserQuery(node, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active AND restart_lsn IS NOT NULL').catch(() => {});
  return how;
}

/**
 * Starts an existing standby's data dir during `aidiary up` and makes sure it follows `primary`;
 * when it refuses to start or never attaches (diverged timeline), it rejoins through rewind.
 */
export async function startStandby(node: StandbyNode, primary: PgNode, log: (line: string) => void = () => {}, followTimeoutMs = 20_000): Promise<'started' | RejoinHow> {
  const why = isPrimaryDataDir(node)
    ? 'was a primary too (it missed a failover)'
    : (await divergedFrom(node, primary)) ? `its last checkpoint is past the point where ${primary.name}'s timeline forked` : null;
  if (!why && (await startQuietly(node)) && (await followsWithin(node, primary, followTimeoutMs))) return 'started';
  log(`${node.name}: ${why ?? `does not follow ${primary.name} (see ${node.logFile})`}; rewinding it onto ${primary.name}`);
  return rejoinAsReplica(node, primary, log, followTimeoutMs);
}

/**
 * PostgreSQL's own start-up rule for a standby (xlogrecovery.c): the node's latest checkpoint must
 * lie on the primary's history, i.e. before the point where the primary's timeline history left
 * the node's timeline. `history` is the primary's `<timeline>.history` file (empty on timeline 1):
 * one "parentTLI<TAB>switchpoint<TAB>reason" line per ancestor.
 */
export function checkpointOffHistory(node: ControlData, primaryTimeline: number, history: string): boolean {
  if (node.timeline === primaryTimeline) return false;
  if (node.timeline > primaryTimeline) return true;
  const line = history.split('\n').map((l) => l.trim().split(/\s+/)).find(([tli]) => Number(tli) === node.timeline);
  if (!line?.[1]) return true; // the node's timeline is not an ancestor of the primary's
  return compareLsn(node.checkpointLsn, line[1]) >= 0;
}

/** True when a stopped standby cannot follow `primary` without a rewind (see checkpointOffHistory). */
async function divergedFrom(node: PgNode, primary: PgNode): Promise<boolean> {
  const [{ tli }] = await superuserQuery<{ tli: number }>(primary, 'SELECT timeline_id AS tli FROM pg_control_checkpoint()');
  const file = `pg_wal/${tli.toString(16).toUpperCase().padStart(8, '0')}.history`;
  const [{ history }] = await superuserQuery<{ history: string | null }>(primary, 'SELECT pg_read_file($1, 0, 1048576, true) AS history', [file]);
  return checkpointOffHistory(await controlData(node), tli, history ?? '');
}

/**
 * Starts a node that crashed or was stopped, in the role the cluster needs now (a supervisor's
 * job; the drills after a kill): with no other primary running, it starts as its data dir is; else
 * as a standby of `primary` through startStandby (rewound when it diverged, e.g. a primary that
 * missed a failover). A node still running is left alone when it follows `primary`, else it
 * rejoins. Every node keeps a slot for each peer (physical slots are not replicated), as after `up`.
 */
export async function restartPgNode(node: StandbyNode, peers: StandbyNode[], primary: PgNode | null, log: (line: string) => void = () => {}): Promise<'primary' | 'running' | 'started' | RejoinHow> {
  let how: 'primary' | 'running' | 'started' | RejoinHow;
  if (!primary || primary.name === node.name) {
    // No live primary to follow: the node starts in the role its data dir has (a standby waits for its upstream).
    const running = postmasterPid(node) !== null;
    if (!running) await startPostgres(node);
    how = running ? 'running' : isPrimaryDataDir(node) ? 'primary' : 'started';
  } else if (postmasterPid(node)) {
    how = (await followsWithin(node, primary, 15_000)) ? 'running' : await rejoinAsReplica(node, primary, log);
  } else {
    how = await startStandby(node, primary, log);
  }
  for (const peer of peers) if (peer.name !== node.name) await ensureSlot(node, peer.slotName);
  return how;
}

// ---- which node is the primary --------------------------------------------------------------

/** The primary's name as the last failover or `up` left it (state dir file `db-primary`). */
export function primaryRecordFile(stateRoot: string): string {
  return join(stateRoot, 'db-primary');
}

export function readRecordedPrimary(stateRoot: string): string | null {
  try {
    return readFileSync(primaryRecordFile(stateRoot), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

export function recordPrimary(stateRoot: string, name: string): void {
  writeFileSync(primaryRecordFile(stateRoot), `${name}\n`, { mode: 0o644 });
}

export interface ControlData {
  timeline: number;
  checkpointLsn: string;
}

/** `pg_controldata` of a stopped node: the timeline and location of its latest checkpoint. */
export async function controlData(node: PgNode): Promise<ControlData> {
  const out = await runPgBinary('pg_controldata', ['-D', node.dataDir]);
  const timeline = Number(/Latest checkpoint's TimeLineID:\s+(\d+)/.exec(out)?.[1]);
  const checkpointLsn = /Latest checkpoint location:\s+([0-9A-F]+\/[0-9A-F]+)/.exec(out)?.[1];
  if (!Number.isInteger(timeline) || !checkpointLsn) throw new Error(`pg_controldata ${node.dataDir}: no checkpoint timeline/location in its output`);
  return { timeline, checkpointLsn };
}

/**
 * The node to start as primary when several data dirs claim the role (one missed a failover while
 * it was down): the recorded primary when it is one of them, else the newest timeline (a promotion
 * always starts a new one), then the furthest checkpoint. Null when no data dir claims it.
 */
export async function choosePrimary<N extends PgNode>(nodes: N[], recorded: string | null): Promise<N | null> {
  const claimants = nodes.filter(isPrimaryDataDir);
  if (claimants.length <= 1) return claimants[0] ?? null;
  const byName = claimants.find((n) => n.name === recorded);
  if (byName) return byName;
  const withControl = await Promise.all(claimants.map(async (n) => ({ n, c: await controlData(n) })));
  withControl.sort((a, b) => b.c.timeline - a.c.timeline || compareLsn(b.c.checkpointLsn, a.c.checkpointLsn));
  return withControl[0].n;
}
