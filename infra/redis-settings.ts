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

/**
 * redis-server arguments per role, shared by the Docker and Kubernetes tiers. Sessions hold state
 * (logins, locks, queues): AOF fsync every second and noeviction, so memory pressure fails writes
 * loudly (OOM errors) instead of dropping sessions. The cache is disposable: LRU eviction, no
 * persistence. Both stop at maxmemory, below their container's limit.
 */
export function redisServerArgs(r: RedisInstance, dataDir = '/data', memoryLimitMib = redisMemoryLimitMib[r.role]): string[] {
  const common = ['--port', String(r.port), '--bind', '0.0.0.0', '--protected-mode', 'no', '--maxmemory', `${redisMaxmemoryMib(memoryLimitMib)}mb`];
  if (r.role === 'sessions') {
    return [...common, '--dir', dataDir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction'];
  }
  return [...common, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru'];
}
