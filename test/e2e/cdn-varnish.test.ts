import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASE_PORT_SPAN } from '../../infra/local/cluster-layout';
import { freePortBlock, stopPid } from '../../infra/local/process';
import type { ClusterStatus } from '../../infra/local/status';
import { varnishPaths } from '../../infra/local/varnish';
import { StateDir } from '../../infra/local/state';
import { runCli, sleep } from './helpers-cluster';

// The local CDN tier for real: `aidiary up --cdn varnish` (Debian's varnishd with xkey in front
// of nginx, 2 apps, a primary and a replica), every request through Varnish. The apps purge
// Varnish themselves (AIDIARY_CDN_PROVIDER=varnish, app/cdn/ and the cdn-purge job queue):
//  - a publish, an edit, a delete and a settings change each purge exactly their pages (home,
//    post, category, tag, author, date archives, feed, sitemap); every other page stays a HIT;
//  - a reader polling a post through Varnish while it is edited sees the new version within
//    1.5 s of the write's answer;
//  - with every app and nginx stopped, Varnish serves its copies, stale ones included;
//  - cookies other than the session cookie are dropped; a session-cookie answer is never stored;
//  - nginx sees the client Varnish reports (real_ip from the Varnish peer), not a forged header.

const stateDir = mkdtempSync(join(tmpdir(), 'aidiary-cdn-e2e-'));
chmodSync(stateDir, 0o755);
const cli = (...args: string[]) => runCli([...args, '--state-dir', stateDir]);
let s: ClusterStatus;
let cdn = '';
// Demo seed slugs (app/db/seed.ts is deterministic): category "tech", tag "coffee".
const category = 'tech';
const tag = 'coffee';

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function send(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = { ...opts.headers };
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
    const req = request(`${cdn}${path}`, { method: opts.method ?? 'GET', headers, agent: false, timeout: 15_000, localAddress: opts.localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const state = res.headers['x-cdn-cache'];
        if (state === 'HIT' || state === 'MISS') observed[state]++;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer within 15 s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

const cdnCache = (a: Answer) => String(a.headers['x-cdn-cache']);
/** What the answers said, to compare with Varnish's own counters. */
const observed = { HIT: 0, MISS: 0 };

interface Session { cookie: string; csrf: string }
let session: Session;

async function login(): Promise<Session> {
  const password = readFileSync(join(stateDir, 'admin-password'), 'utf8').trim();
  const res = await send('/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) });
  expect(res.status, res.body).toBe(200);
  const raw = res.headers['set-cookie'];
  const cookie = (Array.isArray(raw) ? raw : [String(raw)]).map((c) => c.split(';')[0]).find((c) => c.startsWith('aidiary_session='))!;
  return { cookie, csrf: (JSON.parse(res.body) as { csrfToken: string }).csrfToken };
}

/** A JSON write through Varnish; `answeredAt` is when its answer arrived. */
async function write(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; answeredAt: number }> {
  const res = await send(path, {
    method, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), cookie: session.cookie, 'x-csrf-token': session.csrf },
  });
  const answeredAt = performance.now();
  expect(res.status, `${method} ${path}: ${res.body}`).toBeLessThan(300);
  return { status: res.status, json: res.body ? JSON.parse(res.body) as Record<string, unknown> : {}, answeredAt };
}

/** Fetches each page until Varnish has it stored (a HIT), so a later MISS can only be a purge. */
async function warm(paths: string[]): Promise<void> {
  for (const p of paths) {
    for (let i = 0; ; i++) {
      const a = await send(p);
      expect(a.status, `${p}: ${a.body.slice(0, 200)}`).toBe(200);
      if (cdnCache(a) === 'HIT') break;
      if (i > 20) throw new Error(`${p} never became a Varnish HIT (last ${cdnCache(a)})`);
      await sleep(100);
    }
  }
}

/** Polls one page until `done` holds: the purge reached Varnish. Returns ms after `since`. */
async function waitFor(path: string, done: (a: Answer) => boolean, since: number, timeoutMs = 10_000): Promise<number> {
  for (;;) {
    const a = await send(path);
    if (done(a)) return performance.now() - since;
    if (performance.now() - since > timeoutMs) throw new Error(`${path}: not purged ${timeoutMs} ms after the write (X-CDN-Cache ${cdnCache(a)})`);
    await sleep(50);
  }
}

/** One fetch of each page: which were purged (MISS) and which stayed stored (HIT). */
async function classify(paths: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const p of paths) out[p] = cdnCache(await send(p));
  return out;
}

const ratios: string[] = [];
function hitRatio(what: string, states: Record<string, string>): number {
  const values = Object.values(states);
  const ratio = values.filter((v) => v === 'HIT').length / values.length;
  ratios.push(`${what}: ${ratio.toFixed(2)} of ${values.length}`);
  return ratio;
}

let unrelated: string[] = [];
let otherPostPath = '';
const today = new Date();
const ymd = [today.getUTCFullYear(), String(today.getUTCMonth() + 1).padStart(2, '0'), String(today.getUTCDate()).padStart(2, '0')];
const dateArchives = [`/${ymd[0]}/`, `/${ymd[0]}/${ymd[1]}/`, `/${ymd[0]}/${ymd[1]}/${ymd[2]}/`];
// The admin has no published post of the demo seed: /author/admin is a page only while the test's post is.
const authorPage = '/author/admin';
const listingsOfPost = ['/', `/category/${category}`, `/tag/${tag}`, ...dateArchives, '/feed.xml', '/sitemap.xml'];
let post: { id: number; slug: string; path: string; title: string };

beforeAll(async () => {
  const basePort = await freePortBlock(BASE_PORT_SPAN);
  const r = await cli('up', '--detach', '--cdn', 'varnish', '--apps', '2', '--db-replicas', '1', '--base-port', String(basePort), '--seed-posts', '60');
  if (r.code !== 0) throw new Error(`up failed (${r.code}): ${r.stderr}`);
  s = JSON.parse((await cli('status', '--json')).stdout) as ClusterStatus;
  cdn = s.cdn!.url.replace(/\/$/, '');
  session = await login();
  // Pages no write of this file touches (until the settings change): another category and tag,
  // an older post, archives of an earlier year.
  const cats = JSON.parse((await send('/api/categories', { headers: { cookie: session.cookie } })).body) as { items: { slug: string }[] };
  const tags = JSON.parse((await send('/api/tags', { headers: { cookie: session.cookie } })).body) as { items: { slug: string }[] };
  const posts = JSON.parse((await send('/api/posts?status=published&limit=5', { headers: { cookie: session.cookie } })).body) as { items: { slug: string; url?: string }[] };
  otherPostPath = `/posts/${posts.items[posts.items.length - 1].slug}`;
  /** The first candidate that is a page (a term without posts, an empty month may be a 404). */
  const firstPage = async (candidates: string[]) => {
    for (const p of candidates) if ((await send(p)).status === 200) return p;
    throw new Error(`none of ${candidates.join(', ')} answers 200`);
  };
  unrelated = [
    await firstPage(cats.items.map((c) => c.slug).filter((c) => c !== category).slice(0, 8).map((c) => `/category/${c}`)),
    await firstPage(tags.items.map((t) => t.slug).filter((t) => t !== tag).slice(0, 8).map((t) => `/tag/${t}`)),
    otherPostPath,
    await firstPage(['/2025/', '/2024/', '/2023/']),
    await firstPage(['/2025/06/', '/2025/05/', '/2025/04/', '/2025/03/', '/2025/02/', '/2025/01/']),
  ];
}, 300_000);

afterAll(async () => {
  await cli('down').catch(() => {});
  rmSync(stateDir, { recursive: true, force: true });
  if (ratios.length) console.log(`[cdn e2e] unrelated pages still cached after each write (HIT ratio): ${ratios.join('; ')}`);
}, 120_000);

describe('aidiary up --cdn varnish', () => {
  it('runs Varnish in front of nginx and reports it in status', async () => {
    expect(s.cdn).toMatchObject({ kind: 'varnish', port: expect.any(Number), pid: expect.any(Number), healthy: true });
    expect(s.cdn!.url).toBe(`http://127.0.0.1:${s.cdn!.port}/`);
    const text = await cli('status');
    expect(text.stdout).toMatch(new RegExp(`^cdn\\s+varnish\\s+${s.cdn!.pid}\\s+${s.cdn!.port}\\s+up`, 'm'));
    // The site origin is Varnish's: feeds and canonical links name it.
    const feed = await send('/feed.xml');
    expect(feed.body).toContain(`http://127.0.0.1:${s.cdn!.port}/`);
    // CDN-only headers reach Varnish (nginx passes them) but never the client.
    const home = await send('/');
    for (const h of ['surrogate-key', 'surrogate-control', 'cache-tag', 'cdn-cache-control', 'cloudflare-cdn-cache-control']) expect(home.headers[h]).toBeUndefined();
    expect(home.headers['x-varnish']).toBeDefined();
  });
});

describe('purges through the real Varnish tier', () => {
  it('a publish purges exactly its pages: home, category, tag, author, date archives, feed, sitemap', async () => {
    await warm([...listingsOfPost, ...unrelated]);
    const title = `CDN e2e publish ${Date.now().toString(36)}`;
    const w = await write('POST', '/api/posts', { title, content: `Body of ${title}.`, status: 'published', categories: [category], tags: [tag] });
    post = { id: Number(w.json.id), slug: String(w.json.slug), path: `/posts/${String(w.json.slug)}`, title };
    const ms = await waitFor('/', (a) => a.body.includes(title), w.answeredAt);
    const after = await classify([...listingsOfPost.slice(1), ...unrelated]);
    console.log(`[cdn e2e] publish visible through Varnish ${ms.toFixed(0)} ms after the 201; ${JSON.stringify(after)}`);
    for (const p of listingsOfPost.slice(1)) expect(after[p], p).toBe('MISS');
    for (const p of unrelated) expect(after[p], p).toBe('HIT');
    expect(hitRatio('publish', Object.fromEntries(unrelated.map((p) => [p, after[p]])))).toBe(1);
    // The purged listings now show the post.
    for (const p of [`/category/${category}`, `/tag/${tag}`, authorPage, dateArchives[2], '/feed.xml']) expect((await send(p)).body, p).toContain(title);
    expect((await send('/sitemap.xml')).body).toContain(post.slug);
  });

  it('an edit purges its post and listings, and a reader polling through Varnish sees it within 1.5 s of the answer', async () => {
    await warm([post.path, authorPage, ...listingsOfPost, ...unrelated]);
    const newTitle = `${post.title} edited`;
    const seen: { sentMs: number; old: boolean; state: string }[] = [];
    let stop = false;
    let writeAnsweredAt = Number.POSITIVE_INFINITY;
    const reader = (async () => {
      while (!stop) {
        const sent = performance.now();
        const a = await send(post.path);
        seen.push({ sentMs: sent - writeAnsweredAt, old: !a.body.includes(newTitle), state: cdnCache(a) });
        await sleep(50);
      }
    })();
    await sleep(300);
    const w = await write('PATCH', `/api/posts/${post.id}`, { title: newTitle });
    writeAnsweredAt = w.answeredAt;
    await sleep(3000);
    stop = true;
    await reader;
    const afterAnswer = seen.filter((x) => Number.isFinite(x.sentMs) && x.sentMs >= 0);
    const lastOld = Math.max(-1, ...afterAnswer.filter((x) => x.old).map((x) => x.sentMs));
    const firstNew = afterAnswer.find((x) => !x.old);
    console.log(`[cdn e2e] edit: old version last seen ${lastOld.toFixed(0)} ms after the answer, new first at ${firstNew?.sentMs.toFixed(0)} ms (${firstNew?.state}); ${afterAnswer.length} polls`);
    expect(firstNew).toBeDefined();
    expect(lastOld).toBeLessThan(1500);
    // Once new, never old again (no refill from a stale inner copy).
    expect(afterAnswer.filter((x) => x.sentMs > firstNew!.sentMs && x.old)).toEqual([]);
    post.title = newTitle;
    const after = await classify([authorPage, ...listingsOfPost, ...unrelated]);
    for (const p of [authorPage, ...listingsOfPost]) expect(after[p], p).toBe('MISS');
    for (const p of unrelated) expect(after[p], p).toBe('HIT');
    expect(hitRatio('edit', Object.fromEntries(unrelated.map((p) => [p, after[p]])))).toBe(1);
  });

  it('a delete purges its post and listings', async () => {
    await warm([post.path, authorPage, ...listingsOfPost, ...unrelated]);
    const w = await write('DELETE', `/api/posts/${post.id}`);
    await waitFor(post.path, (a) => a.status === 404, w.answeredAt);
    const after = await classify([authorPage, ...listingsOfPost, ...unrelated]);
    for (const p of [authorPage, ...listingsOfPost]) expect(after[p], p).toBe('MISS');
    for (const p of unrelated) expect(after[p], p).toBe('HIT');
    expect(hitRatio('delete', Object.fromEntries(unrelated.map((p) => [p, after[p]])))).toBe(1);
    for (const p of ['/', `/category/${category}`, `/tag/${tag}`, '/feed.xml']) expect((await send(p)).body, p).not.toContain(post.title);
  });

  it('a settings change purges every page (each carries the site settings)', async () => {
    // The deleted post's day, month and year archives are 404s again: not pages to keep.
    const pages = [...listingsOfPost.filter((p) => !dateArchives.includes(p)), ...unrelated];
    await warm(pages);
    const siteTitle = `CDN e2e site ${Date.now().toString(36)}`;
    const form = new URLSearchParams({ title: siteTitle, description: 'Through Varnish', posts_per_page: '10', _csrf: session.csrf }).toString();
    const res = await send('/admin/settings', { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session.cookie } });
    const answeredAt = performance.now();
    expect(res.status, res.body).toBe(303);
    await waitFor(unrelated[0], (a) => a.body.includes(siteTitle), answeredAt);
    const after = await classify(pages.filter((p) => p !== unrelated[0]));
    for (const [p, state] of Object.entries(after)) expect(state, p).toBe('MISS');
    for (const p of ['/', otherPostPath, '/feed.xml']) expect((await send(p)).body, p).toContain(siteTitle);
  });

  it('Varnish counts the purges and hits it served', () => {
    const stats = JSON.parse(execFileSync('varnishstat', ['-n', varnishPaths(new StateDir(stateDir)).workDir, '-1', '-j'], { encoding: 'utf8' })) as { counters?: Record<string, { value: number }> } & Record<string, { value: number }>;
    const counters = stats.counters ?? stats;
    const hit = counters['MAIN.cache_hit'].value;
    const miss = counters['MAIN.cache_miss'].value;
    console.log(`[cdn e2e] varnishstat over the whole file: cache_hit ${hit}, cache_miss ${miss} (hit ratio ${(hit / (hit + miss)).toFixed(2)}), n_object ${counters['MAIN.n_object']?.value}`);
    // Varnish's own counters agree with what its answers said (grace hits count as hits too).
    expect(hit).toBeGreaterThanOrEqual(observed.HIT);
    expect(miss).toBeGreaterThanOrEqual(observed.MISS);
    expect(observed.HIT).toBeGreaterThan(0);
  });
});

