import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_PORT_SPAN } from '../../infra/local/cluster-layout';
import { freePortBlock, isAlive } from '../../infra/local/process';
import { StateDir } from '../../infra/local/state';
import { get, runCli } from './helpers-cluster';

// `npm start` = `aidiary up` in the foreground, run as operators run it (bin/aidiary.mjs, the
// bundled CLI, a separate process): it prints the URL and the admin password FILE, serves the home
// page, and Ctrl-C (SIGINT) stops every process it started.

const stateDir = mkdtempSync(join(tmpdir(), 'aidiary-fg-'));
chmodSync(stateDir, 0o755);
const root = fileURLToPath(new URL('../..', import.meta.url));
let child: ChildProcess | null = null;

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await runCli(['down', '--state-dir', stateDir]).catch(() => {});
  rmSync(stateDir, { recursive: true, force: true });
}, 120_000);

describe('aidiary up (foreground)', () => {
  it('serves the home page, prints the URL and the password file only, and Ctrl-C stops everything', async () => {
    const basePort = await freePortBlock(BASE_PORT_SPAN);
    const adminPassword = 'fg-test-admin-password-42';
    child = spawn(process.execPath, ['bin/aidiary.mjs', 'up', '--apps', '2', '--db-replicas', '1', '--base-port', String(basePort), '--state-dir', stateDir], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AIDIARY_ADMIN_PASSWORD: adminPassword },
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));

    const deadline = Date.now() + 120_000;
    while (!output.includes('Ctrl-C stops the cluster')) {
      if (child.exitCode !== null) throw new Error(`up exited early (${child.exitCode}):\n${output}`);
      if (Date.now() > deadline) throw new Error(`up did not finish in time:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(output).toContain(`open http://127.0.0.1:${basePort}/`);
    expect(output).toContain(`password in ${join(stateDir, 'admin-password')}`);
    expect(output).not.toContain(adminPassword);

    const home = await get(`http://127.0.0.1:${basePort}/`);
    expect(home.status).toBe(200);

    const state = new StateDir(stateDir);
    const pids = state.pidFiles().map((p) => p.pid!).filter(Boolean);
    expect(pids.length).toBe(1 + 2 + 2 + 2); // lb, 2 apps, 2 redis, pg-0 + pg-1

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    for (const pid of pids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
    expect(readdirSync(state.pidsDir)).toEqual([]);
    expect(output).toMatch(/stopped lb, app-0, app-1/);
  }, 180_000);
});
