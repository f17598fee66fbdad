import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isClusterPageCache } from '../../app/cache/page-cache';
import { purgeSetFor } from '../../app/cache/purge-set';
import { cdnTags } from '../../app/cdn/cdn-headers';
import { fromRoot } from '../../app/project-root';
import { startTestApp, type TestApp } from '../helpers/app';
import { as, createUser, login } from './auth-test-helpers';

// The headers a CDN acts on, from a real app on real PostgreSQL and Redis with both cache layers:
// the same on a render, an L1 hit and an L2 hit; the tags a write purges (mapped the way the purge
// side maps them) name the pages that showed the old state; logged-in pages carry none of them.
// And the static files under content-hashed names.

let t: TestApp;
const cdnHeaderNames = ['surrogate-control', 'cdn-cache-control', 'cloudflare-cdn-cache-control', 'surrogate-key', 'cache-tag'];
const cacheHeaders = (res: LightMyRequestResponse) =>
  Object.fromEntries(['cache-control', ...cdnHeaderNames].map((n) => [n, res.headers[n]]));

beforeAll(async () => {
  t = await startTestApp({
    cache: { l1: true, l2: true }, posts: 12,
    env: { AIDIARY_CDN_TTL_SECONDS: '600', AIDIARY_CDN_STALE_IF_ERROR_SECONDS: '120' },
  });
});
afterAll(async () => { await t?.close(); });

const get = (url: string, cookie?: string) => t.app.inject({ method: 'GET', url, headers: cookie ? { cookie } : {} });

describe('anonymous pages: CDN TTL and purge tags', () => {
  it('render, L1 hit and L2 hit carry the same headers; the long TTL only where CDNs read it', async () => {
    const cache = t.deps.pageCache;
    if (!isClusterPageCache(cache)) throw new Error('test needs the Redis page cache');
    const [{ slug: category }] = await t.sql<{ slug: string }>('SELECT slug FROM categories ORDER BY id LIMIT 1');
    const [{ slug: post }] = await t.sql<{ slug: string }>("SELECT slug FROM posts WHERE status = 'published' ORDER BY id LIMIT 1");
    const expectedTags: Record<string, string[]> = {
      '/': ['site', 'list:home'],
      '/feed.xml': ['site', 'feed'],
      [`/category/${encodeURIComponent(category)}`]: ['site', `list:category:${encodeURIComponent(category)}`],
      [`/posts/${encodeURIComponent(post)}`]: ['site', `post-slug:${encodeURIComponent(post)}`],
    };
    for (const [url, tags] of Object.entries(expectedTags)) {
      cache.setLayers({ l1: true, l2: true });
      const first = await get(url);
      const second = await get(url);
      cache.setLayers({ l1: false });
      const third = await get(url);
      cache.setLayers({ l1: true });
      expect([first.statusCode, second.statusCode, third.statusCode], url).toEqual([200, 200, 200]);
      expect([first.headers['x-cache'], second.headers['x-cache'], third.headers['x-cache']], url).toEqual(['MISS', 'HIT-L1', 'HIT-L2']);
      const expected = {
        'cache-control': 'public, max-age=0, s-maxage=1, stale-if-error=120',
        'surrogate-control': 'max-age=600, stale-if-error=120',
        'cdn-cache-control': 'max-age=600, stale-if-error=120',
        'cloudflare-cdn-cache-control': 'max-age=600, stale-if-error=120',
        'surrogate-key': tags.join(' '),
        'cache-tag': tags.join(','),
      };
      for (const res of [first, second, third]) expect(cacheHeaders(res), `${url} ${res.headers['x-cache']}`).toEqual(expected);
      // nginx's own 1 s bound is still there (never passed on to clients by nginx).
      expect(third.headers['x-accel-expires'], url).toMatch(/^@\d+$/);
    }
  });

  it('a publish purges, at the CDN, tags that every affected page carries', async () => {
    const [{ slug: category }] = await t.sql<{ slug: string }>('SELECT slug FROM categories ORDER BY id LIMIT 1');
    const pages = ['/', '/feed.xml', '/sitemap.xml', `/category/${encodeURIComponent(category)}`, '/posts/cdn-probe-post'];
    const tagsBefore = new Map<string, string[]>();
    for (const url of pages) {
      const res = await get(url);
      expect([200, 404], url).toContain(res.statusCode);
      tagsBefore.set(url, String(res.headers['surrogate-key']).split(' '));
    }
    await createUser(t, 'cdn-editor', 'editor');
    const editor = as(t.app, await login(t.app, 'cdn-editor', 'cdn-editor-pass-123'));
    const created = await editor('POST', '/api/posts', { title: 'CDN probe post', slug: 'cdn-probe-post', content: 'words', status: 'published', categories: [category] });
    expect(created.statusCode).toBe(201);
    const [row] = await t.sql<{ id: number; published_at: Date }>("SELECT id, published_at FROM posts WHERE slug = 'cdn-probe-post'");
    const purged = cdnTags(purgeSetFor({
      kind: 'post', before: null, lsn: '0/0',
      after: { id: row.id, slug: 'cdn-probe-post', status: 'published', publishedAt: row.published_at, authorUsername: 'cdn-editor', categorySlugs: [category], tagSlugs: [] },
    }));
    for (const [url, tags] of tagsBefore) {
      // Each page showed the old state under at least one tag the write purges (never only `site`).
      expect(tags.filter((tag) => tag !== 'site' && purged.includes(tag)), url).not.toEqual([]);
      expect((await get(url)).body, url).toContain('cdn-probe-post');
    }
  });

  it('redirects and error pages get only the short Cache-Control (no purge keeps them right)', async () => {
    for (const url of ['/page/1', '/no/such/thing/here']) {
      const res = await get(url);
      expect([301, 404], url).toContain(res.statusCode);
      expect(res.headers['cache-control'], url).toBe('public, max-age=0, s-maxage=1, stale-if-error=120');
      for (const name of cdnHeaderNames) expect(res.headers[name], `${url} ${name}`).toBeUndefined();
    }
  });

  it('logged-in pages stay private, no-store and carry none of the CDN headers', async () => {
    await createUser(t, 'cdn-reader', 'author');
    const { cookie } = await login(t.app, 'cdn-reader', 'cdn-reader-pass-123');
    for (const url of ['/', '/feed.xml', '/posts/cdn-probe-post']) {
      const res = await get(url, cookie);
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['x-cache'], url).toBe('BYPASS');
      expect(res.headers['cache-control'], url).toBe('private, no-store');
      expect(res.headers['x-accel-expires'], url).toBeUndefined();
      for (const name of cdnHeaderNames) expect(res.headers[name], `${url} ${name}`).toBeUndefined();
    }
  });
});

