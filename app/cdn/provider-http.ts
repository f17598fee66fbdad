import { CdnPurgeError } from './purger';

// One bounded HTTP request to a purge API, with the provider's error named. Node's fetch (undici)
// is enough: the official SDKs are kept out of the runtime image (the contract tests compare our
// requests with what they build: test/unit/cdn-adapters.test.ts).

export interface ProviderRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface ProviderResponse { status: number; text: string }

export const purgeRequestTimeoutMs = 10_000;

export async function sendProviderRequest(provider: string, req: ProviderRequest, timeoutMs = purgeRequestTimeoutMs): Promise<ProviderResponse> {
  let res: Response;
  try {
    res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new CdnPurgeError(provider, `${req.method} ${new URL(req.url).host}: no answer (${cause})`);
  }
  const text = await res.text().catch(() => '');
  if (res.status < 200 || res.status >= 300) {
    const retryAfter = res.headers.get('retry-after');
    throw new CdnPurgeError(provider, `${req.method} ${new URL(req.url).pathname} answered ${res.status}${retryAfter ? ` (Retry-After ${retryAfter})` : ''}: ${text.slice(0, 300)}`, res.status);
  }
  return { status: res.status, text };
}
