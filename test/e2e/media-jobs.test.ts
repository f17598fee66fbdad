import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { BASE_PORT_SPAN } from '../../infra/local/cluster-layout';
import { freePortBlock } from '../../infra/local/process';
import type { ClusterStatus } from '../../infra/local/status';
import { invalidationChannel } from '../../app/cache/invalidation-bus';
import { runCli, sleep } from './helpers-cluster';

// The media library and the background jobs on the real local cluster (3 app processes, PostgreSQL
// primary + 2 replicas, both Redis roles, nginx), started through the CLI: an image uploaded
// through app-0 is served by app-1 and app-2 (and through nginx with its year-long cache headers),
// its thumbnail is made by one worker; a post scheduled through the admin form behind nginx
// appears on time, once, on the home page of every app, published and purged exactly once.

const stateDir = mkdtempSync(join(tmpdir(), 'aidiary-e2e-media-'));
chmodSync(stateDir, 0o755);
const cli = (...args: string[]) => runCli([...args, '--state-dir', stateDir]);
let base = '';
let s: ClusterStatus;
let cookie = '';
let csrf = '';
const appUrl = (name: string) => `http://127.0.0.1:${s.apps.find((a) => a.name === name)!.port}`;

/** Sum of a counter's samples on one app's /metrics whose labels include all of `labels`. */
async function metric(app: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${appUrl(app)}/metrics`)).text();
  return text.split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .filter((l) => Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}
const clusterMetric = async (name: string, labels: Record<string, string> = {}) =>
  (await Promise.all(s.apps.map((a) => metric(a.name, name, labels)))).reduce((x, y) => x + y, 0);

async function waitFor<T>(what: string, fn: () => Promise<T | null | false | undefined>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

beforeAll(async () => {
  const basePort = await freePortBlock(BASE_PORT_SPAN);
  const r = await cli('up', '--detach', '--apps', '3', '--db-replicas', '2', '--base-port', String(basePort));
  if (r.code !== 0) throw new Error(`up failed (${r.code}): ${r.stderr}`);
  base = `http://127.0.0.1:${basePort}`;
  s = JSON.parse((await cli('status', '--json')).stdout) as ClusterStatus;
  const password = readFileSync(join(stateDir, 'admin-password'), 'utf8').trim();
  const login = await fetch(`${base}/api/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }),
  });
  if (login.status !== 200) throw new Error(`login failed: ${login.status}`);
  cookie = login.headers.getSetCookie().find((c) => c.startsWith('aidiary_session='))!.split(';')[0];
  csrf = ((await login.json()) as { csrfToken: string }).csrfToken;
}, 240_000);

afterAll(async () => {
  await cli('down').catch(() => {});
  rmSync(stateDir, { recursive: true, force: true });
}, 120_000);

let imageUrl = '';

describe('media on the local cluster', () => {
  it('an image uploaded through app-0 is served by app-1, app-2 and nginx; one worker makes its thumbnail', async () => {
    const png = await sharp({ create: { width: 1200, height: 800, channels: 3, background: { r: 200, g: 90, b: 30 } } }).png().toBuffer();
    const sha256 = createHash('sha256').update(png).digest('hex');
    const form = new FormData();
    form.append('file', new Blob([png], { type: 'image/png' }), 'e2e.png');
    const up = await fetch(`${appUrl('app-0')}/api/media`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf }, body: form });
    expect(up.status).toBe(201);
    expect(up.headers.get('x-served-by')).toBe('app-0');
    const body = (await up.json()) as { url: string; sha256: string; markdown: string };
    expect(body.sha256).toBe(sha256);
    imageUrl = body.url;

    for (const app of ['app-1', 'app-2']) {
      const res = await fetch(`${appUrl(app)}${imageUrl}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-served-by')).toBe(app);
      expect(Buffer.from(await res.arrayBuffer()).equals(png)).toBe(true);
    }
    const viaNginx = await fetch(`${base}${imageUrl}`);
    expect(viaNginx.status).toBe(200);
    expect(viaNginx.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(viaNginx.headers.get('etag')).toBe(`"${sha256}"`);
    expect(Buffer.from(await viaNginx.arrayBuffer()).equals(png)).toBe(true);

    const thumb = await waitFor('the thumbnail through nginx', async () => {
      const res = await fetch(`${base}/media/${sha256}/thumb.webp`);
      return res.status === 200 ? Buffer.from(await res.arrayBuffer()) : null;
    }, 30_000, 250);
    expect(await sharp(thumb).metadata()).toMatchObject({ format: 'webp', width: 320 });
    await sleep(500);
    expect(await clusterMetric('aidiary_jobs_finished_total', { queue: 'thumbnails', job: 'thumbnail', outcome: 'completed' })).toBe(1);
  });
});

