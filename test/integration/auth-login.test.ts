import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { as, createUser, login, setCookie } from './auth-test-helpers';

// Login, logout, me; session id regeneration; cookie flags; no anonymous cookie; no registration;
// the login limits (per username, per client address) shared by two app instances on one Redis.
// t2 runs behind a trusted edge (AIDIARY_TRUSTED_EDGE=127.0.0.1, inject's peer), so the
// X-Forwarded-For it receives is the address an edge resolved; t trusts no one.

let t: TestApp;
let t2: TestApp;

beforeAll(async () => {
  t = await startTestApp({ posts: 5 });
  t2 = await startTestApp({ posts: 0, pg: t.pg, redis: t.redis, adminPassword: t.adminPassword, env: { AIDIARY_APP_NAME: 'app-1', AIDIARY_TRUSTED_EDGE: '127.0.0.1' } });
  await createUser(t, 'alice', 'author', 'alice-secret-1');
  await createUser(t, 'sam', 'subscriber', 'sam-secret-1');
  // Wrong-password checks use their own account: a failure makes that username wait.
  await createUser(t, 'wendy', 'author', 'wendy-secret-1');
});

afterAll(async () => {
  await t2?.close();
  await t?.close();
});

describe('JSON login', () => {
  it('logs in, answers me with the same shape, and logs out', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'admin', password: t.adminPassword } });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.user).toMatchObject({ username: 'admin', role: 'admin' });
    expect(body.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.user.passwordHash).toBeUndefined();
    const c = setCookie(res, 'aidiary_session')!;
    expect(c.header).toMatch(/HttpOnly/);
    expect(c.header).toMatch(/SameSite=Lax/);
    expect(c.header).toMatch(/Path=\//);
    expect(c.header).not.toMatch(/Secure/);
    expect(res.headers['cache-control']).toBe('no-store');

    const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: `aidiary_session=${c.value}` } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toEqual(body);

    const who = { cookie: `aidiary_session=${c.value}`, csrf: body.csrfToken, sessionId: c.value, userId: body.user.id };
    const noToken = await as(t.app, who)('POST', '/api/auth/logout', {}, { csrf: false });
    expect(noToken.statusCode).toBe(403);
    expect(noToken.json().error.code).toBe('csrf');
    const wrongToken = await as(t.app, who)('POST', '/api/auth/logout', {}, { csrf: 'x'.repeat(43) });
    expect(wrongToken.statusCode).toBe(403);

    const out = await as(t.app, who)('POST', '/api/auth/logout', {});
    expect(out.statusCode).toBe(200);
    expect(setCookie(out, 'aidiary_session')?.header).toMatch(/Expires=Thu, 01 Jan 1970|Max-Age=0/);
    const after = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: who.cookie } });
    expect(after.statusCode).toBe(401);
    expect(after.json().error.code).toBe('unauthenticated');
  });

  it('regenerates the session id on login and destroys the old session', async () => {
    const first = await login(t.app, 'alice', 'alice-secret-1');
    const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'alice', password: 'alice-secret-1' }, headers: { cookie: first.cookie } });
    expect(res.statusCode).toBe(200);
    const second = setCookie(res, 'aidiary_session')!.value;
    expect(second).not.toBe(first.sessionId);
    expect(res.json().csrfToken).not.toBe(first.csrf);
    expect((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: first.cookie } })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: `aidiary_session=${second}` } })).statusCode).toBe(200);
  });

  it('refuses wrong passwords and unknown users alike (401), non-JSON (415), malformed bodies (400/422)', async () => {
    const wrong = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'wendy', password: 'nope' } });
    expect(wrong.statusCode).toBe(401);
    const unknown = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'nobody-here', password: 'nope' } });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json()).toEqual(wrong.json());
    expect(setCookie(wrong, 'aidiary_session')).toBeNull();

    const form = await t.app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=alice&password=alice-secret-1' });
    expect(form.statusCode).toBe(415);
    const text = await t.app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'content-type': 'text/plain' }, payload: 'alice' });
    expect(text.statusCode).toBe(415);
    const badJson = await t.app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"username":' });
    expect(badJson.statusCode).toBe(400);
    const arr = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: [1, 2] });
    expect(arr.statusCode).toBe(400);
    const missing = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'alice' } });
    expect(missing.statusCode).toBe(422);
    expect(missing.json().error.message).toMatch(/password/);
    const sqli = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: "admin' OR '1'='1", password: "' OR 1=1 --" } });
    expect(sqli.statusCode).toBe(401);
  });

  it('has no registration route and no way to pick a role at login', async () => {
    for (const url of ['/api/auth/register', '/api/register', '/api/users']) {
      const res = await t.app.inject({ method: 'POST', url, payload: { username: 'mallory', password: 'mallory-123', role: 'admin', email: 'm@x.invalid' } });
      expect(res.statusCode).toBe(404);
    }
    const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'sam', password: 'sam-secret-1', role: 'admin' } });
    expect(res.statusCode).toBe(422);
    const sam = await login(t.app, 'sam', 'sam-secret-1');
    const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie: sam.cookie } });
    expect(me.json().user.role).toBe('subscriber');
    expect((await t.sql("SELECT count(*)::int AS n FROM users WHERE username = 'mallory'"))[0].n).toBe(0);
  });

  it('never gives an anonymous visitor a cookie', async () => {
    for (const url of ['/', '/health', '/api/auth/me', '/api/posts', '/admin/dashboard', '/nope', '/feed.xml']) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.headers['set-cookie'], url).toBeUndefined();
    }
  });

  it('marks the cookie Secure behind a trusted proxy that says https', async () => {
    const res = await t2.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'alice', password: 'alice-secret-1' }, headers: { 'x-forwarded-proto': 'https' } });
    expect(res.statusCode).toBe(200);
    expect(setCookie(res, 'aidiary_session')!.header).toMatch(/; Secure/);
    // From a peer outside AIDIARY_TRUSTED_EDGE the header is ignored.
    const plain = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'alice', password: 'alice-secret-1' }, headers: { 'x-forwarded-proto': 'https' } });
    expect(setCookie(plain, 'aidiary_session')!.header).not.toMatch(/Secure/);
  });
});

