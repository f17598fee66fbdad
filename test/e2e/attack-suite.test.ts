import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { BASE_PORT_SPAN } from '../../infra/local/cluster-layout';
import { freePortBlock } from '../../infra/local/process';
import type { ClusterStatus } from '../../infra/local/status';
import { get, runCli, sleep } from './helpers-cluster';
import { launchSystemChromium } from './browser/chromium';
import { anonymousRedisCommand } from '../helpers/redis-raw';

// The attack suite: the real local cluster (2 apps, PostgreSQL primary + 1 replica, both Redis
// roles, nginx), started once through the CLI, attacked as an outsider would: through nginx only.
// Each attack states what it tries and what must hold. The apps' /metrics (on their own loopback
// ports, never proxied) are read only to prove that an attack caused no work.
// The per-address login test runs last: it spends 127.0.0.1's login window for five minutes.

const stateDir = mkdtempSync(join(tmpdir(), 'aidiary-e2e-attack-'));
chmodSync(stateDir, 0o755);
const cli = (...args: string[]) => runCli([...args, '--state-dir', stateDir]);
let base = '';
let s: ClusterStatus;
let admin = { cookie: '', csrf: '' };
const victim = { username: 'victim-author', password: 'victim-secret-123' };

const json = { 'content-type': 'application/json' };

async function apiLogin(username: string, password: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/api/auth/login`, { method: 'POST', headers: { ...json, ...headers }, body: JSON.stringify({ username, password }) });
}

function sessionCookieOf(res: Response): string | null {
  return res.headers.getSetCookie().find((c) => c.startsWith('aidiary_session='))?.split(';')[0] ?? null;
}

/** Sum of a metric's samples on every app's /metrics (the apps' own ports). */
async function clusterMetric(name: string): Promise<number> {
  let total = 0;
  for (const a of s.apps) {
    const text = await (await fetch(`http://127.0.0.1:${a.port}/metrics`)).text();
    for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.split(' ').pop());
  }
  return total;
}

/** Files in nginx's micro-cache directory. */
function edgeCacheFiles(dir = join(stateDir, 'nginx', 'cache')): number {
  let n = 0;
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    n += statSync(p).isDirectory() ? edgeCacheFiles(p) : 1;
  }
  return n;
}

