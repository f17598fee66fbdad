import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// A loopback HTTP server standing in for a CDN's purge API: it records every request (method,
// path, headers, body) and answers what the test set for it. Real HTTP, so both the providers'
// official SDKs and our adapters are compared on what actually went over the wire.

export interface RecordedRequest { method: string; path: string; headers: IncomingHttpHeaders; body: string; /** Date.now() when it was received. */ at: number }
export interface CannedResponse { status: number; headers?: Record<string, string>; body: string }

export interface RecordingServer {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** The next answers, in order; once used up, `fallback` answers. */
  respond: CannedResponse[];
  fallback: CannedResponse;
  take(): RecordedRequest[];
  close(): Promise<void>;
}

export async function startRecordingServer(fallback: CannedResponse): Promise<RecordingServer> {
  const state = { requests: [] as RecordedRequest[], respond: [] as CannedResponse[], fallback };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const answer = state.respond.shift() ?? state.fallback;
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get requests() { return state.requests; },
    get respond() { return state.respond; },
    set respond(v) { state.respond = v; },
    get fallback() { return state.fallback; },
    set fallback(v) { state.fallback = v; },
    take() { const out = state.requests; state.requests = []; return out; },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
