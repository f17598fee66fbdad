import type { Db } from '../db/db';
import { findUserForLogin } from '../db/queries/admin-users';
import { dummyPasswordHash, verifyPassword } from './passwords';
import type { Role } from './roles';

// Username + password → user, or null. An unknown username still runs one argon2 verification
// (against a dummy hash) so response time does not reveal which usernames exist.

export interface AuthenticatedUser {
  id: number;
  username: string;
  displayName: string;
  role: Role;
}

const usernamePattern = /^[a-zA-Z0-9_.-]{2,40}$/;

export async function authenticate(db: Db, username: string, password: string): Promise<AuthenticatedUser | null> {
  // Read on the primary: a login decides a write (the session) and must see a just-changed password.
  const row = usernamePattern.test(username)
    ? (await db.read({ primary: true }, (q) => findUserForLogin(q, username))).value
    : null;
  const hash = row?.passwordHash ?? (await dummyPasswordHash());
  const ok = await verifyPassword(hash, password);
  if (!row || !ok) return null;
  return { id: row.id, username: row.username, displayName: row.displayName, role: row.role };
}
