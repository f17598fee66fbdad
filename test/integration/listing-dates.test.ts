import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';

// Listing rows carry published_at formatted by PostgreSQL (to_char, UTC, milliseconds); the post
// page formats the driver's Date. Both must print the same instant the same way, microseconds
// and a day boundary included, or a post's date would differ between its card and its page.

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ posts: 0 });
});

afterAll(async () => {
  await t?.close();
});

const stamps = ['2025-03-09 23:59:59.999999+00', '2025-03-10 00:00:00.000500+00', '2024-02-29 12:34:56+09', '2023-12-31 23:30:00.123456-05'];

describe('listing dates', () => {
  it('print like Date#toISOString on the home page, a date archive and the post page', async () => {
    const [{ id: authorId }] = await t.sql<{ id: number }>("SELECT id FROM users WHERE username = 'admin'");
    for (const [i, stamp] of stamps.entries()) {
      await t.sql(
        `INSERT INTO posts (author_id, title, slug, content, excerpt, status, published_at)
         VALUES ($1, $2, $3, 'body', '', 'published', $4::timestamptz)`,
        [authorId, `dated ${i}`, `dated-${i}`, stamp],
      );
    }
    const rows = await t.sql<{ slug: string; published_at: Date }>("SELECT slug, published_at FROM posts WHERE slug LIKE 'dated-%'");
    const home = (await t.app.inject({ method: 'GET', url: '/' })).body;
    for (const row of rows) {
      const iso = row.published_at.toISOString();
      const card = `<time datetime="${iso}">${iso.slice(0, 10)}</time>`;
      expect(home).toContain(card);
      const archive = (await t.app.inject({ method: 'GET', url: `/${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/` })).body;
      expect(archive).toContain(card);
      const single = (await t.app.inject({ method: 'GET', url: `/posts/${row.slug}` })).body;
      expect(single).toContain(card);
    }
    // The microsecond stamp just before midnight stays on its day (truncated, not rounded).
    expect(home).toContain('<time datetime="2025-03-09T23:59:59.999Z">2025-03-09</time>');
  });
});
