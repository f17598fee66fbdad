import { Agent, request } from 'node:http';

// A minimal HTTP/1.1 client over node:http for the drill load. Not fetch: the drill must destroy
// its keep-alive pool when it ends (so the CLI exits) and must know whether a failed request went
// out on a reused keep-alive socket (`req.reusedSocket`), the one case where HTTP lets a client
// resend an idempotent request, as browsers do (isResendable; the load generator counts each resend).

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface HttpRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

export class HttpError extends Error {
  constructor(message: string, readonly code: string, readonly reusedSocket: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HttpError';
  }
}

export function httpRequest(url: string, agent: Agent | false, req: HttpRequest = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
    const r = request(url, { method: req.method ?? 'GET', agent, headers, timeout: req.timeoutMs ?? 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => reject(new HttpError(err.message, (err as NodeJS.ErrnoException).code ?? 'ERESPONSE', r.reusedSocket, { cause: err })));
    });
    r.on('timeout', () => r.destroy(Object.assign(new Error(`no answer within ${req.timeoutMs ?? 5000} ms`), { code: 'ETIMEDOUT' })));
    r.on('error', (err: NodeJS.ErrnoException) => reject(new HttpError(err.message, err.code ?? 'EREQUEST', r.reusedSocket, { cause: err })));
    r.end(req.body);
  });
}

/**
 * True when HTTP lets a client resend the request unchanged: an idempotent request whose reused
 * keep-alive socket was reset by the server before any answer (nginx closes idle client
 * connections on reload). The caller resends and counts the resend: nothing is retried here.
 */
export function isResendable(err: unknown): boolean {
  return err instanceof HttpError && err.reusedSocket && err.code === 'ECONNRESET';
}
