import type { RedisAuth } from './config';

/**
 * ioredis options for a role's credentials: the client sends `AUTH <user> <password>` on every
 * (re)connect. Each call site keeps its own timeouts and queueing; only the login is shared.
 */
export function redisAuthOptions(auth: RedisAuth | null | undefined): { username?: string; password?: string } {
  return auth ? { ...(auth.username ? { username: auth.username } : {}), password: auth.password } : {};
}
