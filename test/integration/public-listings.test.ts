import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { listedSlugs, pageNumbers } from '../helpers/html';
import type { AppDeps } from '../../app/deps';
import type { Db, Queryable } from '../../app/db/db';
import { publicContext } from '../../app/routes/public/public-context';
import { pageUrl } from '../../app/views/urls';

// Every listing (home, category, tag, author, year/month/day archives, search) paginates and
// filters exactly like an independent SQL query over the same rows; every public page costs at
// most 2 SQL round trips whatever the page size (a counting Db around the real one).

/** Counts round trips made by page renders (the background settings probe is not a page's). */
function countingDb(inner: Db, counter: { queries: number; names: string[] }): Db {
  const wrap = (q: Queryable): Queryable => ({
    query(config) {
      if (!config.name?.startsWith('site_settings_')) {
        counter.queries++;
        counter.names.push(config.name ?? '(unnamed)');
      }
      return q.query(config);
    },
  });
  return {
    read: (ctx, fn) => inner.read(ctx, (q) => fn(wrap(q))),
    write: (fn) => inner.write((q) => fn(wrap(q))),
    canServeReads: () => inner.canServeReads(),
    close: () => inner.close(),
  };
}

const counter = { queries: 0, names: [] as string[] };
let t: TestApp;
let perPage = 3;

async function setPerPage(n: number) {
  await t.sql("UPDATE site_settings SET value = $1, updated_at = now() WHERE key = 'posts_per_page'", [String(n)]);
  await publicContext(t.app, t.deps).settings.refresh();
  perPage = n;
}

async function get(url: string) {
  counter.queries = 0;
  counter.names = [];
  const res = await t.app.inject({ method: 'GET', url });
  return { res, queries: counter.queries, names: [...counter.names] };
}

/** Walks every page of a listing and compares it with `expected` (slugs, newest first). */
async function expectListing(base: string, expected: string[], query = '') {
  const pages = Math.max(1, Math.ceil(expected.length / perPage));
  for (let page = 1; page <= pages; page++) {
    const url = pageUrl(base, page, query);
    const { res, queries } = await get(url);
    expect(res.statusCode, url).toBe(200);
    expect(listedSlugs(res.body), url).toEqual(expected.slice((page - 1) * perPage, page * perPage));
    expect(pageNumbers(res.body), url).toEqual(pages > 1 ? { page, total: pages } : null);
    expect(queries, `${url} round trips`).toBeLessThanOrEqual(2);
  }
  const past = await get(pageUrl(base, pages + 1, query));
  expect(past.res.statusCode, `${base} page ${pages + 1}`).toBe(404);
}

const published = (where: string, values: unknown[] = []) =>
  t.sql<{ slug: string }>(
    `SELECT p.slug FROM posts p WHERE p.status = 'published' AND ${where} ORDER BY p.published_at DESC, p.id DESC`, values,
  ).then((rows) => rows.map((r) => r.slug));

beforeAll(async () => {
  t = await startTestApp({
    posts: 150,
    seed: { tags: 12, categories: 8, seed: 7 },
    wrapDeps: (deps: AppDeps) => ({ ...deps, db: countingDb(deps.db, counter) }),
  });
  await setPerPage(3);
});
afterAll(async () => { await t?.close(); });

