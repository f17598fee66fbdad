import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDriver } from '../../infra/drills/local-driver';
import { superuserQuery } from '../../infra/local/postgres';
import { projectRoot } from '../../infra/local/state';
import type { ClusterStatus } from '../../infra/local/status';

// Safe interrupts (README "Interrupting bench and drills"): Ctrl-C or SIGTERM during `aidiary
// bench` or `aidiary drill` puts back what the command changed, prints it, and exits 130/143; a
// second Ctrl-C exits at once. One small cluster, the built CLI as a child process, real signals.

const cliPath = join(projectRoot(), 'dist', 'cli.mjs');
const stateDir = mkdtempSync(join(tmpdir(), 'aidiary-interrupts-'));
chmodSync(stateDir, 0o755);
const resultsDir = mkdtempSync(join(tmpdir(), 'aidiary-interrupts-results-'));

interface Running {
  child: ChildProcess;
  stderr: () => string;
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function startCli(args: string[]): Running {
  const child = spawn(process.execPath, [cliPath, ...args, '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() }));
  });
  const waitFor = async (pattern: RegExp, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(err)) {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} before ${pattern}:\n${err}`);
      if (Date.now() > deadline) throw new Error(`no ${pattern} after ${timeoutMs} ms:\n${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, stderr: () => err, waitFor, exited };
}

async function cliJson<T>(args: string[], okCodes = [0]): Promise<T> {
  const run = startCli(args);
  let out = '';
  run.child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  const { code } = await run.exited;
  if (!okCodes.includes(code ?? -1)) throw new Error(`aidiary ${args.join(' ')} exited ${code}: ${run.stderr()}`);
  return JSON.parse(out) as T;
}

/** status --json exits 4 while a node is down (degraded); the tests read the nodes themselves. */
const status = () => cliJson<ClusterStatus>(['status', '--json'], [0, 4]);

/** The layers each app reports on its loopback control port. */
async function appLayers(s: ClusterStatus): Promise<{ name: string; l1: boolean; l2: boolean; coalesce: boolean }[]> {
  return Promise.all(s.apps.map(async (a) => {
    const stats = await (await fetch(`http://127.0.0.1:${a.controlPort}/cache/stats`)).json() as { layers: { l1: boolean; l2: boolean }; coalesce: boolean };
    return { name: a.name, l1: stats.layers.l1, l2: stats.layers.l2, coalesce: stats.coalesce };
  }));
}

/** A process's state letter from /proc (T: stopped by a signal). */
const procState = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8').match(/^State:\s+(\S)/m)![1];

/** The postmaster and its children (backends, WAL sender, background workers). */
function postmasterAndChildren(postmaster: number): number[] {
  return [postmaster, ...readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]) === postmaster;
    } catch {
      return false;
    }
  })];
}

/** wrk processes still aimed at this cluster (an interrupted bench must not leave any). */
function wrkAt(port: number): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'wrk' && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`:${port}/`);
    } catch {
      return false;
    }
  });
}

async function expectWholeCluster(): Promise<ClusterStatus> {
  const s = await status();
  expect([s.lb, ...s.apps, ...s.postgres, ...s.redis].filter((n) => !n.healthy).map((n) => n.name)).toEqual([]);
  expect(s.postgres.filter((p) => p.role === 'replica').every((p) => p.streaming === true)).toBe(true);
  // No replica is left with an apply delay.
  for (const p of s.postgres.filter((x) => x.role === 'replica')) {
    const [row] = await superuserQuery<{ d: string }>({ name: p.name, host: '127.0.0.1', port: p.port, dataDir: p.dataDir, socketDir: p.socketDir, logFile: '' }, 'SELECT setting AS d FROM pg_settings WHERE name = \'recovery_min_apply_delay\'');
    expect(row.d, p.name).toBe('0');
  }
  return s;
}

let base: ClusterStatus;

beforeAll(async () => {
  const up = startCli(['up', '--detach', '--apps', '2', '--db-replicas', '1', '--seed-posts', '20', '--base-port', 'auto']);
  const r = await up.exited;
  if (r.code !== 0) throw new Error(`up failed: ${up.stderr()}`);
  base = await expectWholeCluster();
}, 180_000);

afterAll(async () => {
  const down = startCli(['down']);
  await down.exited;
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(resultsDir, { recursive: true, force: true });
}, 120_000);

