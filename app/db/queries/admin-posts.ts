import type { Queryable } from '../db';
import { renderPostBody } from '../../content/rendered-post';
import type { PostSnapshot } from '../../deps';

// Post reads and writes for the JSON API and the admin pages (all on the primary or in a write
// transaction). Categories and tags come back aggregated in the same statement: no N+1.

export type PostStatus = PostSnapshot['status'];
export const postStatuses: readonly PostStatus[] = ['draft', 'published', 'unlisted', 'trash'];

export interface TermRef { id: number; slug: string; name: string }

export interface AdminPost {
  id: number;
  title: string;
  slug: string;
  content: string;
  excerpt: string;
  status: PostStatus;
  authorId: number;
  authorUsername: string;
  publishedAt: string | null;
  /** A draft with a publish time is "scheduled"; a job publishes it then. */
  scheduledAt: string | null;
  createdAt: string;
  updatedAt: string;
  categories: TermRef[];
  tags: TermRef[];
}

const postColumns = `
  p.id, p.title, p.slug, p.content, p.excerpt, p.status, p.author_id, u.username AS author_username,
  p.published_at, p.scheduled_at, p.created_at, p.updated_at,
  COALESCE((SELECT json_agg(json_build_object('id', c.id, 'slug', c.slug, 'name', c.name) ORDER BY c.name)
            FROM post_categories pc JOIN categories c ON c.id = pc.category_id WHERE pc.post_id = p.id), '[]') AS categories,
  COALESCE((SELECT json_agg(json_build_object('id', t.id, 'slug', t.slug, 'name', t.name) ORDER BY t.name)
            FROM post_tags pt JOIN tags t ON t.id = pt.tag_id WHERE pt.post_id = p.id), '[]') AS tags`;

interface PostDbRow {
  id: string; title: string; slug: string; content: string; excerpt: string; status: PostStatus;
  author_id: string; author_username: string; published_at: Date | null; scheduled_at: Date | null; created_at: Date; updated_at: Date;
  categories: TermRef[]; tags: TermRef[];
}

function toPost(r: PostDbRow): AdminPost {
  const terms = (list: TermRef[]) => list.map((t) => ({ id: Number(t.id), slug: t.slug, name: t.name }));
  return {
    id: Number(r.id), title: r.title, slug: r.slug, content: r.content, excerpt: r.excerpt, status: r.status,
    authorId: Number(r.author_id), authorUsername: r.author_username,
    publishedAt: r.published_at ? r.published_at.toISOString() : null,
    scheduledAt: r.scheduled_at ? r.scheduled_at.toISOString() : null,
    createdAt: r.created_at.toISOString(), updatedAt: r.updated_at.toISOString(),
    categories: terms(r.categories), tags: terms(r.tags),
  };
}

export async function getPost(q: Queryable, id: number, opts: { forUpdate?: boolean } = {}): Promise<AdminPost | null> {
  if (opts.forUpdate) {
    // Lock the row first so concurrent edits of one post serialise (snapshots stay consistent).
    await q.query({ name: 'admin_post_lock', text: 'SELECT id FROM posts WHERE id = $1 FOR UPDATE', values: [id] });
  }
  const { rows } = await q.query<PostDbRow>({
    name: 'admin_post_get',
    text: `SELECT ${postColumns} FROM posts p JOIN users u ON u.id = p.author_id WHERE p.id = $1`,
    values: [id],
  });
  return rows[0] ? toPost(rows[0]) : null;
}

export function snapshotOf(post: AdminPost): PostSnapshot {
  return {
    id: post.id, slug: post.slug, status: post.status,
    publishedAt: post.publishedAt ? new Date(post.publishedAt) : null,
    authorUsername: post.authorUsername,
    categorySlugs: post.categories.map((c) => c.slug),
    tagSlugs: post.tags.map((t) => t.slug),
  };
}

export interface PostListFilter {
  /** A status, 'all' = everything but trash, 'scheduled' = drafts with a publish time. */
  status: PostStatus | 'all' | 'scheduled';
  /** Words in the title, excerpt or content (case-insensitive substring), or null. */
  search?: string | null;
  /** Only posts by this author, or (when `orPublished`) by this author plus published ones. */
  authorId: number | null;
  orPublished: boolean;
  limit: number;
  offset: number;
}

