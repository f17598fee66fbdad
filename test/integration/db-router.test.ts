import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../app/config';
import { createRoutedDb, type RoutedDb } from '../../app/db/router';
import { compareLsn } from '../../app/db/db';
import { startPostgres, stopPostgres, superuserQuery } from '../../infra/local/postgres';
import { startTestPostgres, type TestPostgres } from '../helpers/services';

// Invariant 2 against a real primary and two streaming replicas: writes on the primary, reads
// spread over the replicas, a lagging or dead replica skipped without a failed read.

const silent = pino({ level: 'silent' });
let pgServer: TestPostgres;
let db: RoutedDb;
let metrics: Registry;

function makeDb(extra: Record<string, string> = {}, registry = new Registry()): RoutedDb {
  return createRoutedDb({
    config: loadConfig({ ...pgServer.env, AIDIARY_SESSION_SECRET: 'x'.repeat(40), ...extra }),
    logger: silent,
    metrics: registry,
    pollIntervalMs: 100,
  });
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  pgServer = await startTestPostgres({ replicas: 2 });
  metrics = new Registry();
  db = makeDb({}, metrics);
  await db.write((q) => q.query({ text: 'CREATE TABLE probe (id serial PRIMARY KEY, v text NOT NULL)' }));
  await waitFor(() => db.nodes().filter((n) => n.role === 'replica' && n.healthy && n.lagBytes === 0).length === 2, 'replicas caught up');
}, 60_000);

afterAll(async () => {
  await db?.close();
  await pgServer?.stop();
});

