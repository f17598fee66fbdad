import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { spawnDetached, stopPid, waitForTcp, isAlive } from './process';
import { createConnection } from 'node:net';
import { redisUsers } from '../redis-settings';

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
  /** The role's ACL file (infra/redis-settings.ts renderRedisAclFile); absent = no authentication. */
  aclFile?: string;
  /** The healthcheck user's password file: how the runner and `status` PING an authenticated server. */
  healthcheckPasswordFile?: string;
}

/** Credentials for a probe: the healthcheck user of infra/redis-settings.ts. */
export interface RedisProbeAuth { username: string; password: string }

export function redisArgs(node: RedisNode, cacheMaxMemory = '256mb'): string[] {
  const common = [
    '--port', String(node.port), '--bind', node.host, '--dir', node.dataDir, '--daemonize', 'no', '--protected-mode', 'yes', '--save', '',
    ...(node.aclFile ? ['--aclfile', node.aclFile] : []),
  ];
  return node.role === 'sessions'
    ? [...common, '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction']
    : [...common, '--appendonly', 'no', '--maxmemory', cacheMaxMemory, '--maxmemory-policy', 'allkeys-lru'];
}

/** Starts redis-server detached and waits until it answers PING; returns its pid. */
export async function startRedis(node: RedisNode): Promise<number> {
  mkdirSync(node.dataDir, { recursive: true, mode: 0o700 });
  const pid = spawnDetached('redis-server', { args: redisArgs(node), logFile: node.logFile });
  await waitForTcp(node.host, node.port, 10_000);
  await waitForPing(node.host, node.port, probeAuth(node), 10_000);
  if (!isAlive(pid)) throw new Error(`redis ${node.name} exited; see ${node.logFile}`);
  return pid;
}

/** SIGTERM makes Redis flush its AOF and exit cleanly. */
export async function stopRedis(pid: number): Promise<void> {
  await stopPid(pid, 'SIGTERM', 10_000);
}

/** The healthcheck credentials of a node that runs with an ACL file (read from its 0600 file). */
export function probeAuth(node: RedisNode): RedisProbeAuth | undefined {
  if (!node.healthcheckPasswordFile || !existsSync(node.healthcheckPasswordFile)) return undefined;
  return { username: redisUsers.healthcheck, password: readFileSync(node.healthcheckPasswordFile, 'utf8').trim() };
}

/** One RESP command as an array of bulk strings (safe for any byte in a password). */
function resp(...parts: string[]): string {
  return `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`;
}

/**
 * Minimal RESP PING (no client library needed for a liveness probe). With credentials it
 * authenticates first and is true only for `+OK` then `+PONG`. Without, a server that requires
 * authentication answers `-NOAUTH`: that still proves it is up and answering, so it counts.
 */
export function pingRedis(host: string, port: number, timeoutMs = 1000, auth?: RedisProbeAuth): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let reply = '';
    const done = (ok: boolean) => { clearTimeout(timer); socket.destroy(); resolve(ok); };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => socket.write(auth ? resp('AUTH', auth.username, auth.password) + resp('PING') : resp('PING')));
    socket.on('data', (data) => {
      reply += data.toString();
      if (!auth) {
        if (reply.includes('\r\n')) done(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
        return;
      }
      const lines = reply.split('\r\n');
      if (lines.length < 3) return;
      done(lines[0] === '+OK' && lines[1] === '+PONG');
    });
    socket.once('error', () => done(false));
  });
}

async function waitForPing(host: string, port: number, auth: RedisProbeAuth | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pingRedis(host, port, 1000, auth))) {
    if (Date.now() > deadline) throw new Error(`redis on ${host}:${port} does not answer PING`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
