import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { pageNumbers } from '../helpers/html';

// The home page's total comes from post_stats.published_count, kept by statement-level triggers.
// It must equal count(*) of published posts after every kind of write, single-row and bulk.

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ posts: 40 });
});

afterAll(async () => {
  await t?.close();
});

const counted = async () => (await t.sql<{ n: number }>("SELECT count(*)::int AS n FROM posts WHERE status = 'published'"))[0].n;
const kept = async () => (await t.sql<{ n: number }>('SELECT published_count::int AS n FROM post_stats'))[0].n;

describe('published post counter', () => {
  it('matches count(*) after inserts, status changes, deletes and a truncate', async () => {
    expect(await kept()).toBe(await counted());
    const [{ id: authorId }] = await t.sql<{ id: number }>("SELECT id FROM users WHERE username = 'admin'");
    // Bulk insert: some published, some drafts, in one statement.
    await t.sql(
      `INSERT INTO posts (author_id, title, slug, content, excerpt, status, published_at)
       SELECT $1, 'bulk ' || i, 'bulk-' || i, 'x', '', (CASE WHEN i % 3 = 0 THEN 'draft' ELSE 'published' END)::post_status, now()
       FROM generate_series(1, 30) i`,
      [authorId],
    );
    expect(await kept()).toBe(await counted());
    // Unpublish some, publish a draft, touch a title (no status change), in separate statements.
    await t.sql("UPDATE posts SET status = 'trash' WHERE slug IN ('bulk-1', 'bulk-2', 'bulk-4')");
    await t.sql("UPDATE posts SET status = 'published' WHERE slug = 'bulk-3'");
    await t.sql("UPDATE posts SET title = 'renamed' WHERE slug = 'bulk-5'");
    expect(await kept()).toBe(await counted());
    await t.sql("DELETE FROM posts WHERE slug LIKE 'bulk-%'");
    expect(await kept()).toBe(await counted());
    // Through the API as well: a publish is seen on the home page's pagination total.
    const before = await kept();
    const page = await t.app.inject({ method: 'GET', url: '/' });
    const perPage = 10;
    expect(pageNumbers(page.body)?.total).toBe(Math.ceil(before / perPage));
  });

  it('a truncate resets it', async () => {
    await t.sql('TRUNCATE posts CASCADE');
    expect(await kept()).toBe(0);
    expect(await counted()).toBe(0);
  });
});
