import type { Queryable } from '../db';
import { bodyHeadChars, renderedPostVersion } from '../../content/rendered-post';

// The public side's read queries. Each is a named prepared statement with fixed text (the filter
// kind picks the statement, never string-built SQL), and each page needs at most two of them:
// an optional lookup of the archive's subject (category, tag, author) and one listing query that
// returns the page rows with their author, categories and tags (the JSON lists stored on the post
// row, migration 1765000000000_post-term-lists) plus the filter's total (an uncorrelated count).

export interface TermRef { slug: string; name: string }

/** What a post card shows (listings and the post page alike). */
export interface PostCardSource {
  id: number;
  title: string;
  slug: string;
  excerpt: string;
  /** The first part of the Markdown body, for an excerpt when the post has none ('' when bodyText is set). */
  contentHead: string;
  /** That part as plain text, stored at write time (app/content/rendered-post.ts); null: strip contentHead. */
  bodyText: string | null;
  author: { username: string; displayName: string };
  categories: TermRef[];
  tags: TermRef[];
}

export interface PostSummary extends PostCardSource {
  status: 'published' | 'unlisted';
  publishedAt: Date;
  updatedAt: Date;
}

/**
 * A listing's row: only what a card prints. Every listing holds published posts only, and
 * `publishedIso` is published_at as Date#toISOString prints it (UTC, milliseconds, `Z`),
 * formatted by PostgreSQL: parsing a timestamp into a Date per row only to format it again was
 * a measurable part of the driver's row parsing (with the unused status and updated_at columns,
 * about a fifth of the client's CPU for the home query).
 */
export interface ListedPost extends PostCardSource {
  publishedIso: string;
}

export interface PostPage {
  rows: ListedPost[];
  /** Matching rows over all pages; null when the page is past the end (no row to carry it). */
  total: number | null;
}

export type ListingFilter =
  | { kind: 'home' }
  | { kind: 'category'; categoryId: number }
  | { kind: 'tag'; tagId: number }
  | { kind: 'author'; userId: number }
  | { kind: 'date'; from: Date; to: Date }
  | { kind: 'search'; pattern: string };

/** The WHERE fragment per filter kind; `$3` is the filter's value when it has one. */
const filters: Record<ListingFilter['kind'], string> = {
  home: "p.status = 'published'",
  category: "p.status = 'published' AND EXISTS (SELECT 1 FROM post_categories pc WHERE pc.post_id = p.id AND pc.category_id = $3)",
  tag: "p.status = 'published' AND EXISTS (SELECT 1 FROM post_tags pt WHERE pt.post_id = p.id AND pt.tag_id = $3)",
  author: "p.status = 'published' AND p.author_id = $3",
  date: "p.status = 'published' AND p.published_at >= $3 AND p.published_at < $4",
  // Same expression as posts_search_trgm_idx so the planner can use it (3+ characters).
  search: "p.status = 'published' AND (p.title || ' ' || p.excerpt || ' ' || p.content) ILIKE $3",
};

// The body's text stored at write time when its renderer version is current; otherwise the start
// of the Markdown, stripped per render as before (rows not yet backfilled).
const rendered = `p.rendered_version = ${renderedPostVersion}`;
const cardColumns = `
  p.id, p.title, p.slug, p.excerpt,
  CASE WHEN ${rendered} THEN p.content_text END AS body_text,
  CASE WHEN ${rendered} THEN '' ELSE left(p.content, ${bodyHeadChars}) END AS content_head,
  u.username, u.display_name, p.category_list AS categories, p.tag_list AS tags`;
// Truncated to the millisecond like a Date (to_char's MS and the driver's Date both truncate).
const listingColumns = `${cardColumns},
  to_char(p.published_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS published_iso`;

/** One post's columns with its categories and tags, kept on the row by triggers (no join per read). */
const summaryColumns = `${cardColumns}, p.status::text AS status, p.published_at, p.updated_at`;

/**
 * The filter's total: the home page reads the trigger-kept counter (migration
 * 1764700000000_published-post-count: counting every published post per render was an uncached
 * home page's largest cost); the archives count their own, smaller, sets.
 */
const totalExpression: Record<ListingFilter['kind'], string> = Object.fromEntries(
  (Object.keys(filters) as ListingFilter['kind'][]).map((kind) => [kind, kind === 'home'
    ? '(SELECT published_count FROM post_stats)'
    : `(SELECT count(*) FROM posts p WHERE ${filters[kind]})`]),
) as Record<ListingFilter['kind'], string>;

/**
 * `first`: the first page, its size written into the text (LIMIT n, no OFFSET). With LIMIT $1
 * OFFSET $2 PostgreSQL never settled on a generic plan for these statements (pg_prepared_statements
 * showed custom_plans only: the generic plan, priced for an unknown offset, costs more), so each
 * render planned the query again, measured at 0.37-0.43 ms of planning for 0.36 ms of execution
 * on the home page. The first pages are the ones visitors and crawlers fetch most; a site's page
 * size changes rarely, so there are few of these statements.
 */