describe('scheduled posts on the local cluster', () => {
  it('a post scheduled in the admin appears on time, exactly once, on the home page of every app', async () => {
    // The cache Redis requires the app's login (its password file in the state dir).
    const subscriber = new Redis({
      host: '127.0.0.1', port: s.redis.find((r) => r.role === 'cache')!.port,
      username: 'aidiary', password: readFileSync(join(stateDir, 'secrets', 'redis-cache-password'), 'utf8').trim(),
    });
    subscriber.on('error', () => {});
    const purges: string[][] = [];
    try {
      await subscriber.subscribe(invalidationChannel);
      subscriber.on('message', (_c, payload) => {
        const msg = JSON.parse(payload);
        if (msg.type === 'invalidate') purges.push(msg.tags);
      });
      const title = `Scheduled on the cluster ${Date.now()}`;
      const at = new Date(Date.now() + 8000);
      at.setMilliseconds(0);
      const save = await fetch(`${base}/admin/posts`, {
        method: 'POST', redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          _csrf: csrf, title, content: `With the uploaded image:\n\n![e2e](${imageUrl})\n`, excerpt: '', status: 'draft',
          scheduled_at_iso: at.toISOString(), tags: '', action: 'save',
        }).toString(),
      });
      expect(save.status).toBe(303);
      const postId = Number(/\/admin\/posts\/(\d+)\/edit/.exec(save.headers.get('location') ?? '')?.[1]);
      expect(postId).toBeGreaterThan(0);
      const publishedBefore = await clusterMetric('aidiary_scheduled_posts_published_total');
      await sleep(300);
      purges.length = 0; // the save's own purge (a new draft) is not the publish
      // Before its time: on no app's home page (which every app now has in its caches).
      for (const a of s.apps) expect(await (await fetch(`${appUrl(a.name)}/`)).text()).not.toContain(title);

      const seenAt = await waitFor('the post on the home page through nginx', async () =>
        ((await (await fetch(`${base}/`)).text()).includes(title) ? Date.now() : null), 30_000, 100);
      console.log(`[e2e] scheduled post visible through nginx ${seenAt - at.getTime()} ms after its publish time`);
      expect(seenAt).toBeGreaterThanOrEqual(at.getTime());
      // One scheduler interval (2 s) + nginx's 1 s micro-cache + slack for 2 shared cores.
      expect(seenAt - at.getTime()).toBeLessThan(6000);
      for (const a of s.apps) {
        await waitFor(`the post on ${a.name}`, async () => (await (await fetch(`${appUrl(a.name)}/`)).text()).includes(title), 3000, 50);
      }

      await sleep(5000); // more scheduler runs on every app
      expect(await clusterMetric('aidiary_scheduled_posts_published_total') - publishedBefore).toBe(1);
      expect(purges.filter((tags) => tags.includes(`post:${postId}`))).toHaveLength(1);
      for (const a of s.apps) {
        const page = await (await fetch(`${appUrl(a.name)}/`)).text();
        expect(page.split(title).length - 1).toBe(1);
      }
      // The image the post uses can no longer be deleted.
      const del = await fetch(`${base}/api/media/${imageUrl.slice('/media/'.length, -'.png'.length)}`, {
        method: 'DELETE', headers: { cookie, 'x-csrf-token': csrf },
      });
      expect(del.status).toBe(409);
    } finally {
      subscriber.disconnect();
    }
  });
});
