import { z } from 'zod';
import type { Queryable } from '../../db/db';
import { httpError } from '../../errors';
import { canEditPost } from '../../auth/roles';
import type { SessionData } from '../../deps';
import { slugPath } from '../../content/slug';
import {
  getPost, insertPost, setPostStatus, setPostTerms, snapshotOf, updatePost, postStatuses, type AdminPost, type PostStatus,
} from '../../db/queries/admin-posts';
import { resolveTerms } from '../../db/queries/admin-taxonomy';
import { isValidSlug, slugify, uniqueSlug } from '../../db/queries/admin-slugs';
import type { WriteOutcome } from './idempotent-write';

// Post create/update/trash inside a write transaction, shared by the JSON API and the admin forms.
// Categories and tags are referenced by slug (string) or id (number); unknown ones are a 422.

/** PostgreSQL text cannot hold NUL: refuse it as a field error (422), not a database error. */
export const noNul = (s: z.ZodString) => s.refine((v) => !v.includes('\u0000'), 'must not contain NUL characters');

const termRef = z.union([noNul(z.string().min(1).max(200)), z.number().int().positive().max(Number.MAX_SAFE_INTEGER)]);

export const postInput = z.object({
  title: noNul(z.string().trim().min(1, 'must not be empty').max(255)),
  content: noNul(z.string().max(500_000)).default(''),
  status: z.enum(postStatuses as [PostStatus, ...PostStatus[]]).default('draft'),
  excerpt: noNul(z.string().max(500)).optional(),
  categories: z.array(termRef).max(50).optional(),
  tags: z.array(termRef).max(100).optional(),
  slug: noNul(z.string().min(1).max(200)).optional(),
  publishedAt: z.string().datetime({ offset: true }).nullable().optional(),
}).strict();

export type PostInput = z.infer<typeof postInput>;
export const postPatch = postInput.partial().strict();
export type PostPatch = z.infer<typeof postPatch>;

export const postUrl = (slug: string) => `/posts/${slugPath(slug)}`;

type User = Pick<SessionData, 'userId' | 'role'>;

async function termIds(q: Queryable, field: 'categories' | 'tags', refs: (string | number)[] | undefined): Promise<number[] | undefined> {
  if (!refs) return undefined;
  const { ids, unknown } = await resolveTerms(q, field, refs);
  if (unknown.length) throw httpError('invalid_field', `${field}: unknown ${field === 'tags' ? 'tag' : 'category'} ${JSON.stringify(unknown[0])}`);
  return ids;
}

async function chooseSlug(q: Queryable, requested: string | undefined, title: string, excludeId: number | null): Promise<string> {
  if (requested !== undefined) {
    const slug = requested.normalize('NFKC');
    if (!isValidSlug(slug)) throw httpError('invalid_field', `slug: use lower-case letters, digits and single hyphens (e.g. "${slugify(slug)}")`);
    const free = await uniqueSlug(q, 'posts', slug, excludeId);
    if (free !== slug) throw httpError('conflict', `slug: "${slug}" is already used by another post.`);
    return slug;
  }
  return uniqueSlug(q, 'posts', slugify(title), excludeId);
}

/** published_at is set the first time a post becomes visible (published/unlisted), unless given. */
function publishedAtFor(status: PostStatus, requested: string | null | undefined, current: string | null): Date | null {
  if (requested) return new Date(requested);
  if (requested === null) return status === 'published' || status === 'unlisted' ? (current ? new Date(current) : new Date()) : null;
  if (current) return new Date(current);
  return status === 'published' || status === 'unlisted' ? new Date() : null;
}

export async function createPostTx(q: Queryable, user: User, input: PostInput): Promise<WriteOutcome & { post: AdminPost }> {
  const categoryIds = (await termIds(q, 'categories', input.categories)) ?? [];
  const tagIds = (await termIds(q, 'tags', input.tags)) ?? [];
  const slug = await chooseSlug(q, input.slug, input.title, null);
  const id = await insertPost(q, user.userId, {
    title: input.title, slug, content: input.content, excerpt: input.excerpt ?? '', status: input.status,
    publishedAt: publishedAtFor(input.status, input.publishedAt, null),
  });
  await setPostTerms(q, id, categoryIds, tagIds);
  const post = (await getPost(q, id))!;
  return { status: 201, body: { id, slug, url: postUrl(slug) }, change: { kind: 'post', before: null, after: snapshotOf(post) }, post };
}

/** Loads a post for a write, with its row locked; 404 if missing, 403 if this user may not edit it. */
export async function loadEditablePost(q: Queryable, user: User, id: number): Promise<AdminPost> {
  const post = await getPost(q, id, { forUpdate: true });
  if (!post) throw httpError('not_found', 'No such post.');
  if (!canEditPost({ id: user.userId, role: user.role }, post)) throw httpError('forbidden', 'You can edit only your own posts.');
  return post;
}

/** PUT (full: missing optional fields reset) or PATCH (partial). */
export async function updatePostTx(q: Queryable, user: User, id: number, input: PostPatch, mode: 'put' | 'patch'): Promise<WriteOutcome & { post: AdminPost }> {
  const before = await loadEditablePost(q, user, id);
  const pick = <K extends keyof PostPatch>(k: K, fallback: NonNullable<PostPatch[K]> | undefined) => (input[k] !== undefined ? input[k] : fallback);
  const title = input.title ?? before.title;
  const status = (input.status ?? (mode === 'put' ? 'draft' : before.status)) as PostStatus;
  const slug = input.slug !== undefined
    ? await chooseSlug(q, input.slug, title, id)
    : before.slug; // a published URL stays stable unless the client changes it explicitly
  const categoryIds = await termIds(q, 'categories', input.categories ?? (mode === 'put' ? [] : undefined));
  const tagIds = await termIds(q, 'tags', input.tags ?? (mode === 'put' ? [] : undefined));
  await updatePost(q, id, {
    title,
    slug,
    content: (pick('content', mode === 'put' ? '' : before.content) as string),
    excerpt: (pick('excerpt', mode === 'put' ? '' : before.excerpt) as string),
    status,
    publishedAt: publishedAtFor(status, input.publishedAt, before.publishedAt),
  });
  await setPostTerms(q, id, categoryIds ?? before.categories.map((c) => c.id), tagIds ?? before.tags.map((t) => t.id));
  const post = (await getPost(q, id))!;
  return { status: 200, body: post, change: { kind: 'post', before: snapshotOf(before), after: snapshotOf(post) }, post };
}

/** DELETE moves to trash (restorable); trashing twice is a no-op answer. */
export async function setStatusTx(q: Queryable, user: User, id: number, status: PostStatus): Promise<WriteOutcome> {
  const before = await loadEditablePost(q, user, id);
  if (before.status === status) return { status: 200, body: { id, status }, change: null };
  await setPostStatus(q, id, status, publishedAtFor(status, undefined, before.publishedAt));
  const post = (await getPost(q, id))!;
  return { status: 200, body: { id, status }, change: { kind: 'post', before: snapshotOf(before), after: snapshotOf(post) } };
}
