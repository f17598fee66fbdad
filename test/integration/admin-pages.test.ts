import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { safeAdminRedirect } from '../../app/routes/admin/safe-redirect';
import { startTestApp, type TestApp } from '../helpers/app';
import { createUser, setCookie } from './auth-test-helpers';
import { waitForSessions } from './admin-form-helpers';

// The admin pages: login form with a double-submit CSRF token, no open redirect, redirect to the
// login form when not logged in, role checks, CSRF on every POST, no-store, and the post editor.

let t: TestApp;

interface FormSession { cookie: string; csrf: string }

const form = (fields: Record<string, string | string[]>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) p.append(k, x);
  return p.toString();
};
const formHeaders = (cookie?: string) => ({ 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) });

async function loginForm(app: FastifyInstance, redirect = '') {
  const res = await app.inject({ method: 'GET', url: `/admin/login${redirect ? `?redirect=${encodeURIComponent(redirect)}` : ''}` });
  const token = setCookie(res, 'aidiary_login_csrf')!.value;
  const hidden = /name="_csrf" value="([^"]+)"/.exec(res.body)![1];
  const redirectField = /name="redirect" value="([^"]*)"/.exec(res.body)![1];
  return { res, token, hidden, redirectField };
}

async function formLogin(app: FastifyInstance, username: string, password: string): Promise<FormSession> {
  const f = await loginForm(app);
  const res = await app.inject({
    method: 'POST', url: '/admin/login', headers: formHeaders(`aidiary_login_csrf=${f.token}`),
    payload: form({ _csrf: f.hidden, username, password, redirect: '/admin/dashboard' }),
  });
  if (res.statusCode !== 303) throw new Error(`form login failed: ${res.statusCode}`);
  const cookie = `aidiary_session=${setCookie(res, 'aidiary_session')!.value}`;
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } });
  const csrf = (me.json() as { csrfToken: string }).csrfToken;
  return { cookie, csrf };
}

let admin: FormSession;
let alice: FormSession;
let sam: FormSession;

beforeAll(async () => {
  t = await startTestApp({ posts: 15 });
  await waitForSessions(t.deps);
  await createUser(t, 'alice', 'author', 'alice-pass-1');
  await createUser(t, 'sam', 'subscriber', 'sam-pass-1');
  admin = await formLogin(t.app, 'admin', t.adminPassword);
  alice = await formLogin(t.app, 'alice', 'alice-pass-1');
  sam = await formLogin(t.app, 'sam', 'sam-pass-1');
});

afterAll(async () => {
  await t?.close();
});

