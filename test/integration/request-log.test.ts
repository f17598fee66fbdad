import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startTestApp, type TestApp } from '../helpers/app';

// One log line per request (server.ts's onResponse hook; fastify's own two lines are off), with
// the edge's X-Request-Id as its reqId when the peer is the trusted edge, and the response's id
// in X-Request-Id either way.

let t: TestApp;
const lines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  t = await startTestApp({
    posts: 5,
    cache: { l1: true, l2: true },
    env: { AIDIARY_TRUSTED_EDGE: '127.0.0.1' },
    wrapDeps: (deps) => ({ ...deps, logger: pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line)); } }) }),
  });
});

afterAll(async () => {
  await t?.close();
});

const linesOf = (reqId: string) => lines.filter((l) => l.reqId === reqId);

describe('request log', () => {
  it('writes exactly one line per request, carrying the edge\'s request id, status, time and cache status', async () => {
    const edgeId = '0123456789abcdef0123456789abcdef';
    await t.app.inject({ method: 'GET', url: '/' }); // fill the page cache
    const res = await t.app.inject({ method: 'GET', url: '/', headers: { 'x-request-id': edgeId, 'x-forwarded-for': '198.51.100.7' }, remoteAddress: '127.0.0.1' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-request-id']).toBe(edgeId);
    const mine = linesOf(edgeId);
    expect(mine).toHaveLength(1);
    // The client the edge names (it overwrites X-Forwarded-For), not the edge's own address.
    expect(mine[0]).toMatchObject({ msg: 'request completed', method: 'GET', url: '/', statusCode: 200, cache: res.headers['x-cache'], remoteAddress: '198.51.100.7', level: 30 });
    expect(typeof mine[0].responseTime).toBe('number');
    expect(lines.some((l) => l.msg === 'incoming request')).toBe(false);
  });

  it('ignores an X-Request-Id from a peer that is not the edge, and logs errors on the same id', async () => {
    const forged = 'forged-id-from-a-client';
    const res = await t.app.inject({ method: 'GET', url: '/no/such/page/here', headers: { 'x-request-id': forged, 'x-forwarded-for': '203.0.113.9' }, remoteAddress: '10.9.8.7' });
    expect(res.statusCode).toBe(404);
    const id = String(res.headers['x-request-id']);
    expect(id).not.toBe(forged);
    expect(linesOf(forged)).toHaveLength(0);
    // Nor does its X-Forwarded-For name the client: the peer is logged.
    expect(linesOf(id)).toEqual([expect.objectContaining({ msg: 'request completed', statusCode: 404, remoteAddress: '10.9.8.7' })]);
  });
});
