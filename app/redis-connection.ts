import type { RedisAuth } from './config';
import type { Redis } from 'ioredis';

/**
 * ioredis options for a role's credentials: the client sends `AUTH <user> <password>` on every
 * (re)connect. Each call site keeps its own timeouts and queueing; only the login is shared.
 */
export function redisAuthOptions(auth: RedisAuth | null | undefined): { username?: string; password?: string } {
  return auth ? { ...(auth.username ? { username: auth.username } : {}), password: auth.password } : {};
}

/**
 * Closes an ioredis client in bounded time. QUIT lets a connected client flush its replies; a
 * client that is not connected (Redis unreachable, reconnecting) would queue QUIT until a
 * connection comes, possibly never, so it is disconnected at once, as is one whose QUIT takes
 * longer than `ms`.
 */
export async function quitWithin(client: Pick<Redis, 'status' | 'quit' | 'disconnect'>, ms: number): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), ms); });
  try {
    if (await Promise.race([client.quit(), late]) === 'late') client.disconnect();
  } catch {
    client.disconnect();
  } finally {
    clearTimeout(timer);
  }
}
