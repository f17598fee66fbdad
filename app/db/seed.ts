import type { Queryable, Db } from './db';
import { slugify, uniqueSlugIn } from '../content/slug';
import { renderPostBody, renderedPostVersion } from '../content/rendered-post';
import { hashPassword, verifyPassword } from '../auth/passwords';
import { seededRandom } from '../seeded-random';

// Deterministic demo content: the same options give the same rows (seeded PRNG, fixed anchor date),
// so benchmarks and tests compare like with like. Rows go in with a few multi-row INSERT … SELECT
// FROM unnest(...) statements per table, so 10,000 posts take seconds.

export interface SeedOptions {
  posts?: number;
  categories?: number;
  tags?: number;
  seed?: number;
}

export interface SeedResult {
  seeded: boolean;
  posts: number;
  categories: number;
  tags: number;
  users: number;
}

/** The newest published_at; posts spread over the ~3 years before it. Fixed, for determinism. */
export const seedAnchor = new Date('2025-10-31T12:00:00Z');
const spreadMs = 3 * 365 * 24 * 3600 * 1000;
const markerKey = 'demo_seed';
// Accounts that exist only as authors: '!' is not a valid argon2 hash, so they cannot log in.
const lockedPasswordHash = '!';

/** The demo seed's PRNG (kept under this name for the tests that replay it). */
export const prng = seededRandom;

const jaNouns = ['東京', '京都', '猫', '珈琲', '桜', '富士山', '電車', '図書館', '雨', '夏祭り', '温泉', '旅行', '朝ごはん', '散歩', '読書', '写真', '料理', '音楽', '映画', '庭', 'データベース', 'サーバー', 'プログラミング', '日記', '週末', '紅葉', '海', '山道', '商店街', '花火'];
const jaPhrases = ['について考えた', 'を楽しんだ一日', 'の記録', 'との出会い', 'を振り返る', 'のある暮らし', 'で見つけたこと', 'の小さな発見', 'に行ってきました', 'をはじめてみた'];
const jaSentences = [
  '今日は朝から{n}のことを考えていた。', '{n}は思ったよりもずっと奥が深い。', '久しぶりに{n}を見に出かけた。',
  '{n}と{m}の組み合わせは意外と良かった。', '帰り道に{n}の話をした。', '{n}について少し調べてみた。',
  '次は{m}にも挑戦したい。', '{n}の写真を何枚か撮った。', 'やはり{n}は落ち着く。', '{m}のあとで{n}を味わった。',
];
const enNouns = ['coffee', 'databases', 'autumn', 'the city', 'trains', 'bread', 'gardening', 'a quiet morning', 'replication', 'mountains', 'old books', 'jazz', 'the river', 'caching', 'bicycles', 'tea', 'the harbour', 'markets', 'typography', 'small servers'];
const enPhrases = ['Notes on', 'A week with', 'Thinking about', 'Why I like', 'Lessons from', 'Back to', 'First steps with', 'A short guide to', 'Revisiting', 'Living with'];
const enSentences = [
  'I spent most of the day thinking about {n}.', '{N} turned out to be more interesting than expected.',
  'There is a lot to say about {n} and {m}.', 'On the way home I read about {n}.', 'Next time I want to try {m}.',
  'It is easy to underestimate {n}.', 'A friend recommended {m}, so I gave it a go.', 'The best part was {n}.',
];
const categoryNames: Array<[string, string]> = [
  ['日記', 'diary'], ['技術', 'tech'], ['旅行', 'travel'], ['料理', 'cooking'], ['読書', 'books'], ['お知らせ', 'news'],
  ['データベース', 'database'], ['インフラ', 'infra'], ['国内', 'domestic'], ['海外', 'abroad'], ['和食', 'washoku'],
  ['パン', 'bread'], ['小説', 'novels'], ['写真', 'photos'], ['音楽', 'music'], ['映画', 'movies'], ['散歩', 'walks'],
  ['季節', 'seasons'], ['道具', 'tools'], ['雑記', 'misc'],
];

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)];
}

function fill(template: string, rand: () => number, nouns: readonly string[]): string {
  const n = pick(rand, nouns);
  const m = pick(rand, nouns);
  return template.replace('{N}', n.charAt(0).toUpperCase() + n.slice(1)).replace('{n}', n).replace('{m}', m);
}

