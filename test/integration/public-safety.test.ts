import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { assertWellFormedXml, listedSlugs } from '../helpers/html';
import { prng } from '../../app/db/seed';
import { publicContext } from '../../app/routes/public/public-context';

// Visibility (drafts/trash/unlisted), escaping, hostile parameters, canonical redirects, the
// feed and sitemap, the logged-in cache bypass, and a seeded fuzz loop: nothing answers 5xx.
// Runs with the page cache on (L1 + L2 on a real Redis) so the cached path is the one attacked.

let t: TestApp;
let authorId: string;

const xss = {
  title: '<script>alert("title")</script>XSSPOST',
  excerpt: '<img src=x onerror=alert("excerpt")>',
  content: [
    '<script>alert("body")</script>',
    '[click](javascript:alert("md-link"))',
    '<a href="javascript:alert(1)">raw link</a>',
    '<img src="x" onerror="alert(2)">',
    '<svg onload=alert(3)></svg>',
    '<iframe src="https://evil.example"></iframe>',
    '<p style="x" onclick="alert(4)">para</p>',
    '[ok](https://example.com/ok)',
  ].join('\n\n'),
  category: '<script>alert("cat")</script>',
  tag: '"><img src=x onerror=alert("tag")>',
};

/** Markup that would run script: a script element, an on* attribute inside a tag, a javascript: URL attribute. */
function assertInert(html: string, where: string) {
  expect(html, where).not.toMatch(/<script\b/i);
  expect(html, where).not.toMatch(/<(iframe|svg|object|embed)\b/i);
  for (const tag of html.match(/<[a-zA-Z][^>]*>/g) ?? []) {
    // Attribute values are escaped text: drop them, then look for event-handler attributes.
    expect(tag.replace(/"[^"]*"|'[^']*'/g, '""'), where).not.toMatch(/\son[a-z]+\s*=/i);
    expect(tag, where).not.toMatch(/\s(?:href|src|action)\s*=\s*["']?\s*javascript:/i);
  }
}

async function insertPost(slug: string, title: string, status: string, extra: { content?: string; excerpt?: string } = {}) {
  const [row] = await t.sql<{ id: string }>(
    `INSERT INTO posts (title, slug, content, excerpt, author_id, status, published_at)
     VALUES ($1, $2, $3, $4, $5, $6::post_status, CASE WHEN $6 = 'draft' THEN NULL ELSE now() - interval '1 minute' END) RETURNING id`,
    [title, slug, extra.content ?? `${title} body`, extra.excerpt ?? '', authorId, status]);
  return row.id;
}

beforeAll(async () => {
  t = await startTestApp({ posts: 40, cache: { l1: true, l2: true }, env: { AIDIARY_SITE_URL: 'https://blog.example:8443' } });
  [{ id: authorId }] = await t.sql<{ id: string }>("SELECT id FROM users WHERE username = 'taro'");
  await insertPost('draft-post', 'ZZDRAFTWORD draft', 'draft');
  await insertPost('trash-post', 'ZZTRASHWORD trash', 'trash');
  await insertPost('unlisted-post', 'ZZUNLISTEDWORD unlisted', 'unlisted');
  const xssId = await insertPost('xss-post', xss.title, 'published', { content: xss.content, excerpt: xss.excerpt });
  const [cat] = await t.sql<{ id: string }>("INSERT INTO categories (name, slug) VALUES ($1, 'xss-cat') RETURNING id", [xss.category]);
  const [tag] = await t.sql<{ id: string }>("INSERT INTO tags (name, slug) VALUES ($1, 'xss-tag') RETURNING id", [xss.tag]);
  await t.sql('INSERT INTO post_categories VALUES ($1, $2)', [xssId, cat.id]);
  await t.sql('INSERT INTO post_tags VALUES ($1, $2)', [xssId, tag.id]);
  // No updated_at bump on purpose: the settings digest must still notice the change.
  await t.sql("UPDATE site_settings SET value = $1 WHERE key = 'description'", ['<script>alert("site")</script>']);
  await publicContext(t.app, t.deps).settings.refresh();
  await t.deps.pageCache.flushAll();
});
afterAll(async () => { await t?.close(); });

describe('visibility', () => {
  it('drafts and trash are 404 and never listed, searched, fed or mapped', async () => {
    for (const slug of ['draft-post', 'trash-post']) {
      expect((await t.app.inject(`/posts/${slug}`)).statusCode).toBe(404);
      expect((await t.app.inject(`/${slug}`)).statusCode).toBe(404);
    }
    for (const word of ['ZZDRAFTWORD', 'ZZTRASHWORD', 'ZZUNLISTEDWORD']) {
      const res = await t.app.inject(`/search?s=${word}`);
      expect(res.statusCode).toBe(200);
      expect(listedSlugs(res.body)).toEqual([]);
    }
    const listed = new Set<string>();
    for (let page = 1; page < 20; page++) {
      const res = await t.app.inject(page === 1 ? '/' : `/page/${page}`);
      if (res.statusCode === 404) break;
      for (const s of listedSlugs(res.body)) listed.add(s);
    }
    const expected = await t.sql<{ slug: string }>("SELECT slug FROM posts WHERE status = 'published'");
    expect([...listed].sort()).toEqual(expected.map((r) => r.slug).sort());
    const feed = (await t.app.inject('/feed.xml')).body;
    const sitemap = (await t.app.inject('/sitemap.xml')).body;
    for (const slug of ['draft-post', 'trash-post', 'unlisted-post']) {
      expect(feed).not.toContain(slug);
      expect(sitemap).not.toContain(slug);
    }
  });

  it('unlisted posts open by URL with noindex (meta and X-Robots-Tag); published ones without', async () => {
    const res = await t.app.inject('/posts/unlisted-post');
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-robots-tag']).toBe('noindex');
    expect(res.body).toContain('<meta name="robots" content="noindex">');
    const again = await t.app.inject('/posts/unlisted-post');
    expect(again.headers['x-cache']).toBe('HIT-L1');
    expect(again.headers['x-robots-tag']).toBe('noindex');
    const pub = await t.app.inject('/posts/xss-post');
    expect(pub.headers['x-robots-tag']).toBeUndefined();
    expect(pub.body).not.toContain('noindex');
    expect((await t.app.inject('/unlisted-post')).headers.location).toBe('/posts/unlisted-post');
  });
});

describe('escaping', () => {
  it('XSS payloads in titles, bodies, excerpts, category/tag names and settings are inert', async () => {
    const pages = ['/posts/xss-post', '/', '/category/xss-cat', '/tag/xss-tag', '/author/taro', '/search?s=XSSPOST',
      `/search?s=${encodeURIComponent('<script>alert(1)</script>')}`, `/search?s=${encodeURIComponent('"><img src=x onerror=alert(1)>')}`,
      '/no-such-page-<script>', '/posts/no-such<img>'];
    for (const url of pages) {
      const res = await t.app.inject(url);
      expect(res.statusCode, url).toBeLessThan(500);
      assertInert(res.body, url);
    }
    const post = (await t.app.inject('/posts/xss-post')).body;
    expect(post).toContain('&lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt;XSSPOST');
    expect(post).toContain('<a href="https://example.com/ok" rel="nofollow ugc noopener">ok</a>');
    expect(post).toContain('raw link');
    const home = (await t.app.inject('/')).body;
    expect(home).toContain('&lt;img src=x onerror=alert(&quot;excerpt&quot;)&gt;');
    expect(home).toContain('&lt;script&gt;alert(&quot;site&quot;)&lt;/script&gt;');
    const feed = (await t.app.inject('/feed.xml')).body;
    assertWellFormedXml(feed);
    expect(feed).toContain('&lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt;XSSPOST');
  });
});

describe('hostile parameters', () => {
  const payloads = ["' OR 1=1 --", "1; DROP TABLE posts; --", "' UNION SELECT password_hash FROM users --", "1' AND pg_sleep(3)--",
    '%27%20OR%20%271%27%3D%271', '\\', '%', '_', '..%2F..%2Fetc%2Fpasswd', '%00', '%C0%AF', '%E3%81', '9'.repeat(40), 'ä'.repeat(400), '{"$gt":""}'];

  it('every parameter answers 4xx/200/301, never 5xx, and runs no SQL', async () => {
    const [{ n: before }] = await t.sql<{ n: string }>('SELECT count(*) AS n FROM posts');
    const enc = (p: string) => (p.startsWith('%') || p.includes('%2') ? p : encodeURIComponent(p));
    for (const p of payloads) {
      const e = enc(p);
      const urls = [`/posts/${e}`, `/category/${e}`, `/tag/${e}`, `/author/${e}`, `/${e}`, `/${e}/`, `/2024/${e}/`, `/2024/01/${e}/`,
        `/page/${e}`, `/category/diary/page/${e}`, `/search?s=${e}`, `/search/page/${e}?s=x`, `/?paged=${e}`, `/search?s=x&paged=${e}`,
        `/feed.xml?${e}=1`, `/static/${e}`];
      for (const url of urls) {
        const res = await t.app.inject(url);
        expect([200, 301, 400, 404], `${url} → ${res.statusCode}`).toContain(res.statusCode);
      }
    }
    const [{ n: after }] = await t.sql<{ n: string }>('SELECT count(*) AS n FROM posts');
    expect(after).toBe(before);
  });

  it('answers clear messages: bad page numbers 400, deep pages and bad dates 404', async () => {
    const bad = await t.app.inject('/page/abc');
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('is not a positive integer');
    expect((await t.app.inject('/page/0')).statusCode).toBe(400);
    expect((await t.app.inject('/page/99999')).statusCode).toBe(404);
    expect((await t.app.inject('/2024/02/30/')).statusCode).toBe(404);
    expect((await t.app.inject('/2024/13/')).statusCode).toBe(404);
    const long = await t.app.inject(`/search?s=${'x'.repeat(101)}`);
    expect(long.statusCode).toBe(400);
    expect(long.body).toContain('at most 100 characters');
  });
});

describe('canonical links', () => {
  it('are absolute under the configured origin, whatever Host the request carried', async () => {
    const [{ slug }] = await t.sql<{ slug: string }>("SELECT slug FROM posts WHERE status = 'published' ORDER BY id LIMIT 1");
    const page = await t.app.inject({ url: `/posts/${encodeURIComponent(slug)}`, headers: { host: 'attacker.example' } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(`<link rel="canonical" href="https://blog.example:8443/posts/${encodeURIComponent(slug)}">`);
    expect(page.body).not.toContain('attacker.example');
  });
});

describe('canonical redirects', () => {
  it('answer 301 to LuaAIDiary URLs in their canonical form', async () => {
    const [post] = await t.sql<{ slug: string }>("SELECT slug FROM posts WHERE status = 'published' AND slug ~ '[^a-z0-9-]' LIMIT 1");
    const cases: Array<[string, string]> = [
      [`/${encodeURIComponent(post.slug)}`, `/posts/${encodeURIComponent(post.slug)}`],
      ['/2025', '/2025/'],
      ['/2025/3/', '/2025/03/'],
      ['/2025/03', '/2025/03/'],
      ['/2025/3/9', '/2025/03/09/'],
      ['/?paged=2', '/page/2'],
      ['/?paged=1', '/'],
      ['/page/1', '/'],
      ['/category/diary?paged=3', '/category/diary/page/3'],
      ['/tag/xss-tag/page/1', '/tag/xss-tag'],
      ['/2024/05/?paged=2', '/2024/05/page/2'],
      ['/search?s=coffee&paged=2', '/search/page/2?s=coffee'],
      ['/search/page/1?s=coffee', '/search?s=coffee'],
    ];
    for (const [from, to] of cases) {
      const res = await t.app.inject(from);
      expect(res.statusCode, from).toBe(301);
      expect(res.headers.location, from).toBe(to);
    }
  });
});

describe('feed and sitemap', () => {
  it('are well-formed XML listing only published posts, linked under the configured origin whatever the Host', async () => {
    const feed = await t.app.inject({ url: '/feed.xml', headers: { host: 'attacker.example:8080' } });
    expect(feed.statusCode).toBe(200);
    expect(feed.headers['content-type']).toContain('application/rss+xml');
    assertWellFormedXml(feed.body);
    const newest = await t.sql<{ slug: string }>("SELECT slug FROM posts WHERE status = 'published' ORDER BY published_at DESC, id DESC LIMIT 20");
    const links = [...feed.body.matchAll(/<link>([^<]+)<\/link>/g)].map((m) => m[1]).slice(1);
    expect(links).toEqual(newest.map((r) => `https://blog.example:8443/posts/${encodeURIComponent(r.slug)}`));
    expect(feed.body).not.toContain('attacker.example');

    const sitemap = await t.app.inject('/sitemap.xml');
    expect(sitemap.headers['content-type']).toContain('application/xml');
    assertWellFormedXml(sitemap.body);
    const all = await t.sql<{ slug: string }>("SELECT slug FROM posts WHERE status = 'published' ORDER BY published_at DESC, id DESC");
    const locs = [...sitemap.body.matchAll(/<loc>https:\/\/blog\.example:8443\/posts\/([^<]+)<\/loc>/g)].map((m) => decodeURIComponent(m[1]));
    expect(locs).toEqual(all.map((r) => r.slug));
    // A hostile Host header changes nothing: the same cached copy, the configured origin.
    const evil = await t.app.inject({ url: '/feed.xml', headers: { host: '"><x>' } });
    assertWellFormedXml(evil.body);
    expect(evil.headers['x-cache']).toMatch(/^HIT/);
    expect(evil.body).toBe(feed.body);
  });
});

describe('cache headers and the logged-in bypass', () => {
  it('anonymous pages are cached and cookie-free; a logged-in request bypasses the cache', async () => {
    const first = await t.app.inject('/category/diary');
    const second = await t.app.inject('/category/diary');
    expect(['MISS', 'HIT-L1']).toContain(first.headers['x-cache']);
    expect(second.headers['x-cache']).toBe('HIT-L1');
    expect(second.headers['x-served-by']).toBe(first.headers['x-served-by']);
    expect(second.headers['set-cookie']).toBeUndefined();
    expect(second.headers['cache-control']).toBe('public, max-age=0, s-maxage=1, stale-if-error=86400');

    const login = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'admin', password: t.adminPassword } });
    expect(login.statusCode).toBe(200);
    const cookie = String(login.headers['set-cookie']).split(';')[0];
    const mine = await t.app.inject({ url: '/category/diary', headers: { cookie } });
    expect(mine.statusCode).toBe(200);
    expect(mine.headers['x-cache']).toBe('BYPASS');
    expect(mine.headers['cache-control']).toBe('private, no-store');
    for (const name of ['surrogate-key', 'cache-tag', 'surrogate-control', 'cdn-cache-control', 'cloudflare-cdn-cache-control']) expect(mine.headers[name]).toBeUndefined();
    expect(mine.headers['x-db-node']).toBe('pg-0');
  });
});

describe('fuzz', () => {
  it('thousands of random paths, params, cookies and bodies: no 5xx', async () => {
    const rand = prng(20251129);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
    const segs = ['', 'posts', 'category', 'tag', 'author', 'page', 'search', 'feed.xml', 'sitemap.xml', 'static', 'api', 'admin', 'health',
      '2024', '2025', '03', '3', '31', '0', '-1', '1e3', 'diary', 'taro', '東京', '%E6%9D%B1', '%', '%%', '%zz', '..', '.', "'", '"', '<x>',
      'unlisted-post', 'draft-post', 'xss-post', 'a'.repeat(300), '%00', ';', '?', '#', '~', 'page', '2', 'ready', 'metrics'];
    const keys = ['s', 'paged', 'page', 'p', 'q', '', 's[]', 'paged[]', '__proto__', 'constructor'];
    const vals = ['', '1', '2', '-1', 'abc', '猫', '%', '%25', "' OR 1=1", '9'.repeat(30), '<script>', '%E3', 'x'.repeat(150)];
    const methods = ['GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;
    const bodies = ['', '{', '{"a":1}', '[]', 'null', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', 'a=1&b=2', '\u0000\u0001', '"str"',
      JSON.stringify({ title: '<script>', content: 'x', status: 'published' }), JSON.stringify({ username: 'admin', password: "' OR 1=1" })];
    const types = ['application/json', 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x', 'application/xml', ''];
    const cookies = ['', 'aidiary_session=', `aidiary_session=${'A'.repeat(43)}`, 'aidiary_session=%%%', 'aidiary_session=<x>; other=1', 'aidiary_login_csrf=abc'];
    const failures: string[] = [];
    const iterations = 2500;
    for (let i = 0; i < iterations; i++) {
      const depth = 1 + Math.floor(rand() * 4);
      let url = '/' + Array.from({ length: depth }, () => pick(segs)).join('/') + (rand() < 0.3 ? '/' : '');
      if (rand() < 0.5) url += '?' + Array.from({ length: 1 + Math.floor(rand() * 3) }, () => `${pick(keys)}=${pick(vals)}`).join('&');
      const method = pick(methods);
      const headers: Record<string, string> = {};
      const cookie = pick(cookies);
      if (cookie) headers.cookie = cookie;
      if (rand() < 0.2) headers['x-csrf-token'] = pick(vals);
      let payload: string | undefined;
      if (method !== 'GET' && method !== 'HEAD' && rand() < 0.8) {
        payload = pick(bodies);
        const type = pick(types);
        if (type) headers['content-type'] = type;
      }
      try {
        const res = await t.app.inject({ method, url, headers, payload });
        if (res.statusCode >= 500) failures.push(`${method} ${url} [${cookie}] ${payload ?? ''} → ${res.statusCode} ${res.body.slice(0, 200)}`);
      } catch (err) {
        failures.push(`${method} ${url} threw ${(err as Error).message}`);
      }
    }
    expect(failures.slice(0, 20)).toEqual([]);
  }, 180_000);
});
