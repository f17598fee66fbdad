import type { Registry } from 'prom-client';

// What every job queue module needs: bounded Redis calls and metrics registered once per registry.

/** Rejects after `ms` (the call itself may still complete later, e.g. once Redis is back). */
export function withTimeout<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: job queue Redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The registry's metric of that name, else a new one (several queues and tests share a registry). */
export function metricOnce<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}
