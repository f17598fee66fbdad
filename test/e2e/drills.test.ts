import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { main } from '../../infra/cli/main';
import { formatReport, formatTable, type DrillReport, type Scenario } from '../../infra/drills/drill-report';
import { startLoad, type LoadResult } from '../../infra/drills/load-generator';
import { LocalDriver } from '../../infra/drills/local-driver';
import { ALL_ORDER, runDrill } from '../../infra/drills/run-drill';
import { verifyWrites } from '../../infra/drills/verify-writes';
import { BASE_PORT_SPAN, pgNodes } from '../../infra/local/cluster-layout';
import type { FailoverResult } from '../../infra/local/failover';
import { startPostgres, stopPostgres, superuserClient, superuserQuery, writeStandbyConfig } from '../../infra/local/postgres';
import { freePortBlock } from '../../infra/local/process';
import { StateDir } from '../../infra/local/state';
import type { ClusterStatus } from '../../infra/local/status';
import { runCli, sleep } from './helpers-cluster';

// Every local drill in a short form (a few seconds of load each) on a real local cluster
// (3 apps, primary + 2 streaming replicas, both Redis roles, nginx) started through the CLI in a
// temp state dir on free ports. Each drill must meet its targets (infra/drills/drill-targets.ts)
// and the pass rule of every drill: 0 lost, 0 duplicated, 0 stale reads, every replica streaming
// again within its target, a healthy cluster after. Drills run in the
// `aidiary drill all` order; after a drill that moves the primary, a switchover brings it back to
// pg-0 so that every later drill starts from the same shape. Last, on the same cluster: `aidiary
// failover` after a kill -9 of the primary, then down/up with nodes whose timelines diverged.

const stateDir = mkdtempSync(join(tmpdir(), 'aidiary-drills-'));
chmodSync(stateDir, 0o755);
const durationMs = 4000;
const reports: DrillReport[] = [];
let driver: LocalDriver;

/** Captures what the command writes to stdout/stderr (the CLI prints progress on stderr). */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await fn();
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

/**
 * The same pass rule as `aidiary drill`: every check passes, and the figures the checks rest on
 * are asserted here too (0 lost, 0 duplicated, 0 stale reads, every replica streaming again within
 * its target, a healthy cluster after), so a check dropped from the report would not go unnoticed.
 */
function expectTargets(r: DrillReport) {
  console.log(formatReport(r));
  expect(r.requests.requests).toBeGreaterThan(50);
  expect(r.writes.acknowledged).toBeGreaterThan(0);
  expect(r.checks.filter((c) => !c.pass)).toEqual([]);
  expect(r.writes.lost).toBe(0);
  expect(r.writes.duplicated).toBe(0);
  expect(r.staleReads).toBe(0);
  expect(r.restream.perReplica.length).toBeGreaterThan(0);
  for (const p of r.restream.perReplica) {
    expect(p.seconds, `${p.name} streaming again`).not.toBeNull();
    expect(p.seconds!, `${p.name} re-stream`).toBeLessThanOrEqual(r.restream.targetSeconds);
  }
  expect(r.health).toMatchObject({ healthy: true, problems: [] });
  // Retries are counted, never hidden: attempts = requests + retries.
  expect(r.requests.attempts).toBe(r.requests.requests + r.requests.retries);
  expect(r.pass).toBe(true);
}

beforeAll(async () => {
  const basePort = await freePortBlock(BASE_PORT_SPAN);
  const r = await runCli(['up', '--detach', '--apps', '3', '--db-replicas', '2', '--base-port', String(basePort), '--state-dir', stateDir]);
  if (r.code !== 0) throw new Error(`up failed (${r.code}): ${r.stderr}`);
  driver = new LocalDriver({ stateDir });
}, 240_000);

afterAll(async () => {
  if (reports.length) console.log(formatTable(reports));
  await runCli(['down', '--state-dir', stateDir]);
  rmSync(stateDir, { recursive: true, force: true });
}, 120_000);

