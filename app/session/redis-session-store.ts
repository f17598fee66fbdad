import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { SessionData, SessionStore } from '../deps';

// Sessions in the "sessions" Redis, shared by every app: key `sess:<256-bit random id>`, value the
// SessionData JSON. Sliding idle expiry, capped by an absolute lifetime from createdAt. While
// Redis is down, commands fail at once (no offline queue) so a request answers 503 quickly; the
// client reconnects forever in the background.

export class SessionStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SessionStoreError';
  }
}

export interface RedisSessionStoreOptions {
  url: string;
  logger: FastifyBaseLogger;
  metrics: Registry;
  idleTtlSeconds?: number;
  absoluteTtlSeconds?: number;
  commandTimeoutMs?: number;
}

export const sessionIdPattern = /^[A-Za-z0-9_-]{43}$/;
const keyOf = (id: string) => `sess:${id}`;
/** The ids of one user's sessions (a set), so a password change can revoke the others. */
const userKeyOf = (userId: number) => `sess-user:${userId}`;

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
export function connectSessionsRedis(url: string, log: FastifyBaseLogger, commandTimeoutMs = 1000): Redis {
  const redis = new Redis(url, {
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

  const redis = connectSessionsRedis(opts.url, log, opts.commandTimeoutMs);
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
      await run('create', () => redis.multi()
        .set(keyOf(id), JSON.stringify(full), 'EX', idleTtlSeconds)
        .sadd(userKeyOf(full.userId), id)
        .expire(userKeyOf(full.userId), absoluteTtlSeconds)
        .exec());
      return { id, data: full };
    },
    async get(id) {
      if (!sessionIdPattern.test(id)) return null;
      // GETEX slides the idle expiry in the same round trip as the read.
      const raw = await run('get', () => redis.getex(keyOf(id), 'EX', idleTtlSeconds));
      if (!raw) return null;
      let data: SessionData;
      try {
        data = JSON.parse(raw) as SessionData;
      } catch {
        return null;
      }
      const ttlSeconds = ttlFor(data.createdAt);
      if (ttlSeconds <= 0) {
        await run('expire', () => redis.del(keyOf(id)));
        return null;
      }
      if (ttlSeconds < idleTtlSeconds) await run('cap', () => redis.expire(keyOf(id), ttlSeconds));
      return data;
    },
    async update(id, patch) {
      if (!sessionIdPattern.test(id)) return;
      const { createdAt: _fixed, ...rest } = patch; // the absolute cap counts from the first login
      await run('update', () => (redis as unknown as { sessMerge(key: string, ...args: (string | number)[]): Promise<number> })
        .sessMerge(keyOf(id), JSON.stringify(rest), Date.now(), idleTtlSeconds, absoluteTtlSeconds));
    },
    async destroy(id) {
      if (!sessionIdPattern.test(id)) return;
      await run('destroy', () => redis.del(keyOf(id)));
    },
    async revokeUser(userId, exceptId) {
      const ids = await run('list user sessions', () => redis.smembers(userKeyOf(userId)));
      const doomed = ids.filter((id) => id !== exceptId && sessionIdPattern.test(id));
      if (doomed.length === 0) return 0;
      await run('revoke', () => redis.multi().del(...doomed.map(keyOf)).srem(userKeyOf(userId), ...doomed).exec());
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
