import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { SessionData, SessionStore } from '../deps';
import type { RedisAuth } from '../config';
import { redisAuthOptions } from '../redis-connection';

// Sessions in the "sessions" Redis, shared by every app. Sliding idle expiry, capped by an
// absolute lifetime from createdAt. While Redis is down, commands fail at once (no offline queue)
// so a request answers 503 quickly; the client reconnects forever in the background.
//
// Bound to the session secret, so that whoever can read or write Redis (but does not hold the
// secret) can neither use nor make a cookie:
// - the cookie holds a 256-bit random id; Redis holds only its HMAC: the key is `sess:<HMAC(id)>`,
//   so the ids of live sessions cannot be read out of Redis;
// - the stored record carries `mac`, an HMAC over its key and the fields that grant rights
//   (user, role, CSRF token, createdAt). A record written, copied or edited without the secret
//   fails the check on read and the request is anonymous. Only the LSN fields change after
//   creation (read-your-writes bookkeeping, not rights) and the MAC does not cover them.

export class SessionStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SessionStoreError';
  }
}

export interface RedisSessionStoreOptions {
  url: string;
  /** The sessions role's ACL user and password (null: a Redis without authentication). */
  auth?: RedisAuth | null;
  /** The session secret (AIDIARY_SESSION_SECRET): keys and record MACs are derived from it. */
  secret: string;
  logger: FastifyBaseLogger;
  metrics: Registry;
  idleTtlSeconds?: number;
  absoluteTtlSeconds?: number;
  commandTimeoutMs?: number;
}

export const sessionIdPattern = /^[A-Za-z0-9_-]{43}$/;
/** The key hashes (`sess:<hash>`) of one user's sessions (a set), so a password change can revoke the others. */
const userKeyOf = (userId: number) => `sess-user:${userId}`;
const keyHashPattern = /^[A-Za-z0-9_-]{43}$/;

/** A stored record: the session plus the MAC that binds it to its key and the session secret. */
type StoredSession = SessionData & { mac?: unknown };

/** Key derivation and record MACs with the session secret (HMAC-SHA256, domain-separated). */
export function sessionBinding(secret: string) {
  const hmac = (domain: string, ...parts: string[]) => createHmac('sha256', secret).update([domain, ...parts].join('\0')).digest('base64url');
  const keyHash = (id: string) => hmac('aidiary-session-key', id);
  const mac = (hash: string, d: SessionData) => hmac('aidiary-session-record', hash, JSON.stringify([d.userId, d.username, d.role, d.csrfToken, d.createdAt]));
  return {
    keyHash,
    keyOf: (id: string) => `sess:${keyHash(id)}`,
    mac,
    verify(hash: string, d: StoredSession): boolean {
      if (typeof d.mac !== 'string') return false;
      const expected = Buffer.from(mac(hash, d));
      const given = Buffer.from(d.mac);
      return expected.length === given.length && timingSafeEqual(expected, given);
    },
  };
}

// Merge a patch into the stored JSON atomically (no lost update between concurrent requests of
// one user). LSN fields only move forward, so a slow request cannot undo a newer write's LSN.
const mergeScript = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local data = cjson.decode(raw)
local patch = cjson.decode(ARGV[1])
local function lsn(v)
  if type(v) ~= 'string' then return -1 end
  local hi, lo = string.match(v, '^(%x+)/(%x+)$')
  if not hi then return -1 end
  return tonumber(hi, 16) * 4294967296 + tonumber(lo, 16)
end
for k, v in pairs(patch) do
  if (k == 'lastWriteLsn' or k == 'lastReadLsn') and lsn(v) <= lsn(data[k]) then
    -- keep the newer stored LSN
  else
    data[k] = v
  end
