import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { outsidePgHome, postmasterPid } from '../../infra/local/postgres';
import { projectRoot, StateDir } from '../../infra/local/state';
import type { ClusterStatus } from '../../infra/local/status';

// Any checkout, any user (README "Running it"): the built CLI brings a small cluster up and down
// (1) from a checkout in a 0700 directory, where the postgres user cannot enter: as root the
//     PostgreSQL files go to /var/lib/aidiary/<hash>, recorded and shown by status --json;
// (2) as an ordinary user (created here when the suite runs as root): PostgreSQL runs as that user.
// Each run: up --detach, status --json, a page and a static file through nginx, down.

const repo = projectRoot();
const asRoot = process.getuid?.() === 0;
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.reverse()) {
    try {
      c();
    } catch (err) {
      console.error(`[any-checkout] cleanup: ${(err as Error).message}`);
    }
  }
});

interface Run { code: number | null; stdout: string; stderr: string }

/** The built CLI of `checkout`, as `user` (null: this process's user), with a clean environment. */
function cli(checkout: string, args: string[], opts: { cwd: string; user?: string | null; home: string }): Promise<Run> {
  const env = [`HOME=${opts.home}`, `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`, 'AIDIARY_NO_APT=1', 'AIDIARY_ASSUME_YES=1'];
  const argv = ['-i', ...env, process.execPath, join(checkout, 'dist', 'cli.mjs'), ...args];
  const [cmd, cmdArgs] = opts.user ? ['runuser', ['-u', opts.user, '--', 'env', ...argv]] : ['env', argv];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, cmdArgs, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The parts of the checkout the built CLI and apps read, copied (node_modules linked or copied). */
function copyCheckout(into: string, nodeModules: 'link' | 'copy'): string {
  const dir = join(into, 'checkout');
  for (const part of ['package.json', 'dist', 'app']) cpSync(join(repo, part), join(dir, part), { recursive: true });
  if (nodeModules === 'link') symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  else {
    // Hard links are instant on one filesystem; a plain copy otherwise.
    const linked = spawnSync('cp', ['-al', join(repo, 'node_modules'), join(dir, 'node_modules')]);
    if (linked.status !== 0) execFileSync('cp', ['-a', join(repo, 'node_modules'), join(dir, 'node_modules')]);
  }
  return dir;
}

const canAs = (user: string, test: string, path: string) => spawnSync('runuser', ['-u', user, '--', 'test', test, path], { stdio: 'ignore' }).status === 0;

async function upStatusPageDown(checkout: string, stateDir: string | null, opts: { cwd: string; user?: string | null; home: string }): Promise<{ status: ClusterStatus; up: Run }> {
  const stateArgs = stateDir ? ['--state-dir', stateDir] : [];
  const started = Date.now();
  const up = await cli(checkout, ['up', '--detach', '--apps', '1', '--db-replicas', '1', '--seed-posts', '10', '--base-port', 'auto', ...stateArgs], opts);
  expect(up.code, up.stderr).toBe(0);
  console.log(`[any-checkout] up as ${opts.user ?? (asRoot ? 'root' : 'the invoking user')} in ${Date.now() - started} ms`);
  const st = await cli(checkout, ['status', '--json', ...stateArgs], opts);
  expect(st.code, st.stderr).toBe(0);
  const status = JSON.parse(st.stdout) as ClusterStatus;
  expect([status.lb, ...status.apps, ...status.postgres, ...status.redis].filter((n) => !n.healthy).map((n) => n.name)).toEqual([]);
  const page = await fetch(status.url, { signal: AbortSignal.timeout(10_000) });
  expect(page.status).toBe(200);
  expect(await page.text()).toMatch(/<html/i);
  // nginx serves static files straight from the checkout: its workers must reach it.
  const css = await fetch(new URL('/static/style.css', status.url), { signal: AbortSignal.timeout(10_000) });
  expect(css.status).toBe(200);
  return { status, up };
}

async function down(checkout: string, stateDir: string | null, status: ClusterStatus, opts: { cwd: string; user?: string | null; home: string }): Promise<void> {
  const r = await cli(checkout, ['down', ...(stateDir ? ['--state-dir', stateDir] : [])], opts);
  expect(r.code, r.stderr).toBe(0);
  for (const p of status.postgres) {
    expect(postmasterPid({ name: p.name, host: '127.0.0.1', port: p.port, dataDir: p.dataDir, socketDir: p.socketDir, logFile: '' })).toBeNull();
    expect(existsSync(join(p.dataDir, 'PG_VERSION')), `${p.dataDir} kept`).toBe(true);
  }
}

describe('any checkout, any user', () => {
  it(`${asRoot ? 'root' : 'the invoking user'}, checkout in a 0700 directory: up, status, a page, down`, async () => {
    const outer = mkdtempSync(join(tmpdir(), 'aidiary-0700-')); // mkdtemp makes it 0700
    cleanups.push(() => rmSync(outer, { recursive: true, force: true }));
    expect(statSync(outer).mode & 0o777).toBe(0o700);
    const checkout = copyCheckout(outer, 'link');
    const stateDir = join(checkout, '.aidiary'); // the default: no --state-dir, no AIDIARY_STATE_DIR
    if (asRoot) {
      expect(canAs('postgres', '-x', outer), 'the postgres user must not reach the checkout, or this test proves nothing').toBe(false);
      cleanups.push(() => { if (existsSync(stateDir)) rmSync(outsidePgHome(stateDir), { recursive: true, force: true }); });
    }
    const opts = { cwd: checkout, home: outer };
    const { status, up } = await upStatusPageDown(checkout, null, opts);
    expect(realpathSync(status.stateDir)).toBe(realpathSync(stateDir));

    const recorded = new StateDir(stateDir).read()!.pgHome!;
    if (recorded !== stateDir) cleanups.push(() => rmSync(recorded, { recursive: true, force: true }));
    if (asRoot) {
      // Outside the state dir, in a directory of its own that only postgres may enter.
      const home = outsidePgHome(stateDir);
      expect(recorded).toBe(home);
      expect(up.stderr).toContain(`PostgreSQL files in ${home}`);
      const st = statSync(home);
      expect(st.mode & 0o777).toBe(0o700);
      expect(st.uid).toBe(Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()));
      expect(readFileSync(join(home, 'state-dir'), 'utf8').trim()).toBe(realpathSync(stateDir));
      expect(existsSync(join(stateDir, 'pg'))).toBe(false);
    } else {
      expect(recorded).toBe(stateDir);
    }
    for (const p of status.postgres) {
      expect(p.dataDir).toBe(join(recorded, 'pg', p.name, 'data'));
      expect(p.socketDir).toBe(join(recorded, 'pg', p.name, 'run'));
      // The server's log is where `aidiary logs pg-K` looks (a link when the home is elsewhere).
      expect(readFileSync(join(stateDir, 'logs', `${p.name}.log`), 'utf8')).toMatch(/database system is ready/);
    }

    // Backups and the WAL archive go to the recorded place too.
    const b = await cli(checkout, ['backup', '--json'], opts);
    expect(b.code, b.stderr).toBe(0);
    const info = JSON.parse(b.stdout) as { dir: string };
    expect(info.dir.startsWith(join(recorded, 'backups') + '/')).toBe(true);
    expect(existsSync(join(info.dir, 'PG_VERSION'))).toBe(true);
    expect(existsSync(join(recorded, 'wal-archive'))).toBe(true);

    await down(checkout, null, status, opts);

    if (asRoot) {
      // A state dir deleted by hand leaves its PostgreSQL home behind: a new cluster at the same
      // path never adopts that data (its secrets are gone); up refuses, naming what to remove.
      rmSync(stateDir, { recursive: true, force: true });
      const again = await cli(checkout, ['up', '--detach', '--apps', '1', '--db-replicas', '0', '--base-port', 'auto'], opts);
      expect(again.code).not.toBe(0);
      expect(again.stderr).toContain(`remove that directory (rm -rf ${recorded})`);
      expect(existsSync(join(recorded, 'pg', 'pg-0', 'data', 'PG_VERSION'))).toBe(true);
    }
  }, 240_000);

  it(`an ordinary user (${asRoot ? 'created for the test' : 'the invoking user'}): up, status, a page, down; PostgreSQL runs as that user`, async () => {
    let user: string | null = null;
    let home: string;
    if (asRoot) {
      user = `aidiary-test-${randomBytes(3).toString('hex')}`;
      execFileSync('useradd', ['-m', '-s', '/bin/sh', user]);
      const name = user;
      cleanups.push(() => execFileSync('userdel', ['-r', name], { stdio: 'ignore' }));
      home = execFileSync('getent', ['passwd', user], { encoding: 'utf8' }).split(':')[5];
    } else {
      home = mkdtempSync(join(tmpdir(), 'aidiary-user-'));
      cleanups.push(() => rmSync(home, { recursive: true, force: true }));
    }
    // The checkout must be readable by that user: used in place when it is, else copied into a
    // world-readable directory (a clone in root's 0700 home is not).
    let checkout = repo;
    if (user && !['dist/cli.mjs', 'app/static/style.css', 'node_modules/fastify/package.json'].every((f) => canAs(user!, '-r', join(repo, f)))) {
      const shared = mkdtempSync(join(tmpdir(), 'aidiary-shared-'));
      chmodSync(shared, 0o755);
      cleanups.push(() => rmSync(shared, { recursive: true, force: true }));
      checkout = copyCheckout(shared, 'copy');
      console.log(`[any-checkout] ${repo} is not readable by ${user}: using a copy in ${shared}`);
    }
    const stateDir = join(home, '.aidiary');
    const opts = { cwd: home, user, home };
    const { status } = await upStatusPageDown(checkout, stateDir, opts);
    const uid = user ? Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim()) : process.getuid!();
    for (const p of status.postgres) {
      expect(p.dataDir).toBe(join(stateDir, 'pg', p.name, 'data'));
      // The postmaster runs as the invoking user (PostgreSQL refuses root; no other user is needed).
      const owner = readFileSync(`/proc/${p.pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)![1];
      expect(Number(owner), p.name).toBe(uid);
    }
    for (const a of status.apps) expect(Number(readFileSync(`/proc/${a.pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)![1])).toBe(uid);
    await down(checkout, stateDir, status, opts);
  }, 240_000);
});
