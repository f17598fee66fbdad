import { createHash } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { as, createCast, type Cast, type LoggedIn } from './auth-test-helpers';
import { getPage, postForm } from './admin-form-helpers';
import { makeImage, uploadApi } from './media-test-helpers';

// Least privilege in the admin and the authoring API: an author sees their own drafts, trash,
// scheduled posts and uploads only, and no page or error names a post they may not open (the
// dashboard's recent posts, the post list and its search, the media library, the 409 on a media
// delete); editors and admins see everything, as before. Bob's unpublished titles all carry the
// marker BOBSECRET, so "Alice never sees it" is one string check over every answer she gets.

let t: TestApp;
let cast: Cast;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const marker = 'BOBSECRET';
let aliceFile: Buffer;
let bobFile: Buffer;
let bobDraftId: number;
let bobPublishedId: number;

async function createPost(who: LoggedIn, body: Record<string, unknown>): Promise<number> {
  const res = await as(t.app, who)('POST', '/api/posts', body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

beforeAll(async () => {
  t = await startTestApp({ posts: 0 });
  cast = await createCast(t);
  aliceFile = await makeImage('png', 40, 30, 81);
  bobFile = await makeImage('png', 40, 30, 82);
  expect((await uploadApi(t.app, cast.alice, { data: aliceFile, filename: 'alice.png' })).statusCode).toBe(201);
  expect((await uploadApi(t.app, cast.bob, { data: bobFile, filename: `${marker}-upload.png` })).statusCode).toBe(201);
  const uses = `![a](/media/${sha(aliceFile)}.png) ![b](/media/${sha(bobFile)}.png)`;
  bobDraftId = await createPost(cast.bob, { title: `${marker} draft`, content: uses, status: 'draft' });
  const trashed = await createPost(cast.bob, { title: `${marker} trash`, content: uses, status: 'draft' });
  expect((await as(t.app, cast.bob)('DELETE', `/api/posts/${trashed}`)).statusCode).toBe(200);
  await createPost(cast.bob, { title: `${marker} unlisted`, content: 'x', status: 'unlisted' });
  const scheduled = await createPost(cast.bob, { title: `${marker} scheduled`, content: 'x', status: 'draft' });
  await t.sql("UPDATE posts SET scheduled_at = now() + interval '1 day' WHERE id = $1", [scheduled]);
  bobPublishedId = await createPost(cast.bob, { title: 'Bob in public', content: uses, status: 'published' });
  await createPost(cast.alice, { title: 'Alice own draft', content: `![a](/media/${sha(aliceFile)}.png)`, status: 'draft' });
});
afterAll(async () => { await t?.close(); });

function expectNoSecret(res: LightMyRequestResponse, where: string) {
  expect(res.statusCode, where).toBeLessThan(500);
  expect(res.body, where).not.toContain(marker);
}

describe('an author', () => {
  it('sees no other user\'s unpublished title on any admin page or API list', async () => {
    const get = (url: string) => getPage(t.app, cast.alice, url);
    const pages = ['/admin/dashboard', '/admin/media', '/api/media', '/api/posts', `/api/posts/${bobDraftId}`,
      ...['all', 'draft', 'scheduled', 'published', 'unlisted', 'trash'].flatMap((s) => [`/admin/posts?status=${s}`, `/admin/posts?status=${s}&q=SECRET`, `/api/posts?status=${s === 'scheduled' ? 'draft' : s}`])];
    for (const url of pages) expectNoSecret(await get(url), url);
    const dashboard = (await get('/admin/dashboard')).body;
    expect(dashboard).toContain('Alice own draft');
  });

  it('sees only her own uploads in the media library', async () => {
    const list = (await getPage(t.app, cast.alice, '/api/media')).json() as { items: Array<{ sha256: string }>; total: number };
    expect(list.items.map((i) => i.sha256)).toEqual([sha(aliceFile)]);
    expect(list.total).toBe(1);
    const page = (await getPage(t.app, cast.alice, '/admin/media')).body;
    expect(page).toContain(sha(aliceFile));
    expect(page).not.toContain(sha(bobFile));
  });

  it('gets a 409 for her used file that names only posts she may open, and counts the others', async () => {
    const api = await as(t.app, cast.alice)('DELETE', `/api/media/${sha(aliceFile)}`);
    expect(api.statusCode).toBe(409);
    expectNoSecret(api, 'DELETE /api/media');
    const message = api.json().error.message as string;
    expect(message).toContain('"Alice own draft"');
    expect(message).toContain(`#${bobPublishedId} "Bob in public"`);
    expect(message).not.toContain(`#${bobDraftId}`);
    expect(message).toMatch(/2 posts by other users that you cannot open/);
    const form = await postForm(t.app, cast.alice, `/admin/media/${sha(aliceFile)}/delete`);
    expect(form.statusCode).toBe(409);
    expectNoSecret(form, 'POST /admin/media/:sha/delete');
    expect(await t.sql('SELECT 1 FROM media WHERE sha256 = $1', [sha(aliceFile)])).toHaveLength(1);
  });

  it('counts only her own drafts and trash on the dashboard', async () => {
    const body = (await getPage(t.app, cast.alice, '/admin/dashboard')).body;
    const count = (name: string) => Number(new RegExp(`data-testid="count-${name}"><div class="muted">${name}</div><strong>(\\d+)</strong>`).exec(body)?.[1]);
    expect(count('drafts')).toBe(1);
    expect(count('trash')).toBe(0);
    expect(count('published')).toBe(1); // the site's published posts are public
  });
});

describe('editors and admins', () => {
  it('see every post, upload and title, as before', async () => {
    for (const who of [cast.editor, cast.admin]) {
      const dashboard = (await getPage(t.app, who, '/admin/dashboard')).body;
      expect(dashboard).toContain(marker);
      for (const status of ['draft', 'trash', 'scheduled', 'unlisted']) {
        expect((await getPage(t.app, who, `/admin/posts?status=${status}`)).body, status).toContain(marker);
      }
      const media = (await getPage(t.app, who, '/api/media')).json() as { total: number };
      expect(media.total).toBe(2);
      const conflict = await as(t.app, who)('DELETE', `/api/media/${sha(aliceFile)}`);
      expect(conflict.statusCode).toBe(409);
      expect(conflict.json().error.message).toContain(`#${bobDraftId} "${marker} draft"`);
    }
  });
});
