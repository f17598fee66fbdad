import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../app/config';
import { createRoutedDb, type RoutedDb } from '../../app/db/router';
import { compareLsn } from '../../app/db/db';
import { superuserQuery } from '../../infra/local/postgres';
import { startTestPostgres, type TestPostgres } from '../helpers/services';

// Invariant 3: read-your-writes by WAL position. Both replicas apply WAL 3 s late
// (recovery_min_apply_delay) but stay within the lag bounds, so only the LSN rule keeps a
// reader from missing its own write; anonymous reads still use the replicas.

const silent = pino({ level: 'silent' });
const applyDelayMs = 3000;
let pgServer: TestPostgres;
let db: RoutedDb;
let metrics: Registry;

beforeAll(async () => {
  pgServer = await startTestPostgres({ replicas: 2 });
  metrics = new Registry();
  db = createRoutedDb({
    config: loadConfig({
      ...pgServer.env,
      AIDIARY_SESSION_SECRET: 'x'.repeat(40),
      AIDIARY_DB_MAX_LAG_MS: '600000',
      AIDIARY_DB_MAX_LAG_BYTES: String(1024 * 1024 * 1024),
    }),
    logger: silent, metrics, pollIntervalMs: 100,
  });
  await db.write((q) => q.query({ text: 'CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)' }));
  // The table must exist on both replicas before their apply delay starts, or an anonymous read
  // would fail on a missing relation instead of testing staleness.
  for (const replica of pgServer.replicas) {
    const deadline = Date.now() + 10_000;
    while ((await superuserQuery<{ t: string | null }>(replica, "SELECT to_regclass('public.notes')::text AS t", [], pgServer.dbName))[0].t === null) {
      if (Date.now() > deadline) throw new Error(`${replica.name} did not replay CREATE TABLE`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  for (const replica of pgServer.replicas) {
    await superuserQuery(replica, `ALTER SYSTEM SET recovery_min_apply_delay = '${applyDelayMs}ms'`);
    await superuserQuery(replica, 'SELECT pg_reload_conf()');
  }
}, 60_000);

afterAll(async () => {
  await db?.close();
  await pgServer?.stop();
});

describe('read-your-writes by LSN', () => {
  it('a read carrying the write LSN never misses the new row; reads without it stay on replicas', async () => {
    const anonymousNodes = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const w = await db.write(async (q) => (await q.query<{ id: number }>({ text: 'INSERT INTO notes (body) VALUES ($1) RETURNING id', values: [`n${i}`] })).rows[0].id);
      const r = await db.read({ minLsn: w.lsn }, async (q) => (await q.query({ text: 'SELECT 1 FROM notes WHERE id = $1', values: [w.value] })).rowCount);
      expect(r.value).toBe(1);
      // Monotonic reads: the reported LSN covers what the caller asked for.
      expect(compareLsn(r.lsn!, w.lsn)).toBeGreaterThanOrEqual(0);
      const anon = await db.read({}, async (q) => (await q.query({ text: 'SELECT 1 FROM notes WHERE id = $1', values: [w.value] })).rowCount);
      anonymousNodes.add(anon.node);
    }
    expect(anonymousNodes.has('pg-0')).toBe(false);
    expect(anonymousNodes.size).toBe(2);
    expect(await metrics.metrics()).toMatch(/aidiary_db_read_fallbacks_total\{reason="min_lsn"\} [1-9]/);
  });

  it('the replica lag is real: an anonymous read right after a write misses it', async () => {
    const w = await db.write(async (q) => (await q.query<{ id: number }>({ text: "INSERT INTO notes (body) VALUES ('fresh') RETURNING id" })).rows[0].id);
    const anon = await db.read({}, async (q) => (await q.query({ text: 'SELECT 1 FROM notes WHERE id = $1', values: [w.value] })).rowCount);
    expect(anon.node).not.toBe('pg-0');
    expect(anon.value).toBe(0);
  });

  it('once a replica has replayed the LSN, the read is pinned to it instead of the primary', async () => {
    const w = await db.write((q) => q.query({ text: "INSERT INTO notes (body) VALUES ('later')" }));
    const deadline = Date.now() + applyDelayMs + 5000;
    let r = await db.read({ minLsn: w.lsn }, async (q) => (await q.query({ text: "SELECT 1 FROM notes WHERE body = 'later'" })).rowCount);
    expect(r.node).toBe('pg-0');
    while (r.node === 'pg-0' && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 200));
      r = await db.read({ minLsn: w.lsn }, async (q) => (await q.query({ text: "SELECT 1 FROM notes WHERE body = 'later'" })).rowCount);
    }
    expect(r.node).not.toBe('pg-0');
    expect(r.value).toBe(1);
    expect(await metrics.metrics()).toMatch(/aidiary_db_ryw_pins_total\{[^}]*\} [1-9]|aidiary_db_ryw_pins_total [1-9]/);
  });
});
