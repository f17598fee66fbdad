import { readFileSync } from 'node:fs';
import { request } from 'node:http';

// A one-shot HTTP GET for health checks. node:http with `agent: false` (Connection: close), so a
// probe never leaves a pooled socket that keeps the CLI's event loop alive after it is done.

export interface ProbeResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function httpGet(url: string, timeoutMs = 2000, headers: Record<string, string> = {}): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', agent: false, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** True when GET url answers 200 within timeoutMs. */
export async function isHealthy(url: string, timeoutMs = 2000): Promise<boolean> {
  try {
    return (await httpGet(url, timeoutMs)).status === 200;
  } catch {
    return false;
  }
}

/** Polls until GET url answers 200; `alive()` false aborts early (the process died). */
/** Where to look, with the log's last lines: a test's temp state dir is gone by the time anyone reads the error. */
function logHint(logFile: string | undefined): string {
  if (!logFile) return '';
  let tail = '';
  try {
    tail = readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-5).join('\n');
  } catch {
    /* no log yet */
  }
  return `; see ${logFile}${tail ? `; it ends:\n${tail}` : ''}`;
}

export async function waitForHealthy(url: string, opts: { timeoutMs: number; alive?: () => boolean; what: string; logFile?: string }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await isHealthy(url, 1000)) return;
    if (opts.alive && !opts.alive()) throw new Error(`${opts.what} exited before it became healthy${logHint(opts.logFile)}`);
    if (Date.now() > deadline) throw new Error(`${opts.what} not healthy at ${url} after ${opts.timeoutMs} ms${logHint(opts.logFile)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