describe('interrupting bench and drills puts the cluster back', () => {
  it('Ctrl-C during bench: every app\'s cache layers are on again, its static file and wrk are gone, exit 130', async () => {
    expect((await appLayers(base)).every((a) => a.l1 && a.l2)).toBe(true);
    // static (3 s) first, then home-uncached with every cache layer off, interrupted while it measures.
    const bench = startCli(['bench', '--scenario', 'static,home-uncached', '--rounds', '1', '--duration', '3', '--warmup', '1', '--connections', '4', '--results-dir', resultsDir]);
    await bench.waitFor(/home-uncached( \(round \d+\/\d+\))?: measuring/);
    // The changes the interrupt must undo are really there.
    expect((await appLayers(base)).map((a) => [a.l1, a.l2])).toEqual(base.apps.map(() => [false, false]));
    const staticFile = join(projectRoot(), 'app', 'static', `bench-home-${bench.child.pid}.html`);
    expect(existsSync(staticFile)).toBe(true);
    expect(wrkAt(base.lb.port).length).toBeGreaterThan(0);
    const sentAt = Date.now();
    bench.child.kill('SIGINT');
    const { code, at } = await bench.exited;
    console.log(`[interrupts] bench exited ${code} ${at - sentAt} ms after SIGINT`);
    expect(code).toBe(130);
    expect(bench.stderr()).toMatch(/SIGINT: putting back what this command changed/);
    expect(bench.stderr()).toContain(`restored: cache layers back to L1 on, L2 on on ${base.apps.map((a) => a.name).join(', ')}`);
    expect(await appLayers(base)).toEqual(base.apps.map((a) => ({ name: a.name, l1: true, l2: true, coalesce: true })));
    // Pages are served from the page cache again (past nginx's micro-cache: the bench's bypass header).
    const xCache: string[] = [];
    for (let i = 0; i < 3; i++) xCache.push((await fetch(new URL('/', base.url), { headers: { 'X-Bench-Bypass-Edge': '1' } })).headers.get('x-cache') ?? '');
    expect(xCache[2]).toMatch(/^HIT-L[12]$/);
    expect(bench.stderr()).toContain(`restored: the bench's static file ${staticFile} removed`);
    expect(existsSync(staticFile)).toBe(false);
    expect(wrkAt(base.lb.port)).toEqual([]);
    expect(existsSync(join(resultsDir, 'latest.json'))).toBe(false); // an interrupted run is no result
  }, 120_000);

  it('Ctrl-C during partition-primary: the frozen primary runs again (no process left stopped), exit 130', async () => {
    const drill = startCli(['drill', 'partition-primary', '--duration', '30']);
    await drill.waitFor(/SIGSTOP pg-0/);
    const s = await status();
    const postmaster = s.postgres.find((p) => p.name === 'pg-0')!.pid!;
    const deadline = Date.now() + 5000;
    while (procState(postmaster) !== 'T' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(procState(postmaster)).toBe('T');
    drill.child.kill('SIGINT');
    const { code } = await drill.exited;
    expect(code).toBe(130);
    expect(drill.stderr()).toContain('restored: pg-0 resumed (SIGCONT)');
    const group = postmasterAndChildren(postmaster);
    expect(group.length).toBeGreaterThan(3); // the postmaster and its backends
    // A backend may exit between the listing and the read: gone is not stopped.
    const stopped = (pid: number) => { try { return procState(pid) === 'T'; } catch { return false; } };
    expect(group.filter(stopped)).toEqual([]);
    await expectWholeCluster();
  }, 120_000);

  it('SIGTERM during stop-redis: both Redis roles run again, exit 143', async () => {
    const drill = startCli(['drill', 'stop-redis', '--duration', '30']);
    await drill.waitFor(/Redis stopped for/);
    const during = await status();
    expect(during.redis.map((r) => r.healthy)).toEqual([false, false]);
    drill.child.kill('SIGTERM');
    const { code } = await drill.exited;
    expect(code).toBe(143);
    expect(drill.stderr()).toMatch(/SIGTERM: putting back/);
    expect(drill.stderr()).toContain('restored: redis-cache running again');
    expect(drill.stderr()).toContain('restored: redis-sessions running again');
    await expectWholeCluster();
  }, 120_000);

  it('a second Ctrl-C exits at once, naming what it did not put back', async () => {
    const drill = startCli(['drill', 'kill-replica', '--duration', '30']);
    await drill.waitFor(/kill -9 pg-1/);
    await new Promise((r) => setTimeout(r, 300));
    drill.child.kill('SIGINT');
    await drill.waitFor(/SIGINT: putting back/, 5000);
    const secondAt = Date.now();
    drill.child.kill('SIGINT');
    const { code, at } = await drill.exited;
    console.log(`[interrupts] exited ${at - secondAt} ms after the second SIGINT`);
    expect(code).toBe(130);
    expect(at - secondAt).toBeLessThan(1000);
    expect(drill.stderr()).toMatch(/SIGINT again: exiting now; not restored: pg-1 running again/);
    // The cluster is left as the operator chose; bring pg-1 back for the next test file.
    const driver = new LocalDriver({ stateDir });
    const until = Date.now() + 5_000;
    while (Date.now() < until && !(await driver.listNodes()).find((n) => n.name === 'pg-1')!.healthy) await new Promise((r) => setTimeout(r, 200));
    if (!(await driver.listNodes()).find((n) => n.name === 'pg-1')!.healthy) {
      console.log('[interrupts] pg-1 left down by the second Ctrl-C: starting it');
      await driver.startNode('pg-1');
    }
    await driver.waitHealthy(60_000);
    await expectWholeCluster();
  }, 120_000);
});
