import { existsSync, readFileSync, rmSync, readdirSync, writeFileSync, chownSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runPgBinary, superuserQuery, type PgNode } from './postgres';
import { sleep } from './process';

// Replication primitives the failover needs on top of infra/local/postgres.ts (the lead's file):
// WAL positions, re-pointing a running standby, pg_rewind with the node's own config kept,
// waiting for a standby to stream.

export interface WalPosition {
  inRecovery: boolean;
  /** Last WAL received (standby) or current insert LSN (primary). */
  receiveLsn: string | null;
  replayLsn: string | null;
}

export async function walPosition(node: PgNode): Promise<WalPosition> {
  const [row] = await superuserQuery<{ r: boolean; recv: string | null; replay: string | null }>(node, `SELECT pg_is_in_recovery() AS r,
    CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text ELSE pg_current_wal_insert_lsn()::text END AS recv,
    CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text ELSE pg_current_wal_insert_lsn()::text END AS replay`);
  return { inRecovery: row.r, receiveLsn: row.recv, replayLsn: row.replay };
}

/** The conninfo a standby uses to stream from `primary`; application_name is the slot name (synchronous_standby_names lists it). */
export function standbyConninfo(primary: PgNode, applicationName: string): string {
  return `host=${primary.socketDir} port=${primary.port} user=postgres application_name=${applicationName}`;
}

/** Points a running standby at a new primary without a restart (PG 13+ restarts the WAL receiver on reload). */
export async function repointStandby(standby: PgNode, primary: PgNode, slotName: string): Promise<void> {
  const conninfo = standbyConninfo(primary, slotName).replace(/'/g, "''");
  await superuserQuery(standby, `ALTER SYSTEM SET primary_conninfo = '${conninfo}'`);
  await superuserQuery(standby, `ALTER SYSTEM SET primary_slot_name = '${slotName.replace(/'/g, "''")}'`);
  await superuserQuery(standby, 'SELECT pg_reload_conf()');
}

export async function setSynchronousStandbyNames(node: PgNode, value: string): Promise<void> {
  await superuserQuery(node, `ALTER SYSTEM SET synchronous_standby_names = '${value.replace(/'/g, "''")}'`);
  await superuserQuery(node, 'SELECT pg_reload_conf()');
}

/** application_names streaming from `primary` right now. */
export async function streamingStandbys(primary: PgNode): Promise<string[]> {
  const rows = await superuserQuery<{ application_name: string }>(primary, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'");
  return rows.map((r) => r.application_name);
}

/** Waits until every name streams from `primary`; returns the ones that did not in time. */
export async function waitForStreaming(primary: PgNode, names: string[], timeoutMs = 15_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const streaming = new Set(await streamingStandbys(primary).catch(() => [] as string[]));
    const missing = names.filter((n) => !streaming.has(n));
    if (!missing.length || Date.now() > deadline) return missing;
    await sleep(100);
  }
}

// pg_rewind copies the source's configuration files too; these belong to the node (its port, its
// socket dir, its own synchronous_standby_names), so they are put back afterwards.
const nodeOwnFiles = ['postgresql.conf', 'aidiary.conf', 'postgresql.auto.conf', 'pg_hba.conf', 'pg_ident.conf'];

/**
 * Rewinds a stopped former primary onto `source`'s timeline (pg_rewind runs crash recovery first
 * when the node was stopped -m immediate). Leaves it stopped; the caller writes the standby config.
 */
export async function rewindOnto(target: PgNode, source: PgNode): Promise<string> {
  const saved = new Map<string, Buffer>();
  for (const f of nodeOwnFiles) {
    const p = join(target.dataDir, f);
    if (existsSync(p)) saved.set(f, readFileSync(p));
  }
  try {
    return await runPgBinary('pg_rewind', [
      '--target-pgdata', target.dataDir,
      '--source-server', `host=${source.socketDir} port=${source.port} user=postgres dbname=postgres`,
      '--progress',
    ], 180_000);
  } finally {
    for (const [f, content] of saved) {
      const p = join(target.dataDir, f);
      const owner = existsSync(target.dataDir) ? statSync(target.dataDir) : null;
      writeFileSync(p, content, { mode: 0o600 });
      if (owner) chownSync(p, owner.uid, owner.gid);
    }
  }
}

/** Empties a data directory (for a re-clone when pg_rewind cannot bring a node back). */
export function emptyDataDir(node: PgNode): void {
  if (!existsSync(node.dataDir)) return;
  for (const entry of readdirSync(node.dataDir)) rmSync(join(node.dataDir, entry), { recursive: true, force: true });
}