beforeAll(async () => {
  const basePort = await freePortBlock(BASE_PORT_SPAN);
  const r = await cli('up', '--detach', '--apps', '2', '--db-replicas', '1', '--seed-posts', '30', '--base-port', String(basePort));
  if (r.code !== 0) throw new Error(`up failed (${r.code}): ${r.stderr}`);
  base = `http://127.0.0.1:${basePort}`;
  s = JSON.parse((await cli('status', '--json')).stdout) as ClusterStatus;
  const password = readFileSync(join(stateDir, 'admin-password'), 'utf8').trim();
  const login = await apiLogin('admin', password);
  if (login.status !== 200) throw new Error(`admin login failed: ${login.status} ${await login.text()}`);
  admin = { cookie: sessionCookieOf(login)!, csrf: ((await login.json()) as { csrfToken: string }).csrfToken };
  // The victim: an author the attacks below guess the password of.
  const form = new URLSearchParams({
    _csrf: admin.csrf, username: victim.username, email: 'victim@example.com', display_name: 'Victim', role: 'author',
    password: victim.password, password_confirm: victim.password,
  });
  const created = await fetch(`${base}/admin/users/create`, {
    method: 'POST', redirect: 'manual', headers: { cookie: admin.cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString(),
  });
  if (created.status !== 303) throw new Error(`creating ${victim.username} failed: ${created.status} ${await created.text()}`);
}, 240_000);

afterAll(async () => {
  await cli('down').catch(() => {});
  rmSync(stateDir, { recursive: true, force: true });
}, 120_000);

describe('attack suite (through nginx only)', () => {
  it('HTML pages carry a CSP, nosniff and a Referrer-Policy: rendered, from the edge cache, and in the admin', async () => {
    const pages: Array<[string, Record<string, string>]> = [['/', {}], ['/', {}], ['/admin/login', {}], ['/admin/dashboard', { cookie: admin.cookie }], ['/no-such-page', {}]];
    for (const [path, headers] of pages) {
      const r = await get(`${base}${path}`, undefined, 10_000, headers);
      expect(r.headers['content-type'], path).toMatch(/text\/html/);
      expect(r.headers['content-security-policy'], path).toMatch(/script-src 'self'(;|$)/);
      expect(r.headers['x-content-type-options'], path).toBe('nosniff');
      expect(r.headers['referrer-policy'], path).toBe('strict-origin-when-cross-origin');
    }
  });

  it('the site and the admin work under the CSP in a real browser: the editor\'s live preview renders, no policy violation', async () => {
    const browser = await launchSystemChromium();
    try {
      const context = await browser.newContext();
      await context.addCookies([{ name: 'aidiary_session', value: admin.cookie.split('=')[1], url: base }]);
      // Registered through the DevTools protocol, so the policy does not apply to this listener itself.
      await context.addInitScript(() => {
        (window as unknown as { cspViolations: string[] }).cspViolations = [];
        document.addEventListener('securitypolicyviolation', (e) => {
          (window as unknown as { cspViolations: string[] }).cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
        });
      });
      const page = await context.newPage();
      const consoleCsp: string[] = [];
      page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) consoleCsp.push(m.text()); });
      const violations = async () => page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
      for (const path of ['/', '/admin/dashboard', '/admin/posts', '/admin/media']) {
        await page.goto(`${base}${path}`);
        expect(await violations(), path).toEqual([]);
      }
      await page.goto(`${base}/admin/posts/new`);
      await page.getByLabel(/^Content/).fill('# Preview under CSP\n\nSome **bold** text and <img src="x" onerror="alert(1)">');
      const preview = page.getByTestId('live-preview');
      await preview.locator('strong', { hasText: 'bold' }).waitFor({ timeout: 10_000 });
      expect(await preview.innerHTML()).not.toMatch(/onerror/);
      expect(await violations()).toEqual([]);
      expect(consoleCsp).toEqual([]);
      // The policy is enforced (and the listener sees it): an injected inline script does not run.
      await page.addScriptTag({ content: 'window.inlineRan = true;' }).catch(() => {});
      expect(await page.evaluate(() => (window as unknown as { inlineRan?: boolean }).inlineRan)).toBeUndefined();
      expect((await violations()).join(' ')).toMatch(/script-src/);
      await context.close();
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('a client-chosen X-Request-Id does not become the request\'s id (the edge makes its own and logs the client\'s apart)', async () => {
    const chosen = 'attacker-chosen-id-0001';
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await get(`${base}/health`, undefined, 10_000, { 'X-Request-Id': chosen });
      expect(r.status).toBe(200);
      ids.push(String(r.headers['x-request-id']));
    }
    for (const id of ids) {
      expect(id).not.toBe(chosen);
      expect(id).toMatch(/^[0-9a-f]{32}$/); // nginx's $request_id, as the app received it
    }
    expect(ids[0]).not.toBe(ids[1]);
    await sleep(1300); // the access log is flushed every second
    const log = readFileSync(join(stateDir, 'logs', 'lb-access.log'), 'utf8');
    for (const id of ids) expect(log).toContain(`rid=${id} client_rid="${chosen}"`);
  });

  it('an unknown Host renders nothing and does not grow any cache', async () => {
    // Warm what an accepted name renders, so only the unknown Hosts could add work.
    for (const path of ['/feed.xml', '/sitemap.xml', '/']) expect((await get(`${base}${path}`)).status).toBe(200);
    await sleep(1100);
    const rendersBefore = await clusterMetric('aidiary_cache_renders_total');
    const l1Before = await clusterMetric('aidiary_cache_l1_entries');
    const edgeBefore = edgeCacheFiles();
    for (let i = 0; i < 15; i++) {
      for (const path of ['/feed.xml', '/sitemap.xml', `/?x=${i}`]) {
        const r = await get(`${base}${path}`, undefined, 10_000, { Host: `evil-${i}.example` });
        expect(r.status, `${path} Host evil-${i}.example`).toBe(421);
        expect(r.body).not.toMatch(/<rss|<urlset|<article|aidiary_session/);
      }
    }
    expect(await clusterMetric('aidiary_cache_renders_total')).toBe(rendersBefore);
    expect(await clusterMetric('aidiary_cache_l1_entries')).toBe(l1Before);
    expect(edgeCacheFiles()).toBe(edgeBefore);
    // The names tests, drills and the bench use locally still work; links use the configured origin.
    const local = await get(`${base}/feed.xml`, undefined, 10_000, { Host: `localhost:${new URL(base).port}` });
    expect(local.status).toBe(200);
    expect(local.body).toContain(`<link>${base}/`);
    expect(local.body).not.toContain('localhost');
  });

  it('a deleted image is gone from the edge within about a second (browsers keep their immutable copy)', async () => {
    const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 10, g: 200, b: 90 } } }).png().toBuffer();
    const sha256 = createHash('sha256').update(png).digest('hex');
    const form = new FormData();
    form.append('file', new Blob([png], { type: 'image/png' }), 'attack.png');
    const up = await fetch(`${base}/api/media`, { method: 'POST', headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrf }, body: form });
    expect(up.status).toBe(201);
    const url = `${base}/media/${sha256}.png`;
    const first = await get(url);
    expect(first.status).toBe(200);
    expect(first.headers['cache-control']).toMatch(/immutable/);
    const cached = await get(url);
    expect(cached.headers['x-edge-cache']).toBe('HIT');
    const del = await fetch(`${base}/api/media/${sha256}`, { method: 'DELETE', headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrf } });
    expect(del.status).toBe(204);
    const deletedAt = Date.now();
    let goneAfterMs = -1;
    while (Date.now() - deletedAt < 5000) {
      if ((await get(url)).status === 404) { goneAfterMs = Date.now() - deletedAt; break; }
      await sleep(50);
    }
    expect(goneAfterMs, 'still served by the edge 5 s after the delete').toBeGreaterThanOrEqual(0);
    console.info(`attack suite: the deleted image left the edge ${goneAfterMs} ms after the delete`);
    expect(goneAfterMs).toBeLessThanOrEqual(1500);
  });

  it('already holds: session fixation, cookie flags, CSRF on state-changing routes, open redirects, traversal, no stack traces, no logged-in page for anonymous visitors', async () => {
    // A session id planted before login is not the one the login sets.
    const planted = 'aidiary_session=planted-by-attacker';
    const login = await apiLogin(victim.username, victim.password, { cookie: planted });
    expect(login.status).toBe(200);
    const set = login.headers.getSetCookie().find((c) => c.startsWith('aidiary_session='))!;
    expect(set.split(';')[0]).not.toBe(planted);
    expect(set).toMatch(/; HttpOnly/i);
    expect(set).toMatch(/; SameSite=Lax/i);
    expect(set).toMatch(/; Path=\//i);
    const cookie = set.split(';')[0];
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    // State-changing calls without the CSRF token are refused.
    const noToken: Array<[string, string, unknown]> = [
      ['POST', '/api/posts', { title: 't', content: 'c', status: 'draft' }], ['POST', '/api/tags', { name: 'x' }],
      ['DELETE', '/api/posts/1', undefined], ['POST', '/api/auth/logout', undefined], ['POST', '/api/preview', { content: 'x' }],
    ];
    for (const [method, path, body] of noToken) {
      const r = body === undefined
        ? await fetch(`${base}${path}`, { method, headers: { cookie } })
        : await fetch(`${base}${path}`, { method, headers: { ...json, cookie }, body: JSON.stringify(body) });
      expect(r.status, `${method} ${path}`).toBe(403);
    }
    for (const path of ['/admin/posts', '/admin/logout', '/admin/profile/update']) {
      const r = await fetch(`${base}${path}`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'title=x' });
      expect(r.status, `POST ${path}`).toBe(403);
    }
    expect((await fetch(`${base}/api/auth/me`, { headers: { cookie } })).status).toBe(200);
    // Open redirects: the login form's redirect stays on this site.
    for (const target of ['//evil.example/', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)']) {
      const r = await fetch(`${base}/admin/login?redirect=${encodeURIComponent(target)}`, { redirect: 'manual', headers: { cookie } });
      const location = r.headers.get('location') ?? '';
      expect(location, target).toMatch(/^\/(?![/\\])/);
    }
    // Path traversal on /static and /media.
    for (const path of ['/static/../package.json', '/static/..%2fpackage.json', '/static/%2e%2e/%2e%2e/package.json', '/media/..%2f..%2fpackage.json', '/media/../package.json']) {
      const r = await get(`${base}${path}`);
      expect(r.status, path).toBeGreaterThanOrEqual(400);
      expect(r.body, path).not.toContain('"dependencies"');
    }
    // No stack trace in any error body.
    const errors = [
      await fetch(`${base}/api/posts`, { method: 'POST', headers: { ...json, cookie, 'x-csrf-token': csrfToken }, body: '{"title":' }),
      await fetch(`${base}/api/posts/not-a-number`, { headers: { cookie } }),
      await fetch(`${base}/page/99999999999999999999`),
      await fetch(`${base}/posts/${'%ff'.repeat(10)}`),
    ];
    for (const r of errors) {
      const body = await r.text();
      expect(r.status).toBeLessThan(500);
      expect(body).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
    }
    // A page fetched logged in is never the copy an anonymous visitor gets.
    const loggedIn = await get(`${base}/`, undefined, 10_000, { cookie });
    expect(loggedIn.headers['set-cookie']).toBeUndefined();
    const anonymous = await get(`${base}/`);
    expect(anonymous.body).not.toContain(victim.username);
    expect(anonymous.body).not.toContain(csrfToken);
    await fetch(`${base}/api/auth/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrfToken } });
  });

  it('per-username backoff: guesses from many forged X-Forwarded-For addresses wait 2^k s (429 + Retry-After), on /api and on the admin form; no lock-out', async () => {
    const statuses: number[] = [];
    let retryAfter = 0;
    for (let i = 0; i < 8; i++) {
      const r = await apiLogin(victim.username, `guess-${i}`, { 'X-Forwarded-For': `198.51.100.${i + 1}` });
      statuses.push(r.status);
      if (r.status === 429) {
        retryAfter = Math.max(retryAfter, Number(r.headers.get('retry-after')));
        expect(((await r.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
      }
    }
    // One guess is checked, then the username waits (2 s): the other seven are 429 at once.
    expect(statuses.filter((st) => st === 401)).toHaveLength(1);
    expect(statuses.filter((st) => st === 429)).toHaveLength(7);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);
    // The admin form shares the limit: an HTML 429 with Retry-After.
    const formPage = await fetch(`${base}/admin/login`);
    const loginCsrf = /name="_csrf" value="([^"]+)"/.exec(await formPage.text())![1];
    const formCookie = formPage.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const viaForm = await fetch(`${base}/admin/login`, {
      method: 'POST', redirect: 'manual',
      headers: { cookie: formCookie, 'content-type': 'application/x-www-form-urlencoded', 'X-Forwarded-For': '203.0.113.50' },
      body: new URLSearchParams({ _csrf: loginCsrf, username: victim.username, password: 'guess-form', redirect: '/admin' }).toString(),
    });
    expect(viaForm.status).toBe(429);
    expect(Number(viaForm.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await viaForm.text()).toMatch(/Too many login attempts; try again in \d+ s/);
    // The apps log the address nginx saw, never the forged one.
    const appLogs = s.apps.map((a) => readFileSync(join(stateDir, 'logs', `${a.name}.log`), 'utf8')).join('\n');
    expect(appLogs).not.toMatch(/"remoteAddress":"(198\.51\.100|203\.0\.113)\./);
    const loginLines = appLogs.split('\n').filter((l) => l.includes('"url":"/api/auth/login"')).map((l) => JSON.parse(l) as { remoteAddress?: string });
    expect(loginLines.length).toBeGreaterThan(0);
    expect(loginLines.every((l) => l.remoteAddress === '127.0.0.1'), JSON.stringify(loginLines.slice(0, 3))).toBe(true);
    // After the wait the right password works (and resets the count).
    await sleep(2100);
    expect((await apiLogin(victim.username, victim.password)).status).toBe(200);
    expect((await apiLogin(victim.username, victim.password)).status).toBe(200);
  }, 30_000);

  // Last: spends this address's login window (AIDIARY_LOGIN_MAX_PER_ADDRESS, 50 per 5 min).
  it('a new forged X-Forwarded-For per attempt never escapes the per-address login limit', async () => {
    const statuses: number[] = [];
    let appAnswered429 = false;
    for (let i = 0; i < 60; i++) {
      // Paced under nginx's own limit_req (5/s), so this is the app's per-address count.
      const r = await apiLogin(`nobody-${i}`, 'guess', { 'X-Forwarded-For': `203.0.113.${i + 1}`, 'X-Real-IP': `203.0.113.${i + 1}` });
      statuses.push(r.status);
      if (r.status === 429 && (r.headers.get('content-type') ?? '').includes('json')) {
        appAnswered429 = ((await r.json()) as { error: { code: string } }).error.code === 'rate_limited';
      } else {
        await r.arrayBuffer();
      }
      await sleep(220);
    }
    const first429 = statuses.indexOf(429);
    expect(first429, `statuses: ${statuses.join(',')}`).toBeGreaterThan(0);
    expect(first429).toBeLessThanOrEqual(50);
    expect(statuses.slice(first429).every((st) => st === 429)).toBe(true);
    expect(appAnswered429).toBe(true);
  }, 60_000);
});

// Redis, from the network next to the apps (any process or pod that reaches its port). Nothing
// here logs in through the login endpoints, so it may run after the per-address test above.
describe('attack suite: Redis (a neighbour on the network)', () => {
  it('a Redis write without credentials is refused on both roles; the default user cannot be logged into', async () => {
    expect(s.redis.map((r) => r.role).sort()).toEqual(['cache', 'sessions']);
    for (const r of s.redis) {
      expect(r.healthy).toBe(true); // `status` logs in as the healthcheck user
      const forged = JSON.stringify({ userId: 1, username: 'admin', role: 'admin', csrfToken: 'x', createdAt: Date.now(), lastWriteLsn: null, lastReadLsn: null });
      expect(await anonymousRedisCommand(r.port, 'SET', 'sess:forged', forged)).toMatch(/^NOAUTH/);
      expect(await anonymousRedisCommand(r.port, 'SET', 'page:/', '<script>alert(1)</script>')).toMatch(/^NOAUTH/);
      expect(await anonymousRedisCommand(r.port, 'CONFIG', 'SET', 'dir', '/tmp')).toMatch(/^NOAUTH/);
      expect(await anonymousRedisCommand(r.port, 'AUTH', 'default', '')).toMatch(/^WRONGPASS/);
    }
  });

  it('even with the app\'s Redis password, a session written into Redis is no login through nginx', async () => {
    const port = s.redis.find((r) => r.role === 'sessions')!.port;
    const password = readFileSync(join(stateDir, 'secrets', 'redis-sessions-password'), 'utf8').trim();
    const intruder = new Redis({ host: '127.0.0.1', port, username: 'aidiary', password, maxRetriesPerRequest: 0 });
    try {
      const id = randomBytes(32).toString('base64url');
      const record = { userId: 1, username: 'admin', role: 'admin', csrfToken: 'forged-csrf', createdAt: Date.now(), lastWriteLsn: null, lastReadLsn: null };
      await intruder.set(`sess:${id}`, JSON.stringify(record), 'EX', 600);
      const cookie = `aidiary_session=${id}`;
      expect((await fetch(`${base}/api/auth/me`, { headers: { cookie } })).status).toBe(401);
      const write = await fetch(`${base}/api/tags`, { method: 'POST', headers: { ...json, cookie, 'x-csrf-token': 'forged-csrf' }, body: JSON.stringify({ name: 'forged' }) });
      expect(write.status).toBe(401);
      const users = await fetch(`${base}/admin/users`, { headers: { cookie }, redirect: 'manual' });
      expect(users.status).not.toBe(200);
      // The live admin session's cookie id is nowhere in Redis (keys hold its HMAC only).
      const keys = await intruder.keys('sess*');
      const adminId = admin.cookie.slice('aidiary_session='.length);
      expect(keys.join(' ')).not.toContain(adminId);
      for (const k of keys) {
        const value = (await intruder.type(k)) === 'set' ? (await intruder.smembers(k)).join(' ') : (await intruder.get(k)) ?? '';
        expect(value).not.toContain(adminId);
      }
      expect((await fetch(`${base}/api/auth/me`, { headers: { cookie: admin.cookie } })).status).toBe(200);
    } finally {
      intruder.disconnect();
    }
  });
});
