import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderMarkdown } from '../../app/content/markdown';
import { stripMarkdown } from '../../app/content/excerpt';
import { headOf, renderedPostVersion } from '../../app/content/rendered-post';
import { backfillRenderedPosts } from '../../app/db/backfill-rendered-posts';
import { startTestApp, type TestApp } from '../helpers/app';
import { as, createUser, login } from './auth-test-helpers';

// Post bodies rendered at write time (app/content/rendered-post.ts): the seed, the API's writes
// and the backfill store exactly what the per-request rendering made; public pages print the
// stored HTML and show the same bytes as when they render from the Markdown; a write that
// changes the Markdown without a rendering (an older app, a hand-made UPDATE) never shows a
// stale body.

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ posts: 30 });
});

afterAll(async () => {
  await t?.close();
});

interface Row { id: string; slug: string; content: string; content_html: string | null; content_text: string | null; rendered_version: number | null }
const conn = () => ({ host: t.pg.primary.host, port: t.pg.primary.port, database: t.pg.dbName, user: t.pg.appUser, password: t.pg.appPassword });
const rows = () => t.sql<Row>('SELECT id, slug, content, content_html, content_text, rendered_version FROM posts ORDER BY id');
const get = async (url: string) => t.app.inject({ method: 'GET', url });
const flush = () => t.deps.pageCache.flushAll();

function expectRenderedFromContent(r: Row) {
  expect(r.rendered_version, r.slug).toBe(renderedPostVersion);
  expect(r.content_html, r.slug).toBe(renderMarkdown(r.content));
  expect(r.content_text, r.slug).toBe(stripMarkdown(headOf(r.content)));
}

describe('post bodies rendered at write time', () => {
  it('the seed stores each body\'s HTML and text, equal to rendering the Markdown', async () => {
    const all = await rows();
    expect(all.length).toBeGreaterThan(20);
    all.forEach(expectRenderedFromContent);
  });

  it('pages from stored renderings are byte for byte the pages rendered from Markdown', async () => {
    const [post] = await t.sql<{ slug: string }>("SELECT slug FROM posts WHERE status = 'published' AND excerpt = '' ORDER BY published_at DESC LIMIT 1");
    const urls = ['/', '/page/2', `/posts/${encodeURIComponent(post.slug)}`];
    await flush();
    const stored = await Promise.all(urls.map(get));
    await t.sql('UPDATE posts SET rendered_version = NULL');
    await flush();
    const fromMarkdown = await Promise.all(urls.map(get));
    urls.forEach((url, i) => {
      expect(stored[i].statusCode, url).toBe(200);
      expect(stored[i].body, url).toBe(fromMarkdown[i].body);
    });
    // The backfill brings every row back to the current version, with the same rendering.
    expect(await backfillRenderedPosts(conn())).toBe((await rows()).length);
    (await rows()).forEach(expectRenderedFromContent);
    expect(await backfillRenderedPosts(conn())).toBe(0);
    // And the pages print what is stored (not a per-request rendering that happens to match).
    await t.sql("UPDATE posts SET content_html = '<p>stored-marker</p>', content_text = 'stored text marker' WHERE slug = $1", [post.slug]);
    await flush();
    expect((await get(urls[2])).body).toContain('<p>stored-marker</p>');
    expect((await get('/')).body).toContain('stored text marker');
    await t.sql('UPDATE posts SET rendered_version = NULL WHERE slug = $1', [post.slug]);
    expect(await backfillRenderedPosts(conn())).toBe(1);
    await flush();
  });

  it('API writes store the new rendering; a raw UPDATE of the Markdown drops the stored one', async () => {
    await createUser(t, 'renderer', 'author');
    const author = await login(t.app, 'renderer', 'renderer-pass-123');
    const content = '# Title\n\nSee [site](https://example.com) <script>alert(1)</script> **bold**';
    const created = await as(t.app, author)('POST', '/api/posts', { title: 'Rendered once', content, status: 'published' });
    expect(created.statusCode).toBe(201);
    const { id, slug } = created.json() as { id: number; slug: string };
    let [row] = (await rows()).filter((r) => Number(r.id) === id);
    expectRenderedFromContent(row);
    expect(row.content_html).toContain('rel="nofollow ugc noopener"');
    expect(row.content_html).not.toContain('<script');

    const edited = await as(t.app, author)('PATCH', `/api/posts/${id}`, { content: 'Second **version**' });
    expect(edited.statusCode).toBe(200);
    [row] = (await rows()).filter((r) => Number(r.id) === id);
    expectRenderedFromContent(row);
    expect(row.content_html).toContain('<strong>version</strong>');

    // A writer that knows nothing of the rendering: the trigger drops it, the page renders the new Markdown.
    await t.sql('UPDATE posts SET content = $2 WHERE id = $1', [id, 'Third *edit* by hand']);
    [row] = (await rows()).filter((r) => Number(r.id) === id);
    expect(row.content_html).toBeNull();
    expect(row.rendered_version).toBeNull();
    await flush();
    const page = await get(`/posts/${encodeURIComponent(slug)}`);
    expect(page.body).toContain('<em>edit</em>');
    expect(page.body).not.toContain('version</strong>');
    // An UPDATE that does not touch the Markdown keeps the stored rendering.
    await backfillRenderedPosts(conn());
    await t.sql("UPDATE posts SET title = 'Retitled' WHERE id = $1", [id]);
    [row] = (await rows()).filter((r) => Number(r.id) === id);
    expectRenderedFromContent(row);
  });
});
