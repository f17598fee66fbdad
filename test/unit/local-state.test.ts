import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localTopology, topologyPorts } from '../../infra/local/cluster-layout';
import { assertNotRunning, checkBinaries, checkPortsFree, cleanStalePidFiles, PreflightError } from '../../infra/local/preflight';
import { freePort, isAlive, sleep } from '../../infra/local/process';
import { StateDir, StateLockedError } from '../../infra/local/state';

// The `.aidiary/` state dir and the preflight checks, on real files, processes and sockets.

const roots: string[] = [];
const children: number[] = [];
afterAll(() => {
  for (const pid of children) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function tempState(): StateDir {
  const root = mkdtempSync(join(tmpdir(), 'aidiary-state-'));
  roots.push(root);
  const s = new StateDir(join(root, '.aidiary'));
  s.ensureLayout();
  return s;
}

async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

describe('StateDir secrets', () => {
  it('writes 0600 secret files in a 0700 dir; generated values are stable; only paths are returned', () => {
    const s = tempState();
    const paths = s.ensureSecrets({});
    for (const f of [paths.dbPasswordFile, paths.sessionSecretFile, paths.adminPasswordFile]) expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(statSync(s.secretsDir).mode & 0o777).toBe(0o700);
    expect(paths.adminPasswordFile).toBe(join(s.root, 'admin-password'));
    expect(s.readSecret(paths.sessionSecretFile).length).toBeGreaterThanOrEqual(32);
    const admin = s.readSecret(paths.adminPasswordFile);
    s.ensureSecrets({});
    expect(s.readSecret(paths.adminPasswordFile)).toBe(admin);
    expect(Object.values(paths).join(' ')).not.toContain(admin);
  });

  it('AIDIARY_ADMIN_PASSWORD overrides the generated admin password', () => {
    const s = tempState();
    s.ensureSecrets({});
    const paths = s.ensureSecrets({ AIDIARY_ADMIN_PASSWORD: 'correct horse battery staple' });
    expect(readFileSync(paths.adminPasswordFile, 'utf8').trim()).toBe('correct horse battery staple');
    expect(statSync(paths.adminPasswordFile).mode & 0o777).toBe(0o600);
  });
});

describe('StateDir lock', () => {
  it('refuses a second holder while the first is alive, and takes over a stale lock', async () => {
    const s = tempState();
    const release = s.acquireLock('up');
    // Pretend another live process holds it: our parent is alive and is not us.
    const holder = s.lockHolder()!;
    expect(holder.pid).toBe(process.pid);
    const foreign = { ...holder, pid: process.ppid };
    writeFileSync(s.lockFile, JSON.stringify(foreign));
    expect(() => s.acquireLock('scale')).toThrow(StateLockedError);
    expect(() => s.acquireLock('scale')).toThrow(new RegExp(`pid ${process.ppid}`));
    // A lock whose owner is gone is stale.
    writeFileSync(s.lockFile, JSON.stringify({ ...holder, pid: await deadPid() }));
    const again = s.acquireLock('down');
    expect(s.lockHolder()!.operation).toBe('down');
    again();
    release();
  });
});

describe('preflight', () => {
  it('cleans a stale pid file (dead pid, or a pid now used by another program)', async () => {
    const s = tempState();
    s.writePid('app-0', await deadPid());
    s.writePid('lb', process.pid); // alive, but this process is not nginx
    expect(cleanStalePidFiles(s).sort()).toEqual(['app-0', 'lb']);
    expect(s.pidFiles()).toEqual([]);
  });

  it('refuses when a node of the cluster is still running', async () => {
    const s = tempState();
    // A live process whose command line looks like an app of ours.
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'dist/app.mjs'], { stdio: 'ignore' });
    children.push(child.pid!);
    await sleep(100);
    s.writePid('app-0', child.pid!);
    expect(cleanStalePidFiles(s)).toEqual([]);
    expect(() => assertNotRunning(s)).toThrow(PreflightError);
    expect(() => assertNotRunning(s)).toThrow(new RegExp(`already running: app-0 \\(pid ${child.pid}\\).*aidiary down`));
    child.kill('SIGKILL');
  });

  it('names a busy port, the node that wanted it and the process holding it', async () => {
    const port = await freePort();
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      const err = await checkPortsFree([{ port, what: 'app-1' }]).catch((e: Error) => e);
      expect(err).toBeInstanceOf(PreflightError);
      expect((err as Error).message).toMatch(new RegExp(`port ${port} \\(app-1\\) is already in use by pid ${process.pid} \\(`));
    } finally {
      await new Promise((r) => server.close(r));
    }
    await expect(checkPortsFree([{ port, what: 'app-1' }])).resolves.toBeUndefined();
  });

  it('a missing binary gives the apt install command', () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      expect(() => checkBinaries()).toThrow(/missing system packages: redis-server; install them with: sudo apt-get install -y redis-server/);
    } finally {
      process.env.PATH = saved;
    }
    expect(() => checkBinaries()).not.toThrow();
  });
});

describe('localTopology', () => {
  it('lays every port out from --base-port, and --port moves only the LB', () => {
    const t = localTopology({ apps: 3, dbReplicas: 2, basePort: 40000, port: 41000 });
    expect(t.ports).toEqual({ lb: 41000, stubStatus: 40001, redisSessions: 40002, redisCache: 40003, cdn: 40004, pgBase: 40010, appBase: 40020 });
    expect(topologyPorts(t).map((p) => p.port).sort()).toEqual([40001, 40002, 40003, 40010, 40011, 40012, 40020, 40021, 40022, 41000]);
    expect(localTopology({ port: 9090 }).ports.lb).toBe(9090);
    expect(localTopology({}).ports.lb).toBe(8080);
    expect(() => localTopology({ apps: 0 })).toThrow(/appReplicas/);
  });

  it('binds the Varnish port only with --cdn varnish, and keeps the choice in the topology', () => {
    const t = localTopology({ apps: 1, dbReplicas: 0, basePort: 40000, cdn: 'varnish' });
    expect(t.cdn).toBe('varnish');
    expect(topologyPorts(t)).toContainEqual({ port: 40004, what: 'varnish (--cdn varnish)' });
    expect(localTopology({ apps: 2 }, t).cdn).toBe('varnish');
    expect(topologyPorts(localTopology({ cdn: 'none' }, t)).map((p) => p.port)).not.toContain(40004);
    expect(() => localTopology({ cdn: 'varnish', port: 8088 })).toThrow(/ports.cdn and ports.lb both use port 8088/);
  });
});
