import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { createJobs } from '../../app/jobs/jobs';
import { freePort } from '../../infra/local/process';

// An app whose queue Redis is unreachable from the start (not yet up, wrong address): building,
// starting and closing the jobs never throws or hangs, enqueues fail fast and are counted, and the
// app's pages keep serving.

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ posts: 2 });
});

afterAll(async () => {
  await t?.close();
});

describe('jobs with no Redis at all', () => {
  it('fail fast, count the failures, never crash, and close in bounded time', async () => {
    const deadUrl = `redis://127.0.0.1:${await freePort()}`;
    const jobs = createJobs({
      redisUrl: deadUrl, appName: 'app-x', logger: t.deps.logger, metrics: t.deps.metrics, db: t.deps.db,
      pageCache: t.deps.pageCache, media: t.deps.media!, onContentChanged: t.deps.onContentChanged,
    });
    jobs.start();
    let startedAt = Date.now();
    expect(await jobs.enqueueWarm()).toBe(false);
    expect(await jobs.enqueueThumbnail({ sha256: 'a'.repeat(64), createdAtMs: Date.now() }, null)).toBe(false);
    expect(Date.now() - startedAt).toBeLessThan(4000);
    await expect(jobs.summary()).rejects.toThrow(/did not answer/);
    const metric = await t.deps.metrics.getSingleMetric('aidiary_jobs_redis_errors_total')!.get();
    const ops = new Set(metric.values.filter((v) => v.value > 0).map((v) => v.labels.op));
    expect(ops).toContain('enqueue:cache-warm');
    expect(ops).toContain('enqueue:thumbnails');

    expect((await t.app.inject({ method: 'GET', url: '/' })).statusCode).toBe(200);

    startedAt = Date.now();
    await jobs.close();
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(await jobs.enqueueWarm()).toBe(false); // closed: a no-op, not an error
  });
});
