import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import { main } from '../../infra/cli/main';

// Whole-cluster test helpers: run the CLI in-process capturing its stdout, and a steady GET load
// through nginx that records every failure (network error or status >= 500).

export async function runCli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const origOut = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => { out.push(chunk.toString()); return true; }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => { err.push(chunk.toString()); return true; }) as typeof process.stderr.write;
  try {
    const code = await main(argv);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = origOut;
    process.stderr.write = origErr;
  }
}

export interface GetResult { status: number; servedBy: string | null; body: string; headers: Record<string, string | string[] | undefined> }

/**
 * Requests each socket has carried. `req.reusedSocket` misses one case of reuse: when every pooled
 * socket is busy the agent queues the request and hands it the next socket freed by a finished
 * response, with reusedSocket left false. Measured against nginx reloads: all "fresh socket"
 * resets were in fact sockets that had already carried 8-26 requests.
 */
const requestsPerSocket = new WeakMap<Socket, number>();

export function get(url: string, agent?: Agent, timeoutMs = 10_000, headers: Record<string, string> = {}): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    let reusedSocket = false;
    const req = request(url, { agent: agent ?? false, timeout: timeoutMs, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode ?? 0,
        servedBy: (res.headers['x-served-by'] as string | undefined) ?? null,
        body: Buffer.concat(chunks).toString('utf8'),
        headers: res.headers,
      }));
      res.on('error', reject);
    });
    req.on('socket', (socket) => {
      const before = requestsPerSocket.get(socket) ?? 0;
      reusedSocket = before > 0;
      requestsPerSocket.set(socket, before + 1);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException & { reusedSocket?: boolean }) => {
      err.reusedSocket = req.reusedSocket || reusedSocket;
      reject(err);
    });
    req.end();
  });
}

/**
 * A keep-alive connection that the server closes (nginx's old workers close idle client
 * connections on reload) can race with the next request sent on it. HTTP lets a client retry an
 * idempotent request in exactly this case, browsers do, and Node documents the pattern
 * (`req.reusedSocket` + ECONNRESET). Only that case is retried, once, and it is counted.
 */
export async function getRetryingStaleKeepAlive(url: string, agent: Agent, onRetry: () => void): Promise<GetResult> {
  try {
    return await get(url, agent);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { reusedSocket?: boolean };
    if (!e.reusedSocket || e.code !== 'ECONNRESET') throw err;
    onRetry();
    // On a new connection, as browsers retry: another pooled socket may have been closed by the
    // same reload (under load, four in a row were).
    return get(url, freshConnection);
  }
}

const freshConnection = new Agent({ keepAlive: false });

export interface LoadReport {
  requests: number;
  failures: { status: number | null; error?: string; path: string }[];
  /** Requests re-sent because the server had closed the idle keep-alive connection they used. */
  staleKeepAliveRetries: number;
  servedBy: Record<string, number>;
  durationMs: number;
}

/**
 * `concurrency` loops, each sending GETs back to back over keep-alive connections (like a browser
 * fleet), until stop() is called. Paths are taken round-robin.
 */
export function steadyLoad(baseUrl: string, opts: { concurrency: number; paths: string[] }): { stop: () => Promise<LoadReport> } {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const report: LoadReport = { requests: 0, failures: [], staleKeepAliveRetries: 0, servedBy: {}, durationMs: 0 };
  const started = Date.now();
  let running = true;
  let n = 0;
  const loop = async () => {
    while (running) {
      const path = opts.paths[n++ % opts.paths.length];
      try {
        const r = await getRetryingStaleKeepAlive(new URL(path, baseUrl).href, agent, () => { report.staleKeepAliveRetries++; });
        report.requests++;
        if (r.status >= 500 || r.status === 0) report.failures.push({ status: r.status, path });
        if (r.servedBy) report.servedBy[r.servedBy] = (report.servedBy[r.servedBy] ?? 0) + 1;
      } catch (err) {
        report.requests++;
        const e = err as NodeJS.ErrnoException & { reusedSocket?: boolean };
        report.failures.push({ status: null, error: `${e.code ?? ''} ${e.message}${e.reusedSocket ? ' (reused socket)' : ' (fresh socket)'}`, path });
      }
    }
  };
  const loops = Array.from({ length: opts.concurrency }, loop);
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      report.durationMs = Date.now() - started;
      return report;
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
