import { z } from 'zod';
import { roles, type Role } from '../../auth/roles';
import { httpError } from '../../errors';
import { noNul } from '../api/post-writes';

// Field rules for accounts, shared by the users screens and the own profile / password screens.

export const usernameField = z.string().regex(/^[a-zA-Z0-9_.-]{2,40}$/, 'use 2-40 letters, digits, dots, hyphens or underscores');
export const emailField = noNul(z.string().trim().max(254).email('must be an e-mail address'));
export const displayNameField = noNul(z.string().trim().min(1, 'must not be empty').max(100));
export const bioField = noNul(z.string().max(2000));
export const roleField = z.enum(roles as [Role, ...Role[]]);

/** LuaAIDiary's rule, kept: 8+ characters with letters and digits (and a sane upper bound). */
export const passwordField = z.string()
  .min(8, 'at least 8 characters')
  .max(1024, 'at most 1024 characters')
  .refine((p) => /\p{L}/u.test(p) && /\p{Nd}/u.test(p), 'use letters and digits');

/** A unique-violation on users → a 409 naming the field. */
export function mapUserConflict(err: unknown): never {
  const e = err as { code?: string; constraint?: string; cause?: { code?: string; constraint?: string } };
  const src = e?.code === '23505' ? e : e?.cause?.code === '23505' ? e.cause : null;
  if (src) {
    const field = src.constraint?.includes('email') ? 'email' : 'username';
    throw httpError('conflict', `${field}: already used by another account.`, { cause: err });
  }
  throw err;
}
