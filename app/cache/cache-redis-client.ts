import { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';
import type { RedisAuth } from '../config';
import { redisAuthOptions } from '../redis-connection';

// Clients of the `cache` Redis role. A cache must never make a page wait: short command timeout,
// no offline queue (a command while disconnected fails at once and becomes a cache miss), one try.
// The subscriber keeps its offline queue so SUBSCRIBE can be issued before the first connect.

export const cacheCommandTimeoutMs = 500;

const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000);

export function createCacheRedis(url: string, logger: FastifyBaseLogger, name: string, onError: (err: Error) => void, auth?: RedisAuth | null): Redis {
  const client = new Redis(url, {
    ...redisAuthOptions(auth),
    connectionName: name,
    enableOfflineQueue: false,
    commandTimeout: cacheCommandTimeoutMs,
    maxRetriesPerRequest: 1,
    connectTimeout: 1000,
    retryStrategy,
  });
  client.on('error', (err: Error) => {
    onError(err);
    logger.debug({ err, client: name }, 'cache redis error');
  });
  return client;
}

export function createCacheSubscriber(url: string, logger: FastifyBaseLogger, name: string, onError: (err: Error) => void, auth?: RedisAuth | null): Redis {
  const client = new Redis(url, {
    ...redisAuthOptions(auth),
    connectionName: name,
    enableOfflineQueue: true,
    autoResubscribe: true,
    maxRetriesPerRequest: null,
    connectTimeout: 1000,
    retryStrategy,
  });
  client.on('error', (err: Error) => {
    onError(err);
    logger.debug({ err, client: name }, 'cache redis subscriber error');
  });
  return client;
}
