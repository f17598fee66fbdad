import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Redis } from 'ioredis';
import { loadConfig } from '../../app/config';
import type { Db, Queryable } from '../../app/db/db';
import type { PageRequest } from '../../app/deps';
import { createPageCache, type ClusterPageCache } from '../../app/cache/page-cache';
import { startControlServer } from '../../app/control-server';
import { freePort } from '../../infra/local/process';
import { startTestPostgres, startTestRedis, type TestPostgres, type TestRedis } from '../helpers/services';

// The loopback control port the benchmark uses to switch cache layers per scenario.

const silent = pino({ level: 'silent' });
let pgServer: TestPostgres;
let redis: TestRedis;
let pool: pg.Pool;
let cache: ClusterPageCache;
let control: FastifyInstance;
let base: string;
let inspector: Redis;

beforeAll(async () => {
  [pgServer, redis] = await Promise.all([startTestPostgres(), startTestRedis('cache')]);
  pool = new pg.Pool({ host: pgServer.primary.host, port: pgServer.primary.port, user: pgServer.appUser, password: pgServer.appPassword, database: pgServer.dbName, max: 2 });
  pool.on('error', () => {});
  const db: Db = {
    async read(_ctx, fn) { return { value: await fn(pool as unknown as Queryable), node: 'pg-0' }; },
    async write() { throw new Error('not used'); },
    async canServeReads() { return true; },
    async close() {},
  };
  const config = loadConfig({ ...pgServer.env, AIDIARY_APP_NAME: 'app-0', AIDIARY_SESSION_SECRET: 'x'.repeat(40), AIDIARY_REDIS_CACHE_URL: redis.url, AIDIARY_REDIS_SESSIONS_URL: redis.url });
  cache = createPageCache({ config, logger: silent, metrics: new Registry(), db });
  await cache.ready();
  control = await startControlServer({ pageCache: cache, logger: silent, config }, await freePort());
  const address = control.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  base = `http://127.0.0.1:${address.port}`;
  inspector = new Redis(redis.url);
  inspector.on('error', () => {});
});

afterAll(async () => {
  await control?.close();
  await cache?.close();
  inspector?.disconnect();
  await pool?.end();
  await redis?.stop();
  await pgServer?.stop();
});

const req: PageRequest = {
  key: '/control', tags: ['list:home', 'site'],
  async render() { return { status: 200, body: 'home', contentType: 'text/html', dbNode: 'pg-0', renderedBy: 'app-0' }; },
};
const post = (path: string, body?: unknown) => fetch(base + path, { method: 'POST', headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });

describe('control server', () => {
  it('listens on loopback only', () => {
    const address = control.server.address();
    expect(typeof address === 'object' && address?.address).toBe('127.0.0.1');
  });

  it('switches layers, counts renders, flushes L1 and L2', async () => {
    expect((await cache.get(req)).cacheStatus).toBe('MISS');
    expect((await cache.get(req)).cacheStatus).toBe('HIT-L1');

    const off = await post('/cache/layers', { l1: false });
    expect(off.status).toBe(200);
    expect(await off.json()).toEqual({ layers: { l1: false, l2: true } });
    expect((await cache.get(req)).cacheStatus, JSON.stringify(await cache.stats())).toBe('HIT-L2');

    await post('/cache/layers', { l2: false });
    expect((await cache.get(req)).cacheStatus).toBe('MISS');
    const renders = await (await fetch(`${base}/cache/renders`)).json();
    expect(renders).toMatchObject({ app: 'app-0', process: 2, cluster: 2 });

    await post('/cache/layers', { l1: true, l2: true });
    expect(await inspector.exists('cache:page:/control')).toBe(1);
    expect((await post('/cache/flush')).status).toBe(200);
    expect(await inspector.exists('cache:page:/control')).toBe(0);
    expect((await cache.get(req)).cacheStatus).toBe('MISS');

    const stats = await (await fetch(`${base}/cache/stats`)).json();
    expect(stats).toMatchObject({ enabled: true, layers: { l1: true, l2: true } });
    expect(stats.counters.renders).toBe(3);
    expect(stats.l2.usedMemoryBytes).toBeGreaterThan(0);
    expect(stats.l2.maxMemoryBytes).toBeGreaterThan(0); // the cache role runs with maxmemory + allkeys-lru
  });

  it('with both layers off and coalesce false every concurrent request renders; coalesce true shares one render', async () => {
    let renders = 0;
    const slow: PageRequest = {
      key: '/control-coalesce', tags: ['list:home', 'site'],
      async render() {
        renders++;
        await new Promise((r) => setTimeout(r, 50)); // long enough for all 20 gets to overlap
        return { status: 200, body: 'slow', contentType: 'text/html', dbNode: 'pg-0', renderedBy: 'app-0' };
      },
    };
    const off = await post('/cache/layers', { l1: false, l2: false, coalesce: false });
    expect(await off.json()).toEqual({ layers: { l1: false, l2: false } });
    expect(await (await fetch(`${base}/cache/stats`)).json()).toMatchObject({ coalesce: false });
    const uncoalesced = await Promise.all(Array.from({ length: 20 }, () => cache.get(slow)));
    expect(uncoalesced.every((r) => r.cacheStatus === 'MISS' && r.page.body === 'slow')).toBe(true);
    expect(renders).toBe(20);

    renders = 0;
    await post('/cache/layers', { coalesce: true });
    await Promise.all(Array.from({ length: 20 }, () => cache.get(slow)));
    expect(renders).toBe(1);
    await post('/cache/layers', { l1: true, l2: true });
  });

  it('rejects a malformed layers body', async () => {
    expect((await post('/cache/layers', { l1: 'yes' })).status).toBe(400);
    expect((await post('/cache/layers', { coalesce: 'no' })).status).toBe(400);
  });
});
