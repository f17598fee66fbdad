import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { as, createCast, type LoggedIn } from './auth-test-helpers';
import { makeImage, multipart, uploadApi, waitFor } from './media-test-helpers';

// The media library against real PostgreSQL (primary + 1 replica) and Redis: type by content,
// size limit, SHA-256 dedup, roles and CSRF, delete refused while a post uses the file, the public
// URL's caching headers, and the thumbnail job (BullMQ worker + sharp) producing a WebP.

let t: TestApp;
let admin: LoggedIn;
let editor: LoggedIn;
let alice: LoggedIn;
let bob: LoggedIn;
let sam: LoggedIn;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  t = await startTestApp({ posts: 3, replicas: 1 });
  t.deps.jobs!.start();
  await t.deps.jobs!.ready();
  ({ admin, editor, alice, bob, sam } = await createCast(t));
});

afterAll(async () => {
  await t?.close();
});

describe('upload checks', () => {
  it('decides the type from the bytes: a .png name holding GIF bytes is stored and served as a GIF', async () => {
    const gif = await makeImage('gif', 64, 48, 2);
    const res = await uploadApi(t.app, alice, { data: gif, filename: 'holiday.png', contentType: 'image/png' });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({ sha256: sha(gif), mime: 'image/gif', url: `/media/${sha(gif)}.gif`, width: 64, height: 48, created: true });
    expect(body.markdown).toBe(`![holiday](/media/${sha(gif)}.gif)`);
    const [row] = await t.sql('SELECT mime, ext, byte_size FROM media WHERE sha256 = $1', [sha(gif)]);
    expect(row).toEqual({ mime: 'image/gif', ext: 'gif', byte_size: gif.length });

    const served = await t.app.inject({ method: 'GET', url: body.url });
    expect(served.statusCode).toBe(200);
    expect(served.headers['content-type']).toBe('image/gif');
    expect(served.rawPayload.equals(gif)).toBe(true);
    // The same bytes under the name the client gave are not a file.
    expect((await t.app.inject({ method: 'GET', url: `/media/${sha(gif)}.png` })).statusCode).toBe(404);
  });

  it('refuses a text file named .jpg with 415 and a message, and stores nothing', async () => {
    const text = Buffer.from('this is not a picture, just words in a file\n'.repeat(20));
    const res = await uploadApi(t.app, alice, { data: text, filename: 'cat.jpg', contentType: 'image/jpeg' });
    expect(res.statusCode).toBe(415);
    expect(res.json().error.message).toMatch(/Only JPEG, PNG, WebP and GIF images are accepted/);
    expect(await t.sql('SELECT 1 FROM media WHERE sha256 = $1', [sha(text)])).toHaveLength(0);
    expect(await t.sql('SELECT 1 FROM media_blobs WHERE key = $1', [sha(text)])).toHaveLength(0);
  });

  it('refuses a file over the limit with 413 and a message, and stores nothing', async () => {
    const limit = t.deps.media!.maxUploadBytes;
    const png = await makeImage('png', 32, 32, 3);
    const big = Buffer.concat([png, Buffer.alloc(limit + 1 - png.length, 7)]);
    const res = await uploadApi(t.app, alice, { data: big, filename: 'big.png' });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.message).toBe('The file is larger than the 10 MB limit.');
    expect(await t.sql('SELECT 1 FROM media_blobs WHERE key = $1', [sha(big)])).toHaveLength(0);
    expect(await t.sql('SELECT 1 FROM media WHERE sha256 = $1', [sha(big)])).toHaveLength(0);
  });

  it('refuses a request that is not multipart (415) and one without a file (422)', async () => {
    const json = await as(t.app, alice)('POST', '/api/media', { file: 'x' });
    expect(json.statusCode).toBe(415);
    expect(json.json().error.message).toMatch(/multipart\/form-data/);
    const form = multipart(null, { note: 'no file here' });
    const empty = await t.app.inject({ method: 'POST', url: '/api/media', headers: { ...form.headers, cookie: alice.cookie, 'x-csrf-token': alice.csrf }, payload: form.payload });
    expect(empty.statusCode).toBe(422);
    expect(empty.json().error.message).toBe('file: choose an image to upload.');
  });

  it('stores the same bytes once: a second upload answers 200 with the same URL and adds no row', async () => {
    const png = await makeImage('png', 120, 80, 4);
    const first = await uploadApi(t.app, alice, { data: png, filename: 'a.png' });
    const second = await uploadApi(t.app, bob, { data: png, filename: 'copy-of-a.png' });
    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(200);
    expect(second.json()).toMatchObject({ sha256: sha(png), url: first.json().url, created: false, originalName: 'a.png', uploadedBy: 'alice' });
    expect(await t.sql('SELECT count(*)::int AS n FROM media WHERE sha256 = $1', [sha(png)])).toEqual([{ n: 1 }]);
    expect(await t.sql('SELECT count(*)::int AS n FROM media_blobs WHERE key = $1', [sha(png)])).toEqual([{ n: 1 }]);
  });
});

