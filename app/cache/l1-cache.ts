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
 * outside V8's heap); `body` decodes them for the rare reader that wants the string. A class, so
 * every cached page shares one hidden class and one getter: an object literal with a getter
 * defined per page cost each page a closure, its context and hidden-class metadata of its own.
 */
class EncodedPage implements RenderedPage {
  readonly status: number;
  readonly contentType: string;
  readonly dbNode: string | null;
  readonly renderedBy: string;
  readonly headers: Record<string, string> | undefined;
  readonly bytes: Buffer;

  constructor(page: RenderedPage, bytes: Buffer) {
    this.status = page.status;
    this.contentType = page.contentType;
    this.dbNode = page.dbNode;
    this.renderedBy = page.renderedBy;
    this.headers = page.headers;
    this.bytes = bytes;
  }

  get body(): string {
    return this.bytes.toString('utf8');
  }
}

export function withEncodedBody(page: RenderedPage): RenderedPage {
  if (page instanceof EncodedPage) return page;
  return new EncodedPage(page, page.bytes ?? Buffer.from(page.body, 'utf8'));
}

/**
 * An entry as L1 stores it. The generations are kept as numbers in the order of `tags`: a record
 * keyed by the page's own tags (`post:<slug>`) gave every entry a hidden class of its own. `gens`
 * rebuilds the record for the rare reader (never on a hit).
 */
class StoredEntry implements CachedPage {
  readonly page: RenderedPage;
  readonly tags: string[];
  readonly freshUntilMs: number;
  readonly renderedAtMs: number;
  readonly minLsn: string | null;
  /** gens[tags[i]] (undefined: the render carried no generation for that tag). */
  private readonly tagGens: (number | undefined)[];

  constructor(given: CachedPage) {
    this.page = withEncodedBody(given.page);
    this.tags = given.tags;
    this.freshUntilMs = given.freshUntilMs;
    this.renderedAtMs = given.renderedAtMs;
    this.minLsn = given.minLsn;
    this.tagGens = given.tags.map((tag) => (Object.hasOwn(given.gens, tag) ? given.gens[tag] : undefined));
  }

  get gens(): Record<string, number> {
    const gens: Record<string, number> = {};
    this.tags.forEach((tag, i) => {
      const gen = this.tagGens[i];
      if (gen !== undefined) gens[tag] = gen;
    });
    return gens;
  }

  /** The generation the render saw for `tag` (0 when it carried none, as for a missing key). */
  genOf(tag: string): number {
    const i = this.tags.indexOf(tag);
    return i < 0 ? 0 : (this.tagGens[i] ?? 0);
  }
}

export interface L1Options {
  maxBytes: number;
  onEvict(): void;
}

export class L1Cache {
  private readonly lru: LRUCache<string, StoredEntry>;
  /**
   * Tag → the keys carrying it: the key itself while only one entry carries the tag (most tags
   * are one post's), a Set from the second on. A Set per tag cost ~200 bytes of heap per entry.
   */
  private readonly keysByTag = new Map<string, string | Set<string>>();

  constructor(opts: L1Options) {
    this.lru = new LRUCache<string, StoredEntry>({
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
    const entry = new StoredEntry(given);
    const old = this.lru.peek(key);
    this.lru.set(key, entry, { ttl: Math.max(1, hardTtlMs) });
    if (old) this.unindex(key, old.tags);
    if (!this.lru.has(key)) return; // too large for L1
    for (const tag of entry.tags) {
      const keys = this.keysByTag.get(tag);
      if (keys === undefined || keys === key) this.keysByTag.set(tag, key);
      else if (typeof keys === 'string') this.keysByTag.set(tag, new Set([keys, key]));
      else keys.add(key);
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
      if (keys === undefined) continue;
      for (const key of keyList(keys)) {
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
      if (keys === undefined) continue;
      for (const key of keyList(keys)) {
        const entry = this.lru.peek(key, { allowStale: true });
        if (entry && entry.genOf(tag) !== gen && this.lru.delete(key)) dropped++;
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
      if (keys === undefined) continue;
      if (typeof keys === 'string') {
        if (keys === key) this.keysByTag.delete(tag);
        continue;
      }
      keys.delete(key);
      if (keys.size === 1) this.keysByTag.set(tag, keys.values().next().value!);
      else if (keys.size === 0) this.keysByTag.delete(tag);
    }
  }
}

/** A copy of a tag's keys (deleting entries edits the index while we walk it). */
function keyList(keys: string | Set<string>): string[] {
  return typeof keys === 'string' ? [keys] : [...keys];
}
