import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { synchronousStandbyNames, type Topology } from '../topology';
import { pgNodes } from './cluster-layout';
import { ensureSlot, postmasterPid, runPgBinary, stopPostgres, superuserQuery, type PgNode } from './postgres';
import { repointStandby, setSynchronousStandbyNames, walPosition, waitForStreaming } from './postgres-replication';
import { recordPrimary, rejoinAsReplica, type StandbyNode } from './rejoin';
import { compareLsn } from '../../app/db/db';
import type { StateDir } from './state';

// Local-cluster failover (DESIGN.md invariant 6, issue 4):
//   1. fence the old primary (stop -m immediate if it still runs, so it cannot take a write);
//   2. promote the most advanced replica (highest received LSN: under `ANY 1` quorum it holds
//      every acknowledged commit) or the named one;
//   3. the new primary gets the topology's synchronous_standby_names over its peers, set before
//      promotion so no commit is acknowledged without a standby copy;
//   4. the other replicas follow it (primary_conninfo + slot + reload); slots for every peer were
//      created on the candidates beforehand, because physical slots are not replicated;
//   5. the old primary rejoins as a standby through pg_rewind (infra/local/rejoin.ts).
// switchover() is the planned variant: clean stop, the target catches up, then the same steps.

export type FailoverNode = StandbyNode;

export interface FailoverInput {
  nodes: FailoverNode[];
  /** Durability rule for the new primary; without it the node's current setting stays. */
  topology?: Topology;
  log?: (line: string) => void;
}

export interface FailoverOptions {
  /** Promote this node (pg-K) instead of the most advanced replica. */
  to?: string;
  /** Bring the old primary back as a standby (default true). */
  rejoin?: boolean;
  /** How long to wait for re-pointed standbys to stream. */
  streamTimeoutMs?: number;
}

export interface FailoverResult {
  oldPrimary: string | null;
  newPrimary: string;
  /** The new primary's LSN right after promotion. */
  promotedAtLsn: string;
  /** Standbys streaming from the new primary at the end. */
  streaming: string[];
  /** Nodes brought back with pg_rewind (or a re-clone when rewind failed). */
  rejoined: string[];
  durationMs: number;
}

/** FailoverInput for the local cluster in a state dir (for `aidiary failover`). */
export function localFailoverInput(state: StateDir, t: Topology, log?: (line: string) => void): FailoverInput {
  return { nodes: pgNodes(state, t).map(({ db, node }) => ({ ...node, slotName: db.slotName })), topology: t, log };
}

interface Observed {
  node: FailoverNode;
  running: boolean;
  reachable: boolean;
  inRecovery: boolean | null;
  receiveLsn: string | null;
}

async function observe(node: FailoverNode): Promise<Observed> {
  const running = postmasterPid(node) !== null;
  if (!running) return { node, running, reachable: false, inRecovery: null, receiveLsn: null };
  try {
    const pos = await walPosition(node);
    return { node, running, reachable: true, inRecovery: pos.inRecovery, receiveLsn: pos.receiveLsn };
  } catch {
    return { node, running, reachable: false, inRecovery: null, receiveLsn: null };
  }
}

function hasStandbySignal(node: PgNode): boolean {
  return existsSync(join(node.dataDir, 'standby.signal'));
}

function mostAdvanced(candidates: Observed[]): Observed | undefined {
  return [...candidates].sort((a, b) => compareLsn(b.receiveLsn ?? '0/0', a.receiveLsn ?? '0/0'))[0];
}

async function promote(node: FailoverNode): Promise<void> {
  const [{ ok }] = await superuserQuery<{ ok: boolean }>(node, 'SELECT pg_promote(true, 60) AS ok');
  if (!ok) throw new Error(`pg_promote on ${node.name} did not finish within 60 s; see ${node.logFile}`);
}

/** Creates on `node` a slot for every peer, so whichever node is promoted can serve the others at once. */
export async function ensurePeerSlots(node: FailoverNode, all: FailoverNode[]): Promise<void> {
  for (const peer of all) if (peer.name !== node.name) await ensureSlot(node, peer.slotName);
}

