import { createHash } from 'node:crypto';
import type { RedisInstance, RedisRole } from './topology';

/** Each Redis role's container memory limit (MiB): the Kubernetes limit and Docker's `memory`. */
export const redisMemoryLimitMib: Record<RedisRole, number> = { sessions: 1024, cache: 384 };

/**
 * maxmemory as a share of the container's limit. The rest is for what Redis does not count in
 * used_memory but the cgroup does: the AOF rewrite's forked child (copy-on-write pages while the
 * parent keeps writing), client output and AOF buffers, and allocator fragmentation. Without it
 * the kernel kills Redis at the limit instead of Redis refusing the write.
 */
export const REDIS_MAXMEMORY_SHARE = 0.75;

/** `maxmemory` in MiB for a container limit. */
export function redisMaxmemoryMib(memoryLimitMib: number): number {
  return Math.floor(memoryLimitMib * REDIS_MAXMEMORY_SHARE);
}

// ---- authentication: one ACL file per role -------------------------------------------------
//
// No connection may run a command before it authenticates (NOAUTH), and nobody can authenticate
// as Redis's `default` user. Three users per role, each with its own password:
//   aidiary      the apps and their jobs (BullMQ): every data command, no server administration
//   exporter     a metrics exporter (redis_exporter or similar): read-only introspection
//   healthcheck  container probes: PING only
// The ACL file holds SHA-256 hashes of the passwords (`#<hex>`), never the passwords themselves;
// clients read their password from a 0600/0440 file (AIDIARY_REDIS_<ROLE>_PASSWORD_FILE).

export const redisUsers = { app: 'aidiary', exporter: 'exporter', healthcheck: 'healthcheck' } as const;
export type RedisUserKind = keyof typeof redisUsers;

/** Where a container finds its role's ACL file (Docker upload, Kubernetes Secret mount). */
export const redisAclDir = '/run/aidiary/redis';
export const redisAclFile = `${redisAclDir}/users.acl`;
/** The healthcheck user's password, next to the ACL file (probes run inside the Redis container). */
export const redisHealthcheckPasswordFile = `${redisAclDir}/healthcheck-password`;

/**
 * What each user may do. The app user may run every data command (sessions, Lua merge, BullMQ's
 * scripts, pub/sub, INFO for the client's ready check) but no `@admin` command (CONFIG SET,
 * MODULE, DEBUG, SHUTDOWN, ACL SETUSER, REPLICAOF, MONITOR…), so a compromised app cannot turn
 * Redis into a file writer; CONFIG GET stays for diagnostics. The exporter reads keys (%R~*: sizes,
 * types) and server state only. The healthcheck user can only PING.
 */
export const redisUserRules: Record<RedisUserKind, string> = {
  app: '~* &* +@all -@admin +config|get',
  exporter: 'resetchannels %R~* -@all +ping +info +select +dbsize +config|get +client|list +client|info +slowlog|get +slowlog|len '
    + '+latency|latest +latency|history +memory|usage +memory|stats +type +strlen +llen +scard +zcard +hlen +xlen +pfcount +scan +xinfo',
  healthcheck: 'resetkeys resetchannels -@all +ping',
};

export type RedisPasswords = Record<RedisUserKind, string>;

/** `#<sha256 hex>`: the form of a password in an ACL file that does not reveal it. */
export function aclPasswordHash(password: string): string {
  if (!/^\S{16,}$/.test(password)) throw new Error('a Redis password must be at least 16 characters without spaces');
  return `#${createHash('sha256').update(password).digest('hex')}`;
}

/**
 * The `default` user: no password at all (`resetpass`, not `nopass`), so no connection is
 * authenticated as it and no AUTH can succeed for it. It keeps every permission because Redis
 * replays the AOF as this user and re-checks its permissions at each EXEC: with `default off` or
 * `-@all`, every MULTI/EXEC and Lua effect in the AOF (session logins, BullMQ jobs) is dropped on
 * restart (redis/redis#14541, measured on 7.0.15 by test/integration/redis-auth.test.ts).
 */
export const redisDefaultUserRule = 'user default on resetpass ~* &* +@all';

/** The ACL file of one role (`aclfile` directive): the locked default user, then the three users. */
export function renderRedisAclFile(passwords: RedisPasswords): string {
  const lines = [redisDefaultUserRule];
  for (const kind of Object.keys(redisUsers) as RedisUserKind[]) {
    lines.push(`user ${redisUsers[kind]} on ${aclPasswordHash(passwords[kind])} ${redisUserRules[kind]}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The healthcheck command run inside a Redis container: the password goes from its file into
 * REDISCLI_AUTH (redis-cli reads it from there), never onto a command line.
 */
export function redisHealthcheckShell(port: number, passwordFile = redisHealthcheckPasswordFile): string {
  return `REDISCLI_AUTH="$(cat ${passwordFile})" redis-cli --no-auth-warning --user ${redisUsers.healthcheck} -p ${port} ping | grep -q PONG`;
}

/**
 * redis-server arguments per role, shared by the Docker and Kubernetes tiers. Sessions hold state
 * (logins, locks, queues): AOF fsync every second and noeviction, so memory pressure fails writes
 * loudly (OOM errors) instead of dropping sessions. The cache is disposable: LRU eviction, no
 * persistence. Both stop at maxmemory, below their container's limit. Both listen on every
 * interface of their network, so access control is the ACL file (and, on Kubernetes, the
 * NetworkPolicies): protected mode only guards a server without users, which this is not.
 */
export function redisServerArgs(r: RedisInstance, dataDir = '/data', memoryLimitMib = redisMemoryLimitMib[r.role], aclFile = redisAclFile): string[] {
  const common = [
    '--port', String(r.port), '--bind', '0.0.0.0', '--protected-mode', 'no', '--aclfile', aclFile,
    '--maxmemory', `${redisMaxmemoryMib(memoryLimitMib)}mb`,
  ];
  if (r.role === 'sessions') {
    return [...common, '--dir', dataDir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction'];
  }
  return [...common, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru'];
}

/** The four Redis passwords of a deployment: the app's per role, the exporter's and the probes'. */
export interface RedisSecretValues { sessions: string; cache: string; exporter: string; healthcheck: string }

/** The passwords that go into one role's ACL file. */
export function redisRolePasswords(role: RedisRole, s: RedisSecretValues): RedisPasswords {
  return { app: s[role], exporter: s.exporter, healthcheck: s.healthcheck };
}