describe('roles and CSRF', () => {
  it('needs a login (401), the author role (403 for a subscriber) and the CSRF token (403)', async () => {
    const png = await makeImage('png', 16, 16, 5);
    expect((await uploadApi(t.app, null, { data: png, filename: 'x.png' })).statusCode).toBe(401);
    const sub = await uploadApi(t.app, sam, { data: png, filename: 'x.png' });
    expect(sub.statusCode).toBe(403);
    const noCsrf = await uploadApi(t.app, alice, { data: png, filename: 'x.png' }, { csrf: false });
    expect(noCsrf.statusCode).toBe(403);
    expect(noCsrf.json().error.code).toBe('csrf');
    expect(await t.sql('SELECT 1 FROM media WHERE sha256 = $1', [sha(png)])).toHaveLength(0);
  });

  it('lets an author delete only their own files; an editor deletes anybody\'s', async () => {
    const own = await makeImage('webp', 40, 40, 6);
    const other = await makeImage('webp', 40, 40, 7);
    await uploadApi(t.app, alice, { data: own, filename: 'own.webp' });
    await uploadApi(t.app, bob, { data: other, filename: 'other.webp' });
    const denied = await as(t.app, alice)('DELETE', `/api/media/${sha(other)}`);
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error.message).toMatch(/editors and admins/);
    expect((await as(t.app, alice)('DELETE', `/api/media/${sha(own)}`, undefined, { csrf: false })).statusCode).toBe(403);
    expect((await as(t.app, alice)('DELETE', `/api/media/${sha(own)}`)).statusCode).toBe(204);
    expect((await as(t.app, editor)('DELETE', `/api/media/${sha(other)}`)).statusCode).toBe(204);
    expect(await t.sql('SELECT sha256 FROM media WHERE sha256 = ANY($1)', [[sha(own), sha(other)]])).toHaveLength(0);
    expect(await t.sql('SELECT key FROM media_blobs WHERE key LIKE $1 OR key LIKE $2', [`${sha(own)}%`, `${sha(other)}%`])).toHaveLength(0);
    // The deleter reads at its own write's LSN (an anonymous reader may still hit a lagging replica).
    expect((await as(t.app, alice)('GET', `/media/${sha(own)}.webp`)).statusCode).toBe(404);
  });
});

describe('delete while referenced', () => {
  it('refuses (409, naming the post) while any post, even a trashed one, contains the URL; deletes once none does', async () => {
    const jpg = await makeImage('jpeg', 200, 150, 8);
    const up = (await uploadApi(t.app, alice, { data: jpg, filename: 'used.jpg' })).json();
    const post = await as(t.app, alice)('POST', '/api/posts', { title: 'With a picture', content: `Look:\n\n${up.markdown}\n`, status: 'published' });
    expect(post.statusCode).toBe(201);
    const postId = post.json().id;

    const refused = await as(t.app, admin)('DELETE', `/api/media/${up.sha256}`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.message).toBe(`The file is used by post #${postId} "With a picture"; remove it from them first.`);

    expect((await as(t.app, alice)('DELETE', `/api/posts/${postId}`)).statusCode).toBe(200); // to the trash
    const stillRefused = await as(t.app, admin)('DELETE', `/api/media/${up.sha256}`);
    expect(stillRefused.statusCode).toBe(409);
    expect(stillRefused.json().error.message).toMatch(/\(in the trash\)/);
    expect((await t.app.inject({ method: 'GET', url: up.url })).statusCode).toBe(200);

    expect((await as(t.app, alice)('PATCH', `/api/posts/${postId}`, { content: 'No picture any more.' })).statusCode).toBe(200);
    expect((await as(t.app, admin)('DELETE', `/api/media/${up.sha256}`)).statusCode).toBe(204);
    expect((await as(t.app, admin)('GET', up.url)).statusCode).toBe(404);
  });
});

