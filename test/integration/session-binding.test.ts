import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startTestApp, type TestApp } from '../helpers/app';
import { as, createUser, login, type LoggedIn } from './auth-test-helpers';

// Someone who can write to the sessions Redis (but does not hold the session secret) must not get
// a working cookie: not by writing a session record of their own, not by editing or copying the
// records that are there. Real Redis and a real app (app.inject); the attacker is a plain Redis
// client logged in as the app's own Redis user, i.e. the worst case of a leaked Redis password.

let t: TestApp;
let attacker: Redis;
let adminId: number;
let sam: LoggedIn;

beforeAll(async () => {
  t = await startTestApp({ posts: 0 });
  attacker = new Redis(t.redis.url, { maxRetriesPerRequest: 1 });
  adminId = (await login(t.app, 'admin', t.adminPassword)).userId;
  await createUser(t, 'sam', 'subscriber', 'sam-pass-1');
  sam = await login(t.app, 'sam', 'sam-pass-1');
}, 120_000);

afterAll(async () => {
  attacker?.disconnect();
  await t?.close();
});

const me = (cookie: string) => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } });

/** Every string key of the sessions Redis with its value (sessions are plain strings). */
async function storedSessions(): Promise<{ key: string; value: string }[]> {
  const out: { key: string; value: string }[] = [];
  for (const key of await attacker.keys('sess:*')) {
    if ((await attacker.type(key)) === 'string') out.push({ key, value: (await attacker.get(key))! });
  }
  return out;
}

describe('session cookies bound to the session secret', () => {
  it('a session record written straight into Redis with role admin is no login', async () => {
    const id = randomBytes(32).toString('base64url');
    const forged = { userId: adminId, username: 'admin', role: 'admin', csrfToken: 'forged-token', lastWriteLsn: null, lastReadLsn: null, createdAt: Date.now() };
    // Where the old store kept a session (`sess:<cookie id>`) and a guess at a hashed key made
    // with a wrong secret, with a MAC made with that wrong secret.
    const wrong = 'not-the-session-secret-'.repeat(3);
    const hashed = createHmac('sha256', wrong).update(`aidiary-session-key\0${id}`).digest('base64url');
    await attacker.set(`sess:${id}`, JSON.stringify(forged), 'EX', 600);
    await attacker.set(`sess:${hashed}`, JSON.stringify({ ...forged, mac: createHmac('sha256', wrong).update('x').digest('base64url') }), 'EX', 600);
    const res = await me(`aidiary_session=${id}`);
    expect(res.statusCode).toBe(401);
    const dashboard = await t.app.inject({ method: 'GET', url: '/admin/users', headers: { cookie: `aidiary_session=${id}` } });
    expect(dashboard.statusCode).not.toBe(200);
    const write = await t.app.inject({
      method: 'POST', url: '/api/tags', payload: { name: 'forged' }, headers: { cookie: `aidiary_session=${id}`, 'x-csrf-token': 'forged-token' },
    });
    expect(write.statusCode).toBe(401);
  });

  it('the cookie ids of live sessions cannot be read out of Redis', async () => {
    const admin = await login(t.app, 'admin', t.adminPassword);
    const dump = JSON.stringify(await storedSessions()) + JSON.stringify(await attacker.keys('*'));
    expect(dump).not.toContain(admin.sessionId);
    expect(dump).not.toContain(sam.sessionId);
    for (const key of await attacker.keys('sess-user:*')) {
      expect(await attacker.smembers(key)).not.toContain(admin.sessionId);
    }
  });

  it('editing a subscriber\'s own record to role admin breaks it instead of promoting it', async () => {
    const mine = await login(t.app, 'sam', 'sam-pass-1');
    expect((await me(mine.cookie)).json().user.role).toBe('subscriber');
    const records = (await storedSessions()).filter((r) => JSON.parse(r.value).csrfToken === mine.csrf);
    expect(records).toHaveLength(1);
    const edited = { ...JSON.parse(records[0].value), role: 'admin', userId: adminId, username: 'admin' };
    await attacker.set(records[0].key, JSON.stringify(edited), 'KEEPTTL');
    expect((await me(mine.cookie)).statusCode).toBe(401);
    expect((await as(t.app, mine)('GET', '/api/posts?status=draft')).statusCode).toBe(401);
  });

  it('copying an admin\'s record over a subscriber\'s key is no admin session either', async () => {
    const admin = await login(t.app, 'admin', t.adminPassword);
    const mine = await login(t.app, 'sam', 'sam-pass-1');
    const all = await storedSessions();
    const adminRecord = all.find((r) => JSON.parse(r.value).csrfToken === admin.csrf)!;
    const samRecord = all.find((r) => JSON.parse(r.value).csrfToken === mine.csrf)!;
    await attacker.set(samRecord.key, adminRecord.value, 'KEEPTTL');
    const res = await me(mine.cookie);
    expect(res.statusCode).toBe(401);
    // The genuine sessions still work: the binding costs honest users nothing.
    expect((await me(admin.cookie)).json().user.role).toBe('admin');
    const write = await as(t.app, admin)('POST', '/api/tags', { name: 'bound-session-write' });
    expect(write.statusCode).toBe(201);
    expect((await me(admin.cookie)).statusCode).toBe(200); // the LSN bookkeeping kept the record valid
  });
});