describe('admin login form', () => {
  it('sets only the double-submit cookie on the form and requires it to match', async () => {
    const f = await loginForm(t.app);
    expect(f.res.statusCode).toBe(200);
    expect(f.token).toBe(f.hidden);
    const loginCookie = setCookie(f.res, 'aidiary_login_csrf')!.header;
    expect(loginCookie).toMatch(/HttpOnly/);
    expect(loginCookie).toMatch(/SameSite=Strict/);
    expect(loginCookie).toMatch(/Path=\/admin\/login/);
    expect(setCookie(f.res, 'aidiary_session')).toBeNull();
    expect(f.res.headers['cache-control']).toBe('no-store');

    const noCookie = await t.app.inject({ method: 'POST', url: '/admin/login', headers: formHeaders(), payload: form({ _csrf: f.hidden, username: 'admin', password: t.adminPassword }) });
    expect(noCookie.statusCode).toBe(403);
    expect(setCookie(noCookie, 'aidiary_session')).toBeNull();
    const mismatch = await t.app.inject({ method: 'POST', url: '/admin/login', headers: formHeaders(`aidiary_login_csrf=${f.token}`), payload: form({ _csrf: 'forged', username: 'admin', password: t.adminPassword }) });
    expect(mismatch.statusCode).toBe(403);
    const wrongPw = await t.app.inject({ method: 'POST', url: '/admin/login', headers: formHeaders(`aidiary_login_csrf=${f.token}`), payload: form({ _csrf: f.hidden, username: 'admin', password: 'wrong' }) });
    expect(wrongPw.statusCode).toBe(401);
    expect(wrongPw.body).toContain('Wrong username or password');
    expect(setCookie(wrongPw, 'aidiary_session')).toBeNull();
  });

  it('follows ?redirect= only to same-site /admin paths (no open redirect)', async () => {
    const attempts = ['https://evil.example/', '//evil.example/admin', '/\\evil.example', '/admin@evil.example', 'javascript:alert(1)',
      '/admin/../../evil', '/posts/x', ' /admin', '/admin\r\nSet-Cookie: x=y', 'http://localhost/admin'];
    for (const target of attempts) {
      const f = await loginForm(t.app, target);
      expect(f.redirectField, target).toBe('/admin/dashboard');
      const res = await t.app.inject({
        method: 'POST', url: '/admin/login', headers: formHeaders(`aidiary_login_csrf=${f.token}`),
        payload: form({ _csrf: f.hidden, username: 'alice', password: 'alice-pass-1', redirect: target }),
      });
      expect(res.statusCode, target).toBe(303);
      expect(res.headers.location, target).toBe('/admin/dashboard');
    }
    const good = await loginForm(t.app, '/admin/posts?status=draft');
    expect(good.redirectField).toBe('/admin/posts?status=draft');
    const res = await t.app.inject({
      method: 'POST', url: '/admin/login', headers: formHeaders(`aidiary_login_csrf=${good.token}`),
      payload: form({ _csrf: good.hidden, username: 'alice', password: 'alice-pass-1', redirect: good.redirectField }),
    });
    expect(res.headers.location).toBe('/admin/posts?status=draft');
    expect(safeAdminRedirect('/admin/%2e%2e/x')).toBe('/admin/dashboard');
  });
});