export async function listPosts(q: Queryable, f: PostListFilter): Promise<{ items: Omit<AdminPost, 'content'>[]; total: number }> {
  const where = `($1::text = 'all' AND p.status <> 'trash' OR p.status::text = $1
      OR ($1::text = 'scheduled' AND p.status = 'draft' AND p.scheduled_at IS NOT NULL))
    AND ($2::bigint IS NULL OR p.author_id = $2 OR ($3 AND p.status = 'published'))
    AND ($4::text IS NULL OR (p.title || ' ' || p.excerpt || ' ' || p.content) ILIKE $4)`;
  const pattern = f.search ? `%${f.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
  const values = [f.status, f.authorId, f.orPublished, pattern];
  const [list, count] = await Promise.all([
    q.query<PostDbRow>({
      name: 'admin_posts_list',
      text: `SELECT ${postColumns} FROM posts p JOIN users u ON u.id = p.author_id WHERE ${where}
             ORDER BY p.updated_at DESC, p.id DESC LIMIT $5 OFFSET $6`,
      values: [...values, f.limit, f.offset],
    }),
    q.query<{ n: string }>({ name: 'admin_posts_count', text: `SELECT count(*) AS n FROM posts p WHERE ${where}`, values }),
  ]);
  return {
    items: list.rows.map((r) => {
      const { content: _content, ...rest } = toPost(r);
      return rest;
    }),
    total: Number(count.rows[0].n),
  };
}

export interface PostWrite {
  title: string;
  slug: string;
  content: string;
  excerpt: string;
  status: PostStatus;
  publishedAt: Date | null;
}

// Every write stores the body's rendering with it (app/content/rendered-post.ts): public pages
// then print the stored HTML instead of running Markdown per render.
export async function insertPost(q: Queryable, authorId: number, p: PostWrite): Promise<number> {
  const body = renderPostBody(p.content);
  const { rows } = await q.query<{ id: string }>({
    name: 'admin_post_insert',
    text: `INSERT INTO posts (title, slug, content, excerpt, status, author_id, published_at, content_html, content_text, rendered_version)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
    values: [p.title, p.slug, p.content, p.excerpt, p.status, authorId, p.publishedAt, body.html, body.text, body.version],
  });
  return Number(rows[0].id);
}

export async function updatePost(q: Queryable, id: number, p: PostWrite): Promise<void> {
  const body = renderPostBody(p.content);
  await q.query({
    name: 'admin_post_update',
    text: `UPDATE posts SET title = $2, slug = $3, content = $4, excerpt = $5, status = $6, published_at = $7,
           content_html = $8, content_text = $9, rendered_version = $10, updated_at = now() WHERE id = $1`,
    values: [id, p.title, p.slug, p.content, p.excerpt, p.status, p.publishedAt, body.html, body.text, body.version],
  });
}

export async function setPostStatus(q: Queryable, id: number, status: PostStatus, publishedAt: Date | null): Promise<void> {
  await q.query({
    name: 'admin_post_set_status',
    text: 'UPDATE posts SET status = $2, published_at = $3, updated_at = now() WHERE id = $1',
    values: [id, status, publishedAt],
  });
}

/** The publish time of a scheduled draft (null: not scheduled). */
export async function setPostSchedule(q: Queryable, id: number, at: Date | null): Promise<void> {
  await q.query({ name: 'admin_post_set_schedule', text: 'UPDATE posts SET scheduled_at = $2 WHERE id = $1', values: [id, at] });
}

export async function setPostTerms(q: Queryable, postId: number, categoryIds: number[], tagIds: number[]): Promise<void> {
  await q.query({ name: 'admin_post_cats_clear', text: 'DELETE FROM post_categories WHERE post_id = $1', values: [postId] });
  await q.query({
    name: 'admin_post_cats_set',
    text: 'INSERT INTO post_categories (post_id, category_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING',
    values: [postId, categoryIds],
  });
  await q.query({ name: 'admin_post_tags_clear', text: 'DELETE FROM post_tags WHERE post_id = $1', values: [postId] });
  await q.query({
    name: 'admin_post_tags_set',
    text: 'INSERT INTO post_tags (post_id, tag_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING',
    values: [postId, tagIds],
  });
}

/** The most recently changed posts; `authorId` limits them to one author's (null: everybody's). */
export async function recentPosts(q: Queryable, limit: number, authorId: number | null): Promise<{ id: number; title: string; status: PostStatus; authorUsername: string; updatedAt: string }[]> {
  const { rows } = await q.query<{ id: string; title: string; status: PostStatus; username: string; updated_at: Date }>({
    name: 'admin_posts_recent',
    text: `SELECT p.id, p.title, p.status, u.username, p.updated_at FROM posts p JOIN users u ON u.id = p.author_id
           WHERE $2::bigint IS NULL OR p.author_id = $2
           ORDER BY p.updated_at DESC, p.id DESC LIMIT $1`,
    values: [limit, authorId],
  });
  return rows.map((r) => ({ id: Number(r.id), title: r.title, status: r.status, authorUsername: r.username, updatedAt: r.updated_at.toISOString() }));
}

/**
 * The dashboard's counts. Published posts are public, so they are the site's; drafts, scheduled,
 * unlisted and trash are `authorId`'s own when given (an author), everybody's when null.
 */
export async function dashboardCounts(q: Queryable, authorId: number | null): Promise<Record<string, number>> {
  const { rows } = await q.query<Record<string, string>>({
    name: 'admin_dashboard_counts',
    text: `SELECT
      (SELECT count(*) FROM posts WHERE status = 'published') AS published,
      (SELECT count(*) FROM posts WHERE status = 'draft' AND ($1::bigint IS NULL OR author_id = $1)) AS drafts,
      (SELECT count(*) FROM posts WHERE status = 'draft' AND scheduled_at IS NOT NULL AND ($1::bigint IS NULL OR author_id = $1)) AS scheduled,
      (SELECT count(*) FROM posts WHERE status = 'unlisted' AND ($1::bigint IS NULL OR author_id = $1)) AS unlisted,
      (SELECT count(*) FROM posts WHERE status = 'trash' AND ($1::bigint IS NULL OR author_id = $1)) AS trash,
      (SELECT count(*) FROM categories) AS categories,
      (SELECT count(*) FROM tags) AS tags,
      (SELECT count(*) FROM users) AS users`,
    values: [authorId],
  });
  return Object.fromEntries(Object.entries(rows[0]).map(([k, v]) => [k, Number(v)]));
}
