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
});