function paragraph(rand: () => number, japanese: boolean, sentences: number): string {
  const out: string[] = [];
  for (let i = 0; i < sentences; i++) out.push(fill(pick(rand, japanese ? jaSentences : enSentences), rand, japanese ? jaNouns : enNouns));
  return out.join(japanese ? '' : ' ');
}

function body(rand: () => number, japanese: boolean, i: number): string {
  const parts = [paragraph(rand, japanese, 3 + Math.floor(rand() * 4))];
  parts.push(`## ${japanese ? 'メモ' : 'Notes'} ${i + 1}`);
  parts.push(Array.from({ length: 3 }, () => `- ${paragraph(rand, japanese, 1)}`).join('\n'));
  parts.push(paragraph(rand, japanese, 2 + Math.floor(rand() * 4)));
  if (rand() < 0.2) parts.push('```sql\nSELECT id, title FROM posts WHERE status = \'published\' ORDER BY published_at DESC LIMIT 10;\n```');
  if (rand() < 0.3) parts.push(`**${japanese ? 'まとめ' : 'Summary'}:** ${paragraph(rand, japanese, 1)}`);
  return parts.join('\n\n');
}

type Status = 'draft' | 'published' | 'unlisted' | 'trash';

/** Runs `fn` in one transaction on whatever it was given: a Db (primary) or a single pg client. */
async function inTransaction<T>(target: Db | Queryable, fn: (q: Queryable) => Promise<T>): Promise<T> {
  if ('write' in target && typeof target.write === 'function') return (await target.write(fn)).value;
  const q = target as Queryable;
  await q.query({ text: 'BEGIN' });
  try {
    const value = await fn(q);
    await q.query({ text: 'COMMIT' });
    return value;
  } catch (err) {
    await q.query({ text: 'ROLLBACK' }).catch(() => {});
    throw err;
  }
}

/**
 * Seeds users, categories (two levels), tags and posts with links. Idempotent: a marker row in
 * site_settings (written in the same transaction, under a transaction advisory lock) makes a second
 * call a no-op. `target` is a Db (writes go to the primary) or one connected pg client (not a pool).
 */