describe('failover drills (short form)', () => {
  it('kill-app through `aidiary drill kill-app --json --out`: a report that meets the targets', async () => {
    const out = join(stateDir, 'kill-app.json');
    const code = await quietly(() => main(['drill', 'kill-app', '--duration', String(durationMs / 1000), '--json', '--out', out, '--state-dir', stateDir]));
    const summary = JSON.parse(readFileSync(out, 'utf8')) as { pass: boolean; reports: DrillReport[]; errors: unknown[] };
    expect(summary.errors).toEqual([]);
    expect(summary.reports).toHaveLength(1);
    const r = summary.reports[0];
    reports.push(r);
    expectTargets(r);
    expect(r.scenario).toBe('kill-app');
    expect(code).toBe(0);
  }, 180_000);

  for (const scenario of ALL_ORDER.filter((s) => s !== 'kill-app') as Scenario[]) {
    it(`${scenario} meets its targets`, async () => {
      const r = await runDrill(driver, scenario, { durationMs });
      reports.push(r);
      try {
        expectTargets(r);
        if (scenario === 'restore') {
          expect(r.restore!.expectedBack).toBeGreaterThan(0);
        }
        if (scenario === 'kill-primary') {
          // The DB router holds writes while the primary is gone: writers were blocked, and the
          // figure says so (a write unavailability of 0 s would mean the blocking was hidden).
          expect(r.unavailability.writesSeconds).toBeGreaterThan(0);
          expect(r.writeLatency.p99FaultWindowSeconds).not.toBeNull();
        }
      } finally {
        if (scenario === 'kill-primary' || scenario === 'switchover') {
          // Back to the starting shape (pg-0 primary) for the drills that follow.
          const primary = await driver.currentPrimary();
          if (primary && primary.name !== 'pg-0') await driver.switchover('pg-0');
        }
      }
    }, 240_000);
  }
});