describe('login limits', () => {
  const attempt = (app: TestApp, username: string, password: string, from?: string) =>
    app.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password }, headers: from ? { 'x-forwarded-for': from } : {} });

  it('per username: after k failures the next attempt waits 2^k s (429, Retry-After, from any address, on any app); a success resets it', async () => {
    await createUser(t, 'bob', 'author', 'bob-secret-1');
    expect((await attempt(t2, 'bob', 'wrong-1', '198.51.100.1')).statusCode).toBe(401);
    // At once, from another address and another app: the username waits 2 s.
    const blocked = await attempt(t2, 'BOB', 'bob-secret-1', '198.51.100.2');
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().error.code).toBe('rate_limited');
    expect(blocked.json().error.message).toMatch(/try again in \d+ s/);
    expect(Number(blocked.headers['retry-after'])).toBe(2);
    expect((await attempt(t, 'bob', 'bob-secret-1')).statusCode).toBe(429);
    // Another account is not held up by bob's failures.
    expect((await attempt(t, 'alice', 'alice-secret-1')).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 2100));
    expect((await attempt(t, 'bob', 'wrong-2')).statusCode).toBe(401);
    const second = await attempt(t, 'bob', 'bob-secret-1');
    expect(second.statusCode).toBe(429);
    expect(Number(second.headers['retry-after'])).toBe(4);
    await new Promise((r) => setTimeout(r, 4100));
    // Never a lock-out: the right password after the wait logs in, and clears the failures.
    expect((await attempt(t2, 'bob', 'bob-secret-1', '198.51.100.3')).statusCode).toBe(200);
    expect((await attempt(t, 'bob', 'bob-secret-1')).statusCode).toBe(200);
    expect((await attempt(t, 'bob', 'bob-secret-1')).statusCode).toBe(200);
  }, 20_000);

  it('the wait is capped (AIDIARY_LOGIN_BACKOFF_CAP_SECONDS) and never answered by sleeping', async () => {
    const redis = (t.app as unknown as { sessionKit: { rateLimiter: { fail(u: string): Promise<void>; backoffCapSeconds: number } } }).sessionKit.rateLimiter;
    expect(redis.backoffCapSeconds).toBe(30);
    await createUser(t, 'carol', 'author', 'carol-secret-1');
    for (let i = 0; i < 12; i++) await redis.fail('carol'); // 2^12 s uncapped
    const started = Date.now();
    const res = await attempt(t, 'carol', 'carol-secret-1');
    expect(res.statusCode).toBe(429);
    expect(Number(res.headers['retry-after'])).toBe(30);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('per client address: a forged X-Forwarded-For counts only behind the trusted edge, where it is the edge\'s word', async () => {
    // t trusts no peer: whatever X-Forwarded-For says, every attempt is 127.0.0.1's.
    const limit = 50;
    const statuses: number[] = [];
    for (let i = 0; i < limit + 2; i++) statuses.push((await attempt(t, `nobody-${i}`, 'x', `203.0.113.${i}`)).statusCode);
    // Earlier tests in this file spent some of 127.0.0.1's window: at most `limit` get through.
    const first429 = statuses.indexOf(429);
    expect(first429).toBeGreaterThanOrEqual(0);
    expect(first429).toBeLessThanOrEqual(limit);
    expect(statuses.slice(0, first429).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(first429).every((s) => s === 429)).toBe(true);
    // Another address (as resolved by a trusted edge) has its own count.
    expect((await attempt(t2, 'nobody-x', 'x', '198.51.100.77')).statusCode).toBe(401);
  }, 60_000);
});
