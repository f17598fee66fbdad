import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startTestApp, type TestApp } from '../helpers/app';
import { login, type LoggedIn } from './auth-test-helpers';
import { getPage, postForm, waitForSessions } from './admin-form-helpers';
import { listedSlugs } from '../helpers/html';
import { queueNames } from '../../app/jobs/jobs';

// Site settings (a change purges every cached page and shows at once) and the cache screen
// (per-layer statistics, flush-all audited in the log with the user id). Real L1 + L2 cache.

let t: TestApp;
let admin: LoggedIn;
const logLines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  t = await startTestApp({
    posts: 25, cache: { l1: true, l2: true },
    // The app's own logger, captured: the audit lines are what this test reads.
    wrapDeps: (deps) => ({ ...deps, logger: pino({ level: 'info' }, { write: (line: string) => { logLines.push(JSON.parse(line)); } }) }),
  });
  await waitForSessions(t.deps);
  admin = await login(t.app, 'admin', t.adminPassword);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

const anon = (url: string) => t.app.inject({ method: 'GET', url });

describe('site settings', () => {
  it('shows the stored settings and refuses invalid ones (422) without saving', async () => {
    const page = await getPage(t.app, admin, '/admin/settings');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('value="AIDiary"');
    for (const [fields, message] of [
      [{ title: '', description: '', posts_per_page: '10' }, 'title: must not be empty'],
      [{ title: 'X', description: '', posts_per_page: '0' }, 'posts_per_page: at least 1'],
      [{ title: 'X', description: '', posts_per_page: 'ten' }, 'posts_per_page: must be a number'],
      [{ title: 'X', description: '', posts_per_page: '2.5' }, 'posts_per_page: must be a whole number'],
    ] as Array<[Record<string, string>, string]>) {
      const res = await postForm(t.app, admin, '/admin/settings', fields);
      expect(res.statusCode, message).toBe(422);
      expect(res.body).toContain(message);
    }
    expect((await t.sql("SELECT value FROM site_settings WHERE key = 'title'"))[0].value).toBe('AIDiary');
  });

  it('a change purges every cached page: the home page shows the new title and page size at once', async () => {
    await anon('/');
    const cached = await anon('/');
    expect(cached.headers['x-cache']).toBe('HIT-L1');
    expect(listedSlugs(cached.body)).toHaveLength(10);
    await anon('/page/2');

    const res = await postForm(t.app, admin, '/admin/settings', { title: '新しい日記', description: 'Tagline here', posts_per_page: '4' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/admin/settings?saved=1');

    const home = await anon('/');
    expect(home.headers['x-cache']).toBe('MISS');
    expect(home.body).toContain('新しい日記');
    expect(listedSlugs(home.body)).toHaveLength(4);
    expect((await anon('/page/2')).headers['x-cache']).toBe('MISS');
    const rows = await t.sql<{ key: string; value: string }>('SELECT key, value FROM site_settings ORDER BY key');
    expect(Object.fromEntries(rows.map((r) => [r.key, r.value]))).toMatchObject({ title: '新しい日記', description: 'Tagline here', posts_per_page: '4' });
    expect(logLines.some((l) => l.audit === 'settings.update' && l.userId === admin.userId)).toBe(true);
  });
});

describe('settings across apps', () => {
  it('another app\'s first fill after a settings change renders the new settings (before its probe)', async () => {
    const b = await startTestApp({ posts: 0, cache: { l1: true, l2: true }, pg: t.pg, redis: t.redis, cacheRedis: t.cacheRedis!, env: { AIDIARY_APP_NAME: 'app-1' } });
    try {
      await anon('/');
      const getB = () => b.app.inject({ method: 'GET', url: '/' });
      await getB();
      expect((await getB()).headers['x-cache']).toBe('HIT-L1');
      const res = await postForm(t.app, admin, '/admin/settings', { title: 'Cross-app title', description: '', posts_per_page: '4' });
      expect(res.statusCode).toBe(303);
      // app-1 has not probed yet, but its fill after the purge reloads the settings at the
      // purge's LSN first: the first page it renders and stores already has the new title.
      const first = await getB();
      expect(first.headers['x-cache']).not.toMatch(/^HIT/);
      expect(first.body).toContain('Cross-app title');
      expect((await getB()).body).toContain('Cross-app title');
      expect((await anon('/')).body).toContain('Cross-app title');
    } finally {
      await b.close();
    }
  });
});

describe('cache screen', () => {
  it('shows per-layer hits and misses, and flush-all empties the cache (audited with the user id)', async () => {
    await anon('/');
    await anon('/');
    const page = await getPage(t.app, admin, '/admin/cache');
    expect(page.statusCode).toBe(200);
    const l1Row = /<tr data-testid="cache-l1"><td>[^<]*<\/td><td>(\d+)<\/td><td>(\d+)<\/td>/.exec(page.body);
    expect(l1Row).not.toBeNull();
    expect(Number(l1Row![1])).toBeGreaterThan(0); // hits
    expect(Number(l1Row![2])).toBeGreaterThan(0); // misses
    expect(page.body).toMatch(/data-testid="cache-l1">[\s\S]*?\d+ entries, \d+ \/ \d+ bytes/);
    expect(page.body).toContain('data-testid="flush-cache"');

    const flush = await postForm(t.app, admin, '/admin/cache/flush');
    expect(flush.statusCode).toBe(303);
    expect((await anon('/')).headers['x-cache']).toBe('MISS');
    const audit = logLines.find((l) => l.audit === 'cache.flush');
    expect(audit).toMatchObject({ userId: admin.userId, username: 'admin' });
    const dash = await getPage(t.app, admin, '/admin/dashboard');
    expect(dash.body).toMatch(/data-testid="cache-ratios"[\s\S]*?Hit ratio<\/th><td>\d+\.\d %/);
    expect(dash.body).toMatch(/data-testid="db-nodes"[\s\S]*?pg-0<\/td><td>primary<\/td><td class="ok">up/);
    // The jobs panel lists every queue with its counts (deps.jobs is configured in createDeps).
    const jobsPanel = /data-testid="jobs-panel">([\s\S]*?)<\/div>/.exec(dash.body)![1];
    for (const queue of queueNames) expect(jobsPanel).toMatch(new RegExp(`<td>${queue}</td>(<td[^>]*>\\d+</td>){5}`));
  });
});
