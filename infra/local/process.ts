import { spawn, spawnSync } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';

// Process primitives for the local runner: start detached children that outlive the CLI, check
// and stop them by pid, wait for their ports.

export interface SpawnOptions {
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as this user (root only): PostgreSQL refuses to run as root. */
  runAsUser?: string;
}

/** Starts a detached child whose stdout/stderr go to `logFile`; returns its pid. */
export function spawnDetached(command: string, opts: SpawnOptions): number {
  const fd = openSync(opts.logFile, 'a');
  try {
    const [cmd, args] = opts.runAsUser && isRoot()
      ? ['runuser', ['-u', opts.runAsUser, '--', command, ...opts.args]]
      : [command, opts.args];
    const child = spawn(cmd, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    child.unref();
    if (!child.pid) throw new Error(`could not start ${command}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * True when `user` can enter `dir` (root only). Asked as that user, so every parent's mode bits,
 * owners and ACLs count, which the mode bits alone do not tell.
 */
export function userCanEnter(user: string, dir: string): boolean {
  return spawnSync('runuser', ['-u', user, '--', 'test', '-x', dir], { stdio: 'ignore', cwd: '/' }).status === 0;
}

export function isAlive(pid: number | null | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sends `signal`, waits up to `timeoutMs` for the pid to exit, then SIGKILLs. */
export async function stopPid(pid: number, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(25);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  while (isAlive(pid)) await sleep(25);
}

/** Resolves once something accepts TCP connections on host:port. */
export async function waitForTcp(host: string, port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host, port });
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => { socket.destroy(); resolve(false); });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** True when host:port can be bound right now. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

// Ports are picked below the kernel's ephemeral range (net.ipv4.ip_local_port_range): a port in
// that range that is free now may become the local end of an outgoing connection (an app to
// PostgreSQL, wrk to nginx) before the server that was given it binds, and then nginx or
// postgres fails with EADDRINUSE even though nothing listens there.
const lowestPickablePort = 10000;

function ephemeralRangeStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > lowestPickablePort + 1000) return low;
  } catch { /* not Linux: use the IANA default below */ }
  return 49152;
}

/** `count` consecutive ports that are free now, outside the ephemeral range (tests run concurrently: re-checked by each binder). */
async function pickFreePorts(count: number, host: string): Promise<number> {
  const span = ephemeralRangeStart() - lowestPickablePort - count;
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = lowestPickablePort + Math.floor(Math.random() * span);
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await isPortFree(base + i, host);
    if (ok) return base;
  }
  throw new Error(`no block of ${count} free ports found below the ephemeral range`);
}

/** A free port (one by one for callers that need several: a block may be taken by someone else). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return pickFreePorts(1, host);
}

/** `count` consecutive free ports starting at a random base (for topologies with port bases). */
export function freePortBlock(count: number, host = '127.0.0.1'): Promise<number> {
  return pickFreePorts(count, host);
}
