import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContentChange } from '../../app/deps';
import { compareLsn } from '../../app/db/db';
import { deleteExpiredIdempotencyKeys, idempotencyKeyTtlHours } from '../../app/db/queries/admin-idempotency';
import { startTestApp, type TestApp } from '../helpers/app';
import { as, createCast, createUser, login, type LoggedIn } from './auth-test-helpers';

// /api/posts, /api/categories, /api/tags against real PostgreSQL and Redis: role checks, CSRF,
// validation, Idempotency-Key, slugs, purge notifications and the session's write LSN.

let t: TestApp;
const changes: ContentChange[] = [];
let admin: LoggedIn;
let editor: LoggedIn;
let alice: LoggedIn;
let bob: LoggedIn;
let sam: LoggedIn;

beforeAll(async () => {
  t = await startTestApp({
    posts: 10,
    wrapDeps: (deps) => ({
      ...deps,
      async onContentChanged(change) {
        changes.push(change);
        await deps.onContentChanged(change);
      },
    }),
  });
  ({ admin, editor, alice, bob, sam } = await createCast(t));
});

afterAll(async () => {
  await t?.close();
});

const sessionOf = async (who: LoggedIn) => t.deps.sessions.get(who.sessionId);

describe('posts API', () => {
  let alicePostId = 0;

  it('creates a post (201 {id, slug, url}), sets published_at, notifies the cache and records the write LSN', async () => {
    changes.length = 0;
    const res = await as(t.app, alice)('POST', '/api/posts', { title: 'Hello, World!', content: '# Hi\n\nbody', status: 'published', tags: [], categories: [] });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toEqual({ id: expect.any(Number), slug: 'hello-world', url: '/posts/hello-world' });
    alicePostId = body.id;
    const [row] = await t.sql('SELECT author_id, status, published_at FROM posts WHERE id = $1', [body.id]);
    expect(Number(row.author_id)).toBe(alice.userId);
    expect(row.status).toBe('published');
    expect(row.published_at).toBeInstanceOf(Date);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ kind: 'post', before: null, after: { id: body.id, slug: 'hello-world', status: 'published', authorUsername: 'alice' } });
    const lsn = (changes[0] as { lsn: string }).lsn;
    expect(lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    const session = await sessionOf(alice);
    expect(session!.lastWriteLsn).toBe(lsn);
  });

  it('makes readable unique Unicode slugs (Japanese stays Japanese; -2, -3 on clashes)', async () => {
    const a = await as(t.app, alice)('POST', '/api/posts', { title: '日本語のタイトル', content: 'x', status: 'draft' });
    const b = await as(t.app, alice)('POST', '/api/posts', { title: '日本語のタイトル', content: 'y', status: 'draft' });
    const c = await as(t.app, alice)('POST', '/api/posts', { title: '日本語の　タイトル', content: 'z', status: 'draft' });
    expect(a.json().slug).toBe('日本語のタイトル');
    expect(b.json().slug).toBe('日本語のタイトル-2');
    expect(c.json().slug).toBe('日本語の-タイトル');
    expect(a.json().url).toBe(`/posts/${encodeURIComponent('日本語のタイトル')}`);
    const dup = await as(t.app, alice)('POST', '/api/posts', { title: 'Other', content: '', status: 'draft', slug: 'hello-world' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.message).toMatch(/slug/);
    const bad = await as(t.app, alice)('POST', '/api/posts', { title: 'Other', content: '', status: 'draft', slug: 'Bad Slug/..' });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().error.message).toMatch(/^slug:/);
  });

  it('lets authors edit only their own posts; editors and admins edit any; subscribers write nothing', async () => {
    const bobEdit = await as(t.app, bob)('PATCH', `/api/posts/${alicePostId}`, { title: 'hijacked' });
    expect(bobEdit.statusCode).toBe(403);
    const bobDelete = await as(t.app, bob)('DELETE', `/api/posts/${alicePostId}`);
    expect(bobDelete.statusCode).toBe(403);
    const samCreate = await as(t.app, sam)('POST', '/api/posts', { title: 'sub post', content: '', status: 'published' });
    expect(samCreate.statusCode).toBe(403);
    const samEdit = await as(t.app, sam)('PATCH', `/api/posts/${alicePostId}`, { title: 'x' });
    expect(samEdit.statusCode).toBe(403);

    const aliceEdit = await as(t.app, alice)('PATCH', `/api/posts/${alicePostId}`, { excerpt: 'by alice' });
    expect(aliceEdit.statusCode).toBe(200);
    expect(aliceEdit.json()).toMatchObject({ id: alicePostId, excerpt: 'by alice', title: 'Hello, World!', slug: 'hello-world', status: 'published' });
    const edEdit = await as(t.app, editor)('PATCH', `/api/posts/${alicePostId}`, { title: 'Edited by the editor' });
    expect(edEdit.statusCode).toBe(200);
    expect(edEdit.json().slug).toBe('hello-world'); // the URL does not move on a title change
    const adminEdit = await as(t.app, admin)('PUT', `/api/posts/${alicePostId}`, { title: 'Admin put', content: 'new', status: 'published' });
    expect(adminEdit.statusCode).toBe(200);
    expect(adminEdit.json()).toMatchObject({ title: 'Admin put', content: 'new', excerpt: '', authorUsername: 'alice' });
    expect((await t.sql('SELECT title FROM posts WHERE id = $1', [alicePostId]))[0].title).toBe('Admin put');
  });

  it('refuses role escalation and author spoofing through unknown fields (422)', async () => {
    const res = await as(t.app, alice)('POST', '/api/posts', { title: 'x', content: '', status: 'draft', authorId: 1 });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.message).toMatch(/authorId/);
    const patch = await as(t.app, alice)('PATCH', `/api/posts/${alicePostId}`, { author_id: 1, role: 'admin' });
    expect(patch.statusCode).toBe(422);
  });

  it('hides drafts of others from authors and subscribers; editors see them', async () => {
    const draft = (await as(t.app, bob)('POST', '/api/posts', { title: 'bob draft', content: 'secret', status: 'draft' })).json();
    expect((await as(t.app, alice)('GET', `/api/posts/${draft.id}`)).statusCode).toBe(404);
    expect((await as(t.app, sam)('GET', `/api/posts/${draft.id}`)).statusCode).toBe(404);
    expect((await as(t.app, bob)('GET', `/api/posts/${draft.id}`)).statusCode).toBe(200);
    expect((await as(t.app, editor)('GET', `/api/posts/${draft.id}`)).statusCode).toBe(200);
    const samList = (await as(t.app, sam)('GET', '/api/posts?status=draft&limit=100')).json();
    expect(samList.items.every((p: { status: string }) => p.status === 'published')).toBe(true);
    const aliceList = (await as(t.app, alice)('GET', '/api/posts?limit=100')).json();
    expect(aliceList.items.some((p: { id: number }) => p.id === draft.id)).toBe(false);
    const edList = (await as(t.app, editor)('GET', '/api/posts?status=draft&limit=100')).json();
    expect(edList.items.some((p: { id: number }) => p.id === draft.id)).toBe(true);
  });

  it('lists with limit/offset and {items, total}', async () => {
    const [{ n }] = await t.sql<{ n: number }>("SELECT count(*)::int AS n FROM posts WHERE status <> 'trash'");
    const page1 = (await as(t.app, editor)('GET', '/api/posts?limit=3&offset=0')).json();
    const page2 = (await as(t.app, editor)('GET', '/api/posts?limit=3&offset=3')).json();
    expect(page1.total).toBe(n);
    expect(page1.items).toHaveLength(3);
    expect(page1.items[0].content).toBeUndefined();
    expect(page2.items.map((p: { id: number }) => p.id)).not.toContain(page1.items[0].id);
    for (const q of ['limit=0', 'limit=101', 'offset=-1', 'limit=abc', 'status=secret', 'bogus=1']) {
      const res = await as(t.app, editor)('GET', `/api/posts?${q}`);
      expect(res.statusCode, q).toBe(422);
    }
  });

  it('DELETE moves to trash (restorable), and the purge sees before/after', async () => {
    changes.length = 0;
    const del = await as(t.app, alice)('DELETE', `/api/posts/${alicePostId}`);
    expect(del.statusCode).toBe(200);
    expect(del.json()).toEqual({ id: alicePostId, status: 'trash' });
    expect((await t.sql('SELECT status FROM posts WHERE id = $1', [alicePostId]))[0].status).toBe('trash');
    expect(changes[0]).toMatchObject({ kind: 'post', before: { status: 'published' }, after: { status: 'trash' } });
    const restore = await as(t.app, alice)('PATCH', `/api/posts/${alicePostId}`, { status: 'published' });
    expect(restore.statusCode).toBe(200);
    expect(restore.json().status).toBe('published');
  });

  it('answers 401 without a session and 403 without the CSRF token on every state-changing route', async () => {
    const routes: Array<['POST' | 'PUT' | 'PATCH' | 'DELETE', string, unknown]> = [
      ['POST', '/api/posts', { title: 'x', content: '', status: 'draft' }],
      ['PUT', `/api/posts/${alicePostId}`, { title: 'x', content: '', status: 'draft' }],
      ['PATCH', `/api/posts/${alicePostId}`, { title: 'x' }],
      ['DELETE', `/api/posts/${alicePostId}`, undefined],
      ['POST', '/api/categories', { name: 'x' }],
      ['PUT', '/api/categories/1', { name: 'x' }],
      ['DELETE', '/api/categories/1', undefined],
      ['POST', '/api/tags', { name: 'x' }],
      ['PUT', '/api/tags/1', { name: 'x' }],
      ['DELETE', '/api/tags/1', undefined],
      ['POST', '/api/auth/logout', {}],
      ['POST', '/api/preview', { content: 'x' }],
    ];
    for (const [method, url, payload] of routes) {
      const anon = await t.app.inject({ method, url, ...(payload !== undefined ? { payload: payload as object } : {}) });
      expect(anon.statusCode, `${method} ${url} anonymous`).toBe(401);
      const noCsrf = await as(t.app, admin)(method, url, payload, { csrf: false });
      expect(noCsrf.statusCode, `${method} ${url} without token`).toBe(403);
      expect(noCsrf.json().error.code).toBe('csrf');
      const otherToken = await as(t.app, admin)(method, url, payload, { csrf: editor.csrf });
      expect(otherToken.statusCode, `${method} ${url} with another session's token`).toBe(403);
    }
    expect((await t.sql('SELECT title FROM posts WHERE id = $1', [alicePostId]))[0].title).toBe('Admin put');
  });

  it('validates: 400 malformed, 413 too large, 415 not JSON, 422 naming the field, 404 unknown ids', async () => {
    const post = as(t.app, alice);
    expect((await t.app.inject({ method: 'POST', url: '/api/posts', headers: { cookie: alice.cookie, 'x-csrf-token': alice.csrf, 'content-type': 'application/json' }, payload: '{"title":' })).statusCode).toBe(400);
    expect((await post('POST', '/api/posts', ['not', 'an', 'object'])).statusCode).toBe(400);
    const big = await post('POST', '/api/posts', { title: 'big', content: 'x'.repeat(1_100_000), status: 'draft' });
    expect(big.statusCode).toBe(413);
    expect(big.json().error.code).toBe('payload_too_large');
    const form = await t.app.inject({ method: 'POST', url: '/api/posts', headers: { cookie: alice.cookie, 'x-csrf-token': alice.csrf, 'content-type': 'text/plain' }, payload: 'title=x' });
    expect(form.statusCode).toBe(415);
    const cases: Array<[unknown, RegExp]> = [
      [{ content: 'x', status: 'draft' }, /^title:/],
      [{ title: '', status: 'draft' }, /^title:/],
      [{ title: 'x'.repeat(256) }, /^title:/],
      [{ title: 'x', status: 'live' }, /^status:/],
      [{ title: 'x', excerpt: 'e'.repeat(501) }, /^excerpt:/],
      [{ title: 'x', categories: ['no-such-category'] }, /^categories:/],
      [{ title: 'x', tags: [999999] }, /^tags:/],
      [{ title: 'x', publishedAt: 'yesterday' }, /^publishedAt:/],
      [{ title: 42 }, /^title:/],
      [{ title: 'a\u0000b' }, /^title: must not contain NUL/],
      [{ title: 'x', content: 'nul \u0000 inside' }, /^content:/],
    ];
    for (const [payload, message] of cases) {
      const res = await post('POST', '/api/posts', payload);
      expect(res.statusCode, JSON.stringify(payload).slice(0, 60)).toBe(422);
      expect(res.json().error.code).toBe('invalid_field');
      expect(res.json().error.message).toMatch(message);
    }
    for (const id of ['999999', '0', '-1', 'abc', '1e3', '99999999999999999999']) {
      expect((await post('GET', `/api/posts/${id}`)).statusCode, id).toBe(404);
      expect((await post('PATCH', `/api/posts/${id}`, { title: 'x' })).statusCode, id).toBe(404);
    }
  });

  it('answers SQL-injection strings in every parameter with 4xx and leaves the data intact', async () => {
    const evil = ["' OR '1'='1", "1; DROP TABLE posts; --", "1' UNION SELECT password_hash FROM users --", '$1', '\\x00', "'); DELETE FROM users; --"];
    const [{ n: before }] = await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM posts');
    for (const s of evil) {
      const e = encodeURIComponent(s);
      const reqs = [
        as(t.app, editor)('GET', `/api/posts/${e}`),
        as(t.app, editor)('GET', `/api/posts?limit=${e}`),
        as(t.app, editor)('GET', `/api/posts?offset=${e}`),
        as(t.app, editor)('GET', `/api/posts?status=${e}`),
        as(t.app, editor)('GET', `/api/categories/${e}`),
        as(t.app, editor)('PUT', `/api/tags/${e}`, { name: 'x' }),
        as(t.app, editor)('DELETE', `/api/categories/${e}`),
        as(t.app, editor)('POST', '/api/posts', { title: 'x', status: s }),
        as(t.app, editor)('POST', '/api/posts', { title: 'x', slug: s }),
        as(t.app, editor)('POST', '/api/posts', { title: 'x', categories: [s] }),
        t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: s, password: s } }),
      ];
      for (const res of await Promise.all(reqs)) {
        expect(res.statusCode, `${s}: ${res.body.slice(0, 100)}`).toBeGreaterThanOrEqual(400);
        expect(res.statusCode).toBeLessThan(500);
      }
    }
    // A title that looks like SQL is just a title.
    const ok = await as(t.app, editor)('POST', '/api/posts', { title: "'; DROP TABLE posts; --", status: 'draft' });
    expect(ok.statusCode).toBe(201);
    const [{ n: after }] = await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM posts');
    expect(after).toBe(before + 1);
  });
});