export async function seedDemoContent(target: Db | Queryable, opts: SeedOptions = {}): Promise<SeedResult> {
  const postCount = opts.posts ?? 1000;
  const categoryCount = Math.min(opts.categories ?? 20, 500);
  const tagCount = opts.tags ?? 200;
  const rand = prng(opts.seed ?? 42);

  const result = await inTransaction(target, async (q) => {
    await q.query({ text: "SELECT pg_advisory_xact_lock(hashtext('aidiary:seed'))" });
    const marker = await q.query<{ value: string }>({ text: 'SELECT value FROM site_settings WHERE key = $1', values: [markerKey] });
    if (marker.rows.length > 0) return { seeded: false, posts: 0, categories: 0, tags: 0, users: 0 };

    // Authors and editors (no passwords: they exist for bylines and the author archives).
    const people = [
      ['hanako', '山田 花子', 'editor'], ['taro', '佐藤 太郎', 'author'], ['alice', 'Alice Walker', 'author'],
      ['kenji', '鈴木 健二', 'author'], ['bob', 'Bob Smith', 'editor'],
    ] as const;
    const users = await q.query<{ id: string; username: string }>({
      text: `INSERT INTO users (username, email, display_name, password_hash, role, bio)
             SELECT u, u || '@example.invalid', d, $4, r::user_role, d || ' のプロフィール / profile of ' || d
             FROM unnest($1::text[], $2::text[], $3::text[]) AS t(u, d, r)
             ON CONFLICT (username) DO UPDATE SET username = EXCLUDED.username
             RETURNING id, username`,
      values: [people.map((p) => p[0]), people.map((p) => p[1]), people.map((p) => p[2]), lockedPasswordHash],
    });
    const userIds = users.rows.map((r) => Number(r.id));

    // Categories: the first quarter are top level; the rest hang under one of them.
    const catNames: string[] = [];
    const catSlugs: string[] = [];
    const usedCat = new Set<string>();
    for (let i = 0; i < categoryCount; i++) {
      const [ja, en] = categoryNames[i % categoryNames.length];
      const round = Math.floor(i / categoryNames.length);
      catNames.push(round ? `${ja} ${round + 1}` : ja);
      catSlugs.push(uniqueSlugIn(round ? `${en}-${round + 1}` : en, usedCat));
    }
    const topCount = Math.max(1, Math.ceil(categoryCount / 4));
    const cats = await q.query<{ id: string; slug: string }>({
      text: `INSERT INTO categories (name, slug, description)
             SELECT n, s, n || ' の記事 / posts about ' || s FROM unnest($1::text[], $2::text[]) AS t(n, s)
             RETURNING id, slug`,
      values: [catNames, catSlugs],
    });
    const catIdBySlug = new Map(cats.rows.map((r) => [r.slug, Number(r.id)]));
    const catIds = catSlugs.map((s) => catIdBySlug.get(s)!);
    if (categoryCount > topCount) {
      const childIds = catIds.slice(topCount);
      const parentIds = childIds.map((_, i) => catIds[i % topCount]);
      await q.query({
        text: 'UPDATE categories c SET parent_id = t.p FROM unnest($1::bigint[], $2::bigint[]) AS t(c, p) WHERE c.id = t.c',
        values: [childIds, parentIds],
      });
    }

    // Tags: alternate Japanese and English names.
    const tagNames: string[] = [];
    const tagSlugs: string[] = [];
    const usedTag = new Set<string>();
    const seen = new Map<string, number>();
    for (let i = 0; i < tagCount; i++) {
      const japanese = i % 2 === 0;
      const base = japanese ? jaNouns[Math.floor(i / 2) % jaNouns.length] : enNouns[Math.floor(i / 2) % enNouns.length];
      const n = (seen.get(base) ?? 0) + 1;
      seen.set(base, n);
      const name = n === 1 ? base : `${base} ${n}`;
      tagNames.push(name);
      tagSlugs.push(uniqueSlugIn(slugify(name), usedTag));
    }
    const tagRows = tagCount
      ? await q.query<{ id: string; slug: string }>({
        text: 'INSERT INTO tags (name, slug) SELECT n, s FROM unnest($1::text[], $2::text[]) AS t(n, s) RETURNING id, slug',
        values: [tagNames, tagSlugs],
      })
      : { rows: [] };
    const tagIdBySlug = new Map(tagRows.rows.map((r) => [r.slug, Number(r.id)]));
    const tagIds = tagSlugs.map((s) => tagIdBySlug.get(s)!);

    // Posts, in chunks so no single statement carries tens of megabytes.
    const usedPostSlugs = await postSlugs(q);
    const chunk = 2000;
    let inserted = 0;
    for (let start = 0; start < postCount; start += chunk) {
      const n = Math.min(chunk, postCount - start);
      inserted += await insertPosts(q, rand, { start, count: n, spreadOver: postCount, userIds, catIds, tagIds, usedSlugs: usedPostSlugs, allPublished: false });
    }

    await q.query({
      text: 'INSERT INTO site_settings (key, value) VALUES ($1, $2)',
      values: [markerKey, JSON.stringify({ posts: postCount, categories: categoryCount, tags: tagCount, seed: opts.seed ?? 42 })],
    });
    return { seeded: true, posts: inserted, categories: categoryCount, tags: tagCount, users: userIds.length };
  });
  if (result.seeded) await vacuumSeededTables(target);
  return result;
}

/**
 * After a bulk load, outside its transaction: fresh statistics, so the first listings plan with
 * real row counts (not the empty-table guess), and a visibility map covering the new rows, so the
 * listings' index-only scans need no heap fetches (autovacuum would get there later). The link
 * inserts rewrite each post row once more (its stored term lists), which VACUUM also cleans up.
 */
async function vacuumSeededTables(target: Db | Queryable): Promise<void> {
  const vacuum = { text: 'VACUUM (ANALYZE) users, categories, tags, posts, post_categories, post_tags' };
  if ('write' in target && typeof target.write === 'function') await target.read({ primary: true }, (q) => q.query(vacuum));
  else await (target as Queryable).query(vacuum);
}

async function postSlugs(q: Queryable): Promise<Set<string>> {
  const existing = await q.query<{ slug: string }>({ text: 'SELECT slug FROM posts' });
  return new Set(existing.rows.map((r) => r.slug));
}

interface PostBatch {
  /** Number of the first post (titles carry `start + k + 1`, dates spread by it). */
  start: number;
  count: number;
  /** Dates spread evenly over the window as if there were this many posts (null: random in the window). */
  spreadOver: number | null;
  userIds: number[];
  catIds: number[];
  tagIds: number[];
  usedSlugs: Set<string>;
  /** Top-up posts are all published; the demo seed mixes statuses. */
  allPublished: boolean;
}

