import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Redis } from 'ioredis';
import { loadConfig } from '../../app/config';
import type { Db, Queryable, ReadContext } from '../../app/db/db';
import type { PageRequest, RenderedPage } from '../../app/deps';
import { createPageCache, type ClusterPageCache, type PageCacheTuning } from '../../app/cache/page-cache';
import { startTestPostgres, startTestRedis, type TestPostgres, type TestRedis } from '../helpers/services';

// Three PageCache instances in one process stand for three app replicas (each has its own Redis
// connections and registry), against a real Redis (cache role) and a real PostgreSQL primary.

const silent = pino({ level: 'silent' });
let pgServer: TestPostgres;
let redis: TestRedis;
let pool: pg.Pool;
let db: Db;
let inspector: Redis;
const caches: ClusterPageCache[] = [];
const registries = new Map<ClusterPageCache, Registry>();

/** The smallest real Db: every read on the primary (the router's own tests cover routing). */
function primaryDb(p: pg.Pool): Db {
  return {
    async read<T>(_ctx: ReadContext, fn: (q: Queryable) => Promise<T>) {
      return { value: await fn(p as unknown as Queryable), node: 'pg-0' };
    },
    async write<T>(fn: (q: Queryable) => Promise<T>) {
      const value = await fn(p as unknown as Queryable);
      const { rows } = await p.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
      return { value, node: 'pg-0', lsn: rows[0].lsn };
    },
    async canServeReads() { return true; },
    async close() {},
  };
}

function config(name: string, redisUrl: string, cache: Record<string, string> = {}) {
  return loadConfig({
    ...pgServer.env,
    AIDIARY_APP_NAME: name,
    AIDIARY_SESSION_SECRET: 'x'.repeat(40),
    AIDIARY_REDIS_SESSIONS_URL: redisUrl,
    AIDIARY_REDIS_CACHE_URL: redisUrl,
    ...cache,
  });
}

async function newCache(name: string, opts: { redisUrl?: string; env?: Record<string, string>; tuning?: Partial<PageCacheTuning> } = {}) {
  const registry = new Registry();
  const cache = createPageCache({ config: config(name, opts.redisUrl ?? redis.url, opts.env), logger: silent, metrics: registry, db }, opts.tuning);
  caches.push(cache);
  registries.set(cache, registry);
  await cache.ready();
  return cache;
}

/** A page whose render counts itself and returns the current `version` of a piece of content. */
function page(key: string, tags: string[], state: { version: number; renders: number; delayMs?: number; minLsns?: (string | null | undefined)[] }): PageRequest {
  return {
    key,
    tags: [...tags, 'site'],
    async render(ctx): Promise<RenderedPage> {
      state.renders++;
      state.minLsns?.push(ctx.minLsn);
      const version = state.version;
      if (state.delayMs) await new Promise((r) => setTimeout(r, state.delayMs));
      return { status: 200, body: `${key} v${version}`, contentType: 'text/html', dbNode: 'pg-0', renderedBy: 'test' };
    },
  };
}

