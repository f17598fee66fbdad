import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../app/create-deps';
import { Registry } from 'prom-client';
import { createRedisSessionStore } from '../../app/session/redis-session-store';
import { startTestApp, type TestApp } from '../helpers/app';
import { as, createUser, login } from './auth-test-helpers';

// Sessions in the shared Redis: a login on one app works on another, logout revokes it
// everywhere, sliding expiry with an absolute cap, and Redis down → 503 for session routes while
// public pages keep serving; everything recovers when Redis returns on the same port.

let t0: TestApp;
let t1: TestApp;

beforeAll(async () => {
  t0 = await startTestApp({ posts: 5 });
  t1 = await startTestApp({ posts: 0, pg: t0.pg, redis: t0.redis, adminPassword: t0.adminPassword, env: { AIDIARY_APP_NAME: 'app-1' } });
  await createUser(t0, 'eddie', 'editor', 'eddie-pass-1');
});

afterAll(async () => {
  await t1?.close();
  await t0?.close();
});

const waitFor = async (cond: () => boolean | Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('sessions shared by app instances', () => {
  it('a session created on app-0 works on app-1, and logout on app-1 rejects it on app-0', async () => {
    const who = await login(t0.app, 'eddie', 'eddie-pass-1');
    const me1 = await t1.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: who.cookie } });
    expect(me1.statusCode).toBe(200);
    expect(me1.headers['x-served-by']).toBe('app-1');
    expect(me1.json().user.username).toBe('eddie');
    // A write through app-1 with the token issued by app-0.
    const write = await as(t1.app, who)('POST', '/api/tags', { name: 'cross-app' });
    expect(write.statusCode).toBe(201);
    // Read-your-writes bookkeeping is visible to the other app.
    const s = await t0.deps.sessions.get(who.sessionId);
    expect(s!.lastWriteLsn).toMatch(/\//);

    const out = await as(t1.app, who)('POST', '/api/auth/logout', {});
    expect(out.statusCode).toBe(200);
    const me0 = await t0.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: who.cookie } });
    expect(me0.statusCode).toBe(401);
    expect((await as(t0.app, who)('POST', '/api/tags', { name: 'after-logout' })).statusCode).toBe(401);
  });

  it('logged-in reads carry the session LSN (readContextFor) and are never cached for others', async () => {
    const who = await login(t0.app, 'eddie', 'eddie-pass-1');
    await as(t0.app, who)('POST', '/api/tags', { name: 'ryw-tag' });
    const list = await as(t1.app, who)('GET', '/api/tags?limit=100');
    expect(list.statusCode).toBe(200);
    expect(list.json().items.some((x: { slug: string }) => x.slug === 'ryw-tag')).toBe(true);
    const home = await t1.app.inject({ method: 'GET', url: '/', headers: { cookie: who.cookie } });
    expect(home.statusCode).toBe(200);
    expect(home.headers['cache-control']).toBe('private, no-store');
    expect(home.headers['set-cookie']).toBeUndefined();
  });
});

describe('store expiry', () => {
  it('slides the idle expiry and enforces the absolute cap', async () => {
    const store = createRedisSessionStore({ url: t0.redis.url, secret: 'x'.repeat(40), logger: createLogger({ appName: 'test', logLevel: 'silent' }), metrics: new Registry(), idleTtlSeconds: 2, absoluteTtlSeconds: 4 });
    try {
      await waitFor(() => store.isAvailable(), 5000);
      const { id } = await store.create({ userId: 1, username: 'x', role: 'author', csrfToken: 't', lastWriteLsn: null, lastReadLsn: null });
      expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 random bits
      await new Promise((r) => setTimeout(r, 1300));
      expect(await store.get(id)).not.toBeNull(); // slides: 2 s more from now
      await new Promise((r) => setTimeout(r, 1300));
      expect(await store.get(id)).not.toBeNull(); // 2.6 s after creation: alive only because it slid
      await new Promise((r) => setTimeout(r, 1600));
      expect(await store.get(id)).toBeNull(); // 4.2 s: past the absolute cap despite activity
      const idle = await store.create({ userId: 1, username: 'x', role: 'author', csrfToken: 't', lastWriteLsn: null, lastReadLsn: null });
      await new Promise((r) => setTimeout(r, 2300));
      expect(await store.get(idle.id)).toBeNull(); // idle past 2 s
      expect(await store.get('../../etc/passwd')).toBeNull();
    } finally {
      await store.close();
    }
  });
});

describe('Redis down', () => {
  it('answers 503 quickly on session routes, keeps public pages up, and recovers when Redis returns', async () => {
    await createUser(t0, 'alice', 'author', 'alice-pass-1');
    const who = await login(t0.app, 'alice', 'alice-pass-1');
    await t0.redis.kill();
    await waitFor(() => !t0.deps.sessions.isAvailable() && !t1.deps.sessions.isAvailable(), 5000);

    const started = Date.now();
    const loginRes = await t0.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'alice', password: 'alice-pass-1' } });
    expect(loginRes.statusCode).toBe(503);
    expect(loginRes.json().error.code).toBe('sessions_unavailable');
    expect(loginRes.json().error.message).toMatch(/public pages still work/);
    expect(Date.now() - started).toBeLessThan(1500);

    const me = await t1.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: who.cookie } });
    expect(me.statusCode).toBe(503);
    const write = await as(t1.app, who)('POST', '/api/tags', { name: 'while-down' });
    expect(write.statusCode).toBe(503);
    const dash = await t0.app.inject({ method: 'GET', url: '/admin/dashboard', headers: { cookie: who.cookie } });
    expect(dash.statusCode).toBe(503);
    const anonAdmin = await t0.app.inject({ method: 'GET', url: '/admin/dashboard' });
    expect(anonAdmin.statusCode).toBe(503);

    for (const headers of [{}, { cookie: who.cookie }]) {
      const home = await t0.app.inject({ method: 'GET', url: '/', headers });
      expect(home.statusCode).toBe(200);
      expect(home.headers['set-cookie']).toBeUndefined();
    }
    expect((await t1.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    expect((await t0.app.inject({ method: 'GET', url: '/api/auth/me' })).statusCode).toBe(503);

    await t0.redis.restart();
    await waitFor(() => t0.deps.sessions.isAvailable() && t1.deps.sessions.isAvailable(), 10_000);
    // The session survived (AOF), and new logins work again on both apps.
    expect((await t1.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: who.cookie } })).statusCode).toBe(200);
    // The login limiter shares the store's connection: logins work as soon as sessions do.
    const storeBackAt = Date.now();
    let loginAgain = await t1.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'alice', password: 'alice-pass-1' } });
    while (loginAgain.statusCode === 503 && Date.now() - storeBackAt < 3000) {
      await new Promise((r) => setTimeout(r, 100));
      loginAgain = await t1.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'alice', password: 'alice-pass-1' } });
    }
    expect(loginAgain.statusCode).toBe(200);
    expect(Date.now() - storeBackAt).toBeLessThan(2000);
    const again = await login(t1.app, 'alice', 'alice-pass-1');
    expect((await as(t0.app, again)('POST', '/api/tags', { name: 'after-restart' })).statusCode).toBe(201);
  });
});
