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

/**
 * Closes a BullMQ worker or queue within `ms`: with Redis down (or never reached) its close waits
 * for a connection that may never come; then it is told to disconnect.
 */
export async function closeBounded(c: { close(): Promise<void>; disconnect(): Promise<void> }, ms: number): Promise<void> {
  try {
    await withTimeout('close', c.close(), ms);
  } catch {
    await withTimeout('disconnect', c.disconnect(), 1000).catch(() => {});
  }
}