const l1Entries = async (c: ClusterPageCache) => c.l1Stats().entries;
const counters = async (c: ClusterPageCache) => (await c.stats()).counters as Record<string, number>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, stepMs = 2): Promise<number> {
  const start = performance.now();
  while (!(await cond())) {
    if (performance.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
  return performance.now() - start;
}

beforeAll(async () => {
  [pgServer, redis] = await Promise.all([startTestPostgres(), startTestRedis('cache')]);
  pool = new pg.Pool({ host: pgServer.primary.host, port: pgServer.primary.port, user: pgServer.appUser, password: pgServer.appPassword, database: pgServer.dbName, max: 4 });
  pool.on('error', () => {});
  db = primaryDb(pool);
  inspector = new Redis(redis.url);
  inspector.on('error', () => {});
});

afterAll(async () => {
  for (const c of caches) await c.close().catch(() => {});
  inspector?.disconnect();
  await pool?.end();
  await redis?.stop();
  await pgServer?.stop();
});

describe('page cache across three replicas', () => {
  let a: ClusterPageCache, b: ClusterPageCache, c: ClusterPageCache;
  beforeAll(async () => {
    [a, b, c] = await Promise.all([newCache('app-0'), newCache('app-1'), newCache('app-2')]);
  });

  it('fills once: MISS, then HIT-L1 on the same replica and HIT-L2 on another', async () => {
    const state = { version: 1, renders: 0 };
    const req = page('/layers', ['post:1'], state);
    expect((await a.get(req)).cacheStatus).toBe('MISS');
    expect((await a.get(req)).cacheStatus).toBe('HIT-L1');
    const fromB = await b.get(req);
    expect(fromB.cacheStatus).toBe('HIT-L2');
    expect(fromB.page.body).toBe('/layers v1');
    expect((await b.get(req)).cacheStatus).toBe('HIT-L1');
    expect(state.renders).toBe(1);
  });

  it('an invalidation reaches every replica’s L1 within 100 ms', async () => {
    const state = { version: 1, renders: 0 };
    const req = page('/inval', ['list:tag:inval'], state);
    for (const cache of [a, b, c]) await cache.get(req);
    for (const cache of [a, b, c]) expect((await cache.get(req)).cacheStatus).toBe('HIT-L1');
    const before = await Promise.all([a, b, c].map(l1Entries));

    state.version = 2;
    const published = performance.now();
    await a.invalidate(['list:tag:inval'], '0/1000000');
    const delays = await Promise.all([a, b, c].map(async (cache, i) => {
      await waitFor(async () => (await l1Entries(cache)) === before[i] - 1, 100, 1);
      return performance.now() - published;
    }));
    for (const d of delays) expect(d).toBeLessThan(100);
    // Each replica observed the publish → purge delay in its histogram.
    for (const cache of [b, c]) {
      const histogram = (await registries.get(cache)!.getSingleMetric('aidiary_cache_invalidation_delay_seconds')!.get()).values;
      expect(histogram.find((v) => (v as { metricName?: string }).metricName === 'aidiary_cache_invalidation_delay_seconds_count')!.value).toBeGreaterThanOrEqual(1);
    }
    for (const cache of [a, b, c]) expect((await cache.get(req)).page.body).toBe('/inval v2');
    // The invalidating write's LSN is what the next fill must read at.
    expect(await inspector.hget('cache:tags', 'lsn:list:tag:inval')).toBe('0/1000000');
  });

  it('tag LSNs only move forward', async () => {
    await a.invalidate(['list:tag:lsnmax'], '0/3000000');
    await b.invalidate(['list:tag:lsnmax'], '0/2000000');
    expect(await inspector.hget('cache:tags', 'lsn:list:tag:lsnmax')).toBe('0/3000000');
    await b.invalidate(['list:tag:lsnmax'], '1/0');
    expect(await inspector.hget('cache:tags', 'lsn:list:tag:lsnmax')).toBe('1/0');
  });

  it('a lost invalidation message still converges within 2 s (generation backstop)', async () => {
    const state = { version: 1, renders: 0 };
    const req = page('/backstop', ['list:category:lost'], state);
    for (const cache of [a, b, c]) await cache.get(req);
    expect((await c.get(req)).cacheStatus).toBe('HIT-L1');
    const dropsBefore = (await counters(c)).backstopDrops;
    c.setDropInvalidationMessages(true);
    try {
      state.version = 2;
      await a.invalidate(['list:category:lost'], '0/1000001');
      // The message was dropped: c still holds the old page right after the publish.
      expect((await c.get(req)).page.body).toBe('/backstop v1');
      const elapsed = await waitFor(async () => (await counters(c)).backstopDrops > dropsBefore, 2000, 10);
      expect(elapsed).toBeLessThan(2000);
      expect((await c.get(req)).page.body).toBe('/backstop v2');
    } finally {
      c.setDropInvalidationMessages(false);
    }
  });

  it('200 concurrent misses on one key across the replicas cause exactly one render', async () => {
    const state = { version: 1, renders: 0, delayMs: 150 };
    const req = page('/stampede', ['list:home'], state);
    const clusterBefore = (await a.renderCounts()).cluster!;
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => [a, b, c][i % 3].get(req)));
    expect(state.renders).toBe(1);
    expect((await a.renderCounts()).cluster).toBe(clusterBefore + 1);
    expect(new Set(results.map((r) => r.page.body))).toEqual(new Set(['/stampede v1']));
    expect(results.filter((r) => r.cacheStatus === 'MISS').length).toBeGreaterThanOrEqual(1);
    expect(results.filter((r) => r.cacheStatus === 'HIT-L2').length).toBeGreaterThanOrEqual(1);
  });

  it('a replica that missed before another stored the page and locks after its release takes the stored page, not a second render', async () => {
    const state = { version: 1, renders: 0 };
    let releaseRender!: () => void;
    const renderGate = new Promise<void>((r) => { releaseRender = r; });
    const req: PageRequest = { ...page('/late-locker', ['list:home'], state), render: async () => { state.renders++; await renderGate; return { status: 200, body: 'late v1', contentType: 'text/html', dbNode: 'pg-0', renderedBy: 'test' }; } };
    // Hold b's lock attempt (a real SET NX on the real Redis) until a has stored and released:
    // the interleaving that let each replica of a stampede render once more.
    const realSet = Redis.prototype.set;
    let releaseLockAttempt!: () => void;
    const lockAttemptGate = new Promise<void>((r) => { releaseLockAttempt = r; });
    let held = 0;
    const first = a.get(req);
    await waitFor(async () => state.renders === 1, 2000);
    (Redis.prototype as unknown as { set: (...args: unknown[]) => unknown }).set = async function (this: Redis, ...args: unknown[]) {
      if (String(args[0]).endsWith('/late-locker') && args.includes('NX')) { held++; await lockAttemptGate; }
      return (realSet as (...a: unknown[]) => unknown).apply(this, args);
    };
    try {
      const second = b.get(req);
      await waitFor(async () => held === 1, 2000);
      releaseRender();
      expect((await first).cacheStatus).toBe('MISS');
      releaseLockAttempt();
      const late = await second;
      expect(late.page.body).toBe('late v1');
      expect(late.cacheStatus).toBe('HIT-L2');
      expect(state.renders).toBe(1);
    } finally {
      Redis.prototype.set = realSet;
    }
  });

  it('a render overlapping an invalidation of its tags is served but stored nowhere', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let renders = 0;
    const req: PageRequest = {
      key: '/overlap',
      tags: ['post:77', 'site'],
      async render() {
        renders++;
        const body = `overlap render ${renders}`;
        if (renders === 1) await gate;
        return { status: 200, body, contentType: 'text/html', dbNode: 'pg-0', renderedBy: 'test' };
      },
    };
    const pending = a.get(req);
    await sleep(50);
    await b.invalidate(['post:77'], '0/1000002'); // the write commits while the render runs
    release();
    const served = await pending;
    expect(served.cacheStatus).toBe('MISS');
    expect(served.page.body).toBe('overlap render 1');
    expect(await inspector.exists('cache:page:/overlap')).toBe(0);
    const next = await a.get(req);
    expect(next.cacheStatus).toBe('MISS');
    expect(next.page.body).toBe('overlap render 2');
    expect((await c.get(req)).cacheStatus).toBe('HIT-L2');
  });

  it('a fill passes the newest LSN of the page’s tags, also for a page evicted rather than purged', async () => {
    const state = { version: 1, renders: 0, minLsns: [] as (string | null | undefined)[] };
    const req = page('/evicted', ['post:88', 'list:tag:evict'], state);
    await a.invalidate(['post:88'], '0/5000000');
    await a.invalidate(['list:tag:evict'], '0/4000000');
    await a.get(req);
    // Evicted from both layers (no purge): the next fill still asks for the newest tag LSN.
    await inspector.del('cache:page:/evicted');
    a.setLayers({ l1: false });
    a.setLayers({ l1: true });
    await b.get(req);
    expect(state.minLsns).toEqual(['0/5000000', '0/5000000']);
  });

  it('warming runs on exactly one replica', async () => {
    const state = { version: 1, renders: 0 };
    const fetched: string[] = [];
    for (const cache of [a, b, c]) {
      // What main.ts does with app.inject: fetch the path through the routes into the cache.
      cache.setWarmFetcher(async (path) => { fetched.push(path); await cache.get(page(path, ['list:home'], state)); }, ['/warm-home']);
    }
    await a.invalidate(['list:home'], '0/1000003');
    const results = await Promise.all([a, b, c].map((cache) => cache.warm()));
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    expect(fetched).toContain('/warm-home');
    await sleep(400); // the debounced warm scheduled by the invalidation finds the page cached
    expect(state.renders).toBe(1);
    // The most-read pages are warmed too (hits are flushed to a sorted set).
    for (const cache of [a, b, c]) cache.setWarmFetcher(null);
  });
});