function listingText(kind: ListingFilter['kind'], first?: { limit: number }): string {
  // The page's ids first (an index-only scan, also over the rows an OFFSET skips), then those
  // rows only. The total is a separate uncorrelated count (one InitPlan, same snapshot):
  // `count(*) OVER ()` in the page query made PostgreSQL buffer every matching row in a
  // WindowAgg, measured at 26-38 ms for the home page over 8,537 published posts against
  // 2.4-5.5 ms for the count (index-only scan).
  const renumber = (sql: string) => (first ? sql.replace(/\$([34])/g, (_m, n: string) => `$${Number(n) - 2}`) : sql);
  return `
    WITH page AS (
      SELECT p.id, p.published_at
      FROM posts p
      WHERE ${renumber(filters[kind])}
      ORDER BY p.published_at DESC, p.id DESC
      ${first ? `LIMIT ${first.limit}` : 'LIMIT $1 OFFSET $2'}
    )
    SELECT ${listingColumns}, ${renumber(totalExpression[kind])} AS total
    FROM page JOIN posts p ON p.id = page.id JOIN users u ON u.id = p.author_id
    ORDER BY page.published_at DESC, page.id DESC`;
}

const listingStatements = Object.fromEntries(
  (Object.keys(filters) as ListingFilter['kind'][]).map((kind) => [kind, { name: `public_list_${kind}`, text: listingText(kind) }]),
) as Record<ListingFilter['kind'], { name: string; text: string }>;

/** Page sizes a first-page statement is made for (the settings allow 1-100 posts per page). */
const maxFirstPageLimit = 1000;
const firstPageStatements = new Map<string, { name: string; text: string }>();

function firstPageStatement(kind: ListingFilter['kind'], limit: number): { name: string; text: string } {
  const name = `public_list_${kind}_first_${limit}`;
  let statement = firstPageStatements.get(name);
  if (!statement) firstPageStatements.set(name, (statement = { name, text: listingText(kind, { limit }) }));
  return statement;
}

interface CardRow {
  id: string; title: string; slug: string; excerpt: string; content_head: string; body_text: string | null;
  username: string; display_name: string; categories: TermRef[]; tags: TermRef[];
}
interface SummaryRow extends CardRow { status: 'published' | 'unlisted'; published_at: Date; updated_at: Date }
interface ListingRow extends CardRow { published_iso: string; total: string }

function toCardSource(r: CardRow): PostCardSource {
  return {
    id: Number(r.id), title: r.title, slug: r.slug, excerpt: r.excerpt, contentHead: r.content_head, bodyText: r.body_text,
    author: { username: r.username, displayName: r.display_name },
    categories: r.categories, tags: r.tags,
  };
}

function toSummary(r: SummaryRow): PostSummary {
  return { ...toCardSource(r), status: r.status, publishedAt: r.published_at, updatedAt: r.updated_at };
}

// Built field by field, not by spreading toCardSource's object: the spread copy was a measurable
// share of a listing render's row shaping (profile of an uncached home render).
function toListed(r: ListingRow): ListedPost {
  return {
    id: Number(r.id), title: r.title, slug: r.slug, excerpt: r.excerpt, contentHead: r.content_head, bodyText: r.body_text,
    author: { username: r.username, displayName: r.display_name },
    categories: r.categories, tags: r.tags, publishedIso: r.published_iso,
  };
}

/** LIKE pattern for a partial match of `term`: its own %, _ and \ match literally. */
export function containsPattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export async function listPosts(q: Queryable, filter: ListingFilter, limit: number, offset: number): Promise<PostPage> {
  // limit is a validated setting, but only a whole number in range is ever written into SQL text.
  const first = offset === 0 && Number.isInteger(limit) && limit >= 1 && limit <= maxFirstPageLimit;
  const values: unknown[] = first ? [] : [limit, offset];
  switch (filter.kind) {
    case 'category': values.push(filter.categoryId); break;
    case 'tag': values.push(filter.tagId); break;
    case 'author': values.push(filter.userId); break;
    case 'date': values.push(filter.from, filter.to); break;
    case 'search': values.push(filter.pattern); break;
    case 'home': break;
  }
  const statement = first ? firstPageStatement(filter.kind, limit) : listingStatements[filter.kind];
  const res = await q.query<ListingRow>({ ...statement, values });
  return { rows: res.rows.map(toListed), total: res.rows.length ? Number(res.rows[0].total) : null };
}

export interface CategoryInfo { id: number; slug: string; name: string; description: string; parent: TermRef | null }
export interface TagInfo { id: number; slug: string; name: string }
export interface AuthorInfo { id: number; username: string; displayName: string; bio: string }

export async function findCategory(q: Queryable, slug: string): Promise<CategoryInfo | null> {
  const res = await q.query<{ id: string; slug: string; name: string; description: string; parent_slug: string | null; parent_name: string | null }>({
    name: 'public_category_by_slug',
    text: `SELECT c.id, c.slug, c.name, c.description, pa.slug AS parent_slug, pa.name AS parent_name
           FROM categories c LEFT JOIN categories pa ON pa.id = c.parent_id WHERE c.slug = $1`,
    values: [slug],
  });
  const r = res.rows[0];
  return r ? { id: Number(r.id), slug: r.slug, name: r.name, description: r.description, parent: r.parent_slug ? { slug: r.parent_slug, name: r.parent_name! } : null } : null;
}

