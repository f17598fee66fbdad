import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { createUser, login, type LoggedIn } from './auth-test-helpers';
import { getPage, postForm, waitForSessions } from './admin-form-helpers';

// Post screens: status filter (incl. scheduled) and search, the publish-time field, trash and
// restore, tags created from the post form, and categories with a parent.

let t: TestApp;
let admin: LoggedIn;
let author: LoggedIn;

const post = async (id: string | number) =>
  (await t.sql<{ status: string; scheduled_at: Date | null; title: string }>('SELECT status, scheduled_at, title FROM posts WHERE id = $1', [id]))[0];
const savedId = (location: unknown) => /\/admin\/posts\/(\d+)\/edit/.exec(String(location))![1];
const base = { title: 'x', content: 'body', excerpt: '', status: 'draft', tags: '', action: 'save' };
const rowIds = (html: string) => [...html.matchAll(/data-testid="post-row-(\d+)"/g)].map((m) => m[1]);

beforeAll(async () => {
  t = await startTestApp({ posts: 12 });
  await waitForSessions(t.deps);
  await createUser(t, 'penna', 'author', 'penna-pass-1');
  admin = await login(t.app, 'admin', t.adminPassword);
  author = await login(t.app, 'penna', 'penna-pass-1');
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('publish time', () => {
  it('stores a future time on a draft (scheduled), lists it under "scheduled", and refuses past times and non-drafts', async () => {
    const at = new Date(Date.now() + 3 * 24 * 3600 * 1000);
    at.setUTCSeconds(0, 0);
    const res = await postForm(t.app, author, '/admin/posts', { ...base, title: 'Later post', scheduled_at_iso: at.toISOString() });
    expect(res.statusCode).toBe(303);
    const id = savedId(res.headers.location);
    const row = await post(id);
    expect(row.status).toBe('draft');
    expect(row.scheduled_at!.toISOString()).toBe(at.toISOString());

    // Without the script the datetime-local value is read as UTC.
    const plain = await postForm(t.app, author, '/admin/posts', { ...base, title: 'Later plain', scheduled_at: '2031-05-06T07:08' });
    expect((await post(savedId(plain.headers.location))).scheduled_at!.toISOString()).toBe('2031-05-06T07:08:00.000Z');

    const scheduled = await getPage(t.app, author, '/admin/posts?status=scheduled');
    expect(rowIds(scheduled.body).sort()).toEqual([id, savedId(plain.headers.location)].sort());
    expect(scheduled.body).toContain(at.toISOString());
    const edit = await getPage(t.app, author, `/admin/posts/${id}/edit`);
    expect(edit.body).toContain(`data-utc="${at.toISOString()}"`);

    for (const [fields, message] of [
      [{ scheduled_at_iso: new Date(Date.now() - 60_000).toISOString() }, 'scheduled_at: the publish time must be in the future'],
      [{ scheduled_at: 'next tuesday' }, 'scheduled_at: use a date and time'],
      [{ scheduled_at_iso: at.toISOString(), status: 'published' }, 'a scheduled post stays a draft'],
    ] as Array<[Record<string, string>, string]>) {
      const bad = await postForm(t.app, author, `/admin/posts/${id}`, { ...base, title: 'Changed?', ...fields });
      expect(bad.statusCode, message).toBe(422);
      expect(bad.body).toContain(message);
      expect(bad.body).toContain('value="Changed?"'); // the form keeps the input
    }
    expect((await post(id)).title).toBe('Later post');

    // Clearing the field unschedules; trashing clears the schedule so a restore cannot publish it.
    await postForm(t.app, author, `/admin/posts/${id}`, { ...base, title: 'Later post' });
    expect((await post(id)).scheduled_at).toBeNull();
    await postForm(t.app, author, `/admin/posts/${id}`, { ...base, title: 'Later post', scheduled_at_iso: at.toISOString() });
    expect((await post(id)).scheduled_at).not.toBeNull();
    await postForm(t.app, author, `/admin/posts/${id}/trash`);
    expect(await post(id)).toMatchObject({ status: 'trash', scheduled_at: null });
  });
});

describe('live preview', () => {
  it('serves the editor script and previews with the CSRF token the form carries (sanitized)', async () => {
    const form = await getPage(t.app, author, '/admin/posts/new');
    const src = /<script src="(\/static\/admin\/editor\.[0-9a-f]{8}\.js)" defer><\/script>/.exec(form.body)?.[1];
    expect(src).toBeDefined();
    expect(form.body).toContain('data-preview-target="live-preview"');
    const script = await t.app.inject({ method: 'GET', url: src! });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toMatch(/javascript/);
    expect(script.body).toContain("fetch('/api/preview'");
    const token = /name="_csrf" value="([^"]+)"/.exec(form.body)![1];
    const preview = await t.app.inject({
      method: 'POST', url: '/api/preview', headers: { cookie: author.cookie, 'x-csrf-token': token },
      payload: { content: '# Hi\n\n*there* <img src=x onerror=alert(1)>' },
    });
    expect(preview.statusCode).toBe(200);
    const html = (preview.json() as { html: string }).html;
    expect(html).toContain('<em>there</em>');
    expect(html).not.toContain('onerror');
  });
});

