// nginx's stub_status counters, for the CDN scenarios' hit ratio: the requests that reached the
// cluster's nginx during a run through the CDN are the CDN's misses (and passes).

/** The total `requests` of a stub_status page ("server accepts handled requests\n A H R"). */
export function parseStubStatusRequests(text: string): number {
  const m = text.match(/server accepts handled requests\s*\n\s*(\d+)\s+(\d+)\s+(\d+)/);
  if (!m) throw new Error(`not an nginx stub_status page: "${text.slice(0, 80)}"`);
  return Number(m[3]);
}

export async function stubStatusRequests(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
  return parseStubStatusRequests(text);
}

/**
 * Share of `requests` the CDN answered itself: 1 − (requests nginx saw − our own status reads) ÷
 * requests, floored at 0 (other clients of nginx during the run count as misses).
 */
export function cdnHitRatio(nginxBefore: number, nginxAfter: number, ownReads: number, requests: number): number | null {
  if (requests <= 0) return null;
  const reached = Math.max(0, nginxAfter - nginxBefore - ownReads);
  return Math.round(Math.max(0, 1 - reached / requests) * 10_000) / 10_000;
}