export async function findTag(q: Queryable, slug: string): Promise<TagInfo | null> {
  const res = await q.query<{ id: string; slug: string; name: string }>({
    name: 'public_tag_by_slug', text: 'SELECT id, slug, name FROM tags WHERE slug = $1', values: [slug],
  });
  const r = res.rows[0];
  return r ? { id: Number(r.id), slug: r.slug, name: r.name } : null;
}

/**
 * The author of an archive: only a user with at least one published post has one, so the page
 * tells nothing about subscribers, drafting authors or disabled accounts (a 404 like an unknown
 * name). A disabled author whose posts are still published keeps it: those posts link to it.
 */
export async function findAuthor(q: Queryable, username: string): Promise<AuthorInfo | null> {
  const res = await q.query<{ id: string; username: string; display_name: string; bio: string }>({
    name: 'public_author_by_username',
    text: `SELECT u.id, u.username, u.display_name, u.bio FROM users u WHERE u.username = $1
             AND EXISTS (SELECT 1 FROM posts p WHERE p.author_id = u.id AND p.status = 'published')`,
    values: [username],
  });
  const r = res.rows[0];
  return r ? { id: Number(r.id), username: r.username, displayName: r.display_name, bio: r.bio } : null;
}

export interface PostDetail extends PostSummary {
  content: string;
  /** Sanitized HTML stored at write time (app/content/rendered-post.ts); null: render `content`. */
  contentHtml: string | null;
}

/** A post the public may open: published or unlisted (drafts and trash are not found). One round trip. */
export async function findVisiblePost(q: Queryable, slug: string): Promise<PostDetail | null> {
  const res = await q.query<SummaryRow & { content: string; content_html: string | null }>({
    name: 'public_post_by_slug',
    text: `SELECT ${summaryColumns}, p.content, CASE WHEN ${rendered} THEN p.content_html END AS content_html
           FROM posts p JOIN users u ON u.id = p.author_id
           WHERE p.slug = $1 AND p.status IN ('published', 'unlisted')`,
    values: [slug],
  });
  const r = res.rows[0];
  return r ? { ...toSummary(r), content: r.content, contentHtml: r.content_html } : null;
}

export async function visiblePostExists(q: Queryable, slug: string): Promise<boolean> {
  const res = await q.query({
    name: 'public_post_exists', text: "SELECT 1 FROM posts WHERE slug = $1 AND status IN ('published', 'unlisted')", values: [slug],
  });
  return res.rows.length > 0;
}

/** `contentHead`: the body's first `feedHeadChars` characters; `contentCut`: the body is longer. */
export interface FeedItem { title: string; slug: string; excerpt: string; contentHead: string; contentCut: boolean; publishedAt: Date; updatedAt: Date; author: string; categories: string[] }

export const feedHeadChars = 600;

export async function feedItems(q: Queryable, limit: number): Promise<FeedItem[]> {
  const res = await q.query<{ title: string; slug: string; excerpt: string; content_head: string; content_cut: boolean; published_at: Date; updated_at: Date; display_name: string; categories: string[] }>({
    name: 'public_feed',
    text: `SELECT p.title, p.slug, p.excerpt, left(p.content, ${feedHeadChars}) AS content_head, char_length(p.content) > ${feedHeadChars} AS content_cut,
                  p.published_at, p.updated_at, u.display_name,
                  coalesce((SELECT array_agg(c.name ORDER BY c.name) FROM post_categories pc JOIN categories c ON c.id = pc.category_id WHERE pc.post_id = p.id), '{}') AS categories
           FROM posts p JOIN users u ON u.id = p.author_id
           WHERE p.status = 'published'
           ORDER BY p.published_at DESC, p.id DESC LIMIT $1`,
    values: [limit],
  });
  return res.rows.map((r) => ({
    title: r.title, slug: r.slug, excerpt: r.excerpt, contentHead: r.content_head, contentCut: r.content_cut, publishedAt: r.published_at,
    updatedAt: r.updated_at, author: r.display_name, categories: r.categories,
  }));
}

export interface SitemapEntry { slug: string; updatedAt: Date }

/** Published posts only (never unlisted), newest first; the sitemap protocol caps a file at 50,000 URLs. */
export async function sitemapEntries(q: Queryable, limit = 49_000): Promise<SitemapEntry[]> {
  const res = await q.query<{ slug: string; updated_at: Date }>({
    name: 'public_sitemap',
    text: "SELECT slug, updated_at FROM posts WHERE status = 'published' ORDER BY published_at DESC, id DESC LIMIT $1",
    values: [limit],
  });
  return res.rows.map((r) => ({ slug: r.slug, updatedAt: r.updated_at }));
}
