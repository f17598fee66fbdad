import { createHash } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { createPgMediaStorage } from '../../app/media/storage';
import { createCast, login, type Cast } from './auth-test-helpers';
import { makeImage, multipart, uploadApi, waitFor } from './media-test-helpers';
import { declaredPng } from './pixel-bomb';

// The pixel cap: an upload whose header declares more pixels than the cap (default 40 megapixels,
// AIDIARY_MAX_UPLOAD_PIXELS) is refused from its header, before anything decodes it, on the JSON
// API and on the admin form, and nothing is stored. A file already stored above the cap (uploaded
// before it, or under a higher one) makes its thumbnail job fail once, without retries.

let t: TestApp;
let low: TestApp;
let cast: Cast;
let queueConnection: Redis;
let thumbnails: Queue;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const stored = async () => JSON.stringify(await t.sql('SELECT (SELECT count(*) FROM media) AS media, (SELECT count(*) FROM media_blobs) AS blobs'));

beforeAll(async () => {
  t = await startTestApp({ posts: 0, jobs: { thumbnailBackoffMs: 100 } });
  cast = await createCast(t);
  // A second app on the same database and Redis with a 0.25-megapixel cap.
  low = await startTestApp({ posts: 0, pg: t.pg, redis: t.redis, adminPassword: t.adminPassword, env: { AIDIARY_MAX_UPLOAD_PIXELS: '250000', AIDIARY_APP_NAME: 'app-1' } });
  queueConnection = new Redis(t.redis.url, { maxRetriesPerRequest: null });
  thumbnails = new Queue('thumbnails', { connection: queueConnection, prefix: 'jobs' });
});
afterAll(async () => {
  await thumbnails?.close();
  queueConnection?.disconnect();
  await low?.close();
  await t?.close();
});

describe('pixel cap at upload', () => {
  it('POST /api/media refuses a 69-byte PNG declaring 12000×12000 with 413 naming the limit; nothing is stored', async () => {
    const before = await stored();
    for (const bomb of [declaredPng(12000, 12000), declaredPng(12000, 12000, { interlaced: true }), declaredPng(30000, 30000)]) {
      expect(bomb.length).toBeLessThan(120);
      const res = await uploadApi(t.app, cast.alice, { data: bomb, filename: 'bomb.png', contentType: 'image/png' });
      expect(res.statusCode, res.body).toBe(413);
      const { error } = res.json() as { error: { code: string; message: string } };
      expect(error.code).toBe('image_too_large');
      expect(error.message).toMatch(/^The image is (12000×12000|30000×30000) pixels \(\d+ megapixels\); the limit is 40 megapixels\.$/);
    }
    expect(await stored()).toBe(before);
  });

  it('the admin upload form shows the same refusal (413) and stores nothing', async () => {
    const before = await stored();
    const body = multipart({ data: declaredPng(12000, 12000), filename: 'bomb.png' }, { _csrf: cast.alice.csrf });
    const res = await t.app.inject({ method: 'POST', url: '/admin/media', headers: { ...body.headers, cookie: cast.alice.cookie }, payload: body.payload });
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).toContain('The image is 12000×12000 pixels (144 megapixels); the limit is 40 megapixels.');
    expect(await stored()).toBe(before);
  });

  it('the cap is configurable: under 0.25 megapixels an image of 600×500 is refused and one of 500×500 is accepted', async () => {
    const alice = await login(low.app, 'alice', 'alice-pass-1');
    const big = await uploadApi(low.app, alice, { data: await makeImage('jpeg', 600, 500, 71), filename: 'big.jpg' });
    expect(big.statusCode).toBe(413);
    expect(big.json().error.message).toBe('The image is 600×500 pixels (0.3 megapixels); the limit is 0.25 megapixels.');
    const fits = await uploadApi(low.app, alice, { data: await makeImage('jpeg', 500, 500, 72), filename: 'fits.jpg' });
    expect(fits.statusCode, fits.body).toBe(201);
  });
});

describe('thumbnails of a file above the cap', () => {
  it('fail once with the pixel limit named, without the five retries', async () => {
    t.deps.jobs!.start();
    await t.deps.jobs!.ready();
    // As if uploaded before the cap existed: bytes and row written directly.
    const bomb = declaredPng(9000, 9000, { interlaced: true });
    const hash = sha(bomb);
    await createPgMediaStorage(t.deps.db).put(hash, bomb, 'image/png');
    await t.sql(`INSERT INTO media (sha256, mime, ext, byte_size, width, height, original_name, uploaded_by)
                 VALUES ($1, 'image/png', 'png', $2, 9000, 9000, 'old.png', $3)`, [hash, bomb.length, cast.alice.userId]);
    expect(await t.deps.jobs!.enqueueThumbnail({ sha256: hash, createdAtMs: 1 }, null)).toBe(true);
    const job = await waitFor('the thumbnail job to fail for good', async () => {
      const j = await thumbnails.getJob(`thumb-${hash}-1`);
      return j && (await j.getState()) === 'failed' ? j : null;
    }, 20_000);
    expect(job.failedReason).toMatch(/pixel limit/i);
    expect(job.attemptsMade).toBe(1);
    const [row] = await t.sql<{ thumb_at: Date | null }>('SELECT thumb_at FROM media WHERE sha256 = $1', [hash]);
    expect(row.thumb_at).toBeNull();
  });
});
