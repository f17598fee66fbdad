import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { as, createCast, type LoggedIn } from './auth-test-helpers';
import { getPage, postForm } from './admin-form-helpers';
import { makeImage, multipart } from './media-test-helpers';

// /admin/media, the server-rendered library, on real PostgreSQL and Redis: the multipart upload
// form carries its CSRF token as the `_csrf` field, refusals are shown on the page with the reason,
// and each role sees only the buttons it may use.

let t: TestApp;
let editor: LoggedIn;
let alice: LoggedIn;
let bob: LoggedIn;
let sam: LoggedIn;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function uploadForm(who: LoggedIn, file: { data: Buffer; filename: string }, csrf: string | null = who.csrf) {
  const body = multipart(file, csrf === null ? {} : { _csrf: csrf });
  return t.app.inject({ method: 'POST', url: '/admin/media', headers: { ...body.headers, cookie: who.cookie }, payload: body.payload });
}

beforeAll(async () => {
  t = await startTestApp({ posts: 2 });
  ({ editor, alice, bob, sam } = await createCast(t));
});

afterAll(async () => {
  await t?.close();
});

describe('/admin/media', () => {
  it('uploads through the form (the _csrf field) and lists the file with its URL and Markdown snippet', async () => {
    const png = await makeImage('png', 300, 200, 31);
    const res = await uploadForm(alice, { data: png, filename: 'Sunset <b>.png' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(`/admin/media?uploaded=${sha(png)}`);
    const page = await getPage(t.app, alice, res.headers.location as string);
    expect(page.statusCode).toBe(200);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.body).toContain('Uploaded. Copy the Markdown below into a post.');
    expect(page.body).toContain(`value="/media/${sha(png)}.png"`);
    expect(page.body).toContain(`value="![Sunset &lt;b&gt;](/media/${sha(png)}.png)"`); // escaped, never raw HTML
    expect(page.body).not.toContain('Sunset <b>');
    expect(page.body).toContain('enctype="multipart/form-data"');
    expect(page.body).toContain(`action="/admin/media/${sha(png)}/delete"`);
  });

  it('refuses an upload without the CSRF field (403) or from a subscriber (403), storing nothing', async () => {
    const png = await makeImage('png', 20, 20, 32);
    expect((await uploadForm(alice, { data: png, filename: 'x.png' }, null)).statusCode).toBe(403);
    expect((await uploadForm(alice, { data: png, filename: 'x.png' }, 'wrong-token')).statusCode).toBe(403);
    expect((await uploadForm(sam, { data: png, filename: 'x.png' })).statusCode).toBe(403);
    expect((await getPage(t.app, sam, '/admin/media')).statusCode).toBe(403);
    expect(await t.sql('SELECT 1 FROM media WHERE sha256 = $1', [sha(png)])).toHaveLength(0);
  });

  it('shows why a file was refused: not an image (415)', async () => {
    const res = await uploadForm(alice, { data: Buffer.from('%PDF-1.4 not an image at all'), filename: 'doc.gif' });
    expect(res.statusCode).toBe(415);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).toContain('Only JPEG, PNG, WebP and GIF images are accepted; this file&#39;s content is application/pdf.');
  });

  it('shows delete buttons by role: an author only on own files, an editor on all; a used file is refused with the post named', async () => {
    const mine = await makeImage('gif', 30, 30, 33);
    const bobs = await makeImage('gif', 30, 30, 34);
    await uploadForm(alice, { data: mine, filename: 'mine.gif' });
    await uploadForm(bob, { data: bobs, filename: 'bobs.gif' });
    const alicePage = (await getPage(t.app, alice, '/admin/media')).body;
    expect(alicePage).toContain(`action="/admin/media/${sha(mine)}/delete"`);
    expect(alicePage).not.toContain(`action="/admin/media/${sha(bobs)}/delete"`);
    expect((await getPage(t.app, editor, '/admin/media')).body).toContain(`action="/admin/media/${sha(bobs)}/delete"`);

    const forbidden = await postForm(t.app, alice, `/admin/media/${sha(bobs)}/delete`);
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.body).toContain('Only editors and admins delete files other users uploaded.');

    const post = await as(t.app, bob)('POST', '/api/posts', { title: 'Bob uses it', content: `![b](/media/${sha(bobs)}.gif)`, status: 'draft' });
    expect(post.statusCode).toBe(201);
    const refused = await postForm(t.app, editor, `/admin/media/${sha(bobs)}/delete`);
    expect(refused.statusCode).toBe(409);
    expect(refused.body).toContain(`The file is used by post #${post.json().id} &quot;Bob uses it&quot;; remove it from them first.`);
    expect(await t.sql('SELECT 1 FROM media WHERE sha256 = $1', [sha(bobs)])).toHaveLength(1);

    const deleted = await postForm(t.app, alice, `/admin/media/${sha(mine)}/delete`);
    expect(deleted.statusCode).toBe(303);
    expect(deleted.headers.location).toBe('/admin/media?deleted=1');
    expect(await t.sql('SELECT 1 FROM media WHERE sha256 = $1', [sha(mine)])).toHaveLength(0);
    expect((await getPage(t.app, alice, '/admin/media')).body).not.toContain(sha(mine));
  });
});