/** Inserts one chunk of generated posts with their category and tag links; returns how many. */
async function insertPosts(q: Queryable, rand: () => number, b: PostBatch): Promise<number> {
  const cols = { title: [] as string[], slug: [] as string[], content: [] as string[], excerpt: [] as string[], author: [] as number[], status: [] as Status[], published: [] as (string | null)[], created: [] as string[] };
  const links: Array<{ cats: number[]; tags: number[] }> = [];
  for (let k = 0; k < b.count; k++) {
    const i = b.start + k;
    const japanese = rand() < 0.6;
    const title = japanese
      ? `${pick(rand, jaNouns)}${pick(rand, jaPhrases)}（${i + 1}）`
      : `${pick(rand, enPhrases)} ${pick(rand, enNouns)} (${i + 1})`;
    const r = rand();
    const status: Status = b.allPublished || r < 0.85 ? 'published' : r < 0.9 ? 'unlisted' : r < 0.96 ? 'draft' : 'trash';
    // Spread evenly with jitter; newest posts have the highest numbers.
    const t = seedAnchor.getTime() - spreadMs + Math.floor((b.spreadOver === null ? rand() : (i + rand()) / Math.max(1, b.spreadOver)) * spreadMs);
    const when = new Date(t).toISOString();
    cols.title.push(title);
    cols.slug.push(uniqueSlugIn(slugify(title), b.usedSlugs));
    cols.content.push(body(rand, japanese, i));
    cols.excerpt.push(rand() < 0.4 ? paragraph(rand, japanese, 1) : '');
    cols.author.push(b.userIds[Math.floor(rand() * b.userIds.length)]);
    cols.status.push(status);
    cols.published.push(status === 'draft' ? null : when);
    cols.created.push(when);
    const catSet = new Set<number>();
    if (b.catIds.length) for (let c = 0, m = 1 + Math.floor(rand() * 2); c < m; c++) catSet.add(pick(rand, b.catIds));
    const tagSet = new Set<number>();
    if (b.tagIds.length) for (let c = 0, m = Math.floor(rand() * 5); c < m; c++) tagSet.add(pick(rand, b.tagIds));
    links.push({ cats: [...catSet], tags: [...tagSet] });
  }
  // Rendered like the app's own writes (app/content/rendered-post.ts).
  const rendered = cols.content.map(renderPostBody);
  const res = await q.query<{ id: string; slug: string }>({
    text: `INSERT INTO posts (title, slug, content, excerpt, author_id, status, published_at, created_at, updated_at, content_html, content_text, rendered_version)
           SELECT ti, sl, co, ex, au, st::post_status, pu, cr, cr, ht, tx, $11
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::text[], $10::text[])
             AS t(ti, sl, co, ex, au, st, pu, cr, ht, tx)
           RETURNING id, slug`,
    values: [cols.title, cols.slug, cols.content, cols.excerpt, cols.author, cols.status, cols.published, cols.created,
      rendered.map((b) => b.html), rendered.map((b) => b.text), renderedPostVersion],
  });
  const idBySlug = new Map(res.rows.map((row) => [row.slug, Number(row.id)]));
  const pcPost: number[] = [], pcCat: number[] = [], ptPost: number[] = [], ptTag: number[] = [];
  cols.slug.forEach((slug, k) => {
    const id = idBySlug.get(slug)!;
    for (const c of links[k].cats) { pcPost.push(id); pcCat.push(c); }
    for (const t of links[k].tags) { ptPost.push(id); ptTag.push(t); }
  });
  await q.query({ text: 'INSERT INTO post_categories (post_id, category_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])', values: [pcPost, pcCat] });
  await q.query({ text: 'INSERT INTO post_tags (post_id, tag_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])', values: [ptPost, ptTag] });
  return b.count;
}

export interface TopUpOptions {
  /** Published posts wanted on the site. */
  posts: number;
  seed?: number;
  /** Posts per transaction (and per progress report). */
  chunk?: number;
  onProgress?: (published: number, target: number) => void;
}

export interface TopUpResult {
  /** True when this call also wrote the first-start demo content. */
  demoSeeded: boolean;
  publishedBefore: number;
  added: number;
  published: number;
}

