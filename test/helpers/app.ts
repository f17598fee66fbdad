import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { loadConfig, type AppConfig } from '../../app/config';
import { createDeps, closeDeps, createLogger } from '../../app/create-deps';
import type { JobsTuning } from '../../app/jobs/jobs';
import type { AppDeps } from '../../app/deps';
import { buildServer } from '../../app/server';
import { runMigrations } from '../../app/db/migrate';
import { seedDemoContent, ensureAdminUser, type SeedOptions } from '../../app/db/seed';
import { startTestPostgres, startTestRedis, type TestPostgres, type TestRedis } from './services';

// A whole app on real servers: PostgreSQL (+ replicas), Redis (sessions, and cache when the page
// cache is on), migrated and seeded, built with createDeps, ready for `app.inject()`.
// Signature kept stable for every engineer's tests.

export interface StartTestAppOptions {
  /** Demo posts to seed (0 = migrate only). Default 60. */
  posts?: number;
  seed?: SeedOptions;
  /** PostgreSQL replicas. Default 0. */
  replicas?: number;
  /** Page cache layers; default both off (passthrough) so tests see the render path. */
  cache?: { l1?: boolean; l2?: boolean };
  /** Admin password (the `admin` account is created with it). Default: random; returned. */
  adminPassword?: string;
  /** Extra environment for loadConfig (e.g. AIDIARY_APP_NAME). */
  env?: Record<string, string>;
  /** Wrap or replace deps before buildServer (e.g. a query-counting Db). */
  wrapDeps?: (deps: AppDeps) => AppDeps;
  /** Runs on the built server before ready() (e.g. a test's own hook). */
  beforeReady?: (app: FastifyInstance) => void;
  /** Reuse servers started by the caller (several apps on one database). */
  pg?: TestPostgres;
  redis?: TestRedis;
  cacheRedis?: TestRedis;
  logLevel?: string;
  /** Job timings (createDeps' jobs override), e.g. a short maintenance interval. */
  jobs?: Partial<JobsTuning>;
}

export interface TestApp {
  app: FastifyInstance;
  deps: AppDeps;
  config: AppConfig;
  pg: TestPostgres;
  redis: TestRedis;
  cacheRedis: TestRedis | null;
  adminPassword: string;
  /** A superuser-free pg client as the app role on the primary (for expected-row queries). */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

/**
 * Apps that share a sessions Redis share the session secret, as every app of a deployment does:
 * stored sessions are bound to it (app/session/redis-session-store.ts).
 */
const sessionSecrets = new WeakMap<object, string>();
function sessionSecretFor(redis: object): string {
  if (!sessionSecrets.has(redis)) sessionSecrets.set(redis, randomBytes(32).toString('hex'));
  return sessionSecrets.get(redis)!;
}

export async function startTestApp(options: StartTestAppOptions = {}): Promise<TestApp> {
  const ownPg = !options.pg;
  const ownRedis = !options.redis;
  const cacheOn = Boolean(options.cache?.l1 || options.cache?.l2);
  const ownCacheRedis = cacheOn && !options.cacheRedis;
  const started: Array<() => Promise<void>> = [];
  try {
    const pgs = options.pg ?? await startTestPostgres({ replicas: options.replicas ?? 0 });
    if (ownPg) started.push(() => pgs.stop());
    const redis = options.redis ?? await startTestRedis('sessions');
    if (ownRedis) started.push(() => redis.stop());
    const cacheRedis = options.cacheRedis ?? (cacheOn ? await startTestRedis('cache') : null);
    if (ownCacheRedis && cacheRedis) started.push(() => cacheRedis.stop());

    const conn = { host: pgs.primary.host, port: pgs.primary.port, database: pgs.dbName, user: pgs.appUser, password: pgs.appPassword };
    await runMigrations(conn);
    const adminPassword = options.adminPassword ?? randomBytes(12).toString('base64url');
    const client = new pg.Client(conn);
    client.on('error', () => {});
    await client.connect();
    started.push(() => client.end());
    const posts = options.posts ?? 60;
    if (posts > 0) await seedDemoContent(client, { posts, ...options.seed });
    await ensureAdminUser(client, adminPassword);

    const config = loadConfig({
      ...pgs.env,
      AIDIARY_REDIS_SESSIONS_URL: redis.url,
      AIDIARY_REDIS_CACHE_URL: cacheRedis?.url ?? 'redis://127.0.0.1:1',
      AIDIARY_SESSION_SECRET: sessionSecretFor(redis),
      AIDIARY_CACHE_L1: options.cache?.l1 ? 'on' : 'off',
      AIDIARY_CACHE_L2: options.cache?.l2 ? 'on' : 'off',
      AIDIARY_LOG_LEVEL: options.logLevel ?? 'warn',
      AIDIARY_PORT: '0',
      ...options.env,
    });
    let deps = await createDeps(config, { logger: createLogger({ appName: config.appName, logLevel: options.logLevel ?? 'warn' }), jobs: options.jobs });
    started.push(() => closeDeps(deps));
    if (options.wrapDeps) deps = options.wrapDeps(deps);
    const app = await buildServer(deps);
    started.push(() => app.close());
    options.beforeReady?.(app);
    await app.ready();

    return {
      app, deps, config, pg: pgs, redis, cacheRedis, adminPassword,
      async sql(text, values) {
        return (await client.query(text, values)).rows;
      },
      async close() {
        for (const stop of started.reverse()) await stop().catch(() => {});
        started.length = 0;
      },
    };
  } catch (err) {
    for (const stop of started.reverse()) await stop().catch(() => {});
    throw err;
  }
}
