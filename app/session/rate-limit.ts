import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

// Login throttling, kept in the sessions Redis so every app shares it. Two independent limits:
// - per client address (the address the edge resolved; see AIDIARY_TRUSTED_EDGE): at most
//   `maxAttemptsPerAddress` attempts per fixed window, whatever the username (password spraying);
// - per username, whatever the address (many addresses guessing one account): after k failures
//   the username waits 2^k seconds, at most `backoffCapSeconds`; a success resets it. Waiting is
//   answered 429 with Retry-After: no server-side sleep, no lock-out (the wait is bounded).
// While a username has failures, the check also reserves the next window, so concurrent guesses
// from many addresses get one attempt per window, not one each.

export interface LoginRateLimitOptions {
  maxAttemptsPerAddress?: number;
  addressWindowSeconds?: number;
  backoffCapSeconds?: number;
}

export interface LoginRateLimitResult {
  allowed: boolean;
  /** Seconds to wait (for Retry-After); 0 when allowed. */
  retryAfterSeconds: number;
}

export interface LoginRateLimiter {
  readonly maxAttemptsPerAddress: number;
  readonly addressWindowSeconds: number;
  readonly backoffCapSeconds: number;
  /** Counts one attempt; `allowed` false while either limit holds. Throws when Redis is unreachable. */
  hit(ip: string, username: string): Promise<LoginRateLimitResult>;
  /** A wrong password: the username's next attempt waits 2^k s (k failures so far, capped). */
  fail(username: string): Promise<void>;
  /** A success: the username's failures are forgotten. */
  reset(ip: string, username: string): Promise<void>;
}

// Hash the username: keys stay short and no user-typed text lands in Redis key names.
const userKey = (username: string) =>
  `rl:login-user:${createHash('sha256').update(username.toLowerCase()).digest('base64url').slice(0, 22)}`;
const addressKey = (ip: string) => `rl:login-ip:${ip}`;

/**
 * Forgets a username's failures (its backoff), leaving every address window alone: a success
 * does this, and so does `aidiary admin reset-password` (an operator's reset lets the user in at once).
 */
export async function clearLoginBackoff(redis: Pick<Redis, 'del'>, username: string): Promise<void> {
  await redis.del(userKey(username));
}

// Failure state lives 1 day after the last failure; only the cap bounds the wait.
const failureMemorySeconds = 24 * 3600;

// KEYS[1] user hash {k, until(ms)}; ARGV[1] cap s. Returns ms to wait (0 = allowed).
// Redis's own clock (TIME) so every app agrees on "now".
const checkScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local k = tonumber(redis.call('HGET', KEYS[1], 'k') or '0')
local untilMs = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if untilMs > now then return untilMs - now end
if k > 0 then
  local wait = math.min(2 ^ k, tonumber(ARGV[1])) * 1000
  redis.call('HSET', KEYS[1], 'until', now + wait)
end
return 0`;

// KEYS[1] user hash; ARGV[1] cap s, ARGV[2] memory s.
const failScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local k = redis.call('HINCRBY', KEYS[1], 'k', 1)
local wait = math.min(2 ^ k, tonumber(ARGV[1])) * 1000
redis.call('HSET', KEYS[1], 'until', now + wait)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return k`;

export function createLoginRateLimiter(redis: Redis, opts: LoginRateLimitOptions = {}): LoginRateLimiter {
  const maxAttemptsPerAddress = opts.maxAttemptsPerAddress ?? 50;
  const addressWindowSeconds = opts.addressWindowSeconds ?? 300;
  const backoffCapSeconds = opts.backoffCapSeconds ?? 30;
  return {
    maxAttemptsPerAddress,
    addressWindowSeconds,
    backoffCapSeconds,
    async hit(ip, username) {
      const ik = addressKey(ip);
      // EXPIRE … NX starts the window on the first attempt only (fixed window, Redis ≥ 7).
      const res = await redis.multi().incr(ik).expire(ik, addressWindowSeconds, 'NX').ttl(ik).exec();
      if (!res) throw new Error('login rate limit: transaction aborted');
      for (const [err] of res) if (err) throw new Error('login rate limit: Redis command failed', { cause: err });
      const ipCount = Number(res[0][1]);
      if (ipCount > maxAttemptsPerAddress) return { allowed: false, retryAfterSeconds: Math.max(1, Number(res[2][1])) };
      const waitMs = Number(await redis.eval(checkScript, 1, userKey(username), backoffCapSeconds));
      if (waitMs > 0) return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
      return { allowed: true, retryAfterSeconds: 0 };
    },
    async fail(username) {
      await redis.eval(failScript, 1, userKey(username), backoffCapSeconds, failureMemorySeconds);
    },
    async reset(_ip, username) {
      await clearLoginBackoff(redis, username);
    },
  };
}
