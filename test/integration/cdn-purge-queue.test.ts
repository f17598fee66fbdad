import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Queue } from 'bullmq';
import { startTestRedis, type TestRedis } from '../helpers/services';
import { startTestApp, type TestApp } from '../helpers/app';
import { startRecordingServer, type RecordedRequest, type RecordingServer } from '../unit/cdn-recording-server';
import { createCdnPurgeQueue, type CdnPurgeQueue, type CdnPurgeTuning } from '../../app/jobs/cdn-purge-queue';
import { createVarnishPurger } from '../../app/cdn/varnish-purger';
import { cdnTags } from '../../app/cdn/cdn-headers';
import { as, login } from './auth-test-helpers';
import { makeImage, uploadApi, waitFor } from './media-test-helpers';

// The CDN purge queue on a real Redis (BullMQ, as the other jobs) with the Varnish adapter sending
// real HTTP to a loopback server that stands in for Varnish and records each PURGE with its arrival
// time: the ≥ 1.1 s delay after the write, deduplication across apps and writes, retries with
// backoff, dead letters and their metrics; then a whole app (AIDIARY_CDN_PROVIDER=varnish) where an
// API publish and a media deletion purge exactly their tags, and a failing CDN never fails a write.

interface Arrival { at: number; tags: string[] }

let redis: TestRedis;
let varnish: RecordingServer;
const arrivals: Arrival[] = [];
const queues: CdnPurgeQueue[] = [];
const silent = pino({ level: 'silent' });
let prefixN = 0;

const arrival = (r: RecordedRequest): Arrival => ({ at: r.at, tags: String(r.headers['xkey-purge'] ?? '').split(' ').filter(Boolean) });

/** Moves what the stand-in Varnish received so far into `arrivals` (each stamped when it was received). */
function record(): void {
  for (const r of varnish.take()) arrivals.push(arrival(r));
}

async function counter(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((s, v) => s + v.value, 0);
}

function makeQueue(registry: Registry, tuning: Partial<CdnPurgeTuning>, appName: string): CdnPurgeQueue {
  const q = createCdnPurgeQueue({
    redisUrl: redis.url, appName, logger: silent, metrics: registry, purger: createVarnishPurger({ url: varnish.url }),
  }, tuning);
  queues.push(q);
  return q;
}

/** Arrivals since `from`, once `want` accepts them (polled every 20 ms). */
async function purgesSince(from: number, want: (a: Arrival[]) => boolean, timeoutMs = 15_000): Promise<Arrival[]> {
  return waitFor('purges', async () => {
    record();
    const got = arrivals.filter((a) => a.at >= from);
    return want(got) ? got : null;
  }, timeoutMs, 20);
}

beforeAll(async () => {
  redis = await startTestRedis('sessions');
  varnish = await startRecordingServer({ status: 200, body: 'purged' });
}, 60_000);

afterAll(async () => {
  for (const q of queues) await q.close();
  await varnish?.close();
  await redis?.stop();
});

