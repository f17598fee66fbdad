import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { BASE_PORT_SPAN } from '../../infra/local/cluster-layout';
import { freePortBlock, isAlive } from '../../infra/local/process';
import type { ClusterStatus } from '../../infra/local/status';
import { LocalDriver } from '../../infra/drills/local-driver';
import { get, runCli, sleep, steadyLoad, type GetResult } from './helpers-cluster';

// The whole local cluster (3 apps, PostgreSQL primary + 2 streaming replicas, both Redis roles,
// nginx), started through the CLI code in a temp state dir on free ports, and stopped at the end.
// One cluster per file; vitest runs files one at a time (fileParallelism: false).

const stateDir = mkdtempSync(join(tmpdir(), 'aidiary-e2e-'));
chmodSync(stateDir, 0o755);
const cli = (...args: string[]) => runCli([...args, '--state-dir', stateDir]);
let base = '';
let upMs = 0;
const suiteStarted = Date.now();

async function status(): Promise<ClusterStatus> {
  const r = await cli('status', '--json');
  return JSON.parse(r.stdout) as ClusterStatus;
}

async function superuser(s: ClusterStatus, name: string): Promise<pg.Client> {
  const node = s.postgres.find((p) => p.name === name)!;
  const client = new pg.Client({ host: node.socketDir, port: node.port, user: 'postgres', database: 'aidiary' });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Sends SIGSTOP/SIGCONT in slices: the process is frozen `stoppedMs` of every `stoppedMs + runningMs`. */
function dutyCycle(pid: number, stoppedMs: number, runningMs: number): { stop: () => Promise<void> } {
  let on = true;
  const done = (async () => {
    while (on) {
      process.kill(pid, 'SIGSTOP');
      await sleep(stoppedMs);
      process.kill(pid, 'SIGCONT');
      await sleep(runningMs);
    }
  })();
  return { stop: async () => { on = false; await done; process.kill(pid, 'SIGCONT'); } };
}

beforeAll(async () => {
  const basePort = await freePortBlock(BASE_PORT_SPAN);
  const t0 = Date.now();
  const r = await cli('up', '--detach', '--apps', '3', '--db-replicas', '2', '--base-port', String(basePort));
  upMs = Date.now() - t0;
  if (r.code !== 0) throw new Error(`up failed (${r.code}): ${r.stderr}`);
  base = `http://127.0.0.1:${basePort}`;
  console.log(`[e2e] up from cold (3 apps + 2 replicas): ${upMs} ms`);
}, 240_000);

afterAll(async () => {
  // Whatever happened above, leave no process behind.
  await cli('down').catch(() => {});
  rmSync(stateDir, { recursive: true, force: true });
  console.log(`[e2e] cluster suite: ${Date.now() - suiteStarted} ms`);
}, 120_000);

describe('local cluster: 3 apps + 2 replicas', () => {
  it('status --json has the DESIGN.md §3 shape and every node is healthy', async () => {
    const r = await cli('status', '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as ClusterStatus;
    // The shape only grows (ARCHITECTURE.md, CLI contract): these keys stay, new ones may join.
    expect(Object.keys(s)).toEqual(expect.arrayContaining(['apps', 'lb', 'postgres', 'redis', 'stateDir', 'url', 'monitoring', 'cdn']));
    expect(s.monitoring).toEqual([]);
    expect(s.cdn).toBeNull();
    expect(s.url).toBe(`${base}/`);
    expect(s.stateDir).toBe(stateDir);
    expect(Object.keys(s.lb).sort()).toEqual(['healthy', 'name', 'pid', 'port']);
    expect(s.lb.healthy).toBe(true);
    expect(s.apps.map((a) => a.name)).toEqual(['app-0', 'app-1', 'app-2']);
    for (const a of s.apps) {
      expect(Object.keys(a).sort()).toEqual(['controlPort', 'healthy', 'name', 'pid', 'port']);
      expect(a.controlPort).toBeGreaterThan(0); // the loopback control port (bench switches)
      expect(a.healthy).toBe(true);
      expect(isAlive(a.pid)).toBe(true);
    }
    expect(s.postgres.map((p) => [p.name, p.role])).toEqual([['pg-0', 'primary'], ['pg-1', 'replica'], ['pg-2', 'replica']]);
    for (const p of s.postgres) {
      expect(Object.keys(p)).toEqual(expect.arrayContaining(['healthy', 'lagBytes', 'name', 'pid', 'port', 'role', 'socketDir', 'dataDir', 'streaming', 'timeline', 'replayLagBytes']));
      expect(p.healthy).toBe(true);
      expect(typeof p.lagBytes).toBe('number');
      expect(p.timeline).toBeGreaterThanOrEqual(1);
      // Replicas stream and report what they received but have not replayed; the primary has neither.
      expect(p.streaming).toBe(p.role === 'replica' ? true : null);
      if (p.role === 'replica') expect(p.replayLagBytes).toBeGreaterThanOrEqual(0);
      else expect(p.replayLagBytes).toBeNull();
    }
    expect(new Set(s.postgres.map((p) => p.timeline)).size).toBe(1); // one history: replicas follow the primary's timeline
    expect(s.redis.map((x) => [x.name, x.role])).toEqual([['redis-sessions', 'sessions'], ['redis-cache', 'cache']]);
    for (const x of s.redis) expect(Object.keys(x).sort()).toEqual(['healthy', 'name', 'pid', 'port', 'role']);
    // Secrets are 0600 files; the admin password file is where DESIGN.md §3 says.
    expect(statSync(join(stateDir, 'admin-password')).mode & 0o777).toBe(0o600);
    expect(statSync(join(stateDir, 'secrets', 'db-app-password')).mode & 0o777).toBe(0o600);
    expect(statSync(join(stateDir, 'secrets', 'session-secret')).mode & 0o777).toBe(0o600);
  });

  it('serves the home page through nginx and hides /metrics', async () => {
    const home = await get(`${base}/`);
    expect(home.status).toBe(200);
    expect(home.headers['content-type']).toMatch(/text\/html/);
    expect((await get(`${base}/metrics`)).status).toBe(404);
  });

  it('requests through nginx reach every app (X-Served-By on /health)', async () => {
    const seen = new Map<string, number>();
    const results = await Promise.all(Array.from({ length: 60 }, () => get(`${base}/health`)));
    for (const r of results) {
      expect(r.status).toBe(200);
      seen.set(r.servedBy!, (seen.get(r.servedBy!) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual(['app-0', 'app-1', 'app-2']);
  });

  it('least_conn sends a slow app clearly fewer requests', async () => {
    const s = await status();
    const slow = s.apps.find((a) => a.name === 'app-0')!;
    const cycle = dutyCycle(slow.pid!, 250, 15); // frozen ~94 % of the time
    const load = steadyLoad(base, { concurrency: 12, paths: ['/health'] });
    await sleep(4000);
    const report = await load.stop();
    await cycle.stop();
    const counts = { slow: report.servedBy['app-0'] ?? 0, a1: report.servedBy['app-1'] ?? 0, a2: report.servedBy['app-2'] ?? 0 };
    console.log(`[e2e] least_conn with app-0 frozen ~94 % of the time: ${JSON.stringify(counts)} over ${report.requests} requests`);
    expect(report.failures, JSON.stringify(report.failures.slice(0, 5))).toEqual([]);
    expect(counts.a1).toBeGreaterThan(100);
    expect(counts.a2).toBeGreaterThan(100);
    // "Clearly fewer": under half of either healthy app (typically a quarter or less on a quiet machine).
    expect(counts.slow).toBeLessThan(0.5 * Math.min(counts.a1, counts.a2));
  }, 30_000);

  it('both replicas stream and a row written on the primary appears on each', async () => {
    const s = await status();
    const primary = await superuser(s, 'pg-0');
    const replicas = [await superuser(s, 'pg-1'), await superuser(s, 'pg-2')];
    try {
      const rep = await primary.query<{ application_name: string; state: string }>('SELECT application_name, state FROM pg_stat_replication ORDER BY 1');
      expect(rep.rows).toEqual([{ application_name: 'pg_1', state: 'streaming' }, { application_name: 'pg_2', state: 'streaming' }]);
      const sync = await primary.query<{ s: string }>("SELECT current_setting('synchronous_standby_names') AS s");
      expect(sync.rows[0].s).toBe('ANY 1 (pg_1, pg_2)');
      const marker = `e2e-${Date.now()}`;
      await primary.query('CREATE TABLE IF NOT EXISTS e2e_replication_probe (marker text PRIMARY KEY)');
      await primary.query('INSERT INTO e2e_replication_probe VALUES ($1)', [marker]);
      for (const replica of replicas) {
        const deadline = Date.now() + 5000;
        let found = 0;
        while (Date.now() < deadline) {
          found = (await replica.query('SELECT 1 FROM e2e_replication_probe WHERE marker = $1', [marker]).catch(() => ({ rowCount: 0 }))).rowCount ?? 0;
          if (found) break;
          await sleep(20);
        }
        expect(found).toBe(1);
        expect((await replica.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0].r).toBe(true);
      }
      await primary.query('DROP TABLE e2e_replication_probe');
    } finally {
      for (const c of [primary, ...replicas]) await c.end();
    }
  });

  it('sessions Redis down: public pages stay 200, session routes answer 503 through nginx (not 502/500); both recover by themselves', async () => {
    const password = readFileSync(join(stateDir, 'admin-password'), 'utf8').trim();
    const login = () => fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) });
    const first = await login();
    expect(first.status).toBe(200);
    const cookie = first.headers.getSetCookie().find((c) => c.startsWith('aidiary_session='))!.split(';')[0];
    const me = () => get(`${base}/api/auth/me`, undefined, 5000, { cookie });
    expect((await me()).status).toBe(200);

    const driver = new LocalDriver({ stateDir });
    const load = steadyLoad(base, { concurrency: 12, paths: ['/', '/health'] });
    await sleep(500);
    await driver.stopNode('redis-sessions');
    const stoppedAt = Date.now();
    // Every app notices on its next command (no offline queue): the first 503 comes at once.
    while ((await me()).status !== 503) {
      expect(Date.now() - stoppedAt, 'session route still not 503 after 10 s').toBeLessThan(10_000);
      await sleep(100);
    }
    const down = { me: [] as GetResult[], admin: [] as GetResult[], login: [] as { status: number; servedBy: string | null; body: string }[], home: [] as GetResult[] };
    for (let i = 0; i < 12; i++) {
      down.me.push(await me());
      down.admin.push(await get(`${base}/admin/dashboard`));
      const l = await login();
      down.login.push({ status: l.status, servedBy: l.headers.get('x-served-by'), body: await l.text() });
      down.home.push(await get(`${base}/`, undefined, 5000, { cookie }));
    }
    for (const r of [...down.me, ...down.login]) {
      expect(r.status, r.body).toBe(503);
      expect(JSON.parse(r.body).error).toEqual({ code: 'sessions_unavailable', message: expect.stringMatching(/session store down/) });
    }
    for (const r of down.admin) {
      expect(r.status).toBe(503);
      expect(r.body).toMatch(/session store down/);
    }
    // The app answered, not nginx (whose own 502 page carries no X-Served-By).
    for (const r of [...down.me, ...down.admin, ...down.login]) expect(r.servedBy).toMatch(/^app-\d$/);
    // Every app says so itself (asked directly: least_conn under load need not pick each one).
    const apps = (await status()).apps;
    expect(apps).toHaveLength(3);
    const direct = (port: number) => get(`http://127.0.0.1:${port}/api/auth/me`, undefined, 5000, { cookie });
    for (const a of apps) expect((await direct(a.port)).status, a.name).toBe(503);
    // A logged-in reader still gets the public page (as anonymous).
    for (const r of down.home) expect(r.status).toBe(200);

    await driver.startNode('redis-sessions');
    const startedAt = Date.now();
    while ((await me()).status !== 200) {
      expect(Date.now() - startedAt, 'session routes not back 15 s after Redis returned').toBeLessThan(15_000);
      await sleep(200);
    }
    const recoveredMs = Date.now() - startedAt;
    // Every app is back by itself: the session survived (AOF) and new logins work.
    for (const a of apps) {
      while ((await direct(a.port)).status !== 200) {
        expect(Date.now() - startedAt, `${a.name} not back 15 s after Redis returned`).toBeLessThan(15_000);
        await sleep(200);
      }
    }
    const allBackMs = Date.now() - startedAt;
    for (let i = 0; i < 12; i++) {
      const r = await me();
      expect(r.status).toBe(200);
      expect(r.servedBy).toMatch(/^app-\d$/);
    }
    expect((await login()).status).toBe(200);
    const report = await load.stop();
    console.log(`[e2e] sessions Redis down ${startedAt - stoppedAt} ms: public ${report.requests} requests, ${report.failures.length} failed; session routes 503 on every app; first app back ${recoveredMs} ms and all ${allBackMs} ms after Redis started`);
    expect(report.requests).toBeGreaterThan(200);
    expect(report.failures, JSON.stringify(report.failures.slice(0, 5))).toEqual([]);
  }, 90_000);

  it('scale apps 3 → 4 → 2 → 3 under a steady GET load fails zero requests', async () => {
    const load = steadyLoad(base, { concurrency: 20, paths: ['/health', '/'] });
    await sleep(500);
    const upR = await cli('scale', '--apps', '4');
    expect(upR.code, upR.stderr).toBe(0);
    await sleep(1000);
    const mid = await status();
    expect(mid.apps.map((a) => a.name)).toEqual(['app-0', 'app-1', 'app-2', 'app-3']);
    expect(mid.apps.every((a) => a.healthy)).toBe(true);
    const downR = await cli('scale', '--apps', '2');
    expect(downR.code, downR.stderr).toBe(0);
    const two = await status();
    expect(two.apps.map((a) => a.name)).toEqual(['app-0', 'app-1']);
    expect(readdirSync(join(stateDir, 'pids')).filter((f) => f.startsWith('app-')).sort()).toEqual(['app-0.pid', 'app-1.pid']);
    for (const gone of mid.apps.slice(2)) expect(isAlive(gone.pid)).toBe(false);
    await sleep(500);
    // Back to three, so the checks below run on the suite's shape.
    const backR = await cli('scale', '--apps', '3');
    expect(backR.code, backR.stderr).toBe(0);
    await sleep(500);
    const report = await load.stop();
    console.log(`[e2e] scale 3→4→2→3 under load: ${report.requests} requests, ${report.failures.length} failed, ${report.staleKeepAliveRetries} stale keep-alive retries, served by ${JSON.stringify(report.servedBy)}`);
    expect(report.requests).toBeGreaterThan(200);
    expect(report.failures, JSON.stringify(report.failures.slice(0, 5))).toEqual([]);
    expect(report.servedBy['app-3']).toBeGreaterThan(0);
    const after = await status();
    expect(after.apps.map((a) => [a.name, a.healthy])).toEqual([['app-0', true], ['app-1', true], ['app-2', true]]);
  }, 120_000);

  it('scale --db-replicas down and up under a steady GET load fails zero requests; replicas stream again', async () => {
    const load = steadyLoad(base, { concurrency: 20, paths: ['/health', '/'] });
    await sleep(300);
    const shrink = await cli('scale', '--db-replicas', '1', '--yes'); // removes pg-2 and its data: confirmed
    expect(shrink.code, shrink.stderr).toBe(0);
    const one = await status();
    expect(one.postgres.map((p) => p.name)).toEqual(['pg-0', 'pg-1']);
    const grow = await cli('scale', '--db-replicas', '2');
    expect(grow.code, grow.stderr).toBe(0);
    const report = await load.stop();
    console.log(`[e2e] scale DB replicas 2→1→2 under load: ${report.requests} requests, ${report.failures.length} failed, ${report.staleKeepAliveRetries} stale keep-alive retries`);
    expect(report.failures, JSON.stringify(report.failures.slice(0, 5))).toEqual([]);
    const s = await status();
    expect(s.postgres.map((p) => [p.name, p.role, p.healthy])).toEqual([['pg-0', 'primary', true], ['pg-1', 'replica', true], ['pg-2', 'replica', true]]);
    const primary = await superuser(s, 'pg-0');
    try {
      const rows = (await primary.query("SELECT application_name FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1")).rows;
      expect(rows.map((r) => r.application_name)).toEqual(['pg_1', 'pg_2']);
      expect((await primary.query("SELECT current_setting('synchronous_standby_names') AS s")).rows[0].s).toBe('ANY 1 (pg_1, pg_2)');
    } finally {
      await primary.end();
    }
    // Every app was restarted with the new node list.
    expect(s.apps.every((a) => a.healthy)).toBe(true);
  }, 180_000);

  it('killing one app (SIGKILL) under a steady GET load fails zero requests', async () => {
    const s = await status();
    const victim = s.apps.find((a) => a.name === 'app-1')!;
    const load = steadyLoad(base, { concurrency: 20, paths: ['/health', '/'] });
    await sleep(1000);
    process.kill(victim.pid!, 'SIGKILL');
    await sleep(3000);
    const report = await load.stop();
    console.log(`[e2e] SIGKILL app-1 under load: ${report.requests} requests, ${report.failures.length} failed, ${report.staleKeepAliveRetries} stale keep-alive retries, served by ${JSON.stringify(report.servedBy)}`);
    expect(isAlive(victim.pid)).toBe(false);
    expect(report.requests).toBeGreaterThan(200);
    expect(report.failures, JSON.stringify(report.failures.slice(0, 5))).toEqual([]);
    const after = await status();
    expect(after.apps.find((a) => a.name === 'app-1')!.healthy).toBe(false);
  }, 30_000);

  it('a second up on the running cluster refuses with a message', async () => {
    const r = await cli('up', '--detach');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already running/);
    expect((await get(`${base}/health`)).status).toBe(200);
  });

  it('down stops every pid and keeps the data', async () => {
    const s = await status();
    const pids = [s.lb.pid, ...s.apps.map((a) => a.pid), ...s.postgres.map((p) => p.pid), ...s.redis.map((x) => x.pid)].filter((p): p is number => p !== null);
    expect(pids.length).toBeGreaterThanOrEqual(8);
    const r = await cli('down');
    expect(r.code).toBe(0);
    for (const pid of pids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
    expect(readdirSync(join(stateDir, 'pids'))).toEqual([]);
    // The data stays where the state records it (status --json shows it): the state dir's pg/ here,
    // since the postgres user can reach this 0755 temp dir.
    const dataDir = s.postgres.find((p) => p.name === 'pg-0')!.dataDir;
    expect(dataDir).toBe(join(stateDir, 'pg', 'pg-0', 'data'));
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
    await expect(get(`${base}/health`, undefined, 1000)).rejects.toThrow();
  });
});
