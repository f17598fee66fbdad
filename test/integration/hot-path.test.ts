import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startTestApp, type TestApp } from '../helpers/app';
import { startDraining } from '../../app/server';
import { as, createUser, login } from './auth-test-helpers';

// The hot path (app/hot-path.ts) answers /health and fresh L1 page hits on node:http before
// fastify. Over real sockets: its answers carry the same status, headers and bytes as fastify's
// for the same request (inject() always goes through fastify), the same log line and latency
// sample, and everything it must not take (sessions, stale copies, non-canonical URLs, a draining
// app, purged pages) still reaches fastify. A fastify onRequest hook counts what fastify saw.

let t: TestApp;
let port: number;
let fastifySaw = 0;
const lines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  t = await startTestApp({
    posts: 12,
    cache: { l1: true, l2: true },
    env: { AIDIARY_TRUSTED_EDGE: '127.0.0.1' },
    wrapDeps: (deps) => ({ ...deps, logger: pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line)); } }) }),
    beforeReady: (app) => {
      app.addHook('onRequest', (_request, _reply, done) => { fastifySaw++; done(); });
    },
  });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  port = (t.app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await t?.close();
});

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

function get(path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** How many requests fastify saw while `run` ran. */
async function fastifyCount<T>(run: () => Promise<T>): Promise<{ value: T; seen: number }> {
  const before = fastifySaw;
  const value = await run();
  return { value, seen: fastifySaw - before };
}

/** Headers that differ between any two answers (per request or per second). */
const varying = new Set(['date', 'x-request-id', 'x-accel-expires', 'connection', 'keep-alive']);
const stable = (headers: Record<string, unknown>) => Object.fromEntries(Object.entries(headers).filter(([name]) => !varying.has(name)));

describe('hot path', () => {
  it('answers /health without fastify, with fastify\'s headers and body', async () => {
    const { value: hot, seen } = await fastifyCount(() => get('/health'));
    expect(seen).toBe(0);
    const viaFastify = await t.app.inject({ method: 'GET', url: '/health' });
    expect(hot.status).toBe(200);
    expect(stable(hot.headers)).toEqual(stable(viaFastify.headers));
    expect(Object.keys(JSON.parse(hot.body.toString()))).toEqual(Object.keys(viaFastify.json()));
  });

  it('answers a remembered page\'s fresh L1 copy without fastify: same status, headers and bytes', async () => {
    const first = await fastifyCount(() => get('/'));
    expect(first.seen).toBe(1); // not yet remembered: fastify fills the caches
    const { value: hot, seen } = await fastifyCount(() => get('/'));
    expect(seen).toBe(0);
    expect(hot.headers['x-cache']).toBe('HIT-L1');
    const viaFastify = await t.app.inject({ method: 'GET', url: '/' });
    expect(viaFastify.headers['x-cache']).toBe('HIT-L1');
    expect(hot.status).toBe(viaFastify.statusCode);
    expect(stable(hot.headers)).toEqual(stable(viaFastify.headers));
    expect(hot.body.equals(viaFastify.rawPayload)).toBe(true);
    expect(hot.headers['surrogate-key']).toContain('list:home');
  });

  it('logs one line per answer with the edge\'s id and client, and samples the route\'s latency', async () => {
    const edgeId = 'hotpath-0123456789abcdef';
    await get('/'); // remembered and in L1 by now
    const { seen } = await fastifyCount(() => get('/', { 'x-request-id': edgeId, 'x-forwarded-for': '198.51.100.7' }));
    expect(seen).toBe(0);
    const mine = lines.filter((l) => l.reqId === edgeId);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ msg: 'request completed', method: 'GET', url: '/', statusCode: 200, cache: 'HIT-L1', remoteAddress: '198.51.100.7', level: 30 });
    expect(typeof mine[0].responseTime).toBe('number');
    // The same fields as fastify's line for the same page.
    const viaFastify = await t.app.inject({ method: 'GET', url: '/', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '198.51.100.7' } });
    const fastifyLine = lines.find((l) => l.reqId === viaFastify.headers['x-request-id']);
    expect(Object.keys(mine[0]).sort()).toEqual(Object.keys(fastifyLine ?? {}).sort());

    const count = async () => {
      const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
      const line = text.split('\n').find((l) => l.startsWith('aidiary_http_request_duration_seconds_count{') && l.includes('route="/"') && l.includes('method="GET"') && l.includes('status="2xx"'));
      return Number(line?.split(' ').pop() ?? 0);
    };
    const before = await count();
    for (let i = 0; i < 5; i++) await get('/');
    expect(await count()).toBe(before + 5);
  });

  it('leaves to fastify: a session cookie, a URL that is not its page\'s key, HEAD, and a body', async () => {
    await get('/'); await get('/');
    const withSession = await fastifyCount(() => get('/', { cookie: 'aidiary_session=not-a-real-session' }));
    expect(withSession.seen).toBe(1);
    const otherCookie = await fastifyCount(() => get('/', { cookie: 'theme=dark' }));
    expect(otherCookie.seen).toBe(0);
    const query = await fastifyCount(() => get('/?utm_source=x'));
    expect(query.seen).toBe(1);
    expect(query.value.headers['x-cache']).toBe('HIT-L1'); // same page, through the routes
    const paged = await fastifyCount(() => get('/?paged=2'));
    expect(paged.seen).toBe(1);
    expect(paged.value.status).toBe(301);
    const head = await fastifyCount(() => new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/', method: 'HEAD' }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', reject);
      req.end();
    }));
    expect(head.seen).toBe(1);
    const withBody = await fastifyCount(() => get('/', { 'content-length': '0' }));
    expect(withBody.seen).toBe(1);
  });

  it('a logged-in reader and a purge after a write go through fastify: no stale copy from the hot path', async () => {
    await createUser(t, 'hot-path-editor', 'editor');
    const cookie = await login(t.app, 'hot-path-editor', 'hot-path-editor-pass-123');
    const editor = as(t.app, cookie);
    await get('/'); await get('/');
    const created = await editor('POST', '/api/posts', { title: 'Hot path purge probe', content: 'words', status: 'published' });
    expect(created.statusCode).toBe(201);
    const { slug } = created.json() as { slug: string };
    await new Promise((r) => setTimeout(r, 100)); // the purge's pub/sub message
    const after = await fastifyCount(() => get('/'));
    expect(after.seen).toBe(1); // L1 dropped the page: fastify renders it again
    expect(after.value.body.toString()).toContain(slug);
    const again = await fastifyCount(() => get('/'));
    expect(again.seen).toBe(0);
    expect(again.value.body.toString()).toContain(slug);
  });

  it('a stale L1 copy is fastify\'s (served STALE while one refresh runs), and so is every request while draining', async () => {
    await get('/page/2'); await get('/page/2');
    expect((await fastifyCount(() => get('/page/2'))).seen).toBe(0);
    // Age every L1 entry past its fresh time (the entries are the page cache's own objects).
    const l1 = (t.deps.pageCache as unknown as { l1: { lru: { forEach(fn: (v: { freshUntilMs: number }) => void): void } } }).l1;
    l1.lru.forEach((entry) => { entry.freshUntilMs = Date.now() - 1; });
    const stale = await fastifyCount(() => get('/page/2'));
    expect(stale.seen).toBe(1);
    expect(stale.value.headers['x-cache']).toBe('STALE');

    await get('/health');
    startDraining(t.app);
    const health = await fastifyCount(() => get('/health'));
    expect(health.seen).toBe(1);
    expect(health.value.headers.connection).toBe('close');
  });
});
