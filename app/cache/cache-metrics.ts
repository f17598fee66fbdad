import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

// Prometheus metrics of every app-side cache layer, plus plain counters for stats() (the admin
// page and the control server read them synchronously; prom-client's get() is async).

export type Layer = 'l1' | 'l2';

export interface CacheCounters {
  hitsL1: number;
  hitsL2: number;
  missesL1: number;
  missesL2: number;
  staleServed: number;
  renders: number;
  rendersNotStored: number;
  evictionsL1: number;
  invalidationsReceived: number;
  backstopDrops: number;
  redisErrors: number;
  l1Flushes: number;
}

export class CacheMetrics {
  readonly counters: CacheCounters = {
    hitsL1: 0, hitsL2: 0, missesL1: 0, missesL2: 0, staleServed: 0, renders: 0, rendersNotStored: 0,
    evictionsL1: 0, invalidationsReceived: 0, backstopDrops: 0, redisErrors: 0, l1Flushes: 0,
  };

  private readonly hits: Counter<'layer'>;
  private readonly misses: Counter<'layer'>;
  private readonly stale: Counter;
  private readonly renders: Counter<'stored'>;
  private readonly evictions: Counter<'layer'>;
  private readonly invalidations: Counter<'via'>;
  private readonly redisErrors: Counter<'op'>;
  private readonly invalidationDelay: Histogram;
  readonly l2Bytes: Gauge;
  readonly l2EvictedKeys: Gauge;
  readonly l1Bytes: Gauge;
  readonly l1Entries: Gauge;
  private readonly hitL1;
  private readonly hitL2;

  constructor(registry: Registry) {
    const registers = [registry];
    this.hits = new Counter({ name: 'aidiary_cache_hits_total', help: 'Page cache hits per layer', labelNames: ['layer'], registers });
    this.misses = new Counter({ name: 'aidiary_cache_misses_total', help: 'Page cache misses per layer', labelNames: ['layer'], registers });
    this.stale = new Counter({ name: 'aidiary_cache_stale_served_total', help: 'Expired (not purged) pages served while one refresh runs', registers });
    this.renders = new Counter({ name: 'aidiary_cache_renders_total', help: 'Page renders by the cache; stored="false" when a tag was invalidated during the render', labelNames: ['stored'], registers });
    this.evictions = new Counter({ name: 'aidiary_cache_evictions_total', help: 'Entries evicted for space', labelNames: ['layer'], registers });
    this.invalidations = new Counter({ name: 'aidiary_cache_invalidations_received_total', help: 'Invalidations applied to L1, by path (pubsub, backstop, local, flush)', labelNames: ['via'], registers });
    this.redisErrors = new Counter({ name: 'aidiary_cache_redis_errors_total', help: 'Cache-role Redis errors (each one is a cache miss, never a 500)', labelNames: ['op'], registers });
    this.invalidationDelay = new Histogram({
      name: 'aidiary_cache_invalidation_delay_seconds', help: 'Publish → L1 purge delay of invalidation messages',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2], registers,
    });
    this.l1Bytes = new Gauge({ name: 'aidiary_cache_l1_bytes', help: 'L1 size in bytes', registers });
    this.l1Entries = new Gauge({ name: 'aidiary_cache_l1_entries', help: 'L1 entries', registers });
    this.l2Bytes = new Gauge({ name: 'aidiary_cache_l2_bytes', help: 'Memory used by the cache Redis (INFO used_memory)', registers });
    this.l2EvictedKeys = new Gauge({ name: 'aidiary_cache_l2_evicted_keys', help: 'Keys the cache Redis evicted under maxmemory (INFO evicted_keys, a server-wide counter)', registers });
    this.hitL1 = this.hits.labels({ layer: 'l1' });
    this.hitL2 = this.hits.labels({ layer: 'l2' });
  }

  hit(layer: Layer): void {
    // Pre-bound children: the L1 hit path is the hottest code in the app.
    (layer === 'l1' ? this.hitL1 : this.hitL2).inc();
    if (layer === 'l1') this.counters.hitsL1++; else this.counters.hitsL2++;
  }

  miss(layer: Layer): void {
    this.misses.inc({ layer });
    if (layer === 'l1') this.counters.missesL1++; else this.counters.missesL2++;
  }

  staleServed(): void {
    this.stale.inc();
    this.counters.staleServed++;
  }

  rendered(stored: boolean): void {
    this.renders.inc({ stored: String(stored) });
    this.counters.renders++;
    if (!stored) this.counters.rendersNotStored++;
  }

  evicted(layer: Layer): void {
    this.evictions.inc({ layer });
    this.counters.evictionsL1++;
  }

  invalidationReceived(via: 'pubsub' | 'backstop' | 'local' | 'flush', delayMs?: number): void {
    this.invalidations.inc({ via });
    this.counters.invalidationsReceived++;
    if (via === 'backstop') this.counters.backstopDrops++;
    if (via === 'flush') this.counters.l1Flushes++;
    if (delayMs !== undefined && delayMs >= 0) this.invalidationDelay.observe(delayMs / 1000);
  }

  redisError(op: string): void {
    this.redisErrors.inc({ op });
    this.counters.redisErrors++;
  }
}
