import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { startTestPostgres, startTestRedis, type TestPostgres, type TestRedis } from '../helpers/services';
import { invalidationChannel } from '../../app/cache/invalidation-bus';
import { isClusterPageCache } from '../../app/cache/page-cache';
import { login } from './auth-test-helpers';
import { makeImage, uploadApi, waitFor } from './media-test-helpers';

// Three app instances sharing one PostgreSQL (primary + replica), the sessions Redis (sessions and
// the BullMQ queues) and the cache Redis (L1 + L2 page cache on), each running its job workers as
// main.ts does. Checks what only shows with several apps: a file uploaded through one app is
// served by the others; a scheduled post is published once, on time, and purged from every app's
// cache; N apps asking for a cache warm make one run; with the queue's Redis down the apps keep
// serving and the jobs resume when it returns (a thumbnail whose enqueue was lost included).

let pg: TestPostgres;
let sessionsRedis: TestRedis;
let cacheRedis: TestRedis;
const apps: TestApp[] = [];
let subscriber: Redis;
const invalidations: Array<{ tags: string[]; origin: string }> = [];

async function counter(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((sum, v) => sum + v.value, 0);
}
const clusterCounter = async (name: string, labels: Record<string, string> = {}) =>
  (await Promise.all(apps.map((a) => counter(a.deps.metrics, name, labels)))).reduce((x, y) => x + y, 0);

const home = async (t: TestApp) => (await t.app.inject({ method: 'GET', url: '/' })).body;

beforeAll(async () => {
  pg = await startTestPostgres({ replicas: 1 });
  sessionsRedis = await startTestRedis('sessions');
  cacheRedis = await startTestRedis('cache');
  for (let k = 0; k < 3; k++) {
    apps.push(await startTestApp({
      pg, redis: sessionsRedis, cacheRedis, posts: k === 0 ? 5 : 0, cache: { l1: true, l2: true },
      adminPassword: 'cluster-admin-pass-1', env: { AIDIARY_APP_NAME: `app-${k}` },
    }));
  }
  for (const t of apps) {
    if (isClusterPageCache(t.deps.pageCache)) await t.deps.pageCache.ready();
    t.deps.jobs!.start();
  }
  await Promise.all(apps.map((t) => t.deps.jobs!.ready()));
  subscriber = new Redis(cacheRedis.url);
  subscriber.on('error', () => {});
  await subscriber.subscribe(invalidationChannel);
  subscriber.on('message', (_channel, payload) => {
    const msg = JSON.parse(payload);
    if (msg.type === 'invalidate') invalidations.push({ tags: msg.tags, origin: msg.origin });
  });
});

afterAll(async () => {
  subscriber?.disconnect();
  for (const t of apps.reverse()) await t.close();
  await sessionsRedis?.stop();
  await cacheRedis?.stop();
  await pg?.stop();
});

describe('media across apps', () => {
  it('an image uploaded through app-0 is served by app-1 and app-2; its thumbnail is made once', async () => {
    const admin = await login(apps[0].app, 'admin', 'cluster-admin-pass-1');
    const png = await makeImage('png', 900, 600, 21);
    const thumbsBefore = await clusterCounter('aidiary_jobs_finished_total', { queue: 'thumbnails', job: 'thumbnail', outcome: 'completed' });
    const up = await uploadApi(apps[0].app, admin, { data: png, filename: 'shared.png' });
    expect(up.statusCode).toBe(201);
    expect(up.headers['x-served-by']).toBe('app-0');
    const { url, sha256 } = up.json();
    for (const t of apps.slice(1)) {
      // Anonymous, right after the upload: a replica that has not replayed it yet is not the answer.
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-served-by']).toBe(t.config.appName);
      expect(res.headers['content-type']).toBe('image/png');
      expect(res.rawPayload.equals(png)).toBe(true);
    }
    await waitFor('thumbnail', async () => (await apps[0].sql('SELECT thumb_at FROM media WHERE sha256 = $1', [sha256]))[0]?.thumb_at);
    await new Promise((r) => setTimeout(r, 500));
    expect(await clusterCounter('aidiary_jobs_finished_total', { queue: 'thumbnails', job: 'thumbnail', outcome: 'completed' })).toBe(thumbsBefore + 1);
    for (const t of apps) {
      const thumb = await t.app.inject({ method: 'GET', url: `/media/${sha256}/thumb.webp` });
      expect(thumb.statusCode).toBe(200);
      expect(thumb.headers['content-type']).toBe('image/webp');
    }
  });
});

describe('cache warming on the queue', () => {
  it('three apps asking at once warm once (one fetch of /), and a later ask warms again', async () => {
    const fetched: string[] = [];
    for (const t of apps) {
      const cache = t.deps.pageCache;
      if (!isClusterPageCache(cache)) throw new Error('page cache expected');
      cache.setWarmFetcher(async (path) => {
        if (path === '/') fetched.push(t.config.appName);
        await t.app.inject({ method: 'GET', url: path });
      });
    }
    const idle = async () => {
      const q = (await apps[0].deps.jobs!.summary()).find((s) => s.queue === 'cache-warm')!;
      return q.waiting + q.active + q.delayed === 0;
    };
    await waitFor('warm queue idle', idle);
    fetched.length = 0;
    const queued = await Promise.all(apps.map((t) => t.deps.jobs!.enqueueWarm()));
    expect(queued).toEqual([true, true, true]);
    await waitFor('a warm run', async () => fetched.length > 0);
    await waitFor('warm queue idle', idle);
    await new Promise((r) => setTimeout(r, 300));
    expect(fetched).toHaveLength(1);

    await Promise.all(apps.map((t) => t.deps.jobs!.enqueueWarm()));
    await waitFor('a second warm run', async () => fetched.length > 1);
    await waitFor('warm queue idle', idle);
    await new Promise((r) => setTimeout(r, 300));
    expect(fetched).toHaveLength(2);
    for (const t of apps) if (isClusterPageCache(t.deps.pageCache)) t.deps.pageCache.setWarmFetcher(null);
  });
});

