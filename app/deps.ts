import type { FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import type { AppConfig } from './config';
import type { Db, ReadContext } from './db/db';
import type { MediaLibrary } from './media/media-library';
import type { Jobs } from './jobs/jobs';
import type { LoginRateLimiter } from './session/rate-limit';

// What buildServer(deps) receives. main.ts is the only file that creates these from the config;
// tests build them against real PostgreSQL/Redis. No route reads the environment.

export type CacheStatus = 'HIT-L1' | 'HIT-L2' | 'MISS' | 'STALE' | 'BYPASS';

export interface RenderedPage {
  status: number;
  body: string;
  contentType: string;
  /** Node that answered the page's reads (X-DB-Node), null for pages with no DB read. */
  dbNode: string | null;
  /** App that rendered it (X-Served-By keeps the renderer's name on cached copies). */
  renderedBy: string;
  headers?: Record<string, string>;
  /**
   * The body already encoded (UTF-8), on pages held by the in-process L1 (app/cache/l1-cache.ts):
   * a hit writes these bytes as they are instead of encoding the string again for every request.
   */
  bytes?: Buffer;
}

export interface PageRequest {
  /** Canonical path (+ query for search), e.g. `/category/tech/page/2`. */
  key: string;
  /** Purge tags (app/cache/tags.ts) this page depends on; always includes `site`. */
  tags: string[];
  /** Renders from the DB; the cache passes the LSN the read must have replayed (invariant 4). */
  render(ctx: ReadContext): Promise<RenderedPage>;
}

export interface PageCache {
  get(req: PageRequest): Promise<{ page: RenderedPage; cacheStatus: CacheStatus }>;
  /** A fresh in-process (L1) copy of `key`, counted as a hit; undefined when there is none. */
  freshL1Hit?(key: string): RenderedPage | undefined;
  /** After a committed write: purge `tags` cluster-wide; `lsn` is the write's commit LSN. */
  invalidate(tags: string[], lsn: string): Promise<void>;
  flushAll(): Promise<void>;
  stats(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** What a post looked like before/after a write, for the purge set (app/cache/purge-set.ts). */
export interface PostSnapshot {
  id: number;
  slug: string;
  status: 'draft' | 'published' | 'unlisted' | 'trash';
  publishedAt: Date | null;
  authorUsername: string;
  categorySlugs: string[];
  tagSlugs: string[];
}

export type ContentChange =
  | { kind: 'post'; before: PostSnapshot | null; after: PostSnapshot | null; lsn: string }
  /** Category/tag/user renames, site settings: purge everything. */
  | { kind: 'site'; lsn: string };

export interface SessionData {
  userId: number;
  username: string;
  role: 'admin' | 'editor' | 'author' | 'subscriber';
  csrfToken: string;
  createdAt: number;
  /** Commit LSN of this session's newest write (read-your-writes). */
  lastWriteLsn: string | null;
  /** Newest LSN this session has read at (monotonic reads). */
  lastReadLsn: string | null;
}

export interface SessionStore {
  create(data: Omit<SessionData, 'createdAt'>): Promise<{ id: string; data: SessionData }>;
  get(id: string): Promise<SessionData | null>;
  /** Merge fields and slide the expiry (bounded by an absolute cap). */
  update(id: string, patch: Partial<SessionData>): Promise<void>;
  destroy(id: string): Promise<void>;
  /** Deletes every session of `userId` except `exceptId` (password change, role change, disable). */
  revokeUser(userId: number, exceptId?: string): Promise<number>;
  /** False while the store (Redis) is unreachable: session routes answer 503. */
  isAvailable(): boolean;
  close(): Promise<void>;
}

export interface AppDeps {
  config: AppConfig;
  db: Db;
  logger: FastifyBaseLogger;
  metrics: Registry;
  sessions: SessionStore;
  /** Login limits, on the session store's own Redis connection: both are available or neither. */
  loginLimiter: LoginRateLimiter;
  pageCache: PageCache;
  /** Called after every committed content write; the cache purges what it affects. */
  onContentChanged(change: ContentChange): Promise<void>;
  /** The media library on shared storage (app/media/). */
  media?: MediaLibrary;
  /**
   * Background jobs (app/jobs/, BullMQ on the sessions Redis): thumbnails, cache warming,
   * scheduled posts. summary() feeds the admin dashboard and throws while Redis is down.
   */
  jobs?: Jobs;
}
