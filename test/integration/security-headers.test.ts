import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { startTestApp, type TestApp } from '../helpers/app';
import { createUser, login } from './auth-test-helpers';

// `X-Content-Type-Options: nosniff` and a Referrer-Policy on every HTML answer: rendered, served
// from this app's L1, from the shared L2 (another app rendered it), error pages, the admin, and
// the logged-in bypass. Two apps share one PostgreSQL and the cache Redis, as in the cluster.

let a: TestApp;
let b: TestApp;
let slug: string;
let category: string;

const strictPolicies = ['no-referrer', 'same-origin', 'strict-origin', 'strict-origin-when-cross-origin'];

function expectSecurityHeaders(res: LightMyRequestResponse, where: string) {
  expect(res.headers['x-content-type-options'], where).toBe('nosniff');
  expect(strictPolicies, where).toContain(res.headers['referrer-policy']);
  const csp = String(res.headers['content-security-policy']);
  expect(csp, where).toContain("script-src 'self'");
  expect(csp, where).not.toMatch(/script-src[^;]*'unsafe-inline'/);
  expect(csp, where).toContain("object-src 'none'");
  expect(csp, where).toContain("frame-ancestors 'none'");
}

/** What script-src 'self' would block: inline <script> bodies and on…= event handler attributes. */
function inlineScriptIn(html: string): string[] {
  const found: string[] = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) if (!/\bsrc=/.test(m[1]) || m[2].trim()) found.push(m[0].slice(0, 80));
  for (const m of html.matchAll(/<[a-z][^>]*\son[a-z]+\s*=/gi)) found.push(m[0].slice(0, 80));
  for (const m of html.matchAll(/(href|src|action)\s*=\s*["']?\s*javascript:/gi)) found.push(m[0]);
  return found;
}

beforeAll(async () => {
  a = await startTestApp({ cache: { l1: true, l2: true }, posts: 5, env: { AIDIARY_APP_NAME: 'app-0' } });
  b = await startTestApp({ cache: { l1: true, l2: true }, posts: 0, pg: a.pg, redis: a.redis, cacheRedis: a.cacheRedis!, env: { AIDIARY_APP_NAME: 'app-1' } });
  [{ slug }] = await a.sql<{ slug: string }>("SELECT slug FROM posts WHERE status = 'published' ORDER BY id LIMIT 1");
  [{ slug: category }] = await a.sql<{ slug: string }>('SELECT slug FROM categories ORDER BY id LIMIT 1');
  await a.deps.pageCache.flushAll();
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

describe('security headers on HTML', () => {
  it('a page rendered, then served from L1, then from L2 on another app carries both headers each time', async () => {
    for (const url of ['/', `/posts/${encodeURIComponent(slug)}`, `/category/${encodeURIComponent(category)}`, '/feed.xml']) {
      const rendered = await a.app.inject(url);
      expect(rendered.headers['x-cache'], url).toBe('MISS');
      expectSecurityHeaders(rendered, `${url} MISS`);
      const l1 = await a.app.inject(url);
      expect(l1.headers['x-cache'], url).toBe('HIT-L1');
      expectSecurityHeaders(l1, `${url} HIT-L1`);
      const l2 = await b.app.inject(url);
      expect(l2.headers['x-cache'], url).toBe('HIT-L2');
      expectSecurityHeaders(l2, `${url} HIT-L2`);
    }
  });

  it('error pages, the admin, JSON and a logged-in bypass carry them too', async () => {
    await createUser(a, 'hedy', 'author', 'hedy-pass-1');
    const hedy = await login(a.app, 'hedy', 'hedy-pass-1');
    const cases: Array<[string, LightMyRequestResponse]> = [
      ['bad page number', await a.app.inject('/page/0')],
      ['admin login form', await a.app.inject('/admin/login')],
      ['admin dashboard', await a.app.inject({ url: '/admin/dashboard', headers: { cookie: hedy.cookie } })],
      ['logged-in home', await a.app.inject({ url: '/', headers: { cookie: hedy.cookie } })],
      ['not found', await a.app.inject('/no-such-page')],
      ['json error', await a.app.inject('/api/posts')],
    ];
    for (const [where, res] of cases) {
      expect(res.statusCode, where).toBeLessThan(500);
      expectSecurityHeaders(res, where);
    }
    expect(cases[3][1].headers['x-cache']).toBe('BYPASS');
  });

  it('the site and every admin screen the views render run under the CSP: no inline script or event handler', async () => {
    await createUser(a, 'ada', 'admin', 'ada-pass-1');
    const ada = await login(a.app, 'ada', 'ada-pass-1');
    const [{ id }] = await a.sql<{ id: string }>("SELECT id FROM posts ORDER BY id LIMIT 1");
    const pages = ['/', `/posts/${encodeURIComponent(slug)}`, `/category/${encodeURIComponent(category)}`, '/search?q=a', '/no-such-page', '/admin/login'];
    const adminPages = ['/admin/dashboard', '/admin/posts', '/admin/posts/new', `/admin/posts/${id}/edit`, '/admin/media', '/admin/categories', '/admin/tags', '/admin/users', '/admin/users/new', '/admin/settings', '/admin/profile', '/admin/change-password'];
    let checked = 0;
    for (const url of [...pages, ...adminPages]) {
      const res = await a.app.inject({ url, headers: adminPages.includes(url) ? { cookie: ada.cookie } : {} });
      if (res.statusCode === 404 && adminPages.includes(url)) continue; // a screen this build does not have
      expect(res.headers['content-type'], url).toMatch(/text\/html/);
      expectSecurityHeaders(res, url);
      expect(inlineScriptIn(res.body), url).toEqual([]);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(pages.length + 8);
    // The editor and the media library load their code from /static under content-hashed names
    // (allowed by script-src 'self'), and those names are served.
    for (const [url, file] of [['/admin/posts/new', 'editor'], ['/admin/media', 'media']]) {
      const page = await a.app.inject({ url, headers: { cookie: ada.cookie } });
      const src = new RegExp(`<script src="(/static/admin/${file}\\.[0-9a-f]{8}\\.js)" defer></script>`).exec(page.body)?.[1];
      expect(src, url).toBeDefined();
      const script = await a.app.inject(src!);
      expect(script.statusCode, src).toBe(200);
      expect(script.headers['content-type'], src).toMatch(/javascript/);
    }
  });
});
