import type { FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config';
import type { Db, ReadContext } from '../db/db';
import { compareLsn } from '../db/db';
import type { CacheStatus, PageCache, PageRequest, RenderedPage } from '../deps';
import { siteTag } from './tags';
import { CacheMetrics } from './cache-metrics';
import { createCacheRedis, createCacheSubscriber } from './cache-redis-client';
import { quitWithin } from '../redis-connection';
import { HitTracker, Warmer, type WarmEnqueuer, type WarmFetcher } from './cache-warmer';
import { InvalidationBus, type InvalidationMessage } from './invalidation-bus';
import { L1Cache, type CachedPage } from './l1-cache';
import { L2Cache } from './l2-cache';
import { RenderLock, lockKey } from './render-lock';
import { SingleFlight } from './single-flight';
import { TagLsnStore, type TagMeta } from './tag-lsn-store';

// The app-side page cache (issue 5): L1 in-process LRU (bytes) → L2 Redis → render.
// Correctness rules, each with a test in test/integration/page-cache*.test.ts:
// - A fill renders with minLsn = the newest LSN recorded for any of the page's tags (read in the
//   same round trip as the L2 lookup), so the router reads from a node that has replayed every
//   write that purged the page, or evicted it: the LSN comes from the tag store, not the purge.
// - A render during which one of its tags was invalidated is served but not stored: the store is
//   a Lua script that compares the tags' generations with those read before the render.
// - Every replica's L1 drops purged entries on a pub/sub message; a poll of one global generation
//   (every backstopIntervalMs) catches lost messages; a Redis reconnect flushes L1.
// - One render per key per process (single-flight) and per cluster (Redis lock; the others poll
//   L2), stale-while-revalidate for expired-not-purged entries, jittered TTLs.
// - A Redis error is a miss, a log line and a counter; L1 keeps serving.

export interface PageCacheDeps {
  config: AppConfig;
  logger: FastifyBaseLogger;
  metrics: Registry;
  db: Db;
}

export interface PageCacheTuning {
  backstopIntervalMs: number;
  lockLeaseMs: number;
  /** How long a replica waits for another replica's render before rendering itself. */
  lockWaitMs: number;
  lockPollMs: number;
  /** How many most-read pages warming renders besides what the warm source always includes. */
  warmHotPages: number;
  /** Fresh time of L1 entries rendered while Redis is unreachable (no cross-replica purge then). */
  outageFreshSeconds: number;
  hitFlushIntervalMs: number;
}

const defaultTuning: PageCacheTuning = {
  backstopIntervalMs: 500,
  lockLeaseMs: 5000,
  lockWaitMs: 3000,
  lockPollMs: 15,
  warmHotPages: 20,
  outageFreshSeconds: 5,
  hitFlushIntervalMs: 5000,
};

export interface CacheLayers {
  l1: boolean;
  l2: boolean;
}

/** The PageCache plus what the control server, the warmers and the tests use. */
export interface ClusterPageCache extends PageCache {
  layers(): CacheLayers;
  setLayers(layers: Partial<CacheLayers>): void;
  /**
   * Whether concurrent misses of one key in this process share one render (single-flight, on by
   * default). The bench's `home-uncached` turns it off with both layers off, so every request
   * runs the page's SQL and renders it, as the scenario claims.
   */
  coalesces(): boolean;
  setCoalesce(on: boolean): void;
  /** Renders done by this process and by the whole cluster (a Redis counter; null if unknown). */
  renderCounts(): Promise<{ process: number; cluster: number | null }>;
  /**
   * Registers how to warm a path (through the app's routes, e.g. app.inject) and which paths are
   * always warmed ('/' by default) besides the most-read ones. Warming runs after purges (on the
   * replica that purged, debounced) and on warm(); a Redis lock makes one replica do it.
   */
  setWarmFetcher(fetcher: WarmFetcher | null, alwaysPaths?: string[]): void;
  /** Warms after purges go through the job queue (app/jobs/) instead of a local timer. */
  setWarmQueue(enqueuer: WarmEnqueuer | null): void;
  /** Warms now if this replica wins the lock: the number of paths fetched, or null. */
  warm(): Promise<number | null>;
  /** L1 size right now (no Redis round trip). */
  l1Stats(): { bytes: number; entries: number };
  /** Resolves once the cache client is ready and the subscriber subscribed, or after timeoutMs. */
  ready(timeoutMs?: number): Promise<void>;
  /** Test hook: drop this replica's incoming invalidation messages (as if lost). */
  setDropInvalidationMessages(drop: boolean): void;
}

export function isClusterPageCache(cache: PageCache): cache is ClusterPageCache {
  return typeof (cache as Partial<ClusterPageCache>).setLayers === 'function';
}

const cacheableStatus = (page: RenderedPage) => page.status === 200;
const jitter = (ms: number) => Math.round(ms * (0.9 + Math.random() * 0.2));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function createPageCache(deps: PageCacheDeps, tuning: Partial<PageCacheTuning> = {}): ClusterPageCache {
  return new RedisPageCache(deps, { ...defaultTuning, ...tuning });
}

type Result = { page: RenderedPage; cacheStatus: CacheStatus };

class RedisPageCache implements ClusterPageCache {
  private readonly logger: FastifyBaseLogger;
  private readonly metrics: CacheMetrics;
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly tagStore: TagLsnStore;
  private readonly l1: L1Cache;
  private readonly l2: L2Cache;
  private readonly bus: InvalidationBus;
  private readonly lock: RenderLock;
  private readonly flights = new SingleFlight<Result>();
  private readonly refreshes = new SingleFlight<void>();
  private readonly hits = new HitTracker();
  private readonly warmer: Warmer;
  private readonly swrMs: number;
  private layerState: CacheLayers;
  private coalesce = true;
  /** Newest generation per tag this process has heard of (pub/sub or backstop). */
  private readonly knownGens = new Map<string, number>();
  private lastGlobalGen = -1;
  /** Newest __gen the backstop has read (set before it reads the tag generations). */
  private highestGlobalGen = -1;
  private recheck = false;
  private backstopRunning = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private redisConnectedOnce = false;
  /** Invalidations that could not reach Redis; replayed on reconnect. */
  private pending: { tags: Set<string>; lsn: string | null; overflow: boolean } = { tags: new Set(), lsn: null, overflow: false };
  private floorInFlight: Promise<void> | null = null;
  private lastFloorAttemptMs = 0;
  private processRenders = 0;
  private readonly lastErrorLogMs = new Map<string, number>();
  private readonly subscribed: Promise<void>;
  private closed = false;

  constructor(private readonly deps: PageCacheDeps, private readonly tuning: PageCacheTuning) {
    const { config } = deps;
    this.logger = deps.logger;
    this.metrics = new CacheMetrics(deps.metrics);
    this.swrMs = config.cache.staleWhileRevalidateSeconds * 1000;
    this.layerState = { l1: config.cache.l1, l2: config.cache.l2 };
    const onConnError = () => this.metrics.redisError('connection');
    this.redis = createCacheRedis(config.redisCacheUrl, this.logger, `${config.appName}-cache`, onConnError, config.redisCacheAuth);
    this.subscriber = createCacheSubscriber(config.redisCacheUrl, this.logger, `${config.appName}-cache-sub`, onConnError, config.redisCacheAuth);
    this.tagStore = new TagLsnStore(this.redis);
    this.l1 = new L1Cache({ maxBytes: config.cache.l1MaxBytes, onEvict: () => this.metrics.evicted('l1') });
    this.l2 = new L2Cache(this.redis, this.tagStore);
    this.lock = new RenderLock(this.redis, tuning.lockLeaseMs);
    this.bus = new InvalidationBus(this.redis, this.subscriber, {
      onMessage: (msg) => this.onMessage(msg),
      onResubscribed: () => this.flushL1('subscriber reconnected'),
      onError: (err) => this.redisFailed('pubsub', err),
    });
    this.warmer = new Warmer(this.redis, this.lock, tuning.warmHotPages, (err) => this.logger.warn({ err }, 'cache warming step failed'));

    this.redis.on('ready', () => {
      if (this.redisConnectedOnce) this.onRedisReconnected();
      this.redisConnectedOnce = true;
      void this.ensureFloor();
    });
    this.subscribed = this.bus.start().catch((err) => this.redisFailed('subscribe', err));

    const every = (ms: number, fn: () => Promise<void>) => {
      const t = setInterval(() => { fn().catch(() => {}); }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(tuning.backstopIntervalMs, () => this.backstop());
    every(tuning.hitFlushIntervalMs, () => this.hits.flush(this.redis).catch((err) => this.redisFailed('hits', err)));
    every(1000, async () => this.updateSizeGauges());
    every(5000, async () => { await this.readL2Info(); });
  }

  // ---- reads -------------------------------------------------------------------------------

  /**
   * The page of a fresh L1 entry, counted as an L1 hit, or undefined (nothing counted: the caller
   * goes on to get(), which counts what it finds). The hot path (app/hot-path.ts) serves this
   * without fastify; get() starts with it.
   */
  freshL1Hit(key: string): RenderedPage | undefined {
    return this.layerState.l1 ? this.countIfFresh(key, this.l1.get(key), Date.now()) : undefined;
  }

  /** An L1 entry's page when it is fresh, counted as an L1 hit. */
  private countIfFresh(key: string, entry: CachedPage | undefined, now: number): RenderedPage | undefined {
    if (!entry || now >= entry.freshUntilMs) return undefined;
    this.metrics.hit('l1');
    this.hits.record(key);
    return entry.page;
  }

  async get(req: PageRequest): Promise<Result> {
    const now = Date.now();
    if (this.layerState.l1) {
      const entry = this.l1.get(req.key);
      const fresh = this.countIfFresh(req.key, entry, now);
      if (fresh) return { page: fresh, cacheStatus: 'HIT-L1' };
      if (entry) {
        if (now < entry.freshUntilMs + this.swrMs) {
          // Expired but not purged (purges delete the entry): serve it while one refresh runs.
          this.metrics.staleServed();
          this.refreshInBackground(req);
          return { page: entry.page, cacheStatus: 'STALE' };
        }
      }
      this.metrics.miss('l1');
    }
    if (!this.coalesce) return this.fill(req);
    return this.flights.do(req.key, () => this.fill(req));
  }

  private async fill(req: PageRequest): Promise<Result> {
    let lookup;
    try {
      lookup = await this.l2.lookup(req.key, req.tags, this.layerState.l2);
    } catch (err) {
      this.redisFailed('lookup', err);
      return this.renderDuringOutage(req);
    }
    const served = this.serveFromL2(req, lookup.entry, lookup.meta);
    if (served) return served;
    if (this.layerState.l2) this.metrics.miss('l2');
    // Without L2 no other replica could reuse our render: the cross-replica lock is pointless.
    if (!this.layerState.l2) return this.renderAndStore(req, lookup.meta);

    let meta = lookup.meta;
    const deadline = Date.now() + this.tuning.lockWaitMs;
    for (;;) {
      let lock;
      try {
        lock = await this.lock.tryAcquire(lockKey(req.key));
      } catch (err) {
        this.redisFailed('lock', err);
        return this.renderAndStore(req, meta);
      }
      if (lock) {
        try {
          // The lock may be free only because another replica just finished this render: look
          // again now that no one can store under us, or a replica that missed before that store
          // and locked after its release renders the page a second time.
          let again;
          try {
            again = await this.l2.lookup(req.key, req.tags, true);
          } catch (err) {
            this.redisFailed('lookup', err);
            return await this.renderDuringOutage(req);
          }
          return this.serveFromL2(req, again.entry, again.meta) ?? await this.renderAndStore(req, again.meta);
        } finally {
          lock.release().catch((err) => this.redisFailed('unlock', err));
        }
      }
      // Another replica renders this key: wait for its L2 entry instead of rendering too.
      await sleep(this.tuning.lockPollMs);
      try {
        const again = await this.l2.lookup(req.key, req.tags, true);
        const hit = this.serveFromL2(req, again.entry, again.meta);
        if (hit) return hit;
        meta = again.meta;
      } catch (err) {
        this.redisFailed('lookup', err);
        return this.renderDuringOutage(req);
      }
      if (Date.now() > deadline) return this.renderAndStore(req, meta);
    }
  }

  /** An L2 entry is usable when no tag's generation moved since it was rendered. */
  private serveFromL2(req: PageRequest, entry: CachedPage | null, meta: TagMeta): Result | null {
    if (!entry || !req.tags.every((t) => (entry.gens[t] ?? 0) === meta.gens[t])) return null;
    const now = Date.now();
    if (now < entry.freshUntilMs) {
      this.metrics.hit('l2');
      this.hits.record(req.key);
      const l1FreshUntil = Math.min(entry.freshUntilMs, now + jitter(this.deps.config.cache.l1TtlSeconds * 1000));
      this.putL1(req.key, { ...entry, freshUntilMs: l1FreshUntil }, meta.globalGen);
      return { page: entry.page, cacheStatus: 'HIT-L2' };
    }
    if (now < entry.freshUntilMs + this.swrMs) {
      this.metrics.staleServed();
      this.refreshInBackground(req);
      return { page: entry.page, cacheStatus: 'STALE' };
    }
    return null;
  }

  private async renderAndStore(req: PageRequest, meta: TagMeta): Promise<Result> {
    let ctx: ReadContext;
    if (meta.floorKnown) {
      // The fill keeps meta.minLsn, never the read's own LSN: no post-read LSN query needed.
      ctx = { minLsn: meta.minLsn, trackLsn: false };
    } else {
      // Redis lost the tag LSNs (and generations): only the primary is sure to have every write.
      this.knownGens.clear();
      void this.ensureFloor();
      ctx = { primary: true };
    }
    const startedAtMs = Date.now();
    const page = await this.render(req, ctx);
    if (!cacheableStatus(page)) return { page, cacheStatus: 'MISS' };
    if (!this.layerState.l1 && !this.layerState.l2) {
      // Nothing would keep the page: skip the store script (a JSON copy of the body sent to Redis).
      this.metrics.rendered(false);
      return { page, cacheStatus: 'MISS' };
    }

    const { config } = this.deps;
    const l2FreshMs = jitter(config.cache.l2TtlSeconds * 1000);
    const entry: CachedPage = {
      page, tags: req.tags, gens: meta.gens, renderedAtMs: startedAtMs,
      freshUntilMs: startedAtMs + l2FreshMs, minLsn: ctx.minLsn ?? null,
    };
    let stored = false;
    try {
      // With L2 off the script only checks the generations (for L1): no body to send.
      const json = this.layerState.l2 ? JSON.stringify(entry) : '';
      stored = await this.tagStore.storeIfCurrent(req.key, json, l2FreshMs + this.swrMs, meta.gens, this.layerState.l2);
    } catch (err) {
      this.redisFailed('store', err);
    }
    this.metrics.rendered(stored);
    if (stored) {
      this.putL1(req.key, { ...entry, freshUntilMs: Math.min(entry.freshUntilMs, startedAtMs + jitter(config.cache.l1TtlSeconds * 1000)) }, meta.globalGen);
    } else {
      this.logger.debug({ key: req.key }, 'page rendered during an invalidation of its tags: served, not stored');
    }
    return { page, cacheStatus: 'MISS' };
  }

  /** Redis unreachable: read from the primary (tag LSNs unknown), keep a short-lived L1 copy. */
  private async renderDuringOutage(req: PageRequest): Promise<Result> {
    if (this.layerState.l2) this.metrics.miss('l2');
    const now = Date.now();
    const page = await this.render(req, { primary: true });
    this.metrics.rendered(false);
    if (cacheableStatus(page)) {
      // gens {} never match the backstop after Redis is back, and a reconnect flushes L1 anyway.
      this.putL1(req.key, { page, tags: req.tags, gens: {}, renderedAtMs: now, minLsn: null, freshUntilMs: now + this.tuning.outageFreshSeconds * 1000 }, -1);
    }
    return { page, cacheStatus: 'MISS' };
  }

  private async render(req: PageRequest, ctx: ReadContext): Promise<RenderedPage> {
    this.processRenders++;
    this.redis.incr('cache:renders').catch(() => {});
    this.hits.record(req.key);
    return req.render(ctx);
  }

  private refreshInBackground(req: PageRequest): void {
    if (this.refreshes.has(req.key)) return;
    this.refreshes.do(req.key, async () => {
      try {
        const lookup = await this.l2.lookup(req.key, req.tags, this.layerState.l2);
        const meta = lookup.meta;
        // Another replica may have refreshed it already: take its L2 copy instead of rendering.
        const entry = lookup.entry;
        if (entry && Date.now() < entry.freshUntilMs && req.tags.every((t) => (entry.gens[t] ?? 0) === meta.gens[t])) {
          this.putL1(req.key, { ...entry, freshUntilMs: Math.min(entry.freshUntilMs, Date.now() + jitter(this.deps.config.cache.l1TtlSeconds * 1000)) }, meta.globalGen);
          return;
        }
        const lock = await this.lock.tryAcquire(lockKey(req.key));
        if (!lock) return; // another replica refreshes it
        try {
          await this.renderAndStore(req, meta);
        } finally {
          lock.release().catch(() => {});
        }
      } catch (err) {
        this.redisFailed('refresh', err);
      }
    }).catch((err) => this.logger.warn({ err, key: req.key }, 'background page refresh failed'));
  }

  /** `lookupGlobalGen`: the cluster generation read together with the entry's tag generations. */
  private putL1(key: string, entry: CachedPage, lookupGlobalGen: number): void {
    if (!this.layerState.l1) return;
    // A purge we already heard of (message or backstop) that is newer than the render: skip.
    for (const tag of entry.tags) {
      const known = this.knownGens.get(tag);
      if (known !== undefined && known > (entry.gens[tag] ?? 0)) return;
    }
    this.l1.set(key, entry, entry.freshUntilMs + this.swrMs - Date.now());
    // Looked up before a generation the backstop already checked: a lost message in between
    // would go unnoticed (the backstop only rechecks when __gen moves), so recheck next tick.
    if (lookupGlobalGen < this.highestGlobalGen) this.recheck = true;
  }

  // ---- invalidation ------------------------------------------------------------------------

  async invalidate(tags: string[], lsn: string): Promise<void> {
    const unique = [...new Set(tags)];
    if (unique.length === 0) return;
    this.l1.dropTags(unique);
    this.metrics.invalidationReceived('local');
    try {
      const gens = await this.tagStore.invalidate(unique, lsn);
      this.learnGens(gens);
      this.l1.dropTags(unique); // a fill may have stored between the first drop and the script
      await this.bus.publish({ type: 'invalidate', tags: unique, gens, sentAtMs: Date.now(), origin: this.deps.config.appName });
    } catch (err) {
      this.redisFailed('invalidate', err);
      this.remember(unique, lsn);
    }
    this.warmer.schedule();
  }

  private onMessage(msg: InvalidationMessage): void {
    const delayMs = Date.now() - msg.sentAtMs;
    if (msg.type === 'flush') {
      this.l1.clear();
      this.metrics.invalidationReceived('flush', delayMs);
      return;
    }
    this.learnGens(msg.gens);
    this.l1.dropTags(msg.tags);
    this.metrics.invalidationReceived('pubsub', delayMs);
  }

  private learnGens(gens: Record<string, number> | Map<string, number>): void {
    // Bounded: when it grows past 100k tags, forget; the store script and backstop still hold.
    if (this.knownGens.size > 100_000) this.knownGens.clear();
    for (const [tag, gen] of gens instanceof Map ? gens : Object.entries(gens)) {
      if ((this.knownGens.get(tag) ?? -1) < gen) this.knownGens.set(tag, gen);
    }
  }

  /** The generation backstop: catches invalidation messages this replica never received. */
  private async backstop(): Promise<void> {
    if (this.backstopRunning || this.closed || this.redis.status !== 'ready') return;
    this.backstopRunning = true;
    try {
      const globalGen = await this.tagStore.globalGen();
      if (globalGen === this.lastGlobalGen && !this.recheck) return;
      this.highestGlobalGen = Math.max(this.highestGlobalGen, globalGen);
      this.recheck = false;
      const tags = this.l1.tags();
      const current = await this.tagStore.gens(tags);
      this.learnGens(current);
      const dropped = this.l1.dropOutdated(current);
      if (dropped > 0) {
        this.metrics.invalidationReceived('backstop');
        this.logger.info({ dropped }, 'cache backstop dropped L1 entries a lost invalidation message left behind');
      }
      this.lastGlobalGen = globalGen;
    } catch (err) {
      this.redisFailed('backstop', err);
    } finally {
      this.backstopRunning = false;
    }
  }

  private remember(tags: string[], lsn: string): void {
    const p = this.pending;
    for (const t of tags) p.tags.add(t);
    if (p.tags.size > 10_000) { p.tags = new Set([siteTag]); p.overflow = true; }
    if (lsn && (p.lsn === null || compareLsn(lsn, p.lsn) > 0)) p.lsn = lsn;
  }

  private onRedisReconnected(): void {
    this.flushL1('cache redis reconnected');
    this.lastGlobalGen = -1;
    this.highestGlobalGen = -1; // a restarted Redis counts __gen from 0 again
    this.knownGens.clear(); // … and every tag generation too (else L1 would refuse them)
    this.recheck = true;
    const p = this.pending;
    if (p.tags.size === 0) return;
    this.pending = { tags: new Set(), lsn: null, overflow: false };
    // `site` is on every page: an overflowed queue purges everything at the newest LSN.
    const tags = p.overflow ? [siteTag] : [...p.tags];
    this.logger.warn({ tags: tags.length }, 'replaying invalidations that failed while cache redis was down');
    void this.invalidate(tags, p.lsn ?? '');
  }

  private flushL1(reason: string): void {
    this.l1.clear();
    this.metrics.invalidationReceived('flush');
    this.logger.info({ reason }, 'L1 page cache flushed');
  }

  /** Sets the LSN floor (primary's current LSN) when Redis has none (fresh or lost data). */
  private ensureFloor(): Promise<void> {
    if (this.floorInFlight) return this.floorInFlight;
    if (Date.now() - this.lastFloorAttemptMs < 1000) return Promise.resolve();
    this.lastFloorAttemptMs = Date.now();
    this.floorInFlight = (async () => {
      try {
        const { value } = await this.deps.db.read({ primary: true }, (q) => q.query<{ lsn: string }>({ text: 'SELECT pg_current_wal_lsn()::text AS lsn' }));
        await this.tagStore.ensureFloor(value.rows[0].lsn);
      } catch (err) {
        this.logger.warn({ err }, 'cannot set the cache LSN floor; renders use the primary until it is set');
      } finally {
        this.floorInFlight = null;
      }
    })();
    return this.floorInFlight;
  }

  private redisFailed(op: string, err: unknown): void {
    this.metrics.redisError(op);
    // One line per operation per 5 s: an outage must not flood the log with one line per request.
    const now = Date.now();
    if (now - (this.lastErrorLogMs.get(op) ?? 0) < 5000) return;
    this.lastErrorLogMs.set(op, now);
    this.logger.warn({ err, op }, 'cache redis unavailable: treated as a cache miss');
  }

  /** L2 size and evictions come from the Redis server itself (INFO), shared by all replicas. */
  private async readL2Info(): Promise<{ usedMemoryBytes: number; evictedKeys: number; maxMemoryBytes: number } | null> {
    if (this.redis.status !== 'ready') return null;
    try {
      const info = await this.redis.info();
      const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
      const out = { usedMemoryBytes: field('used_memory'), evictedKeys: field('evicted_keys'), maxMemoryBytes: field('maxmemory') };
      this.metrics.l2Bytes.set(out.usedMemoryBytes);
      this.metrics.l2EvictedKeys.set(out.evictedKeys);
      return out;
    } catch (err) {
      this.redisFailed('info', err);
      return null;
    }
  }

  private updateSizeGauges(): void {
    this.metrics.l1Bytes.set(this.l1.bytes);
    this.metrics.l1Entries.set(this.l1.entries);
  }

  // ---- admin, control, lifecycle -----------------------------------------------------------

  async flushAll(): Promise<void> {
    this.logger.info({ audit: true, app: this.deps.config.appName }, 'page cache flush-all');
    this.l1.clear();
    try {
      // Bumping `site` (on every page) makes renders in flight skip their store.
      const gens = await this.tagStore.invalidate([siteTag], '');
      this.learnGens(gens);
      await this.l2.deleteAllPages();
      await this.bus.publish({ type: 'flush', sentAtMs: Date.now(), origin: this.deps.config.appName });
    } catch (err) {
      this.redisFailed('flush', err);
    }
    this.warmer.schedule();
  }

  async stats(): Promise<Record<string, unknown>> {
    this.updateSizeGauges();
    const c = this.metrics.counters;
    const served = c.hitsL1 + c.hitsL2 + c.staleServed;
    return {
      enabled: true,
      app: this.deps.config.appName,
      layers: this.layers(),
      coalesce: this.coalesce,
      redis: this.redis.status,
      l1: { bytes: this.l1.bytes, entries: this.l1.entries, maxBytes: this.deps.config.cache.l1MaxBytes },
      l2: await this.readL2Info(),
      counters: { ...c },
      // Requests not rendered / all requests (the benchmark's definition).
      hitRatio: served + c.renders > 0 ? served / (served + c.renders) : null,
    };
  }

  layers(): CacheLayers {
    return { ...this.layerState };
  }

  l1Stats(): { bytes: number; entries: number } {
    return { bytes: this.l1.bytes, entries: this.l1.entries };
  }

  setLayers(layers: Partial<CacheLayers>): void {
    this.layerState = { ...this.layerState, ...layers };
    if (!this.layerState.l1) this.l1.clear();
    this.logger.info({ layers: this.layerState }, 'page cache layers changed');
  }

  coalesces(): boolean {
    return this.coalesce;
  }

  setCoalesce(on: boolean): void {
    this.coalesce = on;
    this.logger.info({ coalesce: on }, 'page cache single-flight changed');
  }

  async renderCounts(): Promise<{ process: number; cluster: number | null }> {
    let cluster: number | null = null;
    try {
      cluster = Number((await this.redis.get('cache:renders')) ?? 0);
    } catch (err) {
      this.redisFailed('renders', err);
    }
    return { process: this.processRenders, cluster };
  }

  setWarmFetcher(fetcher: WarmFetcher | null, alwaysPaths?: string[]): void {
    this.warmer.setFetcher(fetcher, alwaysPaths);
  }

  setWarmQueue(enqueuer: WarmEnqueuer | null): void {
    this.warmer.setEnqueuer(enqueuer);
  }

  async warm(): Promise<number | null> {
    try {
      return await this.warmer.run();
    } catch (err) {
      this.redisFailed('warm', err);
      return null;
    }
  }

  /** Both connections up (bounded: a cache that cannot connect must not hold up a start). */
  async ready(timeoutMs = 5000): Promise<void> {
    const clientReady = this.redis.status === 'ready'
      ? Promise.resolve()
      : new Promise<void>((resolve) => this.redis.once('ready', () => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); });
    await Promise.race([Promise.all([this.subscribed, clientReady]), timeout]);
    clearTimeout(timer);
  }

  setDropInvalidationMessages(drop: boolean): void {
    this.bus.dropIncoming = drop;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.warmer.close();
    await this.hits.flush(this.redis).catch(() => {});
    // Bounded: a client that never reached Redis would wait for a connection to send QUIT.
    await Promise.all([this.subscriber, this.redis].map((client) => quitWithin(client, 500)));
  }
}
