// Injected server errors for the alerting test (test/e2e/monitoring.test.ts): the loopback
// control port (app/control-server.ts) sets a ratio, and the public server answers that share of
// its requests with a 500 before any route runs. Off (0) unless set there; no public route can
// set it. One per process, like the control port itself.

export const faults = { errorRatio: 0 };

/** Paths never failed on purpose: nginx's and the runner's health checks, and the scrape itself. */
export const faultExemptPaths = new Set(['/health', '/metrics']);

/** `url` as requested (query included); it is split only while a ratio is set, off the hot path. */
export function shouldInjectError(url: string): boolean {
  return faults.errorRatio > 0 && !faultExemptPaths.has(url.split('?')[0]) && Math.random() < faults.errorRatio;
}