describe('admin access', () => {
  const pages = ['/admin/dashboard', '/admin/posts', '/admin/posts?status=draft', '/admin/posts/new', '/admin/categories', '/admin/tags'];

  it('redirects anonymous visitors to the login form, refuses subscribers (403), serves authors, never cacheable', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/admin' })).headers.location).toBe('/admin/dashboard');
    for (const url of pages) {
      const anon = await t.app.inject({ method: 'GET', url });
      expect(anon.statusCode, url).toBe(303);
      expect(anon.headers.location).toBe(`/admin/login?redirect=${encodeURIComponent(url)}`);
      expect(anon.headers['set-cookie']).toBeUndefined();
      const sub = await t.app.inject({ method: 'GET', url, headers: { cookie: sam.cookie } });
      expect(sub.statusCode, url).toBe(403);
      const ok = await t.app.inject({ method: 'GET', url, headers: { cookie: alice.cookie } });
      expect(ok.statusCode, url).toBe(200);
      expect(ok.headers['cache-control']).toBe('no-store');
      expect(ok.headers['content-type']).toMatch(/text\/html/);
    }
    const dash = await t.app.inject({ method: 'GET', url: '/admin/dashboard', headers: { cookie: admin.cookie } });
    expect(dash.body).toContain('app-0');
    expect(dash.body).toMatch(/DB node: <strong>pg-0/);
  });

  it('refuses every admin POST without the CSRF token (403) and anonymous POSTs (401)', async () => {
    const [{ id: postId }] = await t.sql<{ id: string }>("SELECT id FROM posts WHERE status = 'published' ORDER BY id LIMIT 1");
    const [{ id: catId }] = await t.sql<{ id: string }>('SELECT id FROM categories ORDER BY id LIMIT 1');
    const [{ id: tagId }] = await t.sql<{ id: string }>('SELECT id FROM tags ORDER BY id LIMIT 1');
    const posts: Array<[string, Record<string, string>]> = [
      ['/admin/logout', {}],
      ['/admin/posts', { title: 'x', content: 'x', status: 'draft', action: 'save' }],
      [`/admin/posts/${postId}`, { title: 'x', content: 'x', status: 'draft', action: 'save' }],
      [`/admin/posts/${postId}/trash`, {}],
      [`/admin/posts/${postId}/restore`, {}],
      ['/admin/categories', { name: 'x' }],
      [`/admin/categories/${catId}/delete`, {}],
      ['/admin/tags', { name: 'x' }],
      [`/admin/tags/${tagId}/delete`, {}],
    ];
    const snapshot = async () => JSON.stringify(await t.sql('SELECT (SELECT count(*) FROM posts) p, (SELECT count(*) FROM categories) c, (SELECT count(*) FROM tags) t, (SELECT status FROM posts WHERE id = $1) s', [postId]));
    const before = await snapshot();
    for (const [url, fields] of posts) {
      const none = await t.app.inject({ method: 'POST', url, headers: formHeaders(admin.cookie), payload: form(fields) });
      expect(none.statusCode, url).toBe(403);
      const forged = await t.app.inject({ method: 'POST', url, headers: formHeaders(admin.cookie), payload: form({ ...fields, _csrf: alice.csrf }) });
      expect(forged.statusCode, url).toBe(403);
      if (url !== '/admin/logout') {
        const anon = await t.app.inject({ method: 'POST', url, headers: formHeaders(), payload: form(fields) });
        // A form posted without a session is refused outright (nothing half-applied), with a message.
        expect(anon.statusCode, url).toBe(401);
        expect(anon.body).toContain('log in');
      }
    }
    expect(await snapshot()).toBe(before);
    // Still logged in after the refused logout.
    expect((await t.app.inject({ method: 'GET', url: '/admin/dashboard', headers: { cookie: admin.cookie } })).statusCode).toBe(200);
  });

  it('keeps authors away from other people\'s posts and from category management', async () => {
    const [{ id }] = await t.sql<{ id: string }>("SELECT p.id FROM posts p JOIN users u ON u.id = p.author_id WHERE u.username <> 'alice' LIMIT 1");
    expect((await t.app.inject({ method: 'GET', url: `/admin/posts/${id}/edit`, headers: { cookie: alice.cookie } })).statusCode).toBe(403);
    const edit = await t.app.inject({ method: 'POST', url: `/admin/posts/${id}`, headers: formHeaders(alice.cookie), payload: form({ _csrf: alice.csrf, title: 'mine now', content: '', status: 'draft', action: 'save' }) });
    expect(edit.statusCode).toBe(403);
    const trash = await t.app.inject({ method: 'POST', url: `/admin/posts/${id}/trash`, headers: formHeaders(alice.cookie), payload: form({ _csrf: alice.csrf }) });
    expect(trash.statusCode).toBe(403);
    const cat = await t.app.inject({ method: 'POST', url: '/admin/categories', headers: formHeaders(alice.cookie), payload: form({ _csrf: alice.csrf, name: 'alice cat' }) });
    expect(cat.statusCode).toBe(403);
    expect((await t.sql("SELECT count(*)::int AS n FROM categories WHERE name = 'alice cat'"))[0].n).toBe(0);
  });
});