describe('listings paginate and filter like SQL', () => {
  it('home', async () => {
    const expected = await published('true');
    expect(expected.length).toBeGreaterThan(100);
    await expectListing('/', expected);
  });

  it('category (a parent and a child category)', async () => {
    const cats = await t.sql<{ slug: string; id: string; parent_id: string | null }>(
      `SELECT c.slug, c.id, c.parent_id FROM categories c ORDER BY (SELECT count(*) FROM post_categories pc WHERE pc.category_id = c.id) DESC`);
    const parent = cats.find((c) => c.parent_id === null)!;
    const child = cats.find((c) => c.parent_id !== null)!;
    for (const c of [parent, child]) {
      const expected = await published('p.id IN (SELECT post_id FROM post_categories WHERE category_id = $1)', [c.id]);
      expect(expected.length).toBeGreaterThan(perPage);
      await expectListing(`/category/${encodeURIComponent(c.slug)}`, expected);
    }
  });

  it('tag (Japanese and English slugs)', async () => {
    const tags = await t.sql<{ slug: string; id: string }>('SELECT slug, id FROM tags ORDER BY id LIMIT 2');
    expect(tags[0].slug).toMatch(/[^\x00-\x7f]/); // a Japanese slug, percent-encoded in the URL
    for (const tag of tags) {
      const expected = await published('p.id IN (SELECT post_id FROM post_tags WHERE tag_id = $1)', [tag.id]);
      expect(expected.length).toBeGreaterThan(perPage);
      await expectListing(`/tag/${encodeURIComponent(tag.slug)}`, expected);
    }
  });

  it('author', async () => {
    const [author] = await t.sql<{ username: string; id: string }>(
      "SELECT u.username, u.id FROM users u WHERE u.username <> 'admin' ORDER BY u.id LIMIT 1");
    const expected = await published('p.author_id = $1', [author.id]);
    expect(expected.length).toBeGreaterThan(perPage);
    await expectListing(`/author/${author.username}`, expected);
  });

  it('year, month and day archives (UTC)', async () => {
    const [busiest] = await t.sql<{ y: string; m: string; d: string }>(
      `SELECT to_char(published_at AT TIME ZONE 'UTC', 'YYYY') AS y, to_char(published_at AT TIME ZONE 'UTC', 'MM') AS m,
              to_char(published_at AT TIME ZONE 'UTC', 'DD') AS d
       FROM posts WHERE status = 'published' GROUP BY 1, 2, 3 ORDER BY count(*) DESC, 1, 2, 3 LIMIT 1`);
    const year = await published("to_char(p.published_at AT TIME ZONE 'UTC', 'YYYY') = $1", [busiest.y]);
    await expectListing(`/${busiest.y}/`, year);
    const [month] = await t.sql<{ y: string; m: string }>(
      `SELECT to_char(published_at AT TIME ZONE 'UTC', 'YYYY') AS y, to_char(published_at AT TIME ZONE 'UTC', 'MM') AS m
       FROM posts WHERE status = 'published' GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 1`);
    const monthRows = await published("to_char(p.published_at AT TIME ZONE 'UTC', 'YYYY-MM') = $1", [`${month.y}-${month.m}`]);
    expect(monthRows.length).toBeGreaterThan(perPage);
    await expectListing(`/${month.y}/${month.m}/`, monthRows);
    const day = await published("to_char(p.published_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') = $1", [`${busiest.y}-${busiest.m}-${busiest.d}`]);
    expect(day.length).toBeGreaterThan(0);
    await expectListing(`/${busiest.y}/${busiest.m}/${busiest.d}/`, day);
    // A day with no posts is an empty (200) archive, not an error.
    const empty = await get('/1999/01/01/');
    expect(empty.res.statusCode).toBe(200);
    expect(listedSlugs(empty.res.body)).toEqual([]);
  });

  it('search: English, 1- and 2-character Japanese, and literal % and _', async () => {
    await t.sql(`INSERT INTO posts (title, slug, content, author_id, status, published_at)
                 SELECT '割引 100% off_sale', 'percent-post', 'literal 100% and snake_case', id, 'published', now() FROM users WHERE username = 'taro'`);
    const matching = (term: string) => published("strpos(lower(p.title || ' ' || p.excerpt || ' ' || p.content), lower($1)) > 0", [term]);
    for (const term of ['coffee', '猫', '東京', 'SQL', '100%', 'e_c', '記録']) {
      const expected = await matching(term);
      expect(expected.length, term).toBeGreaterThan(0);
      await expectListing('/search', expected, `?s=${encodeURIComponent(term)}`);
    }
    // `%` and `_` are not wildcards: `0%a` does not match "100% and".
    expect(await matching('0%a')).toEqual([]);
    const { res } = await get(`/search?s=${encodeURIComponent('0%a')}`);
    expect(res.statusCode).toBe(200);
    expect(listedSlugs(res.body)).toEqual([]);
    const none = await get(`/search?s=${encodeURIComponent('_')}`);
    expect(listedSlugs(none.res.body)).toEqual((await matching('_')).slice(0, perPage));
    // Empty query: the prompt, no SQL at all.
    const empty = await get('/search?s=');
    expect(empty.res.statusCode).toBe(200);
    expect(empty.queries).toBe(0);
    expect(empty.res.body).toContain('search-prompt');
  });
});

describe('SQL round trips per public page', () => {
  it('stay ≤ 2 at page sizes 3 and 50, and post pages take one', async () => {
    const [cat] = await t.sql<{ slug: string }>('SELECT slug FROM categories LIMIT 1');
    const [tag] = await t.sql<{ slug: string }>('SELECT slug FROM tags LIMIT 1');
    const [post] = await t.sql<{ slug: string; published_at: Date }>("SELECT slug, published_at FROM posts WHERE status = 'published' LIMIT 1");
    const y = post.published_at.getUTCFullYear();
    const m = String(post.published_at.getUTCMonth() + 1).padStart(2, '0');
    const pages = ['/', '/page/2', `/category/${encodeURIComponent(cat.slug)}`, `/tag/${encodeURIComponent(tag.slug)}`, '/author/taro',
      `/${y}/`, `/${y}/${m}/`, '/search?s=coffee', '/search?s=猫', '/feed.xml', '/sitemap.xml'];
    for (const size of [3, 50]) {
      await setPerPage(size);
      for (const url of pages) {
        const { res, queries, names } = await get(url);
        expect(res.statusCode, url).toBe(200);
        expect(queries, `${url} at ${size}/page: ${names.join(', ')}`).toBeLessThanOrEqual(2);
        expect(queries, url).toBeGreaterThan(0);
      }
      const single = await get(`/posts/${encodeURIComponent(post.slug)}`);
      expect(single.res.statusCode).toBe(200);
      expect(single.names).toEqual(['public_post_by_slug']);
    }
    // At 50 per page a listing shows 50 posts with their categories/tags, still in ≤ 2 queries.
    const home = await get('/');
    expect(listedSlugs(home.res.body)).toHaveLength(50);
    // The first page runs the statement with its size in the text (a plan PostgreSQL can keep);
    // later pages the one with LIMIT/OFFSET parameters.
    expect(home.names).toEqual(['public_list_home_first_50']);
    expect((await get('/page/2')).names).toEqual(['public_list_home']);
    await setPerPage(3);
  });
});