describe('cdn-purge queue (real Redis, Varnish adapter over loopback HTTP)', () => {
  it('two apps and overlapping writes: each tag purged once, no sooner than 1.1 s after its last write', async () => {
    const prefix = `t${prefixN++}`;
    const [m0, m1] = [new Registry(), new Registry()];
    const q0 = makeQueue(m0, { prefix }, 'app-0');
    const q1 = makeQueue(m1, { prefix }, 'app-1');
    q0.start(); q1.start();
    await Promise.all([q0.ready(), q1.ready()]);
    record();
    const t0 = Date.now();
    expect(await q0.enqueue(['list:home', 'post:1', 'feed'])).toBe(true);
    expect(await q1.enqueue(['list:home', 'post:2', 'feed'])).toBe(true);
    // `post:1` written again 500 ms later: its purge moves to 1.1 s after that write.
    await new Promise((r) => setTimeout(r, 500));
    const t1 = Date.now();
    expect(await q1.enqueue(['post:1'])).toBe(true);
    const got = await purgesSince(t0, (a) => a.flatMap((x) => x.tags).length >= 4);
    await new Promise((r) => setTimeout(r, 1500)); // nothing more may come
    const all = await purgesSince(t0, () => true);
    const purged = all.flatMap((a) => a.tags);
    expect(purged.sort()).toEqual(['feed', 'list:home', 'post:1', 'post:2']);
    const when = (tag: string) => all.find((a) => a.tags.includes(tag))!.at;
    for (const tag of ['list:home', 'post:2', 'feed']) expect(when(tag) - t0, tag).toBeGreaterThanOrEqual(1100);
    expect(when('post:1') - t1).toBeGreaterThanOrEqual(1100);
    expect(got.length).toBeGreaterThanOrEqual(1);
    const sent = (await counter(m0, 'aidiary_cdn_purge_requests_total', { outcome: 'sent' })) + (await counter(m1, 'aidiary_cdn_purge_requests_total', { outcome: 'sent' }));
    expect(sent).toBe(all.length);
  });

  it('a provider error is retried with backoff until it succeeds; out of attempts it is a dead letter', async () => {
    const prefix = `t${prefixN++}`;
    const metrics = new Registry();
    const q = makeQueue(metrics, { prefix, sendAttempts: 3, sendBackoffMs: 500, sweepEveryMs: 1000 }, 'app-r');
    q.start();
    await q.ready();
    record();
    varnish.respond = [{ status: 500, body: 'boom' }, { status: 503, body: 'busy' }];
    const t0 = Date.now();
    await q.enqueue(['list:tag:retry']);
    const retried = (a: Arrival[]) => a.filter((x) => x.tags.includes('list:tag:retry'));
    const tries = retried(await purgesSince(t0, (a) => retried(a).length >= 3));
    expect(tries.map((a) => a.tags)).toEqual([['list:tag:retry'], ['list:tag:retry'], ['list:tag:retry']]);
    // Exponential from 500 ms: 500, then 1000 (BullMQ adds its own scheduling delay on top).
    expect(tries[1].at - tries[0].at).toBeGreaterThanOrEqual(450);
    expect(tries[2].at - tries[1].at).toBeGreaterThanOrEqual(950);
    await waitFor('sent counted', async () => (await counter(metrics, 'aidiary_cdn_purge_requests_total', { outcome: 'sent' })) === 1);
    expect(await counter(metrics, 'aidiary_cdn_purge_requests_total', { outcome: 'failed' })).toBe(2);
    // The worker's 'completed' event follows the processor's return.
    await waitFor('batch completed', async () => (await counter(metrics, 'aidiary_cdn_purge_batches_total', { outcome: 'completed' })) === 1);

    varnish.fallback = { status: 503, body: 'down' };
    const t1 = Date.now();
    await q.enqueue(['list:tag:dead']);
    await purgesSince(t1, (a) => a.filter((x) => x.tags.includes('list:tag:dead')).length >= 3);
    await waitFor('dead letter', async () => (await counter(metrics, 'aidiary_cdn_purge_batches_total', { outcome: 'dead_letter' })) === 1);
    expect(await counter(metrics, 'aidiary_cdn_purge_batches_total', { outcome: 'failed' })).toBe(4); // 2 before the success above, 2 here
    expect(await counter(metrics, 'aidiary_cdn_purge_requests_total', { outcome: 'failed' })).toBe(5);
    expect(await counter(metrics, 'aidiary_cdn_purge_dead_letters')).toBe(1);
    const failed = await new Queue('cdn-purge', { connection: { host: '127.0.0.1', port: redis.port, ...redisAuth() }, prefix }).getFailed();
    expect(failed.map((j) => j.data.tags)).toEqual([['list:tag:dead']]);
    varnish.fallback = { status: 200, body: 'purged' };
    expect((await q.summary()).failed).toBe(1);
  });

  it('with the queue\'s Redis unreachable, enqueue answers false within its bound and counts it', async () => {
    const metrics = new Registry();
    const q = createCdnPurgeQueue({ redisUrl: 'redis://127.0.0.1:1', appName: 'app-x', logger: silent, metrics, purger: createVarnishPurger({ url: varnish.url }) });
    queues.push(q);
    const t0 = Date.now();
    expect(await q.enqueue(['feed'])).toBe(false);
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(await counter(metrics, 'aidiary_cdn_purge_enqueue_failures_total')).toBe(1);
  });
});

