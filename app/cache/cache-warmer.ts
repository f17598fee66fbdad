import type { Redis } from 'ioredis';
import type { RenderLock } from './render-lock';

// Warming: after a purge and on start, the home page and the most-read pages are rendered again
// by exactly one replica, so the first visitors after a publish do not all miss. In an app the
// warm is a background job (app/jobs/: the `cache-warm` queue, deduplicated so the N apps that
// ask at once make one job, run by whichever app's worker takes it); without a queue (a bare page
// cache in tests) it runs on a local debounce timer. Either way `cache:warm-lock` guards run(). Reads are counted in-process and flushed to a sorted set every few seconds
// (one pipeline), not one Redis call per hit.

export const hitsKey = 'cache:hits';
export const warmLockKey = 'cache:warm-lock';

/**
 * Fetches one page through the app's own routes so it lands in the cache, e.g.
 * `(path) => app.inject({ method: 'GET', url: path })` (page keys are canonical paths).
 */
export type WarmFetcher = (path: string) => Promise<unknown>;

/** Puts a warm on the job queue (app/jobs/jobs.ts enqueueWarm); resolves false when it could not. */
export type WarmEnqueuer = () => Promise<boolean>;

const maxTrackedKeys = 10_000;

export class HitTracker {
  private pending = new Map<string, number>();

  record(key: string): void {
    if (this.pending.size >= maxTrackedKeys && !this.pending.has(key)) return;
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
  }

  async flush(redis: Redis): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const pipeline = redis.pipeline();
    for (const [key, n] of batch) pipeline.zincrby(hitsKey, n, key);
    await pipeline.exec();
  }

  static async hotKeys(redis: Redis, n: number): Promise<string[]> {
    if (n <= 0) return [];
    return redis.zrevrange(hitsKey, 0, n - 1);
  }
}

export class Warmer {
  private fetcher: WarmFetcher | null = null;
  private alwaysPaths: string[] = ['/'];
  private timer: NodeJS.Timeout | null = null;
  private enqueuer: WarmEnqueuer | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly lock: RenderLock,
    private readonly hotPages: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  setFetcher(fetcher: WarmFetcher | null, alwaysPaths: string[] = ['/']): void {
    this.fetcher = fetcher;
    this.alwaysPaths = alwaysPaths;
  }

  /** Routes schedule() to the job queue (null: back to the local timer). */
  setEnqueuer(enqueuer: WarmEnqueuer | null): void {
    this.enqueuer = enqueuer;
  }

  /** Debounced: a burst of invalidations (one write purges several tags) warms once. */
  schedule(delayMs = 200): void {
    if (this.enqueuer) {
      // The queue debounces (delayed, deduplicated job); a failed enqueue (Redis down) warms here.
      const enqueuer = this.enqueuer;
      enqueuer().then((queued) => { if (!queued) this.scheduleLocal(delayMs); }, this.onError);
      return;
    }
    this.scheduleLocal(delayMs);
  }

  private scheduleLocal(delayMs: number): void {
    if (!this.fetcher || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.run().catch(this.onError);
    }, delayMs);
    this.timer.unref();
  }

  /** Warms when this replica wins the lock; returns the number of pages requested, or null. */
  async run(): Promise<number | null> {
    const fetcher = this.fetcher;
    if (!fetcher) return null;
    const lock = await this.lock.tryAcquire(warmLockKey, 30_000);
    if (!lock) return null;
    try {
      const hot = await HitTracker.hotKeys(this.redis, this.hotPages);
      const paths = [...new Set([...this.alwaysPaths, ...hot])];
      // One after the other: warming must not compete with visitors for the DB pool.
      for (const path of paths) await fetcher(path).catch(this.onError);
      return paths.length;
    } finally {
      await lock.release().catch(this.onError);
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
