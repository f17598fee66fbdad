import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { createUser, login, loginAfterRefusedAttempt, type LoggedIn } from './auth-test-helpers';
import { getPage, postForm, waitForSessions } from './admin-form-helpers';

// /admin/users: create (validation, duplicates), role change, disable, delete, and the rule that
// at least one active admin remains; a changed account loses its sessions at once.

let t: TestApp;
let admin: LoggedIn;

const userRow = async (username: string) =>
  (await t.sql<{ id: string; role: string; disabled_at: Date | null }>('SELECT id, role, disabled_at FROM users WHERE username = $1', [username]))[0];

beforeAll(async () => {
  t = await startTestApp({ posts: 4 });
  await waitForSessions(t.deps);
  admin = await login(t.app, 'admin', t.adminPassword);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('admin users', () => {
  it('creates a user from the form, refusing bad fields (422) and taken names (409) without losing the input', async () => {
    const good = { username: 'newbie', email: 'newbie@example.invalid', display_name: 'New Bie', role: 'author', password: 'secret123', password_confirm: 'secret123' };
    const weak = await postForm(t.app, admin, '/admin/users/create', { ...good, password: 'short', password_confirm: 'short' });
    expect(weak.statusCode).toBe(422);
    expect(weak.body).toContain('password: at least 8 characters');
    expect(weak.body).toContain('value="newbie@example.invalid"'); // the form keeps what was typed
    const noDigit = await postForm(t.app, admin, '/admin/users/create', { ...good, password: 'onlyletters', password_confirm: 'onlyletters' });
    expect(noDigit.statusCode).toBe(422);
    const mismatch = await postForm(t.app, admin, '/admin/users/create', { ...good, password_confirm: 'secret124' });
    expect(mismatch.statusCode).toBe(422);
    const badRole = await postForm(t.app, admin, '/admin/users/create', { ...good, role: 'contributor' });
    expect(badRole.statusCode).toBe(422);
    expect(await userRow('newbie')).toBeUndefined();

    const created = await postForm(t.app, admin, '/admin/users/create', good);
    expect(created.statusCode).toBe(303);
    expect((await userRow('newbie')).role).toBe('author');
    const dup = await postForm(t.app, admin, '/admin/users/create', { ...good, email: 'other@example.invalid' });
    expect(dup.statusCode).toBe(409);
    expect(dup.body).toContain('username: already used');
    const dupMail = await postForm(t.app, admin, '/admin/users/create', { ...good, username: 'newbie2' });
    expect(dupMail.statusCode).toBe(409);
    expect(dupMail.body).toContain('email: already used');

    const list = await getPage(t.app, admin, '/admin/users?role=author');
    expect(list.body).toContain('data-testid="user-row-newbie"');
    expect(list.body).not.toContain('data-testid="user-row-admin"');
    // The new account works.
    await login(t.app, 'newbie', 'secret123');
  });

  it('changes a role and ends the user\'s sessions at once (the session kept the old role)', async () => {
    const id = await createUser(t, 'promo', 'author', 'promo-pass-1');
    const session = await login(t.app, 'promo', 'promo-pass-1');
    expect((await getPage(t.app, session, '/admin/dashboard')).statusCode).toBe(200);
    const res = await postForm(t.app, admin, `/admin/users/${id}/update`, { email: 'promo@example.invalid', display_name: 'Promo', role: 'subscriber' });
    expect(res.statusCode).toBe(303);
    expect((await userRow('promo')).role).toBe('subscriber');
    const after = await getPage(t.app, session, '/admin/dashboard');
    expect(after.statusCode).toBe(303); // logged out, back to the login form
    expect(after.headers.location).toMatch(/^\/admin\/login/);
  });

  it('disables a user: no login, sessions gone, posts kept; re-enabling restores the login', async () => {
    const id = await createUser(t, 'gone', 'author', 'gone-pass-1');
    const session = await login(t.app, 'gone', 'gone-pass-1');
    await t.sql("INSERT INTO posts (title, slug, author_id) VALUES ('by gone', 'by-gone', $1)", [id]);
    const res = await postForm(t.app, admin, `/admin/users/${id}/update`, { email: 'gone@example.invalid', display_name: 'Gone', role: 'author', disabled: 'on' });
    expect(res.statusCode).toBe(303);
    expect((await userRow('gone')).disabled_at).not.toBeNull();
    expect((await getPage(t.app, session, '/admin/dashboard')).statusCode).toBe(303);
    const denied = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'gone', password: 'gone-pass-1' } });
    expect(denied.statusCode).toBe(401);
    // Deleting an author of posts is refused: disabling is the way.
    const del = await postForm(t.app, admin, `/admin/users/${id}/delete`);
    expect(del.statusCode).toBe(409);
    expect(del.body).toContain('disable the account instead');
    expect(await userRow('gone')).toBeDefined();
    await postForm(t.app, admin, `/admin/users/${id}/update`, { email: 'gone@example.invalid', display_name: 'Gone', role: 'author' });
    expect((await userRow('gone')).disabled_at).toBeNull();
    // The refused attempt above counts as a failure for the username: one backoff window first.
    await loginAfterRefusedAttempt(t.app, 'gone', 'gone-pass-1');
  });

  it('deletes a user without posts', async () => {
    const id = await createUser(t, 'temp', 'subscriber', 'temp-pass-1');
    const res = await postForm(t.app, admin, `/admin/users/${id}/delete`);
    expect(res.statusCode).toBe(303);
    expect(await userRow('temp')).toBeUndefined();
    expect((await postForm(t.app, admin, `/admin/users/${id}/delete`)).statusCode).toBe(404);
  });

  it('keeps at least one active admin: demoting, disabling or deleting the last one is refused with a message', async () => {
    const adminId = Number((await userRow('admin')).id);
    const others = await t.sql("SELECT count(*)::int AS n FROM users WHERE role = 'admin' AND username <> 'admin'");
    expect(others[0].n).toBe(0);
    for (const change of [{ role: 'editor' }, { role: 'admin', disabled: 'on' }] as Record<string, string>[]) {
      const res = await postForm(t.app, admin, `/admin/users/${adminId}/update`, { email: 'admin@example.invalid', display_name: 'Admin', ...change });
      expect(res.statusCode).toBe(409);
      expect(res.body).toContain('At least one active admin must remain');
    }
    const self = await postForm(t.app, admin, `/admin/users/${adminId}/delete`);
    expect(self.statusCode).toBe(409);
    const row = await userRow('admin');
    expect(row.role).toBe('admin');
    expect(row.disabled_at).toBeNull();

    // With a second admin, the first may step down; then the second is the last and is kept.
    const second = await createUser(t, 'admin2', 'admin', 'admin2-pass-1');
    const admin2 = await login(t.app, 'admin2', 'admin2-pass-1');
    const demote = await postForm(t.app, admin2, `/admin/users/${adminId}/update`, { email: 'admin@example.invalid', display_name: 'Admin', role: 'editor' });
    expect(demote.statusCode).toBe(303);
    expect((await userRow('admin')).role).toBe('editor');
    const last = await postForm(t.app, admin2, `/admin/users/${second}/update`, { email: 'admin2@example.invalid', display_name: 'A2', role: 'author' });
    expect(last.statusCode).toBe(409);
    expect((await userRow('admin2')).role).toBe('admin');
    // Two concurrent demotions of two admins: exactly one admin remains.
    await t.sql("UPDATE users SET role = 'admin' WHERE username = 'admin'");
    const a1 = await login(t.app, 'admin', t.adminPassword);
    const [r1, r2] = await Promise.all([
      postForm(t.app, a1, `/admin/users/${second}/update`, { email: 'admin2@example.invalid', display_name: 'A2', role: 'author' }),
      postForm(t.app, admin2, `/admin/users/${adminId}/update`, { email: 'admin@example.invalid', display_name: 'Admin', role: 'author' }),
    ]);
    // One wins; the other is refused (409 last admin or concurrent change, or 403: its actor was
    // demoted first), never a 500.
    const codes = [r1.statusCode, r2.statusCode].sort();
    expect(codes[0]).toBe(303);
    expect([403, 409]).toContain(codes[1]);
    expect((await t.sql("SELECT count(*)::int AS n FROM users WHERE role = 'admin' AND disabled_at IS NULL"))[0].n).toBe(1);
  });
});