function redisAuth(): { username?: string; password?: string } {
  const u = new URL(redis.url);
  return u.password ? { username: decodeURIComponent(u.username) || undefined, password: decodeURIComponent(u.password) } : {};
}

describe('a whole app with AIDIARY_CDN_PROVIDER=varnish', () => {
  let t: TestApp;
  beforeAll(async () => {
    process.env.AIDIARY_CDN_PROVIDER = 'varnish';
    process.env.AIDIARY_CDN_VARNISH_URL = varnish.url;
    t = await startTestApp({ redis, posts: 0, adminPassword: 'cdn-admin-pass-1' });
    t.deps.jobs!.start();
    await t.deps.jobs!.ready();
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    delete process.env.AIDIARY_CDN_PROVIDER;
    delete process.env.AIDIARY_CDN_VARNISH_URL;
  });

  it('a publish purges exactly its pages\' tags at the CDN, ≥ 1.1 s after the acknowledgement; a failing CDN does not fail the write', async () => {
    const admin = await login(t.app, 'admin', 'cdn-admin-pass-1');
    const api = as(t.app, admin);
    // The terms straight in the database: created through the API they would be site changes,
    // whose `site` purge could share the publish's batch.
    await t.sql("INSERT INTO categories (name, slug) VALUES ('日記', '日記')");
    await t.sql("INSERT INTO tags (name, slug) VALUES ('Kyoto', 'kyoto')");
    varnish.respond = [{ status: 500, body: 'varnish is down' }];
    const sentAt = Date.now();
    const res = await api('POST', '/api/posts', { title: 'Temple walk', content: 'x', status: 'published', categories: ['日記'], tags: ['kyoto'], publishedAt: '2026-03-09T08:00:00Z' });
    const acked = Date.now();
    expect(res.statusCode).toBe(201);
    const { id, slug } = res.json();
    const expected = cdnTags([
      `post:${id}`, `post-slug:${slug}`, 'list:home', 'list:search', 'feed', 'sitemap',
      'list:author:admin', 'list:category:日記', 'list:tag:kyoto', 'list:date:2026', 'list:date:2026-03', 'list:date:2026-03-09',
    ]);
    // The first attempt meets a 500; the retry (2 s backoff) carries the same batch.
    const ofPost = (a: Arrival[]) => a.filter((x) => x.tags.includes(`post:${id}`));
    const got = ofPost(await purgesSince(sentAt, (a) => ofPost(a).length >= 2, 30_000));
    expect(got).toHaveLength(2);
    // Due 1.1 s after the enqueue, which happens after the commit and the app's own invalidation
    // and just before the answer (the exact bound is the queue tests' above; here: not sooner).
    expect(got[0].at - sentAt, JSON.stringify(got.map((a) => ({ dt: a.at - sentAt, t: a.tags.slice(0, 4) })))).toBeGreaterThanOrEqual(1100);
    expect(got[0].at - acked).toBeGreaterThanOrEqual(1000);
    for (const a of got.slice(0, 2)) expect(new Set(a.tags)).toEqual(new Set(expected));
    expect(await counter(t.deps.metrics, 'aidiary_cdn_purge_requests_total', { provider: 'varnish', outcome: 'failed' })).toBe(1);
    await waitFor('sent', async () => (await counter(t.deps.metrics, 'aidiary_cdn_purge_requests_total', { provider: 'varnish', outcome: 'sent' })) >= 1);
    expect((await t.deps.jobs!.summary()).map((s) => s.queue)).toContain('cdn-purge');
  }, 40_000);

  it('deleting a media file purges its media tag', async () => {
    const admin = await login(t.app, 'admin', 'cdn-admin-pass-1');
    const up = await uploadApi(t.app, admin, { data: await makeImage('png', 64, 64, 7), filename: 'a.png' });
    expect(up.statusCode).toBe(201);
    const { sha256 } = up.json();
    record();
    const t0 = Date.now();
    expect((await as(t.app, admin)('DELETE', `/api/media/${sha256}`)).statusCode).toBe(204);
    const got = await purgesSince(t0, (a) => a.some((x) => x.tags.includes(`media:${sha256}`)));
    expect(got.flatMap((a) => a.tags)).toEqual([`media:${sha256}`]);
  }, 30_000);
});