describe('Idempotency-Key', () => {
  it('replays the stored response for a retry and creates one row', async () => {
    const body = { title: 'Idempotent post', content: 'once', status: 'published' };
    const headers = { 'idempotency-key': 'key-123' };
    const first = await as(t.app, alice)('POST', '/api/posts', body, { headers });
    const second = await as(t.app, alice)('POST', '/api/posts', { status: 'published', content: 'once', title: 'Idempotent post' }, { headers });
    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(201);
    expect(second.json()).toEqual(first.json());
    expect(second.headers['idempotency-replayed']).toBe('true');
    expect((await t.sql("SELECT count(*)::int AS n FROM posts WHERE title = 'Idempotent post'"))[0].n).toBe(1);
    expect((await t.sql("SELECT count(*)::int AS n FROM idempotency_keys WHERE key = 'key-123'"))[0].n).toBe(1);

    const different = await as(t.app, alice)('POST', '/api/posts', { ...body, title: 'Another' }, { headers });
    expect(different.statusCode).toBe(422);
    expect(different.json().error.message).toMatch(/Idempotency-Key/);
    // Keys are per user: bob may use the same key for his own post.
    const bobs = await as(t.app, bob)('POST', '/api/posts', body, { headers });
    expect(bobs.statusCode).toBe(201);
    expect(bobs.json().id).not.toBe(first.json().id);
    expect((await as(t.app, alice)('POST', '/api/posts', body, { headers: { 'idempotency-key': '' } })).statusCode).toBe(400);
  });

  it('concurrent retries with one key still write once', async () => {
    const body = { title: 'Concurrent idem', content: 'x', status: 'draft' };
    const results = await Promise.all(Array.from({ length: 5 }, () =>
      as(t.app, alice)('POST', '/api/posts', body, { headers: { 'idempotency-key': 'concurrent-1' } })));
    expect(results.map((r) => r.statusCode)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(results.map((r) => r.json().id)).size).toBe(1);
    expect((await t.sql("SELECT count(*)::int AS n FROM posts WHERE title = 'Concurrent idem'"))[0].n).toBe(1);
  });

  it('does not store a failed write under the key', async () => {
    const bad = await as(t.app, alice)('POST', '/api/posts', { title: 'x', tags: ['missing-tag'] }, { headers: { 'idempotency-key': 'failing-1' } });
    expect(bad.statusCode).toBe(422);
    expect((await t.sql("SELECT count(*)::int AS n FROM idempotency_keys WHERE key = 'failing-1'"))[0].n).toBe(0);
  });
  it('forgets a key after its TTL: the retry writes again, and the maintenance delete drops expired rows', async () => {
    const body = { title: 'Expiring idem', content: 'x', status: 'draft' };
    const headers = { 'idempotency-key': 'expiring-1' };
    const first = await as(t.app, alice)('POST', '/api/posts', body, { headers });
    expect(first.statusCode).toBe(201);
    await t.sql(`UPDATE idempotency_keys SET created_at = now() - make_interval(hours => $1 + 1) WHERE key = 'expiring-1'`, [idempotencyKeyTtlHours]);
    const again = await as(t.app, alice)('POST', '/api/posts', body, { headers });
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotency-replayed']).toBeUndefined();
    expect(again.json().id).not.toBe(first.json().id);
    // The fresh claim is not expired; an aged one is deleted, the others stay.
    expect((await as(t.app, alice)('POST', '/api/posts', { ...body, title: 'Aged idem' }, { headers: { 'idempotency-key': 'aged-1' } })).statusCode).toBe(201);
    await t.sql(`UPDATE idempotency_keys SET created_at = now() - make_interval(hours => $1 + 1) WHERE key = 'aged-1'`, [idempotencyKeyTtlHours]);
    const before = (await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM idempotency_keys'))[0].n;
    expect((await t.deps.db.write((q) => deleteExpiredIdempotencyKeys(q))).value).toBe(1);
    expect((await t.sql<{ n: number }>('SELECT count(*)::int AS n FROM idempotency_keys'))[0].n).toBe(before - 1);
    expect((await t.sql("SELECT count(*)::int AS n FROM idempotency_keys WHERE key = 'expiring-1'"))[0].n).toBe(1);
  });
});

describe('categories and tags API', () => {
  it('lets editors manage categories; authors may only create tags; subscribers nothing', async () => {
    changes.length = 0;
    const cat = await as(t.app, editor)('POST', '/api/categories', { name: 'テクノロジー', description: 'tech' });
    expect(cat.statusCode).toBe(201);
    expect(cat.json()).toMatchObject({ name: 'テクノロジー', slug: 'テクノロジー', postCount: 0 });
    expect(changes.at(-1)).toMatchObject({ kind: 'site' });
    const child = await as(t.app, editor)('POST', '/api/categories', { name: 'Child', parentId: cat.json().id });
    expect(child.json().parentId).toBe(cat.json().id);
    const cycle = await as(t.app, editor)('PUT', `/api/categories/${cat.json().id}`, { name: 'テクノロジー', parentId: child.json().id });
    expect(cycle.statusCode).toBe(422);
    expect(cycle.json().error.message).toMatch(/^parentId:/);
    expect((await as(t.app, alice)('POST', '/api/categories', { name: 'nope' })).statusCode).toBe(403);
    expect((await as(t.app, sam)('POST', '/api/tags', { name: 'nope' })).statusCode).toBe(403);
    const tag = await as(t.app, alice)('POST', '/api/tags', { name: 'Node.js' });
    expect(tag.statusCode).toBe(201);
    expect(tag.json().slug).toBe('node-js');
    expect((await as(t.app, alice)('PUT', `/api/tags/${tag.json().id}`, { name: 'renamed' })).statusCode).toBe(403);
    expect((await as(t.app, alice)('DELETE', `/api/tags/${tag.json().id}`)).statusCode).toBe(403);
    const dupSlug = await as(t.app, editor)('POST', '/api/tags', { name: 'Other', slug: 'node-js' });
    expect(dupSlug.statusCode).toBe(409);
    const sameName = await as(t.app, editor)('POST', '/api/tags', { name: 'Node.js' });
    expect(sameName.json().slug).toBe('node-js-2');

    // Posts reference categories/tags by slug or id.
    const post = await as(t.app, alice)('POST', '/api/posts', { title: 'Tagged', content: '', status: 'published', categories: ['テクノロジー', child.json().id], tags: ['node-js'] });
    expect(post.statusCode).toBe(201);
    const full = (await as(t.app, alice)('GET', `/api/posts/${post.json().id}`)).json();
    expect(full.categories.map((c: { slug: string }) => c.slug).sort()).toEqual(['child', 'テクノロジー'].sort());
    expect(full.tags.map((c: { slug: string }) => c.slug)).toEqual(['node-js']);

    const list = (await as(t.app, sam)('GET', '/api/tags?limit=100')).json();
    expect(list.items.find((x: { slug: string }) => x.slug === 'node-js').postCount).toBe(1);
    expect(list.total).toBe((await t.sql('SELECT count(*)::int AS n FROM tags'))[0].n);

    const del = await as(t.app, editor)('DELETE', `/api/tags/${tag.json().id}`);
    expect(del.statusCode).toBe(200);
    expect((await as(t.app, editor)('DELETE', `/api/tags/${tag.json().id}`)).statusCode).toBe(404);
    expect((await as(t.app, editor)('PUT', '/api/categories/999999', { name: 'x' })).statusCode).toBe(404);
  });

  it('keeps the session write LSN monotonic across writes', async () => {
    const before = (await sessionOf(editor))!.lastWriteLsn!;
    await as(t.app, editor)('POST', '/api/tags', { name: 'lsn-check' });
    const after = (await sessionOf(editor))!.lastWriteLsn!;
    expect(compareLsn(after, before)).toBeGreaterThan(0);
    // A stale LSN written later does not move it back.
    await t.deps.sessions.update(editor.sessionId, { lastWriteLsn: '0/1' });
    expect((await sessionOf(editor))!.lastWriteLsn).toBe(after);
  });
});

describe('preview', () => {
  it('renders sanitized Markdown', async () => {
    const res = await as(t.app, alice)('POST', '/api/preview', { content: '**bold** <script>alert(1)</script><img src=x onerror=alert(1)>' });
    expect(res.statusCode).toBe(200);
    expect(res.json().html).toContain('<strong>bold</strong>');
    expect(res.json().html).not.toMatch(/<script|onerror/);
    expect((await as(t.app, sam)('POST', '/api/preview', { content: 'x' })).statusCode).toBe(403);
  });
});

describe('fuzz', () => {
  it('answers random bodies, ids, queries and headers on every API route without a 5xx', async () => {
    let seed = 20251129;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
    const strings = ['', 'x', '\u0000', 'a\u0000b', '日本語', "' OR 1=1 --", '<script>', '%00', '../..', 'x'.repeat(300), '\ud800', '-1', '1e309', 'null', '{}'];
    const values = (): unknown => pick([
      () => pick(strings), () => Math.floor(rand() * 1e6) - 1000, () => rand(), () => null, () => true, () => [],
      () => [pick(strings), Math.floor(rand() * 100)], () => ({ a: pick(strings) }), () => Number.MAX_SAFE_INTEGER + 2,
      () => '9999-12-31T23:59:59Z', () => '2025-01-01T00:00:00+14:00',
    ])();
    const fields = ['title', 'content', 'status', 'excerpt', 'categories', 'tags', 'slug', 'publishedAt', 'name', 'description', 'parentId', 'username', 'password', 'role', '__proto__', 'constructor'];
    const routes: Array<['GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', string]> = [
      ['GET', '/api/posts'], ['POST', '/api/posts'], ['GET', '/api/posts/ID'], ['PUT', '/api/posts/ID'], ['PATCH', '/api/posts/ID'], ['DELETE', '/api/posts/ID'],
      ['GET', '/api/categories'], ['POST', '/api/categories'], ['PUT', '/api/categories/ID'], ['DELETE', '/api/categories/ID'],
      ['GET', '/api/tags'], ['POST', '/api/tags'], ['PUT', '/api/tags/ID'], ['DELETE', '/api/tags/ID'],
      ['POST', '/api/auth/login'], ['GET', '/api/auth/me'], ['POST', '/api/preview'],
    ];
    const [{ id: realId }] = await t.sql<{ id: string }>('SELECT id FROM posts ORDER BY id LIMIT 1');
    const failures: string[] = [];
    const enc = (x: string) => {
      try {
        return encodeURIComponent(x);
      } catch {
        return '%E0%A4%A'; // a malformed escape, which is itself worth sending
      }
    };
    for (let i = 0; i < 400; i++) {
      const [method, path] = pick(routes);
      const id = pick([String(realId), '1', '0', 'abc', enc(pick(strings)), '99999999999']);
      const query = rand() < 0.4 ? `?${pick(['limit', 'offset', 'status', 'x'])}=${enc(pick(strings))}` : '';
      const url = path.replace('ID', id || '1') + query;
      const body: Record<string, unknown> = {};
      for (let k = Math.floor(rand() * 5); k > 0; k--) body[pick(fields)] = values();
      const who = pick([editor, alice, sam, null]);
      const headers: Record<string, string> = {};
      if (who) headers.cookie = rand() < 0.9 ? who.cookie : `aidiary_session=${pick(strings)}`;
      if (who && rand() < 0.8) headers['x-csrf-token'] = who.csrf;
      if (rand() < 0.2) headers['idempotency-key'] = pick(['k1', 'k2', pick(strings)]);
      const payload = method === 'GET' || method === 'DELETE' ? undefined : rand() < 0.1 ? pick(strings) : JSON.stringify(body);
      if (payload !== undefined) headers['content-type'] = rand() < 0.9 ? 'application/json' : pick(['text/plain', 'application/x-www-form-urlencoded']);
      const res = await t.app.inject({ method, url, headers, ...(payload !== undefined ? { payload } : {}) });
      if (res.statusCode >= 500) failures.push(`${method} ${url} ${payload?.slice(0, 120)} → ${res.statusCode} ${res.body.slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
  });
});

describe('stale sessions', () => {
  it('a user demoted after login loses write rights at once', async () => {
    await createUser(t, 'carol', 'editor', 'carol-pass-1');
    const carol = await login(t.app, 'carol', 'carol-pass-1');
    expect((await as(t.app, carol)('POST', '/api/categories', { name: 'carol-1' })).statusCode).toBe(201);
    await t.sql("UPDATE users SET role = 'subscriber' WHERE username = 'carol'");
    const res = await as(t.app, carol)('POST', '/api/categories', { name: 'carol-2' });
    expect(res.statusCode).toBe(403);
    expect(res.json().error.message).toMatch(/log in again/);
    expect((await t.sql("SELECT count(*)::int AS n FROM categories WHERE name = 'carol-2'"))[0].n).toBe(0);
  });
});
