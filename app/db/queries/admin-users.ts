import type { Queryable } from '../db';
import type { Role } from '../../auth/roles';

// Users: login lookups, the admin's user management and the own profile. Named prepared statements
// (parsed once per connection).

export interface LoginUserRow {
  id: number;
  username: string;
  displayName: string;
  role: Role;
  passwordHash: string;
}

export async function findUserForLogin(q: Queryable, username: string): Promise<LoginUserRow | null> {
  const { rows } = await q.query<{ id: string; username: string; display_name: string; role: Role; password_hash: string }>({
    name: 'admin_user_for_login',
    // A disabled account cannot log in (it answers like a wrong password: no account probing).
    text: 'SELECT id, username, display_name, role, password_hash FROM users WHERE username = $1 AND disabled_at IS NULL',
    values: [username],
  });
  const r = rows[0];
  return r ? { id: Number(r.id), username: r.username, displayName: r.display_name, role: r.role, passwordHash: r.password_hash } : null;
}

export async function findUserById(q: Queryable, id: number): Promise<Omit<LoginUserRow, 'passwordHash'> | null> {
  const { rows } = await q.query<{ id: string; username: string; display_name: string; role: Role }>({
    name: 'admin_user_by_id',
    text: 'SELECT id, username, display_name, role FROM users WHERE id = $1',
    values: [id],
  });
  const r = rows[0];
  return r ? { id: Number(r.id), username: r.username, displayName: r.display_name, role: r.role } : null;
}

/** The user's current role, read inside a write transaction (sessions keep the role from login). */
export async function currentRole(q: Queryable, id: number): Promise<Role | null> {
  const { rows } = await q.query<{ role: Role }>({
    name: 'admin_user_role', text: 'SELECT role FROM users WHERE id = $1 AND disabled_at IS NULL FOR SHARE', values: [id],
  });
  return rows[0]?.role ?? null;
}

export interface AdminUser {
  id: number;
  username: string;
  email: string;
  displayName: string;
  role: Role;
  bio: string;
  disabled: boolean;
  postCount: number;
  createdAt: string;
}

interface AdminUserRow {
  id: string; username: string; email: string; display_name: string; role: Role; bio: string;
  disabled_at: Date | null; post_count: string; created_at: Date;
}

const userColumns = `u.id, u.username, u.email, u.display_name, u.role, u.bio, u.disabled_at, u.created_at,
  (SELECT count(*) FROM posts p WHERE p.author_id = u.id) AS post_count`;

const toUser = (r: AdminUserRow): AdminUser => ({
  id: Number(r.id), username: r.username, email: r.email, displayName: r.display_name, role: r.role, bio: r.bio,
  disabled: r.disabled_at !== null, postCount: Number(r.post_count), createdAt: r.created_at.toISOString(),
});

export async function listUsers(q: Queryable, role: Role | null): Promise<AdminUser[]> {
  const { rows } = await q.query<AdminUserRow>({
    name: 'admin_users_list',
    text: `SELECT ${userColumns} FROM users u WHERE ($1::user_role IS NULL OR u.role = $1) ORDER BY u.username`,
    values: [role],
  });
  return rows.map(toUser);
}

export async function getUser(q: Queryable, id: number, opts: { forUpdate?: boolean } = {}): Promise<AdminUser | null> {
  if (opts.forUpdate) await q.query({ name: 'admin_user_lock', text: 'SELECT id FROM users WHERE id = $1 FOR UPDATE', values: [id] });
  const { rows } = await q.query<AdminUserRow>({ name: 'admin_user_get', text: `SELECT ${userColumns} FROM users u WHERE u.id = $1`, values: [id] });
  return rows[0] ? toUser(rows[0]) : null;
}

/**
 * Active admins other than `exceptId`, counted with their rows locked: two concurrent
 * "demote the other admin" requests serialise here, so the last admin cannot be lost to a race.
 */
export async function otherActiveAdmins(q: Queryable, exceptId: number): Promise<number> {
  const { rows } = await q.query<{ id: string }>({
    name: 'admin_users_other_admins',
    text: "SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1 ORDER BY id FOR UPDATE",
    values: [exceptId],
  });
  return rows.length;
}

export interface NewUser { username: string; email: string; displayName: string; role: Role; passwordHash: string }

export async function insertUser(q: Queryable, u: NewUser): Promise<number> {
  const { rows } = await q.query<{ id: string }>({
    name: 'admin_user_insert',
    text: 'INSERT INTO users (username, email, display_name, role, password_hash) VALUES ($1, $2, $3, $4, $5) RETURNING id',
    values: [u.username, u.email, u.displayName, u.role, u.passwordHash],
  });
  return Number(rows[0].id);
}

export async function updateUserAccount(q: Queryable, id: number, u: { email: string; displayName: string; role: Role; disabled: boolean }): Promise<void> {
  await q.query({
    name: 'admin_user_update',
    text: `UPDATE users SET email = $2, display_name = $3, role = $4,
           disabled_at = CASE WHEN $5 THEN coalesce(disabled_at, now()) ELSE NULL END, updated_at = now() WHERE id = $1`,
    values: [id, u.email, u.displayName, u.role, u.disabled],
  });
}

export async function updateProfile(q: Queryable, id: number, p: { email: string; displayName: string; bio: string }): Promise<void> {
  await q.query({
    name: 'admin_user_profile',
    text: 'UPDATE users SET email = $2, display_name = $3, bio = $4, updated_at = now() WHERE id = $1',
    values: [id, p.email, p.displayName, p.bio],
  });
}

export async function passwordHashOf(q: Queryable, id: number): Promise<string | null> {
  const { rows } = await q.query<{ password_hash: string }>({
    name: 'admin_user_password_hash', text: 'SELECT password_hash FROM users WHERE id = $1 FOR UPDATE', values: [id],
  });
  return rows[0]?.password_hash ?? null;
}

export async function setPasswordHash(q: Queryable, id: number, hash: string): Promise<void> {
  await q.query({ name: 'admin_user_set_password', text: 'UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1', values: [id, hash] });
}

export async function deleteUser(q: Queryable, id: number): Promise<void> {
  await q.query({ name: 'admin_user_delete', text: 'DELETE FROM users WHERE id = $1', values: [id] });
}
