import type { Queryable } from '../db';
import type { Role } from '../../auth/roles';

// User lookups for login and the session. Named prepared statements (parsed once per connection).

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
    text: 'SELECT id, username, display_name, role, password_hash FROM users WHERE username = $1',
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
  const { rows } = await q.query<{ role: Role }>({ name: 'admin_user_role', text: 'SELECT role FROM users WHERE id = $1 FOR SHARE', values: [id] });
  return rows[0]?.role ?? null;
}