async function run(input: FailoverInput, opts: FailoverOptions, planned: boolean): Promise<FailoverResult> {
  const started = Date.now();
  const log = input.log ?? (() => {});
  const streamTimeoutMs = opts.streamTimeoutMs ?? 20_000;
  if (opts.to && !input.nodes.some((n) => n.name === opts.to)) throw new Error(`--to ${opts.to}: no such node (have ${input.nodes.map((n) => n.name).join(', ')})`);

  let observed = await Promise.all(input.nodes.map(observe));
  // The old primary: a running node out of recovery, else a data dir without standby.signal.
  const writable = observed.filter((o) => o.inRecovery === false);
  const oldPrimaries = writable.length
    ? writable
    : observed.filter((o) => o.node.name !== opts.to && existsSync(join(o.node.dataDir, 'PG_VERSION')) && !hasStandbySignal(o.node) && o.inRecovery !== true);

  // Slots first, on every standby that may be promoted (a standby may hold slots; they start
  // reserving WAL once used after promotion).
  for (const o of observed) if (o.inRecovery === true) await ensurePeerSlots(o.node, input.nodes);

  if (planned) {
    const [primary] = writable;
    if (!primary) throw new Error('switchover: no running primary; use failover');
    const targetName = opts.to ?? mostAdvanced(observed.filter((o) => o.inRecovery === true))?.node.name;
    const target = observed.find((o) => o.node.name === targetName && o.inRecovery === true);
    if (!target) throw new Error(`switchover: ${targetName ?? 'no replica'} is not a running standby`);
    // A clean (fast) shutdown sends the final WAL, shutdown checkpoint included, to connected standbys.
    log(`${primary.node.name}: clean shutdown`);
    await stopPostgres(primary.node, 'fast');
    const finalLsn = await shutdownCheckpointLsn(primary.node);
    const deadline = Date.now() + streamTimeoutMs;
    for (;;) {
      const pos = await walPosition(target.node);
      if (pos.receiveLsn && finalLsn && compareLsn(pos.receiveLsn, finalLsn) > 0) break;
      if (Date.now() > deadline) throw new Error(`switchover: ${target.node.name} did not receive up to ${finalLsn}; ${primary.node.name} is stopped, run failover`);
      await new Promise((r) => setTimeout(r, 50));
    }
    observed = await Promise.all(input.nodes.map(observe));
  } else {
    // Fence: anything still writable (or running but unreachable and not a known standby) stops now.
    for (const o of oldPrimaries) {
      if (o.running) {
        log(`${o.node.name}: fencing (stop -m immediate)`);
        await stopPostgres(o.node, 'immediate');
      }
    }
    observed = await Promise.all(input.nodes.map(observe));
  }

  const standbys = observed.filter((o) => o.inRecovery === true);
  const target = opts.to ? standbys.find((o) => o.node.name === opts.to) : mostAdvanced(standbys);
  if (!target) throw new Error(opts.to ? `${opts.to} is not a running standby` : 'no running standby to promote');
  log(`promoting ${target.node.name} (received up to ${target.receiveLsn ?? 'unknown'})`);

  // The durability rule over the new primary's peers, in place before it takes a write.
  if (input.topology) {
    const names = synchronousStandbyNames(input.topology, target.node.name);
    if (settingsFileValue(target.node, 'synchronous_standby_names') === names) {
      // The node's own settings file (written by the runner) already has it: drop any earlier
      // ALTER SYSTEM override so a later `aidiary scale` rewrite of that file is not shadowed.
      await superuserQuery(target.node, 'ALTER SYSTEM RESET synchronous_standby_names');
      await superuserQuery(target.node, 'SELECT pg_reload_conf()');
    } else {
      await setSynchronousStandbyNames(target.node, names);
    }
    log(`${target.node.name}: synchronous_standby_names = '${names}'`);
  }
  await promote(target.node);
  const promotedAtLsn = (await walPosition(target.node)).replayLsn ?? '0/0';

  const others = standbys.filter((o) => o !== target);
  for (const o of others) {
    await ensureSlot(target.node, o.node.slotName);
    await repointStandby(o.node, target.node, o.node.slotName);
    log(`${o.node.name}: now follows ${target.node.name}`);
  }
  const rejoined: string[] = [];
  // A standby that had received more than the promoted node (only with --to) cannot follow: rewind it.
  const stuck = await waitForStreaming(target.node, others.map((o) => o.node.slotName), streamTimeoutMs);
  for (const name of stuck) {
    const o = others.find((x) => x.node.slotName === name)!;
    log(`${o.node.name}: not streaming; rewinding`);
    await stopPostgres(o.node, 'fast');
    await rejoinAsReplica(o.node, target.node, log);
    rejoined.push(o.node.name);
  }

  const old = oldPrimaries.map((o) => o.node).filter((n) => n.name !== target.node.name);
  if (opts.rejoin !== false) {
    for (const node of old) {
      const how = await rejoinAsReplica(node, target.node, log);
      log(`${node.name}: rejoined as a standby (${how})`);
      rejoined.push(node.name);
    }
  }
  const expected = [...others.map((o) => o.node.slotName), ...(opts.rejoin !== false ? old.map((n) => n.slotName) : [])];
  const notStreaming = await waitForStreaming(target.node, expected, streamTimeoutMs);
  for (const name of notStreaming) {
    const node = input.nodes.find((n) => n.slotName === name)!;
    log(`${node.name}: not streaming from ${target.node.name} after ${streamTimeoutMs} ms; last log lines:\n${logTail(node.logFile)}`);
  }
  const streaming = (await superuserQuery<{ application_name: string }>(target.node, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'"))
    .map((r) => r.application_name);
  // Every node is now a standby candidate again: it needs slots for its peers. A former primary
  // keeps its old slots through pg_rewind, with a restart_lsn that would pin its WAL forever on a
  // standby; they are replaced by fresh (reserve-on-use) ones.
  for (const n of input.nodes) {
    if (n.name === target.node.name || !postmasterPid(n)) continue;
    await superuserQuery(n, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active AND restart_lsn IS NOT NULL').catch(() => {});
    await ensurePeerSlots(n, input.nodes).catch(() => {});
  }
  return { oldPrimary: old[0]?.name ?? null, newPrimary: target.node.name, promotedAtLsn, streaming, rejoined, durationMs: Date.now() - started };
}

/** A value from the node's aidiary.conf (infra/local/postgres.ts writes it), unquoted. */
function settingsFileValue(node: PgNode, key: string): string | null {
  try {
    const line = readFileSync(join(node.dataDir, 'aidiary.conf'), 'utf8').split('\n').find((l) => l.trim().startsWith(`${key} =`));
    return line ? line.slice(line.indexOf('=') + 1).trim().replace(/^'(.*)'$/, '$1').replace(/''/g, "'") : null;
  } catch {
    return null;
  }
}

function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** `pg_controldata`'s "Latest checkpoint location" of a stopped node: the last WAL it wrote on a clean stop. */
async function shutdownCheckpointLsn(node: PgNode): Promise<string | null> {
  const out = await runPgBinary('pg_controldata', ['-D', node.dataDir]);
  return /Latest checkpoint location:\s+([0-9A-F]+\/[0-9A-F]+)/.exec(out)?.[1] ?? null;
}

/** Unplanned: fence the old primary, promote the most advanced (or named) replica, re-point, rejoin. */
export function failover(input: FailoverInput, opts: FailoverOptions = {}): Promise<FailoverResult> {
  return run(input, opts, false);
}

/** Planned: the primary stops cleanly once the target has all of its WAL, then the same steps (no write is lost). */
export function switchover(input: FailoverInput, opts: FailoverOptions = {}): Promise<FailoverResult> {
  return run(input, opts, true);
}


export interface LocalFailoverOptions extends FailoverOptions {
  /** The switchover (clean stop of the primary first) instead of the unplanned failover. */
  planned?: boolean;
  log?: (line: string) => void;
}

/**
 * The local cluster's failover as `aidiary failover` runs it once confirmed, and as the drills run
 * it: under the state dir's lock, then the chosen primary is recorded (the next `up` starts it as
 * the primary even if a data dir that missed the failover still claims the role) and the pid files
 * follow the restarted nodes (fenced primary, rejoined standbys).
 */
export async function failoverLocalCluster(state: StateDir, t: Topology, opts: LocalFailoverOptions = {}): Promise<FailoverResult> {
  const release = state.acquireLock(opts.planned ? 'switchover' : 'failover');
  try {
    const input = localFailoverInput(state, t, opts.log);
    const result = await (opts.planned ? switchover : failover)(input, opts);
    recordPrimary(state.root, result.newPrimary);
    for (const { node } of pgNodes(state, t)) {
      const pid = postmasterPid(node);
      if (pid) state.writePid(node.name, pid);
      else state.removePid(node.name);
    }
    return result;
  } finally {
    release();
  }
}