describe('trash and restore, filter and search', () => {
  it('moves a published post to the trash and back, and filters by status', async () => {
    const res = await postForm(t.app, author, '/admin/posts', { ...base, title: 'Trash me', status: 'published' });
    const id = savedId(res.headers.location);
    expect((await t.app.inject({ method: 'GET', url: '/posts/trash-me' })).statusCode).toBe(200);
    expect((await postForm(t.app, author, `/admin/posts/${id}/trash`)).headers.location).toBe('/admin/posts?status=trash');
    expect((await post(id)).status).toBe('trash');
    expect((await t.app.inject({ method: 'GET', url: '/posts/trash-me' })).statusCode).toBe(404);
    expect(rowIds((await getPage(t.app, author, '/admin/posts?status=trash')).body)).toContain(id);
    expect(rowIds((await getPage(t.app, author, '/admin/posts')).body)).not.toContain(id);
    await postForm(t.app, author, `/admin/posts/${id}/restore`);
    expect((await post(id)).status).toBe('draft');
    expect(rowIds((await getPage(t.app, author, '/admin/posts?status=draft')).body)).toContain(id);
    expect(rowIds((await getPage(t.app, author, '/admin/posts?status=published')).body)).not.toContain(id);
  });

  it('searches title and content (case-insensitive, % and _ literal), within the role\'s posts', async () => {
    const a = savedId((await postForm(t.app, author, '/admin/posts', { ...base, title: 'Zebra crossing', content: 'stripes' })).headers.location);
    const b = savedId((await postForm(t.app, author, '/admin/posts', { ...base, title: 'Plain', content: 'a ZEBRA in the text, 100% sure' })).headers.location);
    const c = savedId((await postForm(t.app, admin, '/admin/posts', { ...base, title: 'Admin zebra' })).headers.location);
    expect(rowIds((await getPage(t.app, admin, '/admin/posts?q=zebra')).body).sort()).toEqual([a, b, c].sort());
    expect(rowIds((await getPage(t.app, author, '/admin/posts?q=zebra')).body).sort()).toEqual([a, b].sort()); // not the admin's draft
    expect(rowIds((await getPage(t.app, admin, '/admin/posts?q=100%25')).body)).toEqual([b]);
    expect(rowIds((await getPage(t.app, admin, '/admin/posts?q=_ebra')).body)).toEqual([]);
    const page = await getPage(t.app, admin, '/admin/posts?q=zebra&status=draft');
    expect(page.body).toContain('value="zebra"');
    expect(page.body).toContain('3 posts');
  });
});

