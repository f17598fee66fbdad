import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveSiteSettings } from '../../app/db/queries/site-settings';
import { superuserQuery } from '../../infra/local/postgres';
import { startTestApp, type TestApp } from '../helpers/app';

// Invariant 4 for what is not a DB read of the page: the site settings live in each app's memory
// (refreshed by a probe that reads a replica). A page filled right after a settings purge, while
// the replica still lags, must render the new settings, not re-cache the old ones.

const applyDelayMs = 5000;
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({
    posts: 3,
    replicas: 1,
    cache: { l1: true, l2: true },
    // Keep the lagging replica eligible: only the LSN rule may send a read to the primary.
    env: { AIDIARY_DB_MAX_LAG_MS: '600000', AIDIARY_DB_MAX_LAG_BYTES: String(1024 * 1024 * 1024) },
  });
  const [replica] = t.pg.replicas;
  // The replica has the seeded settings before it starts lagging.
  for (let i = 0; ; i++) {
    const rows = await superuserQuery<{ n: number }>(replica, "SELECT count(*)::int AS n FROM site_settings WHERE key = 'title'", [], t.pg.dbName).catch(() => []);
    if (rows[0]?.n === 1) break;
    if (i > 200) throw new Error('replica did not replay the seed');
    await new Promise((r) => setTimeout(r, 25));
  }
  await superuserQuery(replica, `ALTER SYSTEM SET recovery_min_apply_delay = '${applyDelayMs}ms'`);
  await superuserQuery(replica, 'SELECT pg_reload_conf()');
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('site settings and the page cache while replicas lag', () => {
  it('a fill after a settings purge renders the new title, though the probe still reads the old one', async () => {
    const before = await t.app.inject({ method: 'GET', url: '/' });
    expect(before.statusCode).toBe(200);
    expect(before.body).not.toContain('Lagged Title 7f3a');

    const { lsn } = await t.deps.db.write((q) => saveSiteSettings(q, { title: 'Lagged Title 7f3a' }));
    await t.deps.onContentChanged({ kind: 'site', lsn });

    const after = await t.app.inject({ method: 'GET', url: '/' });
    expect(after.statusCode).toBe(200);
    expect(after.body).toContain('Lagged Title 7f3a');
    // The copy now in the cache is the new one, well before the replica replays the change.
    const cached = await t.app.inject({ method: 'GET', url: '/' });
    expect(String(cached.headers['x-cache'])).toMatch(/^HIT/);
    expect(cached.body).toContain('Lagged Title 7f3a');
    const onReplica = await superuserQuery<{ value: string }>(t.pg.replicas[0], "SELECT value FROM site_settings WHERE key = 'title'", [], t.pg.dbName);
    expect(onReplica[0].value).not.toBe('Lagged Title 7f3a');
  });
});