describe('scheduled posts', () => {
  it('a scheduled post appears on time, exactly once, on the home page of all three apps', async () => {
    const title = `Scheduled ${Date.now()}`;
    const [{ id, scheduled_at: scheduledAt }] = await apps[0].sql<{ id: string; scheduled_at: Date }>(
      `INSERT INTO posts (title, slug, content, author_id, status, scheduled_at)
       VALUES ($1, $2, 'Published by the job.', (SELECT id FROM users WHERE username = 'admin'), 'draft', now() + interval '4 seconds')
       RETURNING id, scheduled_at`,
      [title, `scheduled-${Date.now()}`],
    );
    const publishedBefore = await clusterCounter('aidiary_scheduled_posts_published_total');
    invalidations.length = 0;

    // Before its time: absent everywhere (and the home pages are now cached in L1 and L2).
    for (const t of apps) expect(await home(t)).not.toContain(title);

    const seenAt = await waitFor('the post on app-0', async () => ((await home(apps[0])).includes(title) ? Date.now() : null), 15_000, 100);
    expect(seenAt).toBeGreaterThanOrEqual(scheduledAt.getTime());
    // On time: within one scheduler interval (2 s) plus slack for a loaded 2-core machine.
    expect(seenAt - scheduledAt.getTime()).toBeLessThan(5000);
    for (const t of apps.slice(1)) {
      await waitFor(`the post on ${t.config.appName}`, async () => (await home(t)).includes(title), 3000, 50);
    }

    // A few more scheduler runs on every app: still exactly one publish.
    await new Promise((r) => setTimeout(r, 4500));
    expect(await clusterCounter('aidiary_scheduled_posts_published_total') - publishedBefore).toBe(1);
    const purges = invalidations.filter((m) => m.tags.includes(`post:${id}`));
    expect(purges).toHaveLength(1);
    expect(purges[0].tags).toContain('list:home');
    const [row] = await apps[0].sql('SELECT status, scheduled_at, published_at FROM posts WHERE id = $1', [id]);
    expect(row.status).toBe('published');
    expect(row.scheduled_at).toBeNull();
    expect(row.published_at.getTime()).toBe(scheduledAt.getTime());
    for (const t of apps) {
      const page = await home(t);
      expect(page.split(title).length - 1).toBe(1); // listed once
    }
  });
});

describe('queue Redis down', () => {
  it('the apps keep serving, enqueues fail fast and are counted, and jobs resume when Redis returns', async () => {
    const errorsBefore = await clusterCounter('aidiary_jobs_redis_errors_total');
    await sessionsRedis.kill();
    let restarted = false;
    try {
      for (const t of apps) {
        const res = await t.app.inject({ method: 'GET', url: '/' });
        expect(res.statusCode).toBe(200);
      }
      const startedAt = Date.now();
      expect(await apps[1].deps.jobs!.enqueueWarm()).toBe(false);
      expect(Date.now() - startedAt).toBeLessThan(2500);
      await expect(apps[1].deps.jobs!.summary()).rejects.toThrow();
      expect(await clusterCounter('aidiary_jobs_redis_errors_total')).toBeGreaterThan(errorsBefore);

      // A post that falls due during the outage…
      const title = `During the outage ${Date.now()}`;
      await apps[0].sql(
        `INSERT INTO posts (title, slug, content, author_id, status, scheduled_at)
         VALUES ($1, $2, 'x', (SELECT id FROM users WHERE username = 'admin'), 'draft', now() + interval '1 second')`,
        [title, `outage-${Date.now()}`],
      );
      // …and a file stored while its thumbnail could not be enqueued (straight into the library:
      // the upload routes need a session, and sessions live in this Redis too).
      const png = await makeImage('png', 400, 300, 22);
      const [{ id: adminId }] = await apps[0].sql<{ id: string }>("SELECT id FROM users WHERE username = 'admin'");
      const stored = await apps[2].deps.media!.upload({ bytes: png, originalName: 'outage.png', userId: Number(adminId) });
      expect(await apps[2].deps.jobs!.enqueueThumbnail({ sha256: stored.item.sha256, createdAtMs: Date.parse(stored.item.createdAt) }, stored.lsn)).toBe(false);
      await new Promise((r) => setTimeout(r, 3000));
      expect((await apps[0].sql('SELECT status FROM posts WHERE title = $1', [title]))[0].status).toBe('draft');
      await sessionsRedis.restart();
      restarted = true;
      // …is published once the workers reconnect, and the reconnect's sweep makes the thumbnail.
      await waitFor('publish after Redis returned', async () =>
        (await apps[0].sql('SELECT status FROM posts WHERE title = $1', [title]))[0].status === 'published', 30_000, 200);
      await waitFor('the thumbnail of the file stored during the outage', async () =>
        (await apps[0].sql('SELECT thumb_at FROM media WHERE sha256 = $1', [stored.item.sha256]))[0]?.thumb_at, 30_000, 200);
      expect(await apps[2].deps.jobs!.enqueueWarm()).toBe(true);
    } finally {
      if (!restarted) await sessionsRedis.restart().catch(() => {});
    }
  });
});
