import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { runMigrations } from '../../app/db/migrate';
import { seedDemoContent } from '../../app/db/seed';

// The process skeleton: health, readiness, metrics, headers, migrations and seeding idempotent.

let t: TestApp;
beforeAll(async () => { t = await startTestApp({ posts: 30, env: { AIDIARY_APP_NAME: 'app-7' } }); });
afterAll(async () => { await t?.close(); });

describe('app skeleton', () => {
  it('answers /health without I/O, with X-Served-By', async () => {
    const res = await t.app.inject('/health');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', app: 'app-7' });
    expect(res.headers['x-served-by']).toBe('app-7');
  });

  it('is ready while the database answers', async () => {
    const res = await t.app.inject('/health/ready');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ready', db: true });
  });

  it('exposes prom-client metrics including the request histogram', async () => {
    await t.app.inject('/');
    const res = await t.app.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('aidiary_http_request_duration_seconds_bucket');
    expect(res.body).toContain('process_cpu_user_seconds_total');
  });

  it('renders the home page with cache headers and no cookie', async () => {
    const res = await t.app.inject('/');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.headers['x-cache']).toBe('BYPASS');
    expect(res.headers['x-db-node']).toBe('pg-0');
    expect(res.headers['set-cookie']).toBeUndefined();
    // Browsers revalidate, shared caches keep it 1 s; the long TTL is for CDNs only (purged by tag).
    expect(res.headers['cache-control']).toBe('public, max-age=0, s-maxage=1, stale-if-error=86400');
    expect(res.headers['surrogate-control']).toBe('max-age=86400, stale-if-error=86400');
    expect(res.headers['surrogate-key']).toBe('site list:home');
    expect(res.headers['cache-tag']).toBe('site,list:home');
    // nginx's micro-cache keeps it to the end of the current second at most (not 1-2 s).
    const until = Number(/^@(\d+)$/.exec(String(res.headers['x-accel-expires']))?.[1]);
    expect(Math.abs(until - Math.floor(Date.now() / 1000))).toBeLessThanOrEqual(1);
    expect(res.body).toContain('<title>AIDiary</title>');
  });

  it('answers unknown routes with the themed 404 and /api with JSON', async () => {
    const html = await t.app.inject('/no/such/thing/here');
    expect(html.statusCode).toBe(404);
    expect(html.body).toContain('Page not found');
    const api = await t.app.inject('/api/nope');
    expect(api.statusCode).toBe(404);
    expect(api.json().error.code).toBe('not_found');
    expect(api.headers['content-type']).toContain('application/json');
  });

  it('serves static files', async () => {
    const res = await t.app.inject('/static/style.css');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/css');
    expect((await t.app.inject('/static/../package.json')).statusCode).toBe(404);
  });

  it('keeps serving public pages and stays ready while the sessions Redis is down', async () => {
    await t.redis.kill();
    try {
      const start = Date.now();
      const ready = await t.app.inject('/health/ready');
      expect(ready.statusCode).toBe(200); // Redis is not part of readiness (invariant 9)
      const home = await t.app.inject({ url: '/', headers: { cookie: `aidiary_session=${'A'.repeat(43)}` } });
      expect(home.statusCode).toBe(200);
      expect(home.body).toContain('post-card');
      expect(Date.now() - start).toBeLessThan(5000);
    } finally {
      await t.redis.restart();
    }
  });

  it('migrations and seeding are idempotent', async () => {
    const conn = { host: t.pg.primary.host, port: t.pg.primary.port, database: t.pg.dbName, user: t.pg.appUser, password: t.pg.appPassword };
    expect((await runMigrations(conn)).applied).toEqual([]);
    const before = await t.sql<{ n: string }>('SELECT count(*) AS n FROM posts');
    const pg = await import('pg');
    const client = new pg.default.Client(conn);
    await client.connect();
    try {
      expect((await seedDemoContent(client, { posts: 30 })).seeded).toBe(false);
    } finally {
      await client.end();
    }
    expect(await t.sql('SELECT count(*) AS n FROM posts')).toEqual(before);
  });

  // Last: draining is one-way for this app instance.
  it('answers 503 on /health/ready once draining, with Connection: close', async () => {
    const { startDraining } = await import('../../app/server');
    startDraining(t.app);
    const res = await t.app.inject('/health/ready');
    expect(res.statusCode).toBe(503);
    expect(res.json().status).toBe('draining');
    expect(res.headers.connection).toBe('close');
    expect((await t.app.inject('/health')).statusCode).toBe(200); // still alive
  });
});