describe('cookies and sessions at the Varnish tier', () => {
  it('strips cookies other than the session cookie (still a HIT) and never stores a session-cookie answer', async () => {
    const page = `/category/${category}`;
    await warm([page]);
    expect(cdnCache(await send(page, { headers: { cookie: '_ga=GA1.2.3; theme=dark' } }))).toBe('HIT');
    const loggedIn = [];
    for (let i = 0; i < 3; i++) loggedIn.push(await send(page, { headers: { cookie: `theme=dark; ${session.cookie}` } }));
    for (const a of loggedIn) {
      expect(cdnCache(a)).toBe('PASS');
      expect(String(a.headers['cache-control'])).toContain('no-store');
    }
    // The anonymous copy is the one stored before: no logged-in answer replaced it.
    const anonymous = await send(page);
    expect(cdnCache(anonymous)).toBe('HIT');
    expect(anonymous.headers['x-varnish']).not.toEqual(loggedIn[2].headers['x-varnish']);
    expect(String(anonymous.headers['cache-control'])).not.toContain('private');
  });
});

describe('trust follows the outermost tier', () => {
  it('nginx logs the client Varnish saw, not a forged X-Forwarded-For nor Varnish itself', async () => {
    const probe = `/?trust-probe=${Date.now().toString(36)}`;
    expect((await send(probe, { localAddress: '127.0.0.7', headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(200);
    let line: string | undefined;
    for (let i = 0; i < 40 && !line; i++) {
      await sleep(100); // nginx flushes its access log every second
      line = readFileSync(join(stateDir, 'logs', 'lb-access.log'), 'utf8').split('\n').find((l) => l.includes(probe));
    }
    expect(line).toBeDefined();
    expect(line!.split(' ')[0]).toBe('127.0.0.7');
  });

  it('the login limits count each client behind Varnish apart: one client flooding does not limit another', async () => {
    const attempt = (from: string, i: number) => send('/api/auth/login', {
      method: 'POST', localAddress: from, headers: { 'content-type': 'application/json', 'x-forwarded-for': `198.51.100.${i % 250}` },
      // A new username each time: only the per-address limits apply, never the per-username backoff.
      body: JSON.stringify({ username: `nobody-${from}-${i}-${Date.now()}`, password: 'wrong password' }),
    });
    const flood = await Promise.all(Array.from({ length: 30 }, (_, i) => attempt('127.0.0.8', i)));
    const statuses = flood.map((a) => a.status);
    // Forged X-Forwarded-For values did not spread the flood over many "clients".
    expect(statuses.filter((st) => st === 429).length, JSON.stringify(statuses)).toBeGreaterThan(0);
    expect(statuses.every((st) => st === 401 || st === 429), JSON.stringify(statuses)).toBe(true);
    expect((await attempt('127.0.0.9', 0)).status).toBe(401);
  });
});

describe('stale-if-error at the Varnish tier', () => {
  it('with every app and nginx stopped, Varnish serves its copies, stale ones included', async () => {
    const pages = ['/', `/category/${category}`, otherPostPath];
    await warm(pages);
    // A redirect carries no purge tags: a CDN keeps it 1 s (s-maxage), then only stale-if-error serves it.
    const redirect = unrelated[4].replace(/\/$/, '');
    const first = await send(redirect);
    expect(first.status).toBe(301);
    expect(first.headers['x-cdn-cache']).toBe('MISS');
    for (const node of [s.lb, ...s.apps]) await stopPid(node.pid!, 'SIGTERM', 15_000);
    await sleep(2500);
    for (const p of pages) {
      const a = await send(p);
      expect(a.status, p).toBe(200);
      expect(cdnCache(a), p).toMatch(/^(HIT|STALE)$/);
      expect(String(a.headers['x-varnish']).split(' '), p).toHaveLength(2); // this request's id + the stored object's
    }
    const stale = await send(redirect);
    expect(stale.status).toBe(301);
    expect(stale.headers.location).toBe(first.headers.location);
    expect(cdnCache(stale)).toBe('STALE');
    expect(Number(stale.headers.age)).toBeGreaterThanOrEqual(2);
    // Nothing stored: Varnish has nothing to serve and says so.
    expect((await send(`/posts/never-fetched-${Date.now().toString(36)}`)).status).toBe(503);
    const st = JSON.parse((await cli('status', '--json')).stdout) as ClusterStatus;
    expect(st.cdn!.healthy).toBe(true);
    expect(st.lb.healthy).toBe(false);
  });

  it('down stops Varnish with the rest; the next up without --cdn starts it again (kept in the state)', async () => {
    const down = await cli('down', '--json');
    expect(JSON.parse(down.stdout).stopped).toContain('cdn');
    const pid = s.cdn!.pid!;
    expect(() => process.kill(pid, 0)).toThrow();
    const r = await cli('up', '--detach');
    expect(r.code, r.stderr).toBe(0);
    const st = JSON.parse((await cli('status', '--json')).stdout) as ClusterStatus;
    expect(st.cdn).toMatchObject({ kind: 'varnish', port: s.cdn!.port, healthy: true });
    expect(st.cdn!.pid).not.toBe(pid);
  });
});