describe('stale-while-revalidate', () => {
  it('serves an expired entry as STALE while one background render refreshes it; a purged one never', async () => {
    const env = { AIDIARY_CACHE_L1_TTL_SECONDS: '1', AIDIARY_CACHE_L2_TTL_SECONDS: '1', AIDIARY_CACHE_SWR_SECONDS: '30' };
    const [x, y] = await Promise.all([newCache('app-5', { env }), newCache('app-6', { env })]);
    const state = { version: 1, renders: 0, delayMs: 100 };
    const req = page('/swr', ['list:author:swr'], state);
    expect((await x.get(req)).cacheStatus).toBe('MISS');
    await sleep(1300);
    state.version = 2;
    const stale = await Promise.all([x.get(req), x.get(req), y.get(req)]);
    expect(stale.map((r) => r.cacheStatus)).toEqual(['STALE', 'STALE', 'STALE']);
    expect(stale[0].page.body).toBe('/swr v1');
    await waitFor(async () => state.renders === 2, 2000, 10);
    await sleep(150);
    expect(state.renders).toBe(2); // one refresh for the whole cluster
    expect((await y.get(req)).page.body).toBe('/swr v2');

    const entriesBefore = await l1Entries(y);
    state.version = 3;
    await x.invalidate(['list:author:swr'], '0/1000004');
    await waitFor(async () => (await l1Entries(y)) === entriesBefore - 1, 100, 1);
    const afterPurge = await y.get(req);
    expect(afterPurge.cacheStatus).toBe('MISS');
    expect(afterPurge.page.body).toBe('/swr v3');
  });
});

