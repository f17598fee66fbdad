import type { RedisInstance } from './topology';

/**
 * redis-server arguments per role, shared by the Docker and Kubernetes tiers. Sessions hold state
 * (logins, locks, queues): AOF fsync every second and noeviction, so memory pressure fails writes
 * loudly instead of dropping sessions. The cache is disposable: LRU eviction, no persistence.
 */
export function redisServerArgs(r: RedisInstance, dataDir = '/data'): string[] {
  const common = ['--port', String(r.port), '--bind', '0.0.0.0', '--protected-mode', 'no'];
  if (r.role === 'sessions') {
    return [...common, '--dir', dataDir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction'];
  }
  return [...common, '--save', '', '--appendonly', 'no', '--maxmemory', '256mb', '--maxmemory-policy', 'allkeys-lru'];
}