/**
 * Makes the site hold at least `posts` published posts: the demo content first (if it was never
 * seeded), then generated published posts linked to the existing authors, categories and tags.
 * Idempotent (it counts what is there, so a second run adds nothing) and safe to run twice at once
 * (each chunk recounts under the seed's advisory lock). `target` is a Db or one connected client.
 */
export async function seedPublishedPosts(target: Db | Queryable, opts: TopUpOptions): Promise<TopUpResult> {
  const chunk = Math.max(1, opts.chunk ?? 2000);
  const demo = await seedDemoContent(target, { posts: opts.posts, seed: opts.seed });
  const countPublished = async (q: Queryable) => Number((await q.query<{ n: string }>({ text: "SELECT count(*) AS n FROM posts WHERE status = 'published'" })).rows[0].n);
  let publishedBefore: number | null = null;
  let added = 0;
  let published = 0;
  for (;;) {
    const step = await inTransaction(target, async (q) => {
      await q.query({ text: "SELECT pg_advisory_xact_lock(hashtext('aidiary:seed'))" });
      const now = await countPublished(q);
      const n = Math.min(chunk, opts.posts - now);
      if (n <= 0) return { now, n: 0 };
      const users = await q.query<{ id: string }>({ text: "SELECT id FROM users WHERE role IN ('author', 'editor') ORDER BY id" });
      const cats = await q.query<{ id: string }>({ text: 'SELECT id FROM categories ORDER BY id' });
      const tags = await q.query<{ id: string }>({ text: 'SELECT id FROM tags ORDER BY id' });
      const total = await q.query<{ n: string }>({ text: 'SELECT count(*) AS n FROM posts' });
      let userIds = users.rows.map((r) => Number(r.id));
      if (!userIds.length) userIds = (await q.query<{ id: string }>({ text: 'SELECT id FROM users ORDER BY id LIMIT 1' })).rows.map((r) => Number(r.id));
      if (!userIds.length) throw new Error('seed: no user to author the posts; run the demo seed or create a user first');
      const start = Number(total.rows[0].n);
      // Seeded by position, so the same top-up gives the same posts.
      const rand = prng((opts.seed ?? 42) + start);
      await insertPosts(q, rand, {
        start, count: n, spreadOver: null, userIds, catIds: cats.rows.map((r) => Number(r.id)), tagIds: tags.rows.map((r) => Number(r.id)),
        usedSlugs: await postSlugs(q), allPublished: true,
      });
      return { now, n };
    });
    publishedBefore ??= step.now;
    added += step.n;
    published = step.now + step.n;
    if (step.n === 0) break;
    opts.onProgress?.(published, opts.posts);
  }
  if (added > 0) await vacuumSeededTables(target);
  return { demoSeeded: demo.seeded, publishedBefore: publishedBefore ?? 0, added, published };
}

/**
 * Creates the `admin` account, or resets its password and role. Re-hashes only when the stored hash
 * does not already match, so restarts do not churn the row. Only for an explicit request (a local
 * `up` with AIDIARY_ADMIN_PASSWORD set, test fixtures); releases use the create-only
 * createInitialAdmin (app/db/initial-admin.ts), which never resets a changed password.
 */
export async function ensureAdminUser(target: Db | Queryable, password: string): Promise<{ created: boolean; updated: boolean }> {
  const read = async (q: Queryable) => (await q.query<{ password_hash: string; role: string }>({ text: "SELECT password_hash, role::text AS role FROM users WHERE username = 'admin'" })).rows[0];
  const current = 'write' in target && typeof target.write === 'function'
    ? (await target.read({ primary: true }, read)).value
    : await read(target as Queryable);
  if (current && current.role === 'admin' && (await verifyPassword(current.password_hash, password))) return { created: false, updated: false };
  const hash = await hashPassword(password);
  return inTransaction(target, async (q) => {
    const res = await q.query<{ inserted: boolean }>({
      text: `INSERT INTO users (username, email, display_name, password_hash, role)
             VALUES ('admin', 'admin@localhost', 'Administrator', $1, 'admin')
             ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = 'admin', updated_at = now()
             RETURNING (xmax = 0) AS inserted`,
      values: [hash],
    });
    const created = Boolean(res.rows[0]?.inserted);
    return { created, updated: !created };
  });
}