describe('aidiary failover, then down/up: the old primary streams as a replica', () => {
  const statusJson = async (): Promise<ClusterStatus> => JSON.parse((await runCli(['status', '--json', '--state-dir', stateDir])).stdout) as ClusterStatus;
  /** application_name → state of every standby attached to the running primary. */
  const replication = async () => Object.fromEntries((await driver.primaryQuery<{ application_name: string; state: string }>(
    'SELECT application_name, state FROM pg_stat_replication')).map((r) => [r.application_name, r.state]));
  const credentials = () => ({ username: 'admin', password: readFileSync(join(stateDir, 'admin-password'), 'utf8').trim() });

  it('kill -9 the primary under writes: failover promotes a replica, apps write on without restart, nothing acknowledged is lost, the old primary rejoins; down/up keeps roles', async () => {
    const before = await statusJson();
    const appPids = before.apps.map((a) => a.pid);
    const old = await driver.currentPrimary();
    expect(old).not.toBeNull();
    const oldSlot = old!.name.replace('-', '_');
    const load = startLoad({ baseUrl: before.url.replace(/\/$/, ''), credentials: credentials(), maxDurationMs: 150_000, anonLoops: 1, userLoops: 0, writerLoops: 2, writePauseMs: 30 });
    let loaded: LoadResult;
    try {
      while (load.writes().filter((w) => w.acknowledged).length < 10) await sleep(100);
      await driver.killNode(old!.name, 'SIGKILL');
      const r = await runCli(['failover', '--yes', '--json', '--state-dir', stateDir]); // unplanned: confirmed up front
      expect(r.code).toBe(0);
      const result = JSON.parse(r.stdout) as FailoverResult;
      console.log(`[failover] ${result.oldPrimary} → ${result.newPrimary} in ${result.durationMs} ms; rejoined ${result.rejoined.join(', ')}; streaming ${result.streaming.join(', ')}`);
      expect(result.oldPrimary).toBe(old!.name);
      expect(result.newPrimary).not.toBe(old!.name);
      expect(result.rejoined).toContain(old!.name);
      // Writes go on through the same app processes.
      const ackedAtFailover = load.writes().filter((w) => w.acknowledged).length;
      const deadline = Date.now() + 15_000;
      while (load.writes().filter((w) => w.acknowledged).length < ackedAtFailover + 10 && Date.now() < deadline) await sleep(100);
      expect(load.writes().filter((w) => w.acknowledged).length).toBeGreaterThanOrEqual(ackedAtFailover + 10);
    } finally {
      loaded = await load.stop();
    }
    expect((await statusJson()).apps.map((a) => a.pid)).toEqual(appPids);
    const check = await verifyWrites(driver, loaded.runId, loaded.writes);
    console.log(`[failover] ${loaded.writes.filter((w) => w.acknowledged).length} acknowledged writes, lost ${check.lostIds.length}, duplicated ${check.duplicated.length}`);
    expect(check.lostIds).toEqual([]);
    expect(check.duplicated).toEqual([]);
    const newPrimary = (await driver.currentPrimary())!.name;
    expect((await replication())[oldSlot]).toBe('streaming');

    // down/up: the promoted node stays primary, the old one starts as its streaming replica.
    expect((await runCli(['down', '--state-dir', stateDir])).code).toBe(0);
    // While the cluster is down, both standbys go their own way (as a node that missed a failover
    // would): each is promoted alone onto a new timeline and commits a row there. The old primary
    // is left claiming the primary role; the other is made to look like a standby again, the
    // state in which PostgreSQL refuses to follow ("not a child of this server's history").
    // `up` must start the recorded primary and rewind both.
    const state = new StateDir(stateDir);
    const nodes = pgNodes(state, state.read()!.topology);
    const primaryNode = nodes.find((n) => n.node.name === newPrimary)!.node;
    const third = nodes.find((n) => n.node.name !== newPrimary && n.node.name !== old!.name)!;
    for (const { node } of nodes.filter((n) => n.node.name !== newPrimary)) {
      await startPostgres(node);
      await superuserQuery(node, 'SELECT pg_promote(true, 60)');
      const c = await superuserClient(node, state.read()!.topology.database.name);
      try {
        await c.query('SET synchronous_commit TO local'); // its quorum partners are down
        await c.query('CREATE TABLE split_brain_probe (node text)');
        await c.query('INSERT INTO split_brain_probe VALUES ($1)', [node.name]);
      } finally {
        await c.end();
      }
      await stopPostgres(node, 'fast');
    }
    writeStandbyConfig(third.node, primaryNode, third.db.slotName);
    const up = await runCli(['up', '--detach', '--state-dir', stateDir]);
    expect(up.code, up.stderr).toBe(0);
    console.log(`[failover] up after the split: ${up.stderr.split('\n').filter((l) => /rewind|re-clon/.test(l)).join(' | ')}`);
    expect(up.stderr).toContain(`${old!.name}: was a primary too`);
    expect(up.stderr).toContain(`${third.node.name}: its last checkpoint is past the point`);
    const after = await statusJson();
    expect(after.postgres.find((p) => p.role === 'primary')?.name).toBe(newPrimary);
    expect(after.postgres.every((p) => p.healthy)).toBe(true);
    const rep = await replication();
    expect(Object.values(rep).filter((s) => s === 'streaming')).toHaveLength(after.postgres.length - 1);
    expect(rep[oldSlot]).toBe('streaming');
    for (const p of after.postgres) {
      const c = new pg.Client({ host: p.socketDir, port: p.port, user: 'postgres', database: 'aidiary' });
      await c.connect();
      try {
        expect((await c.query("SELECT to_regclass('split_brain_probe') AS t")).rows[0].t, `${p.name} still has the split-brain table`).toBeNull();
      } finally {
        await c.end();
      }
    }
    const again = await verifyWrites(driver, loaded.runId, loaded.writes);
    expect(again.lostIds).toEqual([]);
    // And the restarted cluster takes writes.
    const more = startLoad({ baseUrl: after.url.replace(/\/$/, ''), credentials: credentials(), maxDurationMs: 30_000, anonLoops: 0, userLoops: 0, writerLoops: 1, writePauseMs: 20 });
    while (more.writes().filter((w) => w.acknowledged).length < 3) await sleep(100);
    const moreResult = await more.stop();
    expect((await verifyWrites(driver, moreResult.runId, moreResult.writes)).lostIds).toEqual([]);
  }, 300_000);
});
