import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { as, createUser, login } from './auth-test-helpers';

// The page cache behind the real routes and the real write API: two apps share PostgreSQL, the
// sessions Redis and the cache Redis. After a publish through app-0, both apps' anonymous pages
// (home and its pagination siblings, category and tag archives, feed) show the post at once,
// with no page served from a cache that predates the write; unpublish and trash take it away.

let a: TestApp;
let b: TestApp;
let category: string;
let tag: string;

beforeAll(async () => {
  a = await startTestApp({ cache: { l1: true, l2: true }, posts: 30, env: { AIDIARY_APP_NAME: 'app-0' } });
  b = await startTestApp({ cache: { l1: true, l2: true }, posts: 0, pg: a.pg, redis: a.redis, cacheRedis: a.cacheRedis!, env: { AIDIARY_APP_NAME: 'app-1' } });
  category = (await a.sql<{ slug: string }>('SELECT slug FROM categories ORDER BY id LIMIT 1'))[0].slug;
  tag = (await a.sql<{ slug: string }>('SELECT slug FROM tags ORDER BY id LIMIT 1'))[0].slug;
});

afterAll(async () => {
  await b?.close();
  await a?.close();
});

const get = (t: TestApp, url: string) => t.app.inject({ method: 'GET', url });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('page cache behind the routes', () => {
  it('caches anonymous pages in L1 and L2', async () => {
    const first = await get(a, '/');
    expect(first.statusCode).toBe(200);
    expect(['MISS', 'HIT-L2']).toContain(first.headers['x-cache']);
    expect((await get(a, '/')).headers['x-cache']).toBe('HIT-L1');
    const other = await get(b, '/');
    expect(['HIT-L2', 'HIT-L1']).toContain(other.headers['x-cache']);
    expect(other.body).toBe(first.body);
    expect(other.headers['x-served-by']).toBe(first.headers['x-served-by']);
  });

  it('a publish, unpublish and trash show on every listing of both apps at once', async () => {
    const pages = ['/', '/page/2', `/category/${category}`, `/tag/${tag}`, '/feed.xml'];
    for (const t of [a, b]) for (const url of pages) { await get(t, url); await get(t, url); }
    for (const t of [a, b]) for (const url of pages) expect((await get(t, url)).headers['x-cache'], url).toBe('HIT-L1');
    const homeBefore = (await get(a, '/')).body;

    await createUser(a, 'cache-editor', 'editor');
    const editor = as(a.app, await login(a.app, 'cache-editor', 'cache-editor-pass-123'));
    const created = await editor('POST', '/api/posts', { title: 'Cache purge probe', content: 'fresh words', status: 'published', categories: [category], tags: [tag] });
    expect(created.statusCode).toBe(201);
    const { id, slug } = created.json() as { id: number; slug: string };
    await sleep(100); // pub/sub bound for the other app's L1

    for (const t of [a, b]) {
      for (const url of ['/', `/category/${category}`, `/tag/${tag}`, '/feed.xml']) {
        const res = await get(t, url);
        expect(res.body, `${t.config.appName} ${url}`).toContain(slug);
      }
      // Page 2 shifted by one post: it must not be served from before the publish.
      expect((await get(t, '/page/2')).headers['x-cache']).not.toBe('HIT-L1');
      expect((await get(t, `/posts/${slug}`)).statusCode).toBe(200);
    }
    expect((await get(a, '/')).body).not.toBe(homeBefore);

    const unpublished = await editor('PATCH', `/api/posts/${id}`, { status: 'draft' });
    expect(unpublished.statusCode).toBe(200);
    await sleep(100);
    for (const t of [a, b]) {
      for (const url of ['/', `/category/${category}`, `/tag/${tag}`, '/feed.xml']) expect((await get(t, url)).body, url).not.toContain(slug);
      expect((await get(t, `/posts/${slug}`)).statusCode).toBe(404);
    }

    await editor('PATCH', `/api/posts/${id}`, { status: 'published' });
    await sleep(100);
    for (const t of [a, b]) expect((await get(t, '/')).body).toContain(slug);
    const trashed = await editor('DELETE', `/api/posts/${id}`);
    expect(trashed.statusCode).toBeLessThan(300);
    await sleep(100);
    for (const t of [a, b]) {
      expect((await get(t, '/')).body).not.toContain(slug);
      expect((await get(t, `/posts/${slug}`)).statusCode).toBe(404);
    }
  });
});
