import { randomUUID } from 'node:crypto';
import { Agent } from 'node:http';
import { HttpError, httpGet, httpRequest, type HttpResult } from './http-client';

// The drill's steady mixed load, hand-written over node:http: a few loops of anonymous public
// reads, logged-in reads (session cookie) and writes through the JSON API, each write with an
// Idempotency-Key so a failed write is retried ONCE with the same key (the app replays the first
// answer instead of writing twice). After each acknowledged write the writer reads its post back
// (read-your-writes): a 404 there is a stale read. Loopback only, bounded by time and count.

export type RequestKind = 'anon-read' | 'user-read' | 'write' | 'verify-read';

export interface RequestEvent {
  kind: RequestKind;
  startMs: number;
  endMs: number;
  status: number | null;
  ok: boolean;
  error?: string;
  /** Writes: 1 = first attempt, 2 = the one retry. */
  attempt?: number;
}

export interface WriteRecord {
  key: string;
  title: string;
  attempts: number;
  acknowledged: boolean;
  id: number | null;
  firstSentMs: number;
  ackMs: number | null;
}

export interface LoadOptions {
  baseUrl: string;
  credentials: { username: string; password: string };
  /** Hard bounds: the load stops at whichever comes first (or at stop()). */
  maxDurationMs: number;
  maxRequests?: number;
  anonLoops?: number;
  userLoops?: number;
  writerLoops?: number;
  /** Pause between two writes of one writer (keeps the load steady, not saturating 2 cores). */
  writePauseMs?: number;
  /** Pause before the one retry of a failed write. */
  retryDelayMs?: number;
  requestTimeoutMs?: number;
  runId?: string;
}

export interface LoadResult {
  runId: string;
  startedMs: number;
  endedMs: number;
  events: RequestEvent[];
  writes: WriteRecord[];
  staleReads: { id: number; atMs: number }[];
}

export interface RunningLoad {
  /** Resolves once every loop has finished its current request. */
  stop(): Promise<LoadResult>;
  /** Number of requests sent so far. */
  sent(): number;
  /** Writes acknowledged so far. */
  writes(): readonly WriteRecord[];
}

const ANON_PATHS = ['/', '/feed.xml', '/sitemap.xml'];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Session { cookie: string; csrf: string }

function sessionCookie(res: HttpResult): string | null {
  const raw = res.headers['set-cookie'];
  const list = Array.isArray(raw) ? raw : raw ? [raw] : [];
  const c = list.map((s) => s.split(';')[0]).find((s) => s.startsWith('aidiary_session='));
  return c ?? null;
}

/** A few post URLs from the sitemap, so anonymous readers also hit single-post pages. */
async function discoverPostPaths(baseUrl: string, agent: Agent): Promise<string[]> {
  try {
    const res = await httpGet(`${baseUrl}/sitemap.xml`, agent);
    const paths = [...res.body.matchAll(/<loc>([^<]+)<\/loc>/g)].map((m) => new URL(m[1]).pathname).filter((p) => p.startsWith('/posts/'));
    // Only pages that answer now: a cached sitemap may still list a post removed since (a restore).
    const live: string[] = [];
    for (const p of paths.slice(0, 10)) {
      if (live.length >= 5) break;
      if ((await httpGet(`${baseUrl}${p}`, agent)).status === 200) live.push(p);
    }
    return live;
  } catch {
    return [];
  }
}