describe('createRoutedDb', () => {
  it('finds the primary by role and lists every node', () => {
    const nodes = db.nodes();
    expect(nodes.map((n) => `${n.name}:${n.role}`).sort()).toEqual(['pg-0:primary', 'pg-1:replica', 'pg-2:replica']);
    expect(nodes.every((n) => n.healthy && n.replayLsn)).toBe(true);
  });

  it('writes land on the primary and return a commit LSN', async () => {
    const res = await db.write(async (q) => {
      const { rows } = await q.query<{ id: number; recovery: boolean }>({ text: "INSERT INTO probe (v) VALUES ('a') RETURNING id, pg_is_in_recovery() AS recovery" });
      return rows[0];
    });
    expect(res.node).toBe('pg-0');
    expect(res.value.recovery).toBe(false);
    expect(res.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    const current = await superuserQuery<{ lsn: string }>(pgServer.primary, 'SELECT pg_current_wal_insert_lsn()::text AS lsn');
    expect(compareLsn(res.lsn, current[0].lsn)).toBeLessThanOrEqual(0);
  });

  it('a failed write rolls back and the error is the statement error', async () => {
    await expect(db.write((q) => q.query({ text: 'INSERT INTO probe (v) VALUES (NULL)' }))).rejects.toMatchObject({ code: '23502' });
    const res = await db.read({ primary: true }, (q) => q.query<{ n: string }>({ text: 'SELECT count(*) AS n FROM probe WHERE v IS NULL' }));
    expect(res.value.rows[0].n).toBe('0');
  });

  it('anonymous reads go to the replicas, spread over both', async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 60; i++) {
      const res = await db.read({}, async (q) => (await q.query<{ r: boolean }>({ text: 'SELECT pg_is_in_recovery() AS r' })).rows[0].r);
      expect(res.value).toBe(true);
      counts[res.node] = (counts[res.node] ?? 0) + 1;
    }
    expect(counts['pg-0']).toBeUndefined();
    expect(counts['pg-1']).toBeGreaterThanOrEqual(15);
    expect(counts['pg-2']).toBeGreaterThanOrEqual(15);
    const text = await metrics.metrics();
    expect(text).toMatch(/aidiary_db_reads_total\{node="pg-1"\} \d+/);
    expect(text).toMatch(/aidiary_db_replica_lag_bytes\{node="pg-2"\} \d+/);
    expect(text).toMatch(/aidiary_db_pool_in_use\{node="pg-0"\} \d+/);
  });

  it('a minLsn reader gets one post-read LSN query on its connection; trackLsn: false (a cache fill) skips it', async () => {
    // Counts the queries the router runs on the reader's own connection after its callback.
    const queriesAfterCallback = async (ctx: Parameters<RoutedDb['read']>[0]) => {
      let done = false;
      let after = 0;
      let client: { query: (...args: unknown[]) => unknown } | null = null;
      const res = await db.read(ctx, async (q) => {
        const c = q as unknown as { query: (...args: unknown[]) => unknown };
        const original = c.query.bind(c);
        c.query = (...args: unknown[]) => { if (done) after++; return original(...args); };
        client = c;
        try {
          return (await original({ text: 'SELECT 1 AS one' })) as unknown;
        } finally {
          done = true;
        }
      });
      delete (client as unknown as Record<string, unknown>).query; // the pooled client's own method again
      return { after, lsn: res.lsn };
    };
    const tracked = await queriesAfterCallback({ minLsn: null });
    expect(tracked.after).toBe(1);
    expect(tracked.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect((await queriesAfterCallback({ minLsn: null, trackLsn: false })).after).toBe(0);
    expect((await queriesAfterCallback({})).after).toBe(0);
  });

  it('ctx.primary forces the primary', async () => {
    const res = await db.read({ primary: true }, async (q) => (await q.query<{ r: boolean }>({ text: 'SELECT pg_is_in_recovery() AS r' })).rows[0].r);
    expect(res).toMatchObject({ node: 'pg-0', value: false });
  });

  it('a replica lagging beyond the bound is skipped, the others keep serving', async () => {
    const bounded = makeDb({ AIDIARY_DB_MAX_LAG_MS: '400' });
    const slow = pgServer.replicas[1];
    try {
      await superuserQuery(slow, "ALTER SYSTEM SET recovery_min_apply_delay = '4s'");
      await superuserQuery(slow, 'SELECT pg_reload_conf()');
      await bounded.write((q) => q.query({ text: "INSERT INTO probe (v) VALUES ('lag')" }));
      await waitFor(() => (bounded.nodes().find((n) => n.name === 'pg-2')?.lagMs ?? 0) > 400, 'pg-2 lag over the bound');
      const seen = new Set<string>();
      for (let i = 0; i < 30; i++) seen.add((await bounded.read({}, async () => null)).node);
      expect([...seen]).toEqual(['pg-1']);
    } finally {
      await superuserQuery(slow, 'ALTER SYSTEM RESET recovery_min_apply_delay');
      await superuserQuery(slow, 'SELECT pg_reload_conf()');
    }
    // Caught up again: back in rotation.
    await waitFor(() => bounded.nodes().find((n) => n.name === 'pg-2')?.lagMs === 0, 'pg-2 caught up');
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add((await bounded.read({}, async () => null)).node);
    expect(seen.has('pg-2')).toBe(true);
    await bounded.close();
  });

  it('a replica killed under a read loop causes zero failed reads', async () => {
    const victim = pgServer.replicas[0];
    let stop = false;
    let ok = 0;
    const failures: unknown[] = [];
    const nodesAfterKill = new Set<string>();
    let killed = false;
    const loop = async () => {
      while (!stop) {
        try {
          const res = await db.read({}, async (q) => (await q.query({ text: 'SELECT count(*) FROM probe' })).rows);
          ok++;
          if (killed) nodesAfterKill.add(res.node);
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const loops = [loop(), loop(), loop(), loop()];
    try {
      await new Promise((r) => setTimeout(r, 300));
      await stopPostgres(victim, 'immediate');
      killed = true;
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    expect(nodesAfterKill.has('pg-2')).toBe(true);
    expect(db.nodes().find((n) => n.name === 'pg-1')?.healthy).toBe(false);
    await startPostgres(victim);
    await waitFor(() => db.nodes().find((n) => n.name === 'pg-1')?.healthy === true, 'pg-1 back');
  });

  it('service mode: identifies the node behind the read Service and serves RYW reads there once it has the LSN', async () => {
    const replica = pgServer.replicas[1];
    const { AIDIARY_DB_NODES: _nodes, ...env } = pgServer.env;
    const viaServices = createRoutedDb({
      config: loadConfig({
        ...env,
        AIDIARY_SESSION_SECRET: 'x'.repeat(40),
        AIDIARY_DB_PRIMARY_SERVICE: `${pgServer.primary.host}:${pgServer.primary.port}`,
        AIDIARY_DB_READ_SERVICE: `${replica.host}:${replica.port}`,
      }),
      logger: silent, metrics: new Registry(), pollIntervalMs: 100,
    });
    try {
      const w = await viaServices.write(async (q) => (await q.query<{ id: number }>({ text: "INSERT INTO probe (v) VALUES ('svc') RETURNING id" })).rows[0].id);
      expect(w.node).toBe('pg-rw');
      const behind = `${replica.host}:${replica.port}`;
      // Right after the write the replica may or may not have it; either way the row is seen.
      const first = await viaServices.read({ minLsn: w.lsn }, async (q) => (await q.query({ text: 'SELECT 1 FROM probe WHERE id = $1', values: [w.value] })).rowCount);
      expect(first.value).toBe(1);
      expect(compareLsn(first.lsn!, w.lsn)).toBeGreaterThanOrEqual(0);
      await waitFor(async () => {
        const r = await viaServices.read({ minLsn: w.lsn }, async (q) => (await q.query({ text: 'SELECT 1 FROM probe WHERE id = $1', values: [w.value] })).rowCount);
        expect(r.value).toBe(1);
        return r.node === behind;
      }, 'RYW read served behind the read Service');
      const anon = await viaServices.read({}, async (q) => (await q.query<{ r: boolean }>({ text: 'SELECT pg_is_in_recovery() AS r' })).rows[0].r);
      expect(anon).toMatchObject({ node: behind, value: true });
    } finally {
      await viaServices.close();
    }
  });
});