describe('cache Redis down', () => {
  it('is a miss plus a counter, never a throw or a hang; L1 keeps serving; L1 is flushed after reconnect', async () => {
    const own = await startTestRedis('cache');
    try {
      const x = await newCache('app-7', { redisUrl: own.url });
      const state = { version: 1, renders: 0 };
      const cachedReq = page('/down-cached', ['post:5'], state);
      await x.invalidate(['post:5'], '0/1000000'); // generation 1 on the Redis that will be lost
      expect((await x.get(cachedReq)).cacheStatus).toBe('MISS');
      expect((await x.get(cachedReq)).cacheStatus).toBe('HIT-L1');

      await own.kill();
      const errorsBefore = (await counters(x)).redisErrors;
      const t0 = performance.now();
      const missed = await x.get(page('/down-new', ['post:6'], state));
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(missed.cacheStatus).toBe('MISS');
      expect(missed.page.body).toBe('/down-new v1');
      expect((await counters(x)).redisErrors).toBeGreaterThan(errorsBefore);
      const errorMetric = await registries.get(x)!.getSingleMetric('aidiary_cache_redis_errors_total')!.get();
      expect(errorMetric.values.reduce((sum, v) => sum + v.value, 0)).toBeGreaterThan(0);
      expect((await x.get(cachedReq)).cacheStatus).toBe('HIT-L1');
      await expect(x.invalidate(['post:6'], '0/2000000')).resolves.toBeUndefined();
      const stats = await x.stats();
      expect(stats.redis).not.toBe('ready');

      await own.restart();
      await waitFor(async () => (await x.stats()).redis === 'ready', 5000, 20);
      await waitFor(async () => (await l1Entries(x)) === 0, 2000, 10);
      expect((await counters(x)).l1Flushes).toBeGreaterThan(0);
      // The invalidation that failed during the outage was replayed on reconnect.
      const probe = new Redis(own.url);
      probe.on('error', () => {});
      try {
        await waitFor(async () => (await probe.hget('cache:tags', 'lsn:post:6')) === '0/2000000', 2000, 20);
      } finally {
        probe.disconnect();
      }
      expect((await x.get(cachedReq)).cacheStatus).toBe('MISS');
      // The restarted Redis counts generations from 0 again: L1 must accept pages again.
      expect((await x.get(cachedReq)).cacheStatus).toBe('HIT-L1');
    } finally {
      await own.stop();
    }
  });
});
