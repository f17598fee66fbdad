import pg from 'pg';
import { loadConfig } from '../../../app/config';
import type { LocalWorkload } from './localize';

// Reads the replayed database the way the app does: the app's own settings (from a workload's
// localized environment and secret files), on the primary (the node not in recovery).

export async function withPrimary<T>(w: LocalWorkload, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const config = loadConfig(w.env);
  const candidates = config.dbNodes ?? [config.dbPrimaryService!];
  for (const node of candidates) {
    const client = new pg.Client({ host: node.host, port: node.port, user: config.dbUser, password: config.dbPassword, database: config.dbName, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      if ((await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0].r) continue;
      return await fn(client);
    } finally {
      await client.end().catch(() => {});
    }
  }
  throw new Error(`${w.name}: no primary among ${candidates.map((c) => `${c.host}:${c.port}`).join(', ')}`);
}

export interface DatabaseState {
  migrations: { name: string; run_on: string }[];
  admin: Record<string, unknown>[];
}

export async function databaseState(w: LocalWorkload): Promise<DatabaseState> {
  return withPrimary(w, async (c) => {
    const table = await c.query<{ t: string | null }>("SELECT to_regclass('public.pgmigrations')::text AS t");
    const migrations = table.rows[0].t
      ? (await c.query<{ name: string; run_on: Date }>('SELECT name, run_on FROM pgmigrations ORDER BY id')).rows.map((r) => ({ name: r.name, run_on: r.run_on.toISOString() }))
      : [];
    const users = await c.query<{ t: string | null }>("SELECT to_regclass('public.users')::text AS t");
    const admin = users.rows[0].t ? (await c.query("SELECT * FROM users WHERE username = 'admin'")).rows : [];
    return { migrations, admin };
  });
}

/**
 * Each PostgreSQL server, asked as the app role: exactly which ones are primaries, and whether
 * each standby streams (it replays the primary's current WAL position within `timeoutMs`).
 */
export async function replicationState(w: LocalWorkload, addresses: string[], timeoutMs = 15_000): Promise<{ primaries: string[]; streaming: string[]; behind: string[] }> {
  const config = loadConfig(w.env);
  const query = async <T extends pg.QueryResultRow>(host: string, sql: string, values: unknown[] = []) => {
    const client = new pg.Client({ host, port: 5432, user: config.dbUser, password: config.dbPassword, database: config.dbName, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      return (await client.query<T>(sql, values)).rows[0];
    } finally {
      await client.end().catch(() => {});
    }
  };
  const roles = await Promise.all(addresses.map(async (a) => ({ a, standby: (await query<{ r: boolean }>(a, 'SELECT pg_is_in_recovery() AS r')).r })));
  const primaries = roles.filter((x) => !x.standby).map((x) => x.a);
  if (primaries.length !== 1) return { primaries, streaming: [], behind: [] };
  const target = (await query<{ lsn: string }>(primaries[0], 'SELECT pg_current_wal_lsn()::text AS lsn')).lsn;
  const streaming: string[] = [];
  const behind: string[] = [];
  for (const { a } of roles.filter((x) => x.standby)) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const caughtUp = (await query<{ ok: boolean }>(a, 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [target])).ok;
      if (caughtUp) { streaming.push(a); break; }
      if (Date.now() > deadline) { behind.push(a); break; }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { primaries, streaming, behind };
}
