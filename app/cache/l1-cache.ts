import { LRUCache } from 'lru-cache';
import type { RenderedPage } from '../deps';

// The in-process L1: lru-cache bounded in bytes, plus a tag → keys index so an invalidation drops
// exactly the entries that carry a purged tag. Freshness is ours (freshUntilMs); lru-cache's TTL is
// the hard end (fresh time + stale-while-revalidate window), after which an entry is gone.

export interface CachedPage {
  page: RenderedPage;
  tags: string[];
  /** Generation of each tag when the render started (invalidation-bus / tag-lsn-store). */
  gens: Record<string, number>;
  /** Epoch ms after which the entry is stale (served as STALE while one refresh runs). */
  freshUntilMs: number;
  renderedAtMs: number;
  /** The LSN the render was required to have replayed (null: primary or no tag LSN known). */
  minLsn: string | null;
}

const entryOverheadBytes = 512;

export function pageBytes(entry: CachedPage): number {
  let headerBytes = 0;
  for (const [k, v] of Object.entries(entry.page.headers ?? {})) headerBytes += k.length + v.length;
  const bodyBytes = entry.page.bytes ? entry.page.bytes.length : Buffer.byteLength(entry.page.body);
  return bodyBytes + headerBytes + entry.tags.join('').length * 2 + entryOverheadBytes;
}

/**
 * The page as L1 keeps it: the body once, as UTF-8 bytes (what a hit writes to the socket, and
 * outside V8's heap); `body` decodes them for the rare reader that wants the string.
 */
export function withEncodedBody(page: RenderedPage): RenderedPage {
  if (page.bytes) return page;
  const { body, ...rest } = page;
  const bytes = Buffer.from(body, 'utf8');
  return Object.defineProperty({ ...rest, bytes } as RenderedPage, 'body', {
    get: () => bytes.toString('utf8'), enumerable: true,
  });
}

export interface L1Options {
  maxBytes: number;
  onEvict(): void;
}

export class L1Cache {
  private readonly lru: LRUCache<string, CachedPage>;
  private readonly keysByTag = new Map<string, Set<string>>();

  constructor(opts: L1Options) {
    this.lru = new LRUCache<string, CachedPage>({
      maxSize: opts.maxBytes,
      // One page may not take more than an eighth of L1 (a huge page must not flush the rest).
      maxEntrySize: Math.max(1, Math.floor(opts.maxBytes / 8)),
      sizeCalculation: (entry) => pageBytes(entry),
      dispose: (entry, key, reason) => {
        // On 'set' the caller re-indexes (old tags may overlap the new ones).
        if (reason === 'set') return;
        this.unindex(key, entry.tags);
        if (reason === 'evict') opts.onEvict();
      },
    });
  }

  /** The entry (fresh or stale) or undefined; the caller decides on freshness. */
  get(key: string): CachedPage | undefined {
    return this.lru.get(key);
  }

  set(key: string, given: CachedPage, hardTtlMs: number): void {
    const entry: CachedPage = { ...given, page: withEncodedBody(given.page) };
    const old = this.lru.peek(key);
    this.lru.set(key, entry, { ttl: Math.max(1, hardTtlMs) });
    if (old) this.unindex(key, old.tags);
    if (!this.lru.has(key)) return; // too large for L1
    for (const tag of entry.tags) {
      let keys = this.keysByTag.get(tag);
      if (!keys) this.keysByTag.set(tag, (keys = new Set()));
      keys.add(key);
    }
  }

  delete(key: string): void {
    this.lru.delete(key);
  }

  /** Drops every entry carrying one of `tags`; returns how many were dropped. */
  dropTags(tags: Iterable<string>): number {
    let dropped = 0;
    for (const tag of tags) {
      const keys = this.keysByTag.get(tag);
      if (!keys) continue;
      for (const key of [...keys]) {
        if (this.lru.delete(key)) dropped++;
      }
      this.keysByTag.delete(tag);
    }
    return dropped;
  }

  /** Drops entries whose stored generation of some tag differs from `current` (the backstop). */
  dropOutdated(current: Map<string, number>): number {
    let dropped = 0;
    for (const [tag, gen] of current) {
      const keys = this.keysByTag.get(tag);
      if (!keys) continue;
      for (const key of [...keys]) {
        const entry = this.lru.peek(key, { allowStale: true });
        if (entry && (entry.gens[tag] ?? 0) !== gen && this.lru.delete(key)) dropped++;
      }
    }
    return dropped;
  }

  /** The tags carried by at least one entry (what the backstop has to check). */
  tags(): string[] {
    return [...this.keysByTag.keys()];
  }

  clear(): void {
    this.lru.clear();
    this.keysByTag.clear();
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }

  get entries(): number {
    return this.lru.size;
  }

  private unindex(key: string, tags: string[]): void {
    for (const tag of tags) {
      const keys = this.keysByTag.get(tag);
      if (!keys) continue;
      keys.delete(key);
      if (keys.size === 0) this.keysByTag.delete(tag);
    }
  }
}
