import type { SessionData } from '../deps';

// The role ladder and what each role may do. One matrix, used by the API and the admin pages, so
// the two cannot drift (LuaAIDiary checked roles ad hoc and gave admins no override on posts).

export type Role = SessionData['role'];

export const roleRank: Record<Role, number> = { subscriber: 1, author: 2, editor: 3, admin: 4 };

export type Action =
  /** Open the admin area and the authoring API. */
  | 'admin:access'
  | 'post:create'
  /** Edit, trash, restore a post the user wrote. */
  | 'post:edit-own'
  /** Edit, trash, restore anybody's post; see every draft. */
  | 'post:edit-any'
  /** Create a tag while writing a post. */
  | 'tag:create'
  /** Rename or delete tags; create, rename, delete categories. */
  | 'taxonomy:manage'
  /** Own profile and password: every logged-in user, subscribers included. */
  | 'account:self'
  /** List, create, change the role of, disable and delete users. */
  | 'user:manage'
  /** Site title, tagline, posts per page… (a change purges every cached page). */
  | 'settings:manage'
  /** Page cache statistics and the flush-all button. */
  | 'cache:manage'
  /** Upload to the media library, delete own uploads. */
  | 'media:upload'
  /** Delete files other users uploaded. */
  | 'media:delete-any';

const minimumRole: Record<Action, Role> = {
  'admin:access': 'author',
  'post:create': 'author',
  'post:edit-own': 'author',
  'post:edit-any': 'editor',
  'tag:create': 'author',
  'taxonomy:manage': 'editor',
  'account:self': 'subscriber',
  'user:manage': 'admin',
  'settings:manage': 'admin',
  'cache:manage': 'admin',
  'media:upload': 'author',
  'media:delete-any': 'editor',
};

/** The lowest role allowed to do `action` (the admin route matrix test reads it). */
export function minimumRoleFor(action: Action): Role {
  return minimumRole[action];
}

export const roles: readonly Role[] = ['admin', 'editor', 'author', 'subscriber'];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && Object.hasOwn(roleRank, value);
}

export function can(role: Role, action: Action): boolean {
  return isRole(role) && roleRank[role] >= roleRank[minimumRole[action]];
}

/** Editors and admins edit any post; authors only their own; subscribers nothing. */
export function canEditPost(user: { id: number; role: Role }, post: { authorId: number }): boolean {
  if (can(user.role, 'post:edit-any')) return true;
  return can(user.role, 'post:edit-own') && post.authorId === user.id;
}
