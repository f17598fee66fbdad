import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { urls } from '../../app/views/urls';

// Each post's categories and tags are stored on the row (posts.category_list / tag_list, kept by
// statement-level triggers) and the listings print them from there. After every kind of write to
// links or terms, the stored lists must equal the lists aggregated from the link tables, and the
// pages must show the change.

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ posts: 40 });
});

afterAll(async () => {
  await t?.close();
});

/** Posts whose stored lists differ from the lists the link tables give now. */
const stale = async () => (await t.sql<{ n: number }>(
  `SELECT count(*)::int AS n FROM posts p WHERE p.category_list::text <> post_category_list(p.id)::text
     OR p.tag_list::text <> post_tag_list(p.id)::text`))[0].n;

const listsOf = async (slug: string) => (await t.sql<{ categories: { slug: string; name: string }[]; tags: { slug: string; name: string }[] }>(
  'SELECT category_list AS categories, tag_list AS tags FROM posts WHERE slug = $1', [slug]))[0];

describe('stored category and tag lists', () => {
  it('the seeded posts carry their lists, ordered by name', async () => {
    expect(await stale()).toBe(0);
    const [{ n }] = await t.sql<{ n: number }>("SELECT count(*)::int AS n FROM posts WHERE category_list::text <> '[]'");
    expect(n).toBeGreaterThan(0);
  });

  it('follow link inserts and deletes, term renames and deletions, in bulk and one by one', async () => {
    const [{ id: authorId }] = await t.sql<{ id: number }>("SELECT id FROM users WHERE username = 'admin'");
    await t.sql(
      `INSERT INTO posts (author_id, title, slug, content, excerpt, status, published_at)
       SELECT $1, 'terms ' || i, 'terms-' || i, 'x', '', 'published', now() + i * interval '1 second'
       FROM generate_series(1, 3) i`,
      [authorId],
    );
    const cats = await t.sql<{ id: number }>("INSERT INTO categories (name, slug) VALUES ('Zeta', 'zeta'), ('Alpha', 'alpha') RETURNING id");
    const tags = await t.sql<{ id: number }>("INSERT INTO tags (name, slug) VALUES ('beta', 'beta'), ('gamma', 'gamma') RETURNING id");
    expect(await listsOf('terms-1')).toEqual({ categories: [], tags: [] });

    // One statement linking several posts.
    await t.sql(`INSERT INTO post_categories (post_id, category_id)
                 SELECT p.id, c FROM posts p, unnest($1::bigint[]) c WHERE p.slug LIKE 'terms-%'`, [cats.map((c) => c.id)]);
    await t.sql(`INSERT INTO post_tags (post_id, tag_id) SELECT id, $1 FROM posts WHERE slug = 'terms-1'`, [tags[1].id]);
    expect(await listsOf('terms-1')).toEqual({
      categories: [{ slug: 'alpha', name: 'Alpha' }, { slug: 'zeta', name: 'Zeta' }],
      tags: [{ slug: 'gamma', name: 'gamma' }],
    });
    expect(await stale()).toBe(0);

    // A rename reorders; a description change alone touches no post.
    await t.sql("UPDATE categories SET name = 'Zulu' WHERE slug = 'alpha'");
    expect((await listsOf('terms-2')).categories).toEqual([{ slug: 'zeta', name: 'Zeta' }, { slug: 'alpha', name: 'Zulu' }]);
    await t.sql("UPDATE tags SET slug = 'gamma-2' WHERE slug = 'gamma'");
    expect((await listsOf('terms-1')).tags).toEqual([{ slug: 'gamma-2', name: 'gamma' }]);
    const [{ xmin: before }] = await t.sql<{ xmin: string }>("SELECT xmin::text FROM posts WHERE slug = 'terms-3'");
    await t.sql("UPDATE categories SET description = 'only the description' WHERE slug = 'zeta'");
    const [{ xmin: after }] = await t.sql<{ xmin: string }>("SELECT xmin::text FROM posts WHERE slug = 'terms-3'");
    expect(after).toBe(before);

    // Unlinking, moving a link, deleting a term (its links cascade), deleting a post.
    await t.sql("DELETE FROM post_categories WHERE category_id = $1 AND post_id = (SELECT id FROM posts WHERE slug = 'terms-3')", [cats[0].id]);
    expect((await listsOf('terms-3')).categories).toEqual([{ slug: 'alpha', name: 'Zulu' }]);
    await t.sql("UPDATE post_tags SET post_id = (SELECT id FROM posts WHERE slug = 'terms-2') WHERE post_id = (SELECT id FROM posts WHERE slug = 'terms-1')");
    expect((await listsOf('terms-1')).tags).toEqual([]);
    expect((await listsOf('terms-2')).tags).toEqual([{ slug: 'gamma-2', name: 'gamma' }]);
    await t.sql("DELETE FROM categories WHERE slug = 'alpha'");
    expect((await listsOf('terms-2')).categories).toEqual([{ slug: 'zeta', name: 'Zeta' }]);
    await t.sql("DELETE FROM posts WHERE slug = 'terms-3'");
    expect(await stale()).toBe(0);
  });

  it('a rename shows on the home page and the post page', async () => {
    const [post] = await t.sql<{ slug: string; category_id: number }>(
      `SELECT p.slug, pc.category_id FROM posts p JOIN post_categories pc ON pc.post_id = p.id
       WHERE p.status = 'published' ORDER BY p.published_at DESC, p.id DESC LIMIT 1`);
    await t.sql("UPDATE categories SET name = 'Freshly renamed', slug = 'freshly-renamed' WHERE id = $1", [post.category_id]);
    // Neither page was requested before in this app, so no cache layer holds a copy.
    const home = await t.app.inject({ method: 'GET', url: '/' });
    const single = await t.app.inject({ method: 'GET', url: urls.post(post.slug) });
    for (const page of [home, single]) {
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain('href="/category/freshly-renamed"');
      expect(page.body).toContain('>Freshly renamed</a>');
    }
  });

  it('a truncate of the links empties the lists', async () => {
    await t.sql('TRUNCATE post_tags');
    const [{ n }] = await t.sql<{ n: number }>("SELECT count(*)::int AS n FROM posts WHERE tag_list::text <> '[]'");
    expect(n).toBe(0);
    expect(await stale()).toBe(0);
  });
});