describe('tags and categories from the admin', () => {
  it('creates the tags typed in the post form that do not exist yet, and reuses existing ones', async () => {
    const [existing] = await t.sql<{ id: string; slug: string }>('SELECT id, slug FROM tags ORDER BY id LIMIT 1');
    const res = await postForm(t.app, author, '/admin/posts', { ...base, title: 'Tagged', tags: `${existing.slug}, Brand New Tag, 新しいタグ` });
    expect(res.statusCode).toBe(303);
    const id = savedId(res.headers.location);
    const tags = await t.sql<{ name: string; slug: string }>('SELECT t.name, t.slug FROM post_tags pt JOIN tags t ON t.id = pt.tag_id WHERE pt.post_id = $1 ORDER BY t.id', [id]);
    expect(tags.map((x) => x.slug)).toEqual([existing.slug, 'brand-new-tag', '新しいタグ']);
    expect(tags[1].name).toBe('Brand New Tag');
    // Typing the name of the tag again (not its slug) reuses it.
    const again = await postForm(t.app, author, '/admin/posts', { ...base, title: 'Tagged again', tags: 'Brand New Tag' });
    expect(again.statusCode).toBe(303);
    expect((await t.sql("SELECT count(*)::int AS n FROM tags WHERE slug LIKE 'brand-new-tag%'"))[0].n).toBe(1);
    const tooLong = await postForm(t.app, author, '/admin/posts', { ...base, title: 'Long tag', tags: 'x'.repeat(101) });
    expect(tooLong.statusCode).toBe(422);
    expect(tooLong.body).toContain('tags: each tag is at most 100 characters');
    expect((await t.sql("SELECT count(*)::int AS n FROM posts WHERE title = 'Long tag'"))[0].n).toBe(0);
  });

  it('manages a category hierarchy: parent on create, edit, cycles refused', async () => {
    const editor = await login(t.app, 'admin', t.adminPassword);
    expect((await postForm(t.app, editor, '/admin/categories', { name: 'Parent cat', parent_id: '' })).statusCode).toBe(303);
    const [{ id: parentId }] = await t.sql<{ id: string }>("SELECT id FROM categories WHERE name = 'Parent cat'");
    expect((await postForm(t.app, editor, '/admin/categories', { name: 'Child cat', parent_id: parentId, description: 'below' })).statusCode).toBe(303);
    const [{ id: childId, parent_id }] = await t.sql<{ id: string; parent_id: string }>("SELECT id, parent_id FROM categories WHERE name = 'Child cat'");
    expect(parent_id).toBe(parentId);
    const list = await getPage(t.app, editor, '/admin/categories');
    expect(list.body).toMatch(new RegExp(`term-row-${parentId}"[\\s\\S]*term-row-${childId}">\\s*<td class="depth-1">└ Child cat`));

    const edit = await getPage(t.app, editor, `/admin/categories/${parentId}/edit`);
    expect(edit.statusCode).toBe(200);
    expect(edit.body).not.toContain(`<option value="${childId}"`); // its own descendants are not offered
    const cycle = await postForm(t.app, editor, `/admin/categories/${parentId}`, { name: 'Parent cat', slug: 'parent-cat', parent_id: childId });
    expect(cycle.statusCode).toBe(422);
    expect(cycle.body).toContain('parentId: a category cannot be its own ancestor');
    const rename = await postForm(t.app, editor, `/admin/categories/${childId}`, { name: 'Renamed child', slug: 'renamed-child', parent_id: '' });
    expect(rename.statusCode).toBe(303);
    expect((await t.sql('SELECT name, slug, parent_id FROM categories WHERE id = $1', [childId]))[0]).toEqual({ name: 'Renamed child', slug: 'renamed-child', parent_id: null });
    const tagEdit = await postForm(t.app, editor, `/admin/tags/${(await t.sql<{ id: string }>("SELECT id FROM tags WHERE slug = 'brand-new-tag'"))[0].id}`, { name: 'Brand tag', slug: 'brand-tag' });
    expect(tagEdit.statusCode).toBe(303);
    expect((await t.sql("SELECT count(*)::int AS n FROM tags WHERE slug = 'brand-tag' AND name = 'Brand tag'"))[0].n).toBe(1);
  });
});