export function startLoad(opts: LoadOptions): RunningLoad {
  const runId = opts.runId ?? randomUUID().slice(0, 8);
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const events: RequestEvent[] = [];
  const writes: WriteRecord[] = [];
  const staleReads: { id: number; atMs: number }[] = [];
  const startedMs = Date.now();
  const timeoutMs = opts.requestTimeoutMs ?? 5000;
  const maxRequests = opts.maxRequests ?? 1_000_000;
  let running = true;
  let sent = 0;
  let writeSeq = 0;
  const base = opts.baseUrl.replace(/\/$/, '');
  const deadline = startedMs + opts.maxDurationMs;
  const go = () => running && Date.now() < deadline && sent < maxRequests;

  const record = (kind: RequestKind, startMs: number, res: HttpResult | null, err: unknown, okWhen: (s: number) => boolean, attempt?: number): boolean => {
    const status = res?.status ?? null;
    const ok = status !== null && okWhen(status);
    const e: RequestEvent = { kind, startMs, endMs: Date.now(), status, ok };
    if (err) e.error = err instanceof HttpError ? err.code : (err as Error).message;
    if (attempt) e.attempt = attempt;
    events.push(e);
    return ok;
  };

  const call = async (kind: RequestKind, path: string, init: Parameters<typeof httpRequest>[2], okWhen: (s: number) => boolean, attempt?: number) => {
    sent++;
    const startMs = Date.now();
    try {
      // A write's retry goes out on a new connection: the pooled ones may be the stale cause.
      const res = init?.method === 'POST'
        ? await httpRequest(base + path, attempt === 2 ? false : agent, { ...init, timeoutMs })
        : await httpGet(base + path, agent, init?.headers, timeoutMs);
      return { res, ok: record(kind, startMs, res, null, okWhen, attempt) };
    } catch (err) {
      record(kind, startMs, null, err, okWhen, attempt);
      return { res: null, ok: false };
    }
  };

  let session: Session | null = null;
  let loggingIn: Promise<Session | null> | null = null;
  /** Logs in (shared by the logged-in loops); null while the login route is unavailable. */
  const login = (): Promise<Session | null> => {
    loggingIn ??= (async () => {
      try {
        const res = await httpRequest(`${base}/api/auth/login`, agent, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(opts.credentials), timeoutMs,
        });
        const cookie = sessionCookie(res);
        if (res.status !== 200 || !cookie) return null;
        session = { cookie, csrf: (JSON.parse(res.body) as { csrfToken: string }).csrfToken };
        return session;
      } catch {
        return null;
      } finally {
        loggingIn = null;
      }
    })();
    return loggingIn;
  };
  const ensureSession = async (): Promise<Session | null> => session ?? (await login());

  const anonLoop = async (paths: string[]) => {
    let n = 0;
    while (go()) await call('anon-read', paths[n++ % paths.length], {}, (s) => s < 400);
  };

  const userLoop = async () => {
    const paths = ['/api/auth/me', '/api/posts?limit=5'];
    let n = 0;
    while (go()) {
      const s = await ensureSession();
      if (!s) { await sleep(200); continue; }
      const { res } = await call('user-read', paths[n++ % paths.length], { headers: { cookie: s.cookie } }, (st) => st === 200);
      if (res?.status === 401) session = null; // session gone: log in again
    }
  };

  const writerLoop = async (writer: number) => {
    while (go()) {
      const s = await ensureSession();
      if (!s) { await sleep(200); continue; }
      const seq = ++writeSeq;
      const key = `drill-${runId}-${writer}-${seq}`;
      const title = `Drill ${runId} ${writer}-${seq}`;
      const body = JSON.stringify({ title, content: `Written by the failover drill ${runId}.`, status: 'published' });
      const w: WriteRecord = { key, title, attempts: 0, acknowledged: false, id: null, firstSentMs: Date.now(), ackMs: null };
      writes.push(w);
      for (let attempt = 1; attempt <= 2 && (attempt === 1 || go()); attempt++) {
        w.attempts = attempt;
        const { res, ok } = await call('write', '/api/posts', {
          method: 'POST',
          headers: { 'content-type': 'application/json', cookie: s.cookie, 'x-csrf-token': s.csrf, 'idempotency-key': key },
          body,
        }, (st) => st === 201, attempt);
        if (ok && res) {
          w.acknowledged = true;
          w.ackMs = Date.now();
          w.id = Number((JSON.parse(res.body) as { id: number }).id);
          break;
        }
        if (res?.status === 401 || res?.status === 403) session = null;
        if (attempt === 1) await sleep(opts.retryDelayMs ?? 300);
      }
      if (w.acknowledged && w.id !== null) {
        // Read-your-writes: the writer must see its own post at once.
        const { res } = await call('verify-read', `/api/posts/${w.id}`, { headers: { cookie: s.cookie } }, (st) => st === 200);
        if (res?.status === 404) staleReads.push({ id: w.id, atMs: Date.now() });
      }
      await sleep(opts.writePauseMs ?? 50);
    }
  };

  const loops = (async () => {
    const postPaths = await discoverPostPaths(base, agent);
    const anonPaths = [...ANON_PATHS, ...postPaths];
    await Promise.all([
      ...Array.from({ length: opts.anonLoops ?? 2 }, () => anonLoop(anonPaths)),
      ...Array.from({ length: opts.userLoops ?? 1 }, () => userLoop()),
      ...Array.from({ length: opts.writerLoops ?? 1 }, (_, i) => writerLoop(i)),
    ]);
  })();

  return {
    sent: () => sent,
    writes: () => writes,
    async stop() {
      running = false;
      await loops;
      agent.destroy();
      return { runId, startedMs, endedMs: Date.now(), events, writes, staleReads };
    },
  };
}