end
local ttl = math.min(tonumber(ARGV[3]), math.floor((tonumber(data['createdAt']) + tonumber(ARGV[4]) * 1000 - tonumber(ARGV[2])) / 1000))
if ttl <= 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], cjson.encode(data), 'EX', ttl)
return 1
`;

/**
 * An ioredis client for the sessions Redis that fails fast while disconnected (no offline queue,
 * short command timeout) and reconnects forever in the background.
 */
export function connectSessionsRedis(endpoint: { url: string; auth?: RedisAuth | null }, log: FastifyBaseLogger, commandTimeoutMs = 1000): Redis {
  const redis = new Redis(endpoint.url, {
    ...redisAuthOptions(endpoint.auth),
    enableOfflineQueue: false,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(50 * times, 1000),
  });
  let lastErrorLogMs = 0;
  redis.on('error', (err) => {
    // ioredis emits an error per failed reconnect: log at most every 5 s.
    if (Date.now() - lastErrorLogMs > 5000) {
      lastErrorLogMs = Date.now();
      log.warn({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, 'sessions Redis error');
    }
  });
  return redis;
}

export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

export function createRedisSessionStore(opts: RedisSessionStoreOptions): SessionStore & { redis: Redis } {
  const idleTtlSeconds = opts.idleTtlSeconds ?? 7 * 24 * 3600;
  const absoluteTtlSeconds = opts.absoluteTtlSeconds ?? 30 * 24 * 3600;
  const log = opts.logger.child({ component: 'session-store' });

  const errors = (opts.metrics.getSingleMetric('aidiary_session_store_errors_total') as Counter | undefined)
    ?? new Counter({ name: 'aidiary_session_store_errors_total', help: 'Session store commands that failed (Redis down or slow)', registers: [opts.metrics] });
  const up = (opts.metrics.getSingleMetric('aidiary_session_store_up') as Gauge | undefined)
    ?? new Gauge({ name: 'aidiary_session_store_up', help: '1 while the sessions Redis is connected', registers: [opts.metrics] });

  if (!opts.secret) throw new Error('session store: the session secret is required (it binds cookies to stored sessions)');
  const binding = sessionBinding(opts.secret);
  const { keyOf } = binding;
  let lastForgeryLogMs = 0;
  const redis = connectSessionsRedis({ url: opts.url, auth: opts.auth }, log, opts.commandTimeoutMs);
  redis.on('ready', () => { up.set(1); log.info('sessions Redis ready'); });
  redis.on('close', () => up.set(0));
  redis.defineCommand('sessMerge', { numberOfKeys: 1, lua: mergeScript });

  async function run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (redis.status !== 'ready') {
      errors.inc();
      throw new SessionStoreError(`session store unavailable (${what}: Redis ${redis.status})`);
    }
    try {
      return await fn();
    } catch (err) {
      errors.inc();
      throw new SessionStoreError(`session store ${what} failed`, { cause: err });
    }
  }

  /** Seconds the session may live from now: idle TTL, never past the absolute cap. */
  const ttlFor = (createdAt: number) => Math.min(idleTtlSeconds, Math.floor((createdAt + absoluteTtlSeconds * 1000 - Date.now()) / 1000));

  return {
    redis,
    async create(data) {
      const id = newSessionId();
      const full: SessionData = { ...data, createdAt: Date.now() };
      const hash = binding.keyHash(id);
      const stored: StoredSession = { ...full, mac: binding.mac(hash, full) };
      await run('create', () => redis.multi()
        .set(`sess:${hash}`, JSON.stringify(stored), 'EX', idleTtlSeconds)
        .sadd(userKeyOf(full.userId), hash)
        .expire(userKeyOf(full.userId), absoluteTtlSeconds)
        .exec());
      return { id, data: full };
    },
    async get(id) {
      if (!sessionIdPattern.test(id)) return null;
      // GETEX slides the idle expiry in the same round trip as the read.
      const hash = binding.keyHash(id);
      const raw = await run('get', () => redis.getex(`sess:${hash}`, 'EX', idleTtlSeconds));
      if (!raw) return null;
      let stored: StoredSession;
      try {
        stored = JSON.parse(raw) as StoredSession;
      } catch {
        return null;
      }
      if (!stored || typeof stored !== 'object' || !binding.verify(hash, stored)) {
        // Written without the session secret: someone with access to Redis, not a login.
        if (Date.now() - lastForgeryLogMs > 5000) {
          lastForgeryLogMs = Date.now();
          log.warn('a stored session failed its MAC check (written without the session secret); treated as no session');
        }
        return null;
      }
      const { mac: _mac, ...data } = stored;
      const ttlSeconds = ttlFor(data.createdAt);
      if (ttlSeconds <= 0) {
        await run('expire', () => redis.del(`sess:${hash}`));
        return null;
      }
      if (ttlSeconds < idleTtlSeconds) await run('cap', () => redis.expire(`sess:${hash}`, ttlSeconds));
      return data;
    },
    async update(id, patch) {
      if (!sessionIdPattern.test(id)) return;
      // Only the LSN bookkeeping changes after creation: rights (user, role, CSRF token) and
      // createdAt (the absolute cap counts from the first login) are covered by the MAC.
      const rest: Partial<SessionData> = {};
      if (patch.lastWriteLsn !== undefined) rest.lastWriteLsn = patch.lastWriteLsn;
      if (patch.lastReadLsn !== undefined) rest.lastReadLsn = patch.lastReadLsn;
      if (Object.keys(rest).length === 0) return;
      await run('update', () => (redis as unknown as { sessMerge(key: string, ...args: (string | number)[]): Promise<number> })
        .sessMerge(keyOf(id), JSON.stringify(rest), Date.now(), idleTtlSeconds, absoluteTtlSeconds));
    },
    async destroy(id) {
      if (!sessionIdPattern.test(id)) return;
      await run('destroy', () => redis.del(keyOf(id)));
    },
    async revokeUser(userId, exceptId) {
      const hashes = await run('list user sessions', () => redis.smembers(userKeyOf(userId)));
      const keep = exceptId ? binding.keyHash(exceptId) : null;
      const doomed = hashes.filter((h) => h !== keep && keyHashPattern.test(h));
      if (doomed.length === 0) return 0;
      await run('revoke', () => redis.multi().del(...doomed.map((h) => `sess:${h}`)).srem(userKeyOf(userId), ...doomed).exec());
      return doomed.length;
    },
    isAvailable() {
      return redis.status === 'ready';
    },
    async close() {
      redis.disconnect();
    },
  };
}
