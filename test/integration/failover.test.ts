import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../app/config';
import { createRoutedDb, type RoutedDb } from '../../app/db/router';
import { failover, switchover, type FailoverInput } from '../../infra/local/failover';
import { setSynchronousStandbyNames } from '../../infra/local/postgres-replication';
import { startPostgres, stopPostgres, superuserQuery } from '../../infra/local/postgres';
import { parseTopology, synchronousStandbyNames } from '../../infra/topology';
import { startTestPostgres, type TestPostgres } from '../helpers/services';

// Invariant 6 with real nodes: under `ANY 1` quorum a replica loss does not block writes, and a
// failover (primary killed, most advanced replica promoted, the other re-pointed, the old primary
// rewound back in) loses no acknowledged write and needs no new RoutedDb.

const silent = pino({ level: 'silent' });
const topology = parseTopology({ target: 'local', dbReplicas: 2 });
let pgServer: TestPostgres;
let db: RoutedDb;
let input: FailoverInput;
const failoverLog: string[] = [];

const withTimeout = <T>(p: Promise<T>, ms: number, what: string) => Promise.race([
  p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)),
]);

beforeAll(async () => {
  pgServer = await startTestPostgres({ replicas: 2 });
  // Quorum on once the replicas stream (set at init it would block the setup's own commits).
  await setSynchronousStandbyNames(pgServer.primary, synchronousStandbyNames(topology, 'pg-0'));
  input = { nodes: pgServer.nodes.map((n, k) => ({ ...n, slotName: `pg_${k}` })), topology, log: (line) => failoverLog.push(line) };
  db = createRoutedDb({
    config: loadConfig({ ...pgServer.env, AIDIARY_SESSION_SECRET: 'x'.repeat(40) }),
    logger: silent, metrics: new Registry(), pollIntervalMs: 100, primaryWaitMs: 15_000,
  });
  await db.write((q) => q.query({ text: 'CREATE TABLE acked (id int PRIMARY KEY)' }));
}, 60_000);

afterAll(async () => {
  await db?.close();
  await pgServer?.stop();
});

