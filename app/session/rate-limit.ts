import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

// Login rate limit, counted in the sessions Redis so every app shares it: at most `maxAttempts`
// per (client IP, username) and `maxAttemptsPerIp` per IP (password spraying) in a fixed window.
// A successful login clears the (IP, username) counter.

export interface LoginRateLimitOptions {
  maxAttempts?: number;
  maxAttemptsPerIp?: number;
  windowSeconds?: number;
}

export interface LoginRateLimitResult {
  allowed: boolean;
  /** Seconds until the window resets (for Retry-After). */
  retryAfterSeconds: number;
}

export interface LoginRateLimiter {
  readonly maxAttempts: number;
  readonly windowSeconds: number;
  /** Counts one attempt; `allowed` false once over a limit. Throws when Redis is unreachable. */
  hit(ip: string, username: string): Promise<LoginRateLimitResult>;
  reset(ip: string, username: string): Promise<void>;
}

// Hash the username: keys stay short and no user-typed text lands in Redis key names.
const userKey = (ip: string, username: string) =>
  `rl:login:${ip}:${createHash('sha256').update(username.toLowerCase()).digest('base64url').slice(0, 22)}`;

export function createLoginRateLimiter(redis: Redis, opts: LoginRateLimitOptions = {}): LoginRateLimiter {
  const maxAttempts = opts.maxAttempts ?? 10;
  const maxAttemptsPerIp = opts.maxAttemptsPerIp ?? 50;
  const windowSeconds = opts.windowSeconds ?? 300;
  return {
    maxAttempts,
    windowSeconds,
    async hit(ip, username) {
      const uk = userKey(ip, username);
      const ik = `rl:login-ip:${ip}`;
      // EXPIRE … NX starts the window on the first attempt only (fixed window, Redis ≥ 7).
      const res = await redis.multi().incr(uk).expire(uk, windowSeconds, 'NX').ttl(uk)
        .incr(ik).expire(ik, windowSeconds, 'NX').ttl(ik).exec();
      if (!res) throw new Error('login rate limit: transaction aborted');
      for (const [err] of res) if (err) throw new Error('login rate limit: Redis command failed', { cause: err });
      const userCount = Number(res[0][1]);
      const userTtl = Number(res[2][1]);
      const ipCount = Number(res[3][1]);
      const ipTtl = Number(res[5][1]);
      if (userCount > maxAttempts) return { allowed: false, retryAfterSeconds: Math.max(1, userTtl) };
      if (ipCount > maxAttemptsPerIp) return { allowed: false, retryAfterSeconds: Math.max(1, ipTtl) };
      return { allowed: true, retryAfterSeconds: 0 };
    },
    async reset(ip, username) {
      await redis.del(userKey(ip, username));
    },
  };
}
