import type { BenchApp } from './bench-target';

// Client of every app's loopback control port (app/control-server.ts): switch cache layers, flush,
// read render counters. Only reachable on 127.0.0.1, never through nginx.

export interface CacheLayers { l1: boolean; l2: boolean }
export interface CacheCounters { hitsL1: number; hitsL2: number; staleServed: number; renders: number }

async function call(app: BenchApp, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  if (app.controlPort === null) throw new Error(`${app.name} has no control port`);
  const res = await fetch(`http://127.0.0.1:${app.controlPort}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${app.name} control ${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : null;
}

export class ControlClient {
  constructor(readonly apps: BenchApp[]) {}

  /** True when every app has a control port (a switch is only honest if it reaches all of them). */
  get available(): boolean {
    return this.apps.length > 0 && this.apps.every((a) => a.controlPort !== null);
  }

  /**
   * With every layer off the apps also stop coalescing concurrent misses (`coalesce: false`), so
   * each request runs the SQL and renders; any layer on restores single-flight (the default).
   */
  async setLayers(layers: CacheLayers): Promise<void> {
    const coalesce = layers.l1 || layers.l2;
    await Promise.all(this.apps.map((a) => call(a, 'POST', '/cache/layers', { ...layers, coalesce })));
  }

  /** Page-cache counters summed over the apps (hits per layer, stale, renders). */
  async counters(): Promise<CacheCounters> {
    const all = await Promise.all(this.apps.map(async (a) => {
      const stats = (await call(a, 'GET', '/cache/stats')) as { counters?: Partial<Record<string, number>> } | null;
      const c = stats?.counters ?? {};
      return { hitsL1: c.hitsL1 ?? 0, hitsL2: c.hitsL2 ?? 0, staleServed: c.staleServed ?? 0, renders: c.renders ?? 0 };
    }));
    return all.reduce((x, y) => ({ hitsL1: x.hitsL1 + y.hitsL1, hitsL2: x.hitsL2 + y.hitsL2, staleServed: x.staleServed + y.staleServed, renders: x.renders + y.renders }));
  }

  /** Flush is cluster-wide (L2 + a pub/sub flush to every L1), but we ask each app so no L1 is missed. */
  async flush(): Promise<void> {
    await Promise.all(this.apps.map((a) => call(a, 'POST', '/cache/flush')));
  }

  /** The layers the first app reports, or null when its page cache is off (passthrough). */
  async layers(): Promise<CacheLayers | null> {
    const stats = (await call(this.apps[0], 'GET', '/cache/stats')) as { enabled?: boolean; layers?: CacheLayers } | null;
    return stats?.enabled === true && stats.layers ? { l1: stats.layers.l1, l2: stats.layers.l2 } : null;
  }

  /** Bytes each app's L1 holds now, by app name (null when its page cache is off). */
  async l1Bytes(): Promise<Map<string, number | null>> {
    const all = await Promise.all(this.apps.map(async (a) => {
      const stats = (await call(a, 'GET', '/cache/stats')) as { l1?: { bytes?: number } } | null;
      return [a.name, typeof stats?.l1?.bytes === 'number' ? stats.l1.bytes : null] as const;
    }));
    return new Map(all);
  }

  /** Renders done so far, summed over the apps' own process counters. */
  async renders(): Promise<number> {
    const counts = await Promise.all(this.apps.map(async (a) => {
      const r = (await call(a, 'GET', '/cache/renders')) as { process: number | null } | null;
      if (typeof r?.process !== 'number') throw new Error(`${a.name}: no render counter (page cache off?)`);
      return r.process;
    }));
    return counts.reduce((x, y) => x + y, 0);
  }
}