describe('durability and failover', () => {
  it('the primary runs ANY 1 quorum over its replicas', async () => {
    const [row] = await superuserQuery<{ s: string }>(pgServer.primary, "SELECT current_setting('synchronous_standby_names') AS s");
    expect(row.s).toBe('ANY 1 (pg_1, pg_2)');
    const rows = await superuserQuery<{ application_name: string; sync_state: string }>(pgServer.primary, 'SELECT application_name, sync_state FROM pg_stat_replication ORDER BY 1');
    expect(rows.map((r) => r.sync_state)).toEqual(['quorum', 'quorum']);
  });

  it('losing one of two replicas does not block writes', async () => {
    const lost = pgServer.replicas[1];
    await stopPostgres(lost, 'immediate');
    try {
      const res = await withTimeout(db.write((q) => q.query({ text: 'INSERT INTO acked VALUES (0)' })), 5000, 'write with one replica down');
      expect(res.node).toBe('pg-0');
    } finally {
      await startPostgres(lost);
    }
  });

  it('failover under a write loop: same RoutedDb, no acknowledged write lost, old primary rewound back', async () => {
    const acked: number[] = [];
    const nodesAfter = new Set<string>();
    let next = 1;
    let stop = false;
    let failedWrites = 0;
    let failedOver = false;
    const writer = (async () => {
      while (!stop) {
        const id = next++;
        try {
          const res = await db.write((q) => q.query({ text: 'INSERT INTO acked VALUES ($1) ON CONFLICT DO NOTHING', values: [id] }));
          acked.push(id);
          if (failedOver) nodesAfter.add(res.node);
        } catch {
          failedWrites++;
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    const beforeKill = acked.length;
    expect(beforeKill).toBeGreaterThan(5);

    await stopPostgres(pgServer.primary, 'immediate');
    const result = await failover(input);
    failedOver = true;
    expect(result.newPrimary).not.toBe('pg-0');
    expect(result.rejoined).toContain('pg-0');
    expect(failoverLog.join('\n')).toMatch(/pg-0: fencing|pg-0: rejoined as a standby \(rewind\)/);
    const ackedAtFailover = acked.length;
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await writer;

    // Writes resumed through the same instance, on the new primary.
    expect(acked.length).toBeGreaterThan(ackedAtFailover + 5);
    expect([...nodesAfter]).toEqual([result.newPrimary]);
    const newPrimary = pgServer.nodes.find((n) => n.name === result.newPrimary)!;
    const rows = await superuserQuery<{ id: number }>(newPrimary, 'SELECT id FROM acked', [], pgServer.dbName);
    const present = new Set(rows.map((r) => r.id));
    expect(acked.filter((id) => !present.has(id))).toEqual([]);
    expect(failedWrites).toBeLessThan(5);

    // The new primary enforces the quorum over its own peers, and every other node streams from it.
    const [sync] = await superuserQuery<{ s: string }>(newPrimary, "SELECT current_setting('synchronous_standby_names') AS s");
    expect(sync.s).toBe(synchronousStandbyNames(topology, result.newPrimary));
    const streaming = await superuserQuery<{ application_name: string }>(newPrimary, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1");
    expect(streaming.map((r) => r.application_name)).toEqual(pgServer.nodes.filter((n) => n.name !== result.newPrimary).map((n) => n.name.replace('-', '_')));
    const [rejoined] = await superuserQuery<{ r: boolean }>(pgServer.primary, 'SELECT pg_is_in_recovery() AS r');
    expect(rejoined.r).toBe(true);
    // As a standby it holds fresh slots for its peers, none pinning WAL from its primary days.
    const slots = await superuserQuery<{ slot_name: string; restart_lsn: string | null }>(pgServer.primary, 'SELECT slot_name, restart_lsn::text FROM pg_replication_slots ORDER BY 1');
    expect(slots).toEqual([{ slot_name: 'pg_1', restart_lsn: null }, { slot_name: 'pg_2', restart_lsn: null }]);
    // The router sees the new roles without a restart.
    await db.refresh();
    expect(db.nodes().find((n) => n.role === 'primary')?.name).toBe(result.newPrimary);
  });

  it('a planned switchover back to pg-0 loses nothing and writes follow it', async () => {
    const before = await db.write((q) => q.query({ text: 'INSERT INTO acked VALUES (100000)' }));
    const result = await switchover(input, { to: 'pg-0' });
    expect(result.newPrimary).toBe('pg-0');
    const after = await db.write((q) => q.query({ text: 'INSERT INTO acked VALUES (100001)' }));
    expect(after.node).toBe('pg-0');
    const rows = await superuserQuery<{ n: string }>(pgServer.primary, 'SELECT count(*) AS n FROM acked WHERE id IN (100000, 100001)', [], pgServer.dbName);
    expect(rows[0].n).toBe('2');
    expect(before.node).not.toBe('pg-0');
    expect(result.streaming.sort()).toEqual(['pg_1', 'pg_2']);
  });

  it('failover --to a named replica fences a still-running primary first', async () => {
    failoverLog.length = 0;
    // A second router that polls only on demand keeps believing pg-0 is the primary.
    const staleMetrics = new Registry();
    const stale = createRoutedDb({
      config: loadConfig({ ...pgServer.env, AIDIARY_SESSION_SECRET: 'x'.repeat(40) }),
      logger: silent, metrics: staleMetrics, pollIntervalMs: 600_000,
    });
    await stale.refresh();
    expect(stale.nodes().find((n) => n.role === 'primary')?.name).toBe('pg-0');
    const result = await failover(input, { to: 'pg-2' });
    try {
      // Its write reaches pg-0, now a standby (25006 read-only), re-discovers the primary and is re-sent.
      const viaStale = await stale.write((q) => q.query({ text: 'INSERT INTO acked VALUES (100003)' }));
      expect(viaStale.node).toBe('pg-2');
      expect(await staleMetrics.metrics()).toMatch(/aidiary_db_write_retries_total(\{[^}]*\})? 1/);
    } finally {
      await stale.close();
    }
    expect(result).toMatchObject({ oldPrimary: 'pg-0', newPrimary: 'pg-2' });
    expect(failoverLog).toContain('pg-0: fencing (stop -m immediate)');
    const w = await db.write((q) => q.query({ text: 'INSERT INTO acked VALUES (100002)' }));
    expect(w.node).toBe('pg-2');
    expect(result.streaming.sort()).toEqual(['pg_0', 'pg_1']);
    const [sync] = await superuserQuery<{ s: string }>(pgServer.nodes[2], "SELECT current_setting('synchronous_standby_names') AS s");
    expect(sync.s).toBe('ANY 1 (pg_0, pg_1)');
  });
});
