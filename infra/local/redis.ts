import { mkdirSync } from 'node:fs';
import { spawnDetached, stopPid, waitForTcp, isAlive } from './process';
import { createConnection } from 'node:net';

// Redis primitives: the two roles of the topology, as separate servers on loopback.
// - sessions: AOF (appendfsync everysec), noeviction: sessions, locks, queues must not vanish.
// - cache: allkeys-lru within maxmemory, no persistence: losing it is a cold cache, nothing more.

export type RedisRole = 'sessions' | 'cache';

export interface RedisNode {
  name: string;
  role: RedisRole;
  host: string;
  port: number;
  dataDir: string;
  logFile: string;
}

export function redisArgs(node: RedisNode, cacheMaxMemory = '256mb'): string[] {
  const common = ['--port', String(node.port), '--bind', node.host, '--dir', node.dataDir, '--daemonize', 'no', '--protected-mode', 'yes', '--save', ''];
  return node.role === 'sessions'
    ? [...common, '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction']
    : [...common, '--appendonly', 'no', '--maxmemory', cacheMaxMemory, '--maxmemory-policy', 'allkeys-lru'];
}

/** Starts redis-server detached and waits until it answers PING; returns its pid. */
export async function startRedis(node: RedisNode): Promise<number> {
  mkdirSync(node.dataDir, { recursive: true, mode: 0o700 });
  const pid = spawnDetached('redis-server', { args: redisArgs(node), logFile: node.logFile });
  await waitForTcp(node.host, node.port, 10_000);
  await waitForPing(node.host, node.port, 10_000);
  if (!isAlive(pid)) throw new Error(`redis ${node.name} exited; see ${node.logFile}`);
  return pid;
}

/** SIGTERM makes Redis flush its AOF and exit cleanly. */
export async function stopRedis(pid: number): Promise<void> {
  await stopPid(pid, 'SIGTERM', 10_000);
}

/** Minimal RESP PING (no client library needed for a liveness probe). */
export function pingRedis(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const timer = setTimeout(() => { socket.destroy(); resolve(false); }, timeoutMs);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => { clearTimeout(timer); socket.destroy(); resolve(data.toString().startsWith('+PONG')); });
    socket.once('error', () => { clearTimeout(timer); socket.destroy(); resolve(false); });
  });
}

async function waitForPing(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pingRedis(host, port))) {
    if (Date.now() > deadline) throw new Error(`redis on ${host}:${port} does not answer PING`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
