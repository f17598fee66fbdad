import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { as, createUser, login } from './auth-test-helpers';

// `/author/<username>` exists only for users with at least one published post: a subscriber, an
// author with drafts only, or a disabled account without published posts answers the same 404 as
// a name nobody has (no user enumeration). Publishing the first post makes the page appear at
// once (its purge tag covers the 404), trashing the last one removes it. Page cache on (L1 + L2).

let t: TestApp;

const status = async (url: string) => (await t.app.inject(url)).statusCode;

beforeAll(async () => {
  t = await startTestApp({ posts: 0, cache: { l1: true, l2: true } });
  await createUser(t, 'sam', 'subscriber', 'sam-pass-1');
  await createUser(t, 'dora', 'author', 'dora-pass-1');
  const gone = await createUser(t, 'gone', 'author', 'gone-pass-1');
  const retired = await createUser(t, 'retired', 'author', 'retired-pass-1');
  await t.sql("INSERT INTO posts (title, slug, content, author_id, status) VALUES ('Gone draft', 'gone-draft', 'x', $1, 'draft')", [gone]);
  await t.sql(`INSERT INTO posts (title, slug, content, author_id, status, published_at)
               VALUES ('Retired but public', 'retired-public', 'x', $1, 'published', now() - interval '1 day')`, [retired]);
  await t.sql('UPDATE users SET disabled_at = now() WHERE id = ANY($1)', [[gone, retired]]);
});
afterAll(async () => { await t?.close(); });

describe('/author/<username>', () => {
  it('is 404 for a subscriber, an author without published posts, a disabled account without them, and nobody', async () => {
    const unknown = await t.app.inject('/author/no-such-user');
    expect(unknown.statusCode).toBe(404);
    for (const name of ['sam', 'dora', 'gone', 'admin']) {
      for (const url of [`/author/${name}`, `/author/${name}/page/2`]) {
        const res = await t.app.inject(url);
        expect(res.statusCode, url).toBe(404);
        expect(res.body, url).toBe(unknown.body.replace(/no-such-user/g, name));
      }
    }
  });

  it('is 200 for a user with a published post, disabled or not (the posts are public and link to it)', async () => {
    expect(await status('/author/retired')).toBe(200);
  });

  it('appears with the first published post and goes with the last one', async () => {
    const dora = await login(t.app, 'dora', 'dora-pass-1');
    const created = await as(t.app, dora)('POST', '/api/posts', { title: 'Dora still drafting', content: 'x', status: 'draft' });
    expect(created.statusCode).toBe(201);
    expect(await status('/author/dora')).toBe(404);
    expect(await status('/author/dora')).toBe(404);
    const id = created.json().id;
    expect((await as(t.app, dora)('PATCH', `/api/posts/${id}`, { status: 'published' })).statusCode).toBe(200);
    expect(await status('/author/dora')).toBe(200);
    expect((await as(t.app, dora)('DELETE', `/api/posts/${id}`)).statusCode).toBe(200);
    expect(await status('/author/dora')).toBe(404);
  });
});
