import pino from 'pino';
import { Registry, collectDefaultMetrics, Histogram } from 'prom-client';
import type { FastifyBaseLogger } from 'fastify';
import type { AppConfig } from './config';
import type { AppDeps, ContentChange, PageCache } from './deps';
import { createRoutedDb } from './db/router';
import { createPassthroughPageCache } from './cache/passthrough-page-cache';
import { createPageCache } from './cache/page-cache';
import { purgeSetFor } from './cache/purge-set';
import { createRedisSessionStore } from './session/redis-session-store';
import { createLoginRateLimiter } from './session/rate-limit';
import { isClusterPageCache } from './cache/page-cache';
import { createPgMediaStorage } from './media/storage';
import { createMediaLibrary } from './media/media-library';
import { createJobs, type JobsTuning } from './jobs/jobs';
import { createConfiguredCdnPurge } from './jobs/cdn-purge-wiring';
import { purgeMediaOnRemove } from './cdn/media-purge';
import { stdoutLogDestination } from './log-destination';

// AppConfig → AppDeps: the only place that opens pools and clients. main.ts calls it once; tests
// call it against the servers they started. closeDeps() releases everything it opened.

export const httpDurationMetric = 'aidiary_http_request_duration_seconds';

/** The redaction every application log line goes through (pino's redact walks these per line). */
const redactPaths = [
  'req.headers.cookie', 'req.headers.authorization', 'req.headers["x-csrf-token"]', 'res.headers["set-cookie"]',
  'headers.cookie', 'headers.authorization', '*.password', 'password', '*.passwordHash', '*.sessionSecret', '*.dbPassword',
  'config.sessionSecret', 'config.dbPassword', 'config.adminPassword',
  'config.redisSessionsAuth', 'config.redisCacheAuth', '*.redisSessionsAuth', '*.redisCacheAuth',
];

const accessLoggers = new WeakMap<FastifyBaseLogger, FastifyBaseLogger>();

/**
 * The logger of the per-request line (server.ts): the same destination as `logger`, without the
 * redaction pass, which cost about as much as the rest of the line. That line is built from
 * fixed fields only (method, URL, status, time, cache status, peer), never headers or bodies.
 * A logger not made by createLogger (tests) is its own access logger.
 */
export function accessLoggerOf(logger: FastifyBaseLogger): FastifyBaseLogger {
  return accessLoggers.get(logger) ?? logger;
}

export function createLogger(config: Pick<AppConfig, 'appName' | 'logLevel'>): FastifyBaseLogger {
  // Buffered writes (app/log-destination.ts): a synchronous write per request line cost ~8 % of
  // an app's CPU under the bench, and a write(2) per line most of the rest; lines are written in
  // 8 KiB batches and at least once a second (like nginx's buffered access log), and flushed
  // synchronously on process exit (main.ts's shutdown and fatal paths end in process.exit), so the
  // last lines are not lost. Both loggers share the process's one stdout batch.
  const destination = stdoutLogDestination();
  const base = { app: config.appName };
  const logger = pino({
    level: config.logLevel, base,
    // Secrets never reach the log: cookies, auth headers, passwords, CSRF tokens.
    redact: { paths: redactPaths, censor: '[redacted]' },
  }, destination) as unknown as FastifyBaseLogger;
  accessLoggers.set(logger, pino({ level: config.logLevel, base }, destination) as unknown as FastifyBaseLogger);
  return logger;
}

export function createMetrics(config: Pick<AppConfig, 'appName'>): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ app: config.appName });
  collectDefaultMetrics({ register: registry });
  new Histogram({
    name: httpDurationMetric,
    help: 'HTTP request latency by route pattern, method and status class',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return registry;
}

export interface CreateDepsOverrides {
  logger?: FastifyBaseLogger;
  metrics?: Registry;
  /** Job timings (tests shorten the scheduled-posts interval). */
  jobs?: Partial<JobsTuning>;
}

export async function createDeps(config: AppConfig, overrides: CreateDepsOverrides = {}): Promise<AppDeps> {
  const logger = overrides.logger ?? createLogger(config);
  const metrics = overrides.metrics ?? createMetrics(config);
  const db = createRoutedDb({ config, logger, metrics });
  const sessions = createRedisSessionStore({ url: config.redisSessionsUrl, auth: config.redisSessionsAuth, secret: config.sessionSecret, logger, metrics });
  const loginLimiter = createLoginRateLimiter(sessions.redis, config.login);
  const pageCache: PageCache = config.cache.l1 || config.cache.l2
    ? createPageCache({ config, logger, metrics, db })
    : createPassthroughPageCache();

  // CDN purges (AIDIARY_CDN_PROVIDER; app/jobs/cdn-purge-queue.ts), null without a CDN.
  const cdnPurge = createConfiguredCdnPurge({ config, db, logger, metrics });

  async function onContentChanged(change: ContentChange) {
    // A purge failure must not fail the write that already committed: log it; the cache's
    // generation backstop and TTLs bound the staleness.
    const tags = purgeSetFor(change);
    try {
      await pageCache.invalidate(tags, change.lsn);
    } catch (err) {
      logger.error({ err, change: change.kind }, 'page cache purge failed');
    }
    // After the app's own invalidation; the queue delays it past nginx's 1 s bound. Not awaited.
    void cdnPurge?.enqueue(tags);
  }
  const library = createMediaLibrary({ db, storage: createPgMediaStorage(db), maxUploadPixels: config.maxUploadPixels });
  const media = cdnPurge ? purgeMediaOnRemove(library, (tags) => cdnPurge.enqueue(tags)) : library;
  // Producers only; main.ts starts the workers once the app serves (jobs.start()).
  const jobs = createJobs({
    redisUrl: config.redisSessionsUrl, redisAuth: config.redisSessionsAuth, appName: config.appName, logger, metrics, db, pageCache, media, onContentChanged, cdnPurge,
  }, overrides.jobs);
  if (isClusterPageCache(pageCache)) pageCache.setWarmQueue(() => jobs.enqueueWarm());

  return { config, db, logger, metrics, sessions, loginLimiter, pageCache, onContentChanged, media, jobs };
}

/**
 * Closes in reverse order of dependency: jobs, the cache (uses db and Redis), sessions, then the
 * pools. Bounded: with Redis unreachable a client's close can wait for a connection that never
 * comes, and main.ts must still exit after draining. Each step gets its own budget (capped by the
 * time left of `timeoutMs`); a step past it is logged and left behind (the process exits anyway).
 */
export async function closeDeps(deps: AppDeps, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const steps: Array<[string, number, () => Promise<void>]> = [
    // Workers first: a job in progress still needs the cache and the pools.
    ['jobs', 3000, async () => { await deps.jobs?.close(); }],
    ['pageCache', 1000, () => deps.pageCache.close()],
    ['sessions', 500, () => deps.sessions.close()],
    // The pools get what is left (at least 500 ms).
    ['db', Infinity, () => deps.db.close()],
  ];
  for (const [name, budgetMs, step] of steps) {
    const ms = Math.max(500, Math.min(budgetMs, deadline - Date.now()));
    const startedAt = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), ms); });
    try {
      if (await Promise.race([step().then(() => 'done' as const), late]) === 'late') {
        deps.logger.warn(`closing ${name} did not finish within ${ms} ms; going on without it`);
      } else {
        deps.logger.debug({ ms: Date.now() - startedAt }, `closed ${name}`);
      }
    } catch (err) {
      deps.logger.warn({ err }, `closing ${name} failed`);
    } finally {
      clearTimeout(timer);
    }
  }
}
