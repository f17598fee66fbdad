import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { createUser, login, loginAfterRefusedAttempt, setCookie, type LoggedIn } from './auth-test-helpers';
import { getPage, postForm, waitForSessions } from './admin-form-helpers';

// The own account: profile (display name, bio, e-mail; not the role) and password change
// (current password required; new session id; every other session of the user revoked).

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ posts: 2 });
  await waitForSessions(t.deps);
  await createUser(t, 'writer', 'author', 'writer-pass-1');
  await createUser(t, 'reader', 'subscriber', 'reader-pass-1');
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('own profile', () => {
  it('edits display name, bio and e-mail; refuses an invalid e-mail (422) and a role field', async () => {
    const me = await login(t.app, 'writer', 'writer-pass-1');
    const page = await getPage(t.app, me, '/admin/profile');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('data-testid="profile-form"');
    const bad = await postForm(t.app, me, '/admin/profile/update', { display_name: 'W', email: 'not-an-address', bio: '' });
    expect(bad.statusCode).toBe(422);
    expect(bad.body).toContain('email: must be an e-mail address');
    const ok = await postForm(t.app, me, '/admin/profile/update', { display_name: '書き手', email: 'writer@example.invalid', bio: 'I <b>write</b>.', role: 'admin' });
    expect(ok.statusCode).toBe(303);
    const [row] = await t.sql("SELECT display_name, email, bio, role FROM users WHERE username = 'writer'");
    expect(row).toEqual({ display_name: '書き手', email: 'writer@example.invalid', bio: 'I <b>write</b>.', role: 'author' });
    const again = await getPage(t.app, me, '/admin/profile?saved=1');
    expect(again.body).toContain('I &lt;b&gt;write&lt;/b&gt;.');
    expect(again.body).toContain('Profile saved.');
  });

  it('lets a subscriber reach only the own profile and password pages (login lands there)', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/admin/login' });
    const token = setCookie(res, 'aidiary_login_csrf')!.value;
    const loginRes = await t.app.inject({
      method: 'POST', url: '/admin/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `aidiary_login_csrf=${token}` },
      payload: new URLSearchParams({ _csrf: token, username: 'reader', password: 'reader-pass-1', redirect: '/admin/dashboard' }).toString(),
    });
    expect(loginRes.statusCode).toBe(303);
    expect(loginRes.headers.location).toBe('/admin/profile');
    const reader = await login(t.app, 'reader', 'reader-pass-1');
    expect((await getPage(t.app, reader, '/admin/profile')).statusCode).toBe(200);
    expect((await getPage(t.app, reader, '/admin/change-password')).statusCode).toBe(200);
    expect((await getPage(t.app, reader, '/admin/dashboard')).statusCode).toBe(403);
  });
});

describe('password change', () => {
  it('needs the current password and a valid new one; nothing changes on a refusal', async () => {
    const me = await login(t.app, 'writer', 'writer-pass-1');
    const [{ password_hash: before }] = await t.sql("SELECT password_hash FROM users WHERE username = 'writer'");
    const cases: Array<[Record<string, string>, string]> = [
      [{ current_password: 'wrong-pass-1', new_password: 'fresh-pass-2', new_password_confirm: 'fresh-pass-2' }, 'current_password: wrong password'],
      [{ current_password: 'writer-pass-1', new_password: 'short1', new_password_confirm: 'short1' }, 'new_password: at least 8 characters'],
      [{ current_password: 'writer-pass-1', new_password: 'fresh-pass-2', new_password_confirm: 'fresh-pass-3' }, 'differ'],
      [{ current_password: '', new_password: 'fresh-pass-2', new_password_confirm: 'fresh-pass-2' }, 'current_password: enter'],
    ];
    for (const [fields, message] of cases) {
      const res = await postForm(t.app, me, '/admin/change-password', fields);
      expect(res.statusCode, message).toBe(422);
      expect(res.body).toContain(message);
    }
    expect((await t.sql("SELECT password_hash FROM users WHERE username = 'writer'"))[0].password_hash).toBe(before);
    expect((await getPage(t.app, me, '/admin/profile')).statusCode).toBe(200); // still logged in
  });

  it('regenerates the session id, revokes the user\'s other sessions and keeps other users\' sessions', async () => {
    const me = await login(t.app, 'writer', 'writer-pass-1');
    const otherDevice = await login(t.app, 'writer', 'writer-pass-1');
    const someoneElse = await login(t.app, 'reader', 'reader-pass-1');
    const res = await postForm(t.app, me, '/admin/change-password', { current_password: 'writer-pass-1', new_password: 'fresh-pass-2', new_password_confirm: 'fresh-pass-2' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/admin/profile?password=1');
    const fresh = setCookie(res, 'aidiary_session');
    expect(fresh).not.toBeNull();
    expect(fresh!.value).not.toBe(me.sessionId);
    expect(fresh!.header).toMatch(/HttpOnly/);

    // The old id and the other device are logged out; the new cookie works with a new CSRF token.
    expect((await getPage(t.app, me, '/admin/profile')).statusCode).toBe(303);
    expect((await getPage(t.app, otherDevice, '/admin/profile')).statusCode).toBe(303);
    const newSession: LoggedIn = { ...me, cookie: `aidiary_session=${fresh!.value}`, sessionId: fresh!.value };
    const page = await getPage(t.app, newSession, '/admin/profile?password=1');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Password changed');
    const newCsrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1];
    expect(newCsrf).not.toBe(me.csrf);
    expect((await postForm(t.app, newSession, '/admin/profile/update', { display_name: 'W', email: 'writer@example.invalid', bio: '' })).statusCode).toBe(403); // old token
    expect((await postForm(t.app, { ...newSession, csrf: newCsrf }, '/admin/profile/update', { display_name: 'W', email: 'writer@example.invalid', bio: '' })).statusCode).toBe(303);
    expect((await getPage(t.app, someoneElse, '/admin/profile')).statusCode).toBe(200);

    // Only the new password logs in.
    expect((await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'writer', password: 'writer-pass-1' } })).statusCode).toBe(401);
    await loginAfterRefusedAttempt(t.app, 'writer', 'fresh-pass-2');
  });
});
