import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { localCdnUrl, type Topology } from '../topology';
import { isHealthy, waitForHealthy } from './http-probe';
import { isNodeProcess } from './preflight';
import { isAlive, spawnDetached, stopPid } from './process';
import type { StateDir } from './state';
import { renderVarnishVcl, VARNISH_HEALTH_PATH } from './varnish-vcl';

// The local CDN tier (`aidiary up --cdn varnish`): Debian's varnishd in front of nginx on the
// topology's cdn port, loopback only. Never Debian's system service: this process runs in the
// foreground (-F) under the CLI's pid bookkeeping (pid file `cdn`), with its working directory
// (-n: shared memory log, counters, the CLI secret) and its VCL under <state>/varnish/. The VCL
// is rendered from the topology at every start (infra/local/varnish-vcl.ts).

export const VARNISHD = '/usr/sbin/varnishd';
/** The pid-file name of the Varnish tier (preflight's marker: `varnishd`). */
export const CDN_NODE = 'cdn';

export interface CdnStatus { kind: 'varnish'; url: string; pid: number | null; port: number; healthy: boolean }

export function varnishPaths(state: StateDir) {
  const dir = join(state.root, 'varnish');
  return { dir, vcl: join(dir, 'default.vcl'), workDir: join(dir, 'run') };
}

/** Throws the apt command when Debian's varnish or varnish-modules (xkey) is missing. */
export function checkVarnishInstalled(): void {
  const missing: string[] = [];
  if (!existsSync(VARNISHD)) missing.push('varnish');
  else if (!xkeyInstalled()) missing.push('varnish-modules');
  if (missing.length) throw new Error(`--cdn varnish needs Debian's ${missing.join(' and ')}; install with: sudo apt-get install -y varnish varnish-modules (or sudo node scripts/ensure-system.mjs --with-cdn)`);
}

function xkeyInstalled(): boolean {
  const r = spawnSync('sh', ['-c', 'ls /usr/lib/*/varnish/vmods/libvmod_xkey.so'], { stdio: 'ignore' });
  return r.status === 0;
}

/** Renders the VCL for this topology and installs it atomically; returns its path. */
export function writeVarnishVcl(state: StateDir, t: Topology): string {
  const p = varnishPaths(state);
  mkdirSync(p.workDir, { recursive: true });
  const vcl = renderVarnishVcl({ topology: t, backend: { host: t.host, port: t.ports.lb } });
  const tmp = `${p.vcl}.${process.pid}.tmp`;
  writeFileSync(tmp, vcl);
  renameSync(tmp, p.vcl);
  return p.vcl;
}

/** `varnishd -C`: compiles a VCL file without starting anything; throws with the compiler's message. */
export function compileVcl(vclFile: string, workDir: string): void {
  mkdirSync(workDir, { recursive: true });
  // -j none, as when it runs: under root the jail would read the file as the varnish user.
  const r = spawnSync(VARNISHD, ['-C', '-j', 'none', '-f', vclFile, '-n', workDir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`varnishd rejected ${vclFile}: ${(r.stderr || r.stdout).trim().split('\n').slice(0, 12).join('\n')}`);
}

/** Starts Varnish in front of nginx and waits until it answers its own health path. */
export async function startVarnish(state: StateDir, t: Topology, timeoutMs = 30_000): Promise<number> {
  const url = localCdnUrl(t);
  if (!url) throw new Error('the topology has no local Varnish tier (cdn is not varnish)');
  checkVarnishInstalled();
  const p = varnishPaths(state);
  const vcl = writeVarnishVcl(state, t);
  const pid = spawnDetached(VARNISHD, {
    args: [
      '-F', // foreground: the recorded pid is the manager, which stops its cache child with it
      '-n', p.workDir,
      '-a', `${t.host}:${t.ports.cdn}`,
      '-T', '127.0.0.1:0', // management CLI on a free loopback port, secret in the work dir (varnishadm -n)
      '-f', vcl,
      '-s', 'malloc,256m',
      // No privilege separation: the cluster's other processes run as the invoking user too, and
      // Varnish's own users could not enter a state dir under a 0700 home.
      '-j', 'none',
      '-p', 'thread_pool_min=20',
    ],
    logFile: state.logFile(CDN_NODE),
    cwd: p.dir,
  });
  state.writePid(CDN_NODE, pid);
  await waitForHealthy(`${url}${VARNISH_HEALTH_PATH}`, { timeoutMs, alive: () => isAlive(pid), what: 'varnish', logFile: state.logFile(CDN_NODE) });
  return pid;
}

export async function stopVarnish(state: StateDir): Promise<boolean> {
  const pid = state.readPid(CDN_NODE);
  const running = isNodeProcess(CDN_NODE, pid);
  if (running) await stopPid(pid!, 'SIGTERM', 15_000);
  state.removePid(CDN_NODE);
  return running;
}

/** `status --json`'s `cdn`: null when the topology has no Varnish tier. */
export async function varnishStatus(state: StateDir, t: Topology): Promise<CdnStatus | null> {
  const url = localCdnUrl(t);
  if (!url) return null;
  const recorded = state.readPid(CDN_NODE);
  const pid = isNodeProcess(CDN_NODE, recorded) ? recorded : null;
  return { kind: 'varnish', url: `${url}/`, pid, port: t.ports.cdn, healthy: pid !== null && (await isHealthy(`${url}${VARNISH_HEALTH_PATH}`)) };
}