describe('post editor', () => {
  it('previews sanitized Markdown without saving, then creates, edits, trashes and restores', async () => {
    const [{ id: catId }] = await t.sql<{ id: string }>('SELECT id FROM categories ORDER BY id LIMIT 1');
    const fields = { _csrf: alice.csrf, title: 'フォームからの投稿', content: '**太字** <script>alert(1)</script>', excerpt: '', status: 'published', categories: [String(catId)], tags: '' };
    const preview = await t.app.inject({ method: 'POST', url: '/admin/posts', headers: formHeaders(alice.cookie), payload: form({ ...fields, action: 'preview' }) });
    expect(preview.statusCode).toBe(200);
    expect(preview.body).toContain('<strong>太字</strong>');
    expect(preview.body).not.toContain('<script>alert(1)</script>');
    expect((await t.sql("SELECT count(*)::int AS n FROM posts WHERE title = 'フォームからの投稿'"))[0].n).toBe(0);

    const save = await t.app.inject({ method: 'POST', url: '/admin/posts', headers: formHeaders(alice.cookie), payload: form({ ...fields, action: 'save' }) });
    expect(save.statusCode).toBe(303);
    const id = /\/admin\/posts\/(\d+)\/edit/.exec(save.headers.location as string)![1];
    const [row] = await t.sql('SELECT slug, status, published_at FROM posts WHERE id = $1', [id]);
    expect(row).toMatchObject({ slug: 'フォームからの投稿', status: 'published' });
    expect(row.published_at).not.toBeNull();
    expect((await t.sql('SELECT count(*)::int AS n FROM post_categories WHERE post_id = $1', [id]))[0].n).toBe(1);

    const editPage = await t.app.inject({ method: 'GET', url: `/admin/posts/${id}/edit`, headers: { cookie: alice.cookie } });
    expect(editPage.statusCode).toBe(200);
    expect(editPage.body).toContain('&lt;script&gt;'); // the textarea shows the source escaped

    const invalid = await t.app.inject({ method: 'POST', url: `/admin/posts/${id}`, headers: formHeaders(alice.cookie), payload: form({ ...fields, title: '', action: 'save' }) });
    expect(invalid.statusCode).toBe(422);
    expect(invalid.body).toContain('title:');

    const update = await t.app.inject({ method: 'POST', url: `/admin/posts/${id}`, headers: formHeaders(alice.cookie), payload: form({ ...fields, title: 'Edited in the form', action: 'save' }) });
    expect(update.statusCode).toBe(303);
    expect((await t.sql('SELECT title FROM posts WHERE id = $1', [id]))[0].title).toBe('Edited in the form');

    const trash = await t.app.inject({ method: 'POST', url: `/admin/posts/${id}/trash`, headers: formHeaders(alice.cookie), payload: form({ _csrf: alice.csrf }) });
    expect(trash.statusCode).toBe(303);
    expect((await t.sql('SELECT status FROM posts WHERE id = $1', [id]))[0].status).toBe('trash');
    const trashList = await t.app.inject({ method: 'GET', url: '/admin/posts?status=trash', headers: { cookie: alice.cookie } });
    expect(trashList.body).toContain('Edited in the form');
    const allList = await t.app.inject({ method: 'GET', url: '/admin/posts?status=all', headers: { cookie: alice.cookie } });
    expect(allList.body).not.toContain('Edited in the form');
    const restore = await t.app.inject({ method: 'POST', url: `/admin/posts/${id}/restore`, headers: formHeaders(alice.cookie), payload: form({ _csrf: alice.csrf }) });
    expect(restore.statusCode).toBe(303);
    expect((await t.sql('SELECT status FROM posts WHERE id = $1', [id]))[0].status).toBe('draft');
  });

  it('escapes titles in the admin lists (XSS inert) and manages tags', async () => {
    const add = await t.app.inject({ method: 'POST', url: '/admin/tags', headers: formHeaders(admin.cookie), payload: form({ _csrf: admin.csrf, name: '<img src=x onerror=alert(1)>' }) });
    expect(add.statusCode).toBe(303);
    const list = await t.app.inject({ method: 'GET', url: '/admin/tags', headers: { cookie: admin.cookie } });
    expect(list.body).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(list.body).not.toContain('<img src=x');
    const [{ id }] = await t.sql<{ id: string }>("SELECT id FROM tags WHERE name = '<img src=x onerror=alert(1)>'");
    const del = await t.app.inject({ method: 'POST', url: `/admin/tags/${id}/delete`, headers: formHeaders(admin.cookie), payload: form({ _csrf: admin.csrf }) });
    expect(del.statusCode).toBe(303);
    expect((await t.sql('SELECT count(*)::int AS n FROM tags WHERE id = $1', [id]))[0].n).toBe(0);
  });

  it('logs out through the form and the session is gone', async () => {
    const me = await formLogin(t.app, 'alice', 'alice-pass-1');
    const out = await t.app.inject({ method: 'POST', url: '/admin/logout', headers: formHeaders(me.cookie), payload: form({ _csrf: me.csrf }) });
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/admin/login');
    const after = await t.app.inject({ method: 'GET', url: '/admin/dashboard', headers: { cookie: me.cookie } });
    expect(after.statusCode).toBe(303);
  });
});
