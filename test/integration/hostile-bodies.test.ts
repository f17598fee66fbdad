import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { createCast, type Cast } from './auth-test-helpers';

// Request bodies that would make a handler recurse without bound (100,000 levels of arrays or
// objects) or are merely deep: each is answered 4xx with `{error:{code,message}}`, never 500, on
// DELETE /api/posts/:id (whose Idempotency-Key signature walks the body), on the other JSON
// routes, and on the JSON login that runs before any session exists. A body just inside the
// depth bound still works.

let t: TestApp;
let cast: Cast;
let postId: number;

const deepArray = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
const deepObject = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

beforeAll(async () => {
  t = await startTestApp({ posts: 0 });
  cast = await createCast(t);
  const res = await t.app.inject({
    method: 'POST', url: '/api/posts', payload: { title: 'Deep body target', content: 'x', status: 'draft' },
    headers: { cookie: cast.alice.cookie, 'x-csrf-token': cast.alice.csrf },
  });
  expect(res.statusCode).toBe(201);
  postId = res.json().id;
});
afterAll(async () => { await t?.close(); });

function send(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body: string, extra: Record<string, string> = {}) {
  return t.app.inject({
    method, url, payload: body,
    headers: { 'content-type': 'application/json', cookie: cast.alice.cookie, 'x-csrf-token': cast.alice.csrf, ...extra },
  });
}

function expectClientError(res: Awaited<ReturnType<typeof send>>, where: string) {
  expect(res.statusCode, `${where}: ${res.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
  expect(res.statusCode, `${where}: ${res.body.slice(0, 200)}`).toBeLessThan(500);
  const body = res.json() as { error?: { code?: unknown; message?: unknown } };
  expect(typeof body.error?.code, where).toBe('string');
  expect(typeof body.error?.message, where).toBe('string');
  expect(res.body, where).not.toMatch(/RangeError|Maximum call stack|\bat .+\.ts:\d+/);
}

describe('deeply nested JSON bodies', () => {
  it('DELETE /api/posts/:id with an Idempotency-Key and 100,000 nested levels is a 4xx, and the post is untouched', async () => {
    for (const [name, body] of [['arrays', deepArray(100_000)], ['objects', deepObject(100_000)]] as const) {
      const res = await send('DELETE', `/api/posts/${postId}`, body, { 'idempotency-key': `deep-${name}` });
      expectClientError(res, `DELETE ${name}`);
    }
    const [row] = await t.sql<{ status: string }>('SELECT status FROM posts WHERE id = $1', [postId]);
    expect(row.status).toBe('draft');
  });

  it('every JSON write route refuses the same bodies with a 4xx', async () => {
    const routes: Array<['POST' | 'PUT' | 'PATCH' | 'DELETE', string]> = [
      ['POST', '/api/posts'], ['PUT', `/api/posts/${postId}`], ['PATCH', `/api/posts/${postId}`], ['DELETE', `/api/posts/${postId}`],
      ['POST', '/api/preview'], ['POST', '/api/categories'], ['POST', '/api/tags'], ['POST', '/api/auth/logout'],
    ];
    for (const [method, url] of routes) {
      for (const body of [deepArray(100_000), deepObject(100_000), `{"title":"x","content":${deepArray(5_000)}}`]) {
        expectClientError(await send(method, url, body, { 'idempotency-key': `k-${method}-${url}-${body.length}` }), `${method} ${url}`);
      }
    }
    // Before any session: the JSON login.
    const login = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: deepObject(100_000), headers: { 'content-type': 'application/json' } });
    expectClientError(login, 'POST /api/auth/login');
  });

  it('the refusal names the depth limit; a body within the bound is parsed as before', async () => {
    const res = await send('PATCH', `/api/posts/${postId}`, `{"title":"x","tags":${deepArray(200)}}`);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/nest/i);
    // 20 levels of harmless nesting reach the validator (which names the field), not the depth guard.
    const ok = await send('PATCH', `/api/posts/${postId}`, `{"tags":${deepArray(20)}}`);
    expect(ok.statusCode).toBe(422);
    expect(ok.json().error.message).toMatch(/^tags/);
    const fine = await send('PATCH', `/api/posts/${postId}`, JSON.stringify({ title: 'Still editable' }), { 'idempotency-key': 'shallow-1' });
    expect(fine.statusCode).toBe(200);
    expect(fine.json().title).toBe('Still editable');
  });

  it('depth is counted outside strings: brackets inside a string value are text', async () => {
    const content = `${'['.repeat(5_000)} and ${'{'.repeat(5_000)} "quoted \\" ]]]"`;
    const res = await send('PATCH', `/api/posts/${postId}`, JSON.stringify({ content }));
    expect(res.statusCode, res.body.slice(0, 200)).toBe(200);
    expect(res.json().content).toBe(content);
  });
});
