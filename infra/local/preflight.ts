import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { findPostgresBinDir } from './postgres';
import { isAlive, isPortFree } from './process';
import type { StateDir } from './state';

// Checks before `up`/`scale` start anything, each failing with a message that says what to do:
// a missing binary (with the apt command), a busy port (and who holds it), a stale pid file
// (cleaned), a cluster that is already running (refused).

export class PreflightError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PreflightError';
  }
}

export const NGINX_BIN = '/usr/sbin/nginx';

function onPath(bin: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export function nginxBinary(): string {
  return existsSync(NGINX_BIN) ? NGINX_BIN : onPath('nginx') ?? NGINX_BIN;
}

/** Throws one error listing every missing system package and the command that installs them. */
export function checkBinaries(): void {
  const missing: string[] = [];
  if (!existsSync(NGINX_BIN) && !onPath('nginx')) missing.push('nginx');
  try {
    findPostgresBinDir();
  } catch {
    missing.push('postgresql', 'postgresql-contrib');
  }
  if (!onPath('redis-server')) missing.push('redis-server');
  if (missing.length) {
    throw new PreflightError(`missing system packages: ${missing.join(', ')}; install them with: sudo apt-get install -y ${missing.join(' ')}`);
  }
}

/** What a node's process command line must contain: guards against a pid reused by another program. */
export function processMarker(node: string): string {
  if (node === 'lb') return 'nginx';
  if (node.startsWith('app-')) return 'app.mjs';
  if (node.startsWith('redis-')) return 'redis-server';
  if (node.startsWith('pg-')) return 'postgres';
  if (node === 'cdn') return 'varnishd';
  return '';
}

export function commandLine(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return null;
  }
}

/** Alive AND still the program we started (pids get reused after a reboot). */
export function isNodeProcess(node: string, pid: number | null): boolean {
  if (!pid || !isAlive(pid)) return false;
  const cmd = commandLine(pid);
  return cmd === null || cmd.includes(processMarker(node));
}

/** Removes pid files whose process is gone (or is now some other program); returns their names. */
export function cleanStalePidFiles(state: StateDir): string[] {
  const cleaned: string[] = [];
  for (const { node, pid } of state.pidFiles()) {
    if (!isNodeProcess(node, pid)) {
      state.removePid(node);
      cleaned.push(node);
    }
  }
  return cleaned;
}

/** Nodes of this state dir whose process still runs. */
export function runningNodes(state: StateDir): { node: string; pid: number }[] {
  return state.pidFiles().filter((p) => isNodeProcess(p.node, p.pid)).map((p) => ({ node: p.node, pid: p.pid! }));
}

export function assertNotRunning(state: StateDir): void {
  const running = runningNodes(state);
  if (running.length) {
    const list = running.slice(0, 4).map((r) => `${r.node} (pid ${r.pid})`).join(', ');
    throw new PreflightError(`the cluster in ${state.root} is already running: ${list}${running.length > 4 ? ', …' : ''}; see \`aidiary status\`, or run \`aidiary down\` first`);
  }
}

/** "pid 123 (nginx)" for whatever listens on the port, when `ss` can tell. */
export function portOwner(port: number): string | null {
  try {
    const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8', timeout: 3000 });
    const m = /users:\(\("([^"]+)",pid=(\d+)/.exec(out);
    if (m) return `pid ${m[2]} (${m[1]})`;
    return out.trim() ? 'another process' : null;
  } catch {
    return null;
  }
}

/** Throws for the first busy port, naming the port, which node wanted it and who holds it. */
export async function checkPortsFree(ports: { port: number; what: string }[], host = '127.0.0.1'): Promise<void> {
  for (const { port, what } of ports) {
    if (!(await isPortFree(port, host))) {
      const owner = portOwner(port);
      throw new PreflightError(`port ${port} (${what}) is already in use${owner ? ` by ${owner}` : ''}; stop that process or choose other ports (--port, --base-port)`);
    }
  }
}
