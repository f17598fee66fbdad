import { dbInstances, redisInstances, type ServiceAddresses, type Topology } from '../topology';

/** The network alias every app container shares; nginx resolves it to all of them. */
export const appAlias = 'app';
/** Docker's embedded DNS server on user-defined networks. */
export const dockerResolver = '127.0.0.11';

/**
 * On the Docker network each node is reachable by its topology name (network alias) on its
 * container port: pg-K:5432, redis-sessions:6380, redis-cache:6381.
 */
export function dockerServiceAddresses(t: Topology): ServiceAddresses {
  const redis = Object.fromEntries(redisInstances(t).map((r) => [r.role, { host: r.name, port: r.port }]));
  return {
    dbNodes: dbInstances(t).map((d) => ({ name: d.name, host: d.name, port: d.port })),
    redisSessions: redis.sessions,
    redisCache: redis.cache,
  };
}
