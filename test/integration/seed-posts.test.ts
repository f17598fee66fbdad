import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { runMigrations } from '../../app/db/migrate';
import { seedDemoContent } from '../../app/db/seed';
import { seedPostsTo } from '../../infra/local/seed-posts';
import { startTestPostgres, type TestPostgres } from '../helpers/services';

// `aidiary seed --posts N` (infra/local/seed-posts.ts → app/db/seed.ts seedPublishedPosts) on a
// real PostgreSQL: tops the site up to N published posts, idempotently, with progress lines.

let db: TestPostgres;
let client: pg.Client;
const conn = () => ({ host: db.primary.host, port: db.primary.port, user: db.appUser, password: db.appPassword, database: db.dbName });
const published = async () => Number((await client.query("SELECT count(*) AS n FROM posts WHERE status = 'published'")).rows[0].n);

beforeAll(async () => {
  db = await startTestPostgres();
  await runMigrations(conn());
  client = new pg.Client(conn());
  await client.connect();
}, 120_000);

afterAll(async () => {
  await client?.end();
  await db?.stop();
});

describe('seed --posts N tops the site up to N published posts', () => {
  it('on an empty site: the demo content, then exactly N published posts', async () => {
    const lines: string[] = [];
    const r = await seedPostsTo(conn(), 120, (l) => lines.push(l));
    expect(r.demoSeeded).toBe(true);
    expect(r.published).toBe(120);
    expect(await published()).toBe(120);
    // The demo content mixes statuses, so the top-up had to add the missing published ones.
    expect(r.added).toBeGreaterThan(0);
    expect(lines.at(-1)).toMatch(/^seed: 120 \/ 120 published posts/);
  });

  it('a second run with the same N adds nothing (N, not 2N)', async () => {
    const postsBefore = Number((await client.query('SELECT count(*) AS n FROM posts')).rows[0].n);
    const r = await seedPostsTo(conn(), 120);
    expect(r).toMatchObject({ demoSeeded: false, publishedBefore: 120, added: 0, published: 120 });
    expect(Number((await client.query('SELECT count(*) AS n FROM posts')).rows[0].n)).toBe(postsBefore);
  });

  it('a larger N on a seeded site adds the difference in chunks, with progress per chunk, linked to existing authors/categories/tags', async () => {
    const lines: string[] = [];
    const maxId = Number((await client.query('SELECT max(id) AS m FROM posts')).rows[0].m);
    const r = await seedPostsTo(conn(), 2500, (l) => lines.push(l));
    expect(r).toMatchObject({ demoSeeded: false, publishedBefore: 120, added: 2380, published: 2500 });
    expect(await published()).toBe(2500);
    expect(lines.map((l) => l.split(' (')[0])).toEqual(['seed: 2120 / 2500 published posts', 'seed: 2500 / 2500 published posts']);
    const added = await client.query(
      `SELECT count(*) AS n, count(DISTINCT slug) AS slugs, count(*) FILTER (WHERE published_at IS NULL) AS undated,
              count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM post_categories pc WHERE pc.post_id = p.id)) AS uncategorised
       FROM posts p WHERE id > $1`, [maxId]);
    expect(added.rows[0]).toEqual({ n: '2380', slugs: '2380', undated: '0', uncategorised: '0' });
    const authors = await client.query("SELECT DISTINCT u.role::text AS role FROM posts p JOIN users u ON u.id = p.author_id WHERE p.id > $1", [maxId]);
    expect(authors.rows.map((x) => x.role).sort()).toEqual(['author', 'editor']);
  });

  it('two concurrent runs still give N', async () => {
    const [a, b] = await Promise.all([seedPostsTo(conn(), 3000), seedPostsTo(conn(), 3000)]);
    expect(a.added + b.added).toBe(500);
    expect(await published()).toBe(3000);
  });

  it('a smaller N removes nothing, and the demo seed marker still makes seedDemoContent a no-op', async () => {
    const r = await seedPostsTo(conn(), 10);
    expect(r).toMatchObject({ added: 0, published: 3000 });
    expect((await seedDemoContent(client, { posts: 5 })).seeded).toBe(false);
  });
});
