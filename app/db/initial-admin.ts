import type { Queryable } from './db';
import { hashPassword } from '../auth/passwords';

// The deployment's first `admin` account, made by `aidiary migrate` (Docker and Kubernetes stacks)
// and by the local `up` from the stack's admin password. Create-only: once a user named `admin`
// exists nothing here touches it, so a password changed in the admin UI (or with
// `aidiary admin reset-password`) survives every later release, and a second run changes nothing.

export const initialAdminUsername = 'admin';

/**
 * Generated stack passwords are long random strings that may lack a digit by chance, so the
 * initial password is held only to the policy's length floor (the admin UI's full rule applies to
 * every password a person chooses later).
 */
export const initialAdminMinLength = 8;

export class InitialAdminError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InitialAdminError';
  }
}

/**
 * Creates `admin` (role admin) with `password` unless a user of that name exists. Its e-mail is a
 * reserved, undeliverable address that passes the profile form's check, to be replaced by the owner. Safe to run
 * concurrently: the insert is ON CONFLICT DO NOTHING, and only a run whose row went in says created.
 */
export async function createInitialAdmin(q: Queryable, password: string): Promise<{ created: boolean }> {
  const exists = await q.query({ text: 'SELECT 1 FROM users WHERE username = $1', values: [initialAdminUsername] });
  if (exists.rows.length > 0) return { created: false };
  if (password.length < initialAdminMinLength) {
    throw new InitialAdminError(`the initial admin password has ${password.length} characters; use at least ${initialAdminMinLength}`);
  }
  const hash = await hashPassword(password);
  const res = await q.query({
    text: `INSERT INTO users (username, email, display_name, password_hash, role)
           VALUES ($1, 'admin@example.invalid', 'Administrator', $2, 'admin')
           ON CONFLICT (username) DO NOTHING
           RETURNING id`,
    values: [initialAdminUsername, hash],
  });
  return { created: res.rows.length === 1 };
}
