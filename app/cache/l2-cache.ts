import type { Redis } from 'ioredis';
import type { CachedPage } from './l1-cache';
import type { TagLsnStore, TagMeta } from './tag-lsn-store';

// The L2 in the `cache` Redis role (allkeys-lru, no persistence): one JSON string per page with
// its body and metadata, expiring after the fresh TTL plus the stale-while-revalidate window, and
// one set per tag listing the page keys that carry it (what an invalidation deletes).
// lookup() reads the page and its tags' generations/LSNs in ONE round trip (a pipeline).

export const pageKey = (key: string) => `cache:page:${key}`;
export const tagKeysKey = (tag: string) => `cache:tagkeys:${tag}`;

export interface L2Lookup {
  entry: CachedPage | null;
  meta: TagMeta;
}

export class L2Cache {
  constructor(private readonly redis: Redis, private readonly tagStore: TagLsnStore) {}

  async lookup(key: string, tags: string[], readPage: boolean): Promise<L2Lookup> {
    const pipeline = this.redis.pipeline();
    if (readPage) pipeline.get(pageKey(key));
    pipeline.hmget('cache:tags', ...this.tagStore.metaFields(tags));
    const results = (await pipeline.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
    const raw = readPage ? (results[0][1] as string | null) : null;
    const metaValues = results[readPage ? 1 : 0][1] as (string | null)[];
    let entry: CachedPage | null = null;
    if (raw) {
      try {
        entry = JSON.parse(raw) as CachedPage;
      } catch {
        entry = null; // a corrupt entry is a miss
      }
    }
    return { entry, meta: this.tagStore.parseMeta(tags, metaValues) };
  }

  async deleteAllPages(): Promise<number> {
    // SCAN + UNLINK in batches: never KEYS/FLUSHDB on a shared server.
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', 'cache:page:*', 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await this.redis.unlink(...keys);
    } while (cursor !== '0');
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', 'cache:tagkeys:*', 'COUNT', 1000);
      cursor = next;
      if (keys.length) await this.redis.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  }
}