describe('serving', () => {
  it('serves with a year of immutable caching and the hash as ETag (304 on If-None-Match), logged in or not', async () => {
    const png = await makeImage('png', 50, 50, 9);
    const up = (await uploadApi(t.app, alice, { data: png, filename: 'c.png' })).json();
    const anon = await t.app.inject({ method: 'GET', url: up.url });
    expect(anon.statusCode).toBe(200);
    expect(anon.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(anon.headers.etag).toBe(`"${up.sha256}"`);
    expect(anon.headers['x-content-type-options']).toBe('nosniff');
    const loggedIn = await as(t.app, alice)('GET', up.url);
    expect(loggedIn.statusCode).toBe(200);
    expect(loggedIn.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const again = await t.app.inject({ method: 'GET', url: up.url, headers: { 'if-none-match': `"${up.sha256}"` } });
    expect(again.statusCode).toBe(304);
    expect(again.rawPayload.length).toBe(0);
    for (const bad of ['/media/abc.png', `/media/${up.sha256}.bmp`, `/media/${'0'.repeat(64)}.png`, `/media/${up.sha256.toUpperCase()}.png`]) {
      const missing = await t.app.inject({ method: 'GET', url: bad });
      expect(missing.statusCode, bad).toBe(404);
      // Nothing purges a 404 when the file is uploaded later: no tag, no CDN TTL.
      expect(missing.headers['surrogate-key'], bad).toBeUndefined();
      expect(missing.headers['surrogate-control'], bad).toBeUndefined();
    }
    // A CDN keeps the file under the tag its deletion purges (app/cdn/media-purge.ts).
    for (const res of [anon, again]) {
      expect(res.headers['surrogate-key']).toBe(`media:${up.sha256}`);
      expect(res.headers['cache-tag']).toBe(`media:${up.sha256}`);
      expect(res.headers['surrogate-control']).toMatch(/^max-age=\d+, stale-if-error=\d+$/);
    }
  });

  it('lists the library newest first (GET /api/media): everybody\'s for editors, their own for authors; refuses subscribers', async () => {
    const list = await as(t.app, editor)('GET', '/api/media?limit=2');
    expect(list.statusCode).toBe(200);
    const body = list.json();
    expect(body.items).toHaveLength(2);
    expect(body.total).toBeGreaterThanOrEqual(3);
    expect(Date.parse(body.items[0].createdAt)).toBeGreaterThanOrEqual(Date.parse(body.items[1].createdAt));
    const own = (await as(t.app, alice)('GET', '/api/media?limit=100')).json() as { items: Array<{ uploadedBy: string }>; total: number };
    expect(own.total).toBeGreaterThanOrEqual(2);
    expect(own.items.every((m) => m.uploadedBy === 'alice')).toBe(true);
    expect((await as(t.app, sam)('GET', '/api/media')).statusCode).toBe(403);
  });
});

describe('thumbnail job', () => {
  it('makes a 320 px WebP after an upload, served at /media/<sha>/thumb.webp', async () => {
    const jpg = await makeImage('jpeg', 1600, 1200, 10);
    const up = (await uploadApi(t.app, alice, { data: jpg, filename: 'wide.jpg' })).json();
    expect(up.thumbUrl).toBeNull(); // not made yet: the upload does not wait for it
    await waitFor('thumb_at', async () => (await t.sql('SELECT thumb_at FROM media WHERE sha256 = $1', [up.sha256]))[0]?.thumb_at);
    const thumb = await t.app.inject({ method: 'GET', url: `/media/${up.sha256}/thumb.webp` });
    expect(thumb.statusCode).toBe(200);
    expect(thumb.headers['content-type']).toBe('image/webp');
    expect(thumb.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const meta = await sharp(thumb.rawPayload).metadata();
    expect(meta).toMatchObject({ format: 'webp', width: 320, height: 240 });
    const [{ n }] = await t.sql<{ n: number }>(`SELECT count(*)::int AS n FROM media_blobs WHERE key = $1`, [`${up.sha256}/thumb.webp`]);
    expect(n).toBe(1);
    const summary = await t.deps.jobs!.summary();
    expect(summary.find((q) => q.queue === 'thumbnails')!.completed).toBeGreaterThanOrEqual(1);
    expect((await as(t.app, alice)('GET', '/api/media?limit=100')).json().items.find((m: { sha256: string }) => m.sha256 === up.sha256).thumbUrl)
      .toBe(`/media/${up.sha256}/thumb.webp`);
  });
});
