import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Redis } from 'ioredis';
import { loadConfig } from '../../app/config';
import type { Db } from '../../app/db/db';
import { createRoutedDb } from '../../app/db/router';
import type { PageRequest } from '../../app/deps';
import { createPageCache, type ClusterPageCache } from '../../app/cache/page-cache';
import { superuserQuery } from '../../infra/local/postgres';
import { startTestPostgres, startTestRedis, type TestPostgres, type TestRedis } from '../helpers/services';

// Invariant 4 with the real router and really lagging replicas (recovery_min_apply_delay): a page
// evicted (not purged) and filled again while the replicas have not replayed the newest write
// must still show that write, because the fill asks for the tag's recorded LSN.

const silent = pino({ level: 'silent' });
const applyDelayMs = 4000;
let pgServer: TestPostgres;
let redis: TestRedis;
let db: Db & { close(): Promise<void> };
let inspector: Redis;
const caches: ClusterPageCache[] = [];

beforeAll(async () => {
  [pgServer, redis] = await Promise.all([startTestPostgres({ replicas: 2 }), startTestRedis('cache')]);
  const config = (name: string) => loadConfig({
    ...pgServer.env,
    AIDIARY_APP_NAME: name,
    AIDIARY_SESSION_SECRET: 'x'.repeat(40),
    AIDIARY_REDIS_SESSIONS_URL: redis.url,
    AIDIARY_REDIS_CACHE_URL: redis.url,
    // Keep lagging replicas eligible: only the LSN rule may send the fill to the primary.
    AIDIARY_DB_MAX_LAG_MS: '600000',
    AIDIARY_DB_MAX_LAG_BYTES: String(1024 * 1024 * 1024),
  });
  db = createRoutedDb({ config: config('app-0'), logger: silent, metrics: new Registry() });
  await db.write((q) => q.query({ text: 'CREATE TABLE cache_probe (id int PRIMARY KEY, v int NOT NULL)' }));
  await db.write((q) => q.query({ text: 'INSERT INTO cache_probe VALUES (1, 1)' }));
  // Both replicas have v=1 before they start lagging.
  for (const replica of pgServer.replicas) {
    for (let i = 0; ; i++) {
      const rows = await superuserQuery<{ v: number }>(replica, 'SELECT v FROM cache_probe WHERE id = 1', [], pgServer.dbName).catch(() => []);
      if (rows[0]?.v === 1) break;
      if (i > 200) throw new Error('replica did not replay the fixture');
      await new Promise((r) => setTimeout(r, 25));
    }
    await superuserQuery(replica, `ALTER SYSTEM SET recovery_min_apply_delay = '${applyDelayMs}ms'`);
    await superuserQuery(replica, 'SELECT pg_reload_conf()');
  }
  for (const name of ['app-0', 'app-1']) {
    const cache = createPageCache({ config: config(name), logger: silent, metrics: new Registry(), db });
    caches.push(cache);
    await cache.ready();
  }
  inspector = new Redis(redis.url);
  inspector.on('error', () => {});
});

afterAll(async () => {
  for (const c of caches) await c.close().catch(() => {});
  inspector?.disconnect();
  await db?.close();
  await redis?.stop();
  await pgServer?.stop();
});

const probePage = (nodes: string[]): PageRequest => ({
  key: '/posts/probe',
  tags: ['post:1', 'list:home', 'site'],
  async render(ctx) {
    const { value, node } = await db.read(ctx, (q) => q.query<{ v: number }>({ text: 'SELECT v FROM cache_probe WHERE id = 1' }));
    nodes.push(node);
    return { status: 200, body: `v${value.rows[0].v}`, contentType: 'text/html', dbNode: node, renderedBy: 'test' };
  },
});

describe('fills never re-cache older data while replicas lag', () => {
  it('an evicted page re-rendered during replica lag still shows the latest write', async () => {
    const [a, b] = caches;
    const nodes: string[] = [];
    expect((await a.get(probePage(nodes))).page.body).toBe('v1');

    const write = await db.write((q) => q.query({ text: 'UPDATE cache_probe SET v = 2 WHERE id = 1' }));
    await a.invalidate(['post:1', 'list:home'], write.lsn);

    // Control: the replicas really lag, so a read without the LSN would see the old row.
    const unguarded = await db.read({}, (q) => q.query<{ v: number }>({ text: 'SELECT v FROM cache_probe WHERE id = 1' }));
    expect(unguarded.node).not.toBe('pg-0');
    expect(unguarded.value.rows[0].v).toBe(1);

    const afterPurge = await b.get(probePage(nodes));
    expect(afterPurge.cacheStatus).toBe('MISS');
    expect(afterPurge.page.body).toBe('v2');
    expect(afterPurge.page.dbNode).toBe('pg-0');

    // Evicted from L2 (allkeys-lru) and from every L1, no purge: the next fill still needs the LSN.
    await inspector.del('cache:page:/posts/probe');
    for (const c of caches) { c.setLayers({ l1: false }); c.setLayers({ l1: true }); }
    const afterEviction = await a.get(probePage(nodes));
    expect(afterEviction.cacheStatus).toBe('MISS');
    expect(afterEviction.page.body).toBe('v2');
    expect(afterEviction.page.dbNode).toBe('pg-0');
    expect((await b.get(probePage(nodes))).page.body).toBe('v2');
  });
});