describe('static files under content-hashed names', () => {
  const hashOf = (file: string) => createHash('sha256').update(readFileSync(fromRoot('app', 'static', file))).digest('hex').slice(0, 8);

  it('pages link the hashed names; those are immutable for a year, the plain names 5 minutes', async () => {
    const home = await get('/');
    const css = /<link rel="stylesheet" href="(\/static\/style\.([0-9a-f]{8})\.css)">/.exec(home.body);
    expect(css?.[2]).toBe(hashOf('style.css'));
    const hashed = await get(css![1]);
    expect(hashed.statusCode).toBe(200);
    expect(hashed.headers['content-type']).toContain('text/css');
    expect(hashed.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(hashed.body).toBe(readFileSync(fromRoot('app', 'static', 'style.css'), 'utf8'));
    const again = await t.app.inject({ url: css![1], headers: { 'if-none-match': String(hashed.headers.etag) } });
    expect(again.statusCode).toBe(304);

    const plain = await get('/static/style.css');
    expect(plain.statusCode).toBe(200);
    expect(plain.headers['cache-control']).toBe('public, max-age=300');
    expect(plain.body).toBe(hashed.body);
    const editor = await get(`/static/admin/editor.${hashOf('admin/editor.js')}.js`);
    expect(editor.statusCode).toBe(200);
    expect(editor.headers['cache-control']).toBe('public, max-age=31536000, immutable');
  });

  it('another release\'s hash is redirected to the current name (not served, not cached); unknown names 404', async () => {
    const other = hashOf('style.css') === '00000000' ? '11111111' : '00000000';
    const res = await get(`/static/style.${other}.css`);
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe(`/static/style.${hashOf('style.css')}.css`);
    expect(res.headers['cache-control']).toBe('no-cache');
    for (const url of ['/static/nope.00000000.css', '/static/nope.css', '/static/style.CSS', '/static/../package.json']) {
      expect((await get(url)).statusCode, url).toBe(404);
    }
  });
});
