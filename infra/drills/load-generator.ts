import { randomUUID } from 'node:crypto';
import { Agent } from 'node:http';
import { HttpError, httpRequest, isResendable, type HttpResult } from './http-client';

// The drill's steady mixed load, hand-written over node:http: a few loops of anonymous public
// reads, logged-in reads (session cookie) and writes through the JSON API, each write with an
// Idempotency-Key so a failed write is retried ONCE with the same key (the app replays the first
// answer instead of writing twice). A GET is resent once only when its reused keep-alive socket
// was reset before any answer (as browsers do). Every attempt is logged and every resend counted:
// nothing is retried silently. After each acknowledged write the writer reads its post back
// (read-your-writes): a 404 there is a stale read. Loopback only, bounded by time and count.

export type RequestKind = 'anon-read' | 'user-read' | 'verify-read' | 'write' | 'login';
export const REQUEST_KINDS: readonly RequestKind[] = ['anon-read', 'user-read', 'verify-read', 'write', 'login'];

/** One HTTP attempt. */
export interface RequestEvent {
  kind: RequestKind;
  startMs: number;
  endMs: number;
  status: number | null;
  ok: boolean;
  error?: string;
  /** 1 = first attempt, 2 = the one resend (GET) or retry (write). */
  attempt?: number;
}

/** One request as its user sees it: the first attempt sent → the last attempt finished. */
export interface Operation {
  kind: RequestKind;
  sentMs: number;
  finishedMs: number;
  attempts: number;
  ok: boolean;
  /** Status (or error code) of the last attempt. */
  outcome: string;
}

/**
 * A loop that had no session and waited for a login before its next request: the time its user
 * could neither read nor write while logged in.
 */
export interface SessionWait { loop: 'user' | 'writer'; fromMs: number; toMs: number; failedLogins: number }

export interface WriteRecord {
  key: string;
  title: string;
  attempts: number;
  acknowledged: boolean;
  id: number | null;
  firstSentMs: number;
  /** When the last attempt ended (acknowledged or given up). */
  finishedMs: number | null;
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
  /**
   * Default 2: a writer spends part of its time reading its post back, so with one writer a fault
   * could block only that read and no write would show the blocking.
   */
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
  /** Every HTTP attempt. */
  events: RequestEvent[];
  /** Every request with its outcome after the resend/retry. */
  operations: Operation[];
  writes: WriteRecord[];
  sessionWaits: SessionWait[];
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

/** A few post URLs from the sitemap, so anonymous readers also hit single-post pages (setup, not measured). */
async function discoverPostPaths(baseUrl: string, agent: Agent): Promise<string[]> {
  try {
    const res = await httpRequest(`${baseUrl}/sitemap.xml`, agent);
    const paths = [...res.body.matchAll(/<loc>([^<]+)<\/loc>/g)].map((m) => new URL(m[1]).pathname).filter((p) => p.startsWith('/posts/'));
    // Only pages that answer now: a cached sitemap may still list a post removed since (a restore).
    const live: string[] = [];
    for (const p of paths.slice(0, 10)) {
      if (live.length >= 5) break;
      if ((await httpRequest(`${baseUrl}${p}`, agent)).status === 200) live.push(p);
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
  const operations: Operation[] = [];
  const writes: WriteRecord[] = [];
  const sessionWaits: SessionWait[] = [];
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

  /** One attempt, logged. */
  const attemptOnce = async (kind: RequestKind, path: string, init: Parameters<typeof httpRequest>[2], okWhen: (s: number) => boolean, attempt: number, useAgent: Agent | false) => {
    sent++;
    const startMs = Date.now();
    let res: HttpResult | null = null;
    let err: unknown = null;
    try {
      res = await httpRequest(base + path, useAgent, { ...init, timeoutMs });
    } catch (e) {
      err = e;
    }
    const ok = res !== null && okWhen(res.status);
    const e: RequestEvent = { kind, startMs, endMs: Date.now(), status: res?.status ?? null, ok, attempt };
    if (err) e.error = err instanceof HttpError ? err.code : (err as Error).message;
    events.push(e);
    return { res, ok, err, event: e };
  };

  const outcomeOf = (e: RequestEvent) => (e.status !== null ? String(e.status) : e.error ?? 'error');

  /** A GET as its user sees it: resent once (counted) on a fresh connection when HTTP allows it. */
  const read = async (kind: RequestKind, path: string, headers: Record<string, string>, okWhen: (s: number) => boolean) => {
    const sentMs = Date.now();
    let r = await attemptOnce(kind, path, { headers }, okWhen, 1, agent);
    let attempts = 1;
    if (isResendable(r.err)) {
      attempts = 2;
      r = await attemptOnce(kind, path, { headers }, okWhen, 2, false);
    }
    operations.push({ kind, sentMs, finishedMs: r.event.endMs, attempts, ok: r.ok, outcome: outcomeOf(r.event) });
    return r;
  };

  let session: Session | null = null;
  let loggingIn: Promise<Session | null> | null = null;
  /** Logs in (shared by the logged-in loops); null while the login route is unavailable. Each login is logged and counted. */
  const login = (): Promise<Session | null> => {
    loggingIn ??= (async () => {
      try {
        const r = await attemptOnce('login', '/api/auth/login', {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(opts.credentials),
        }, (st) => st === 200, 1, agent);
        const cookie = r.res ? sessionCookie(r.res) : null;
        if (r.ok && !cookie) { r.event.ok = false; r.event.error = 'no session cookie'; }
        operations.push({ kind: 'login', sentMs: r.event.startMs, finishedMs: r.event.endMs, attempts: 1, ok: r.event.ok, outcome: outcomeOf(r.event) });
        if (!r.event.ok || !r.res || !cookie) return null;
        session = { cookie, csrf: (JSON.parse(r.res.body) as { csrfToken: string }).csrfToken };
        return session;
      } finally {
        loggingIn = null;
      }
    })();
    return loggingIn;
  };
  /** The session, logging in first when there is none; the wait is recorded per loop. */
  const ensureSession = async (loop: SessionWait['loop']): Promise<Session | null> => {
    if (session) return session;
    const wait: SessionWait = { loop, fromMs: Date.now(), toMs: 0, failedLogins: 0 };
    let s: Session | null = null;
    while (go()) {
      s = session ?? (await login());
      if (s) break;
      wait.failedLogins++;
      await sleep(200);
    }
    wait.toMs = Date.now();
    sessionWaits.push(wait);
    return s;
  };

  const anonLoop = async (paths: string[]) => {
    let n = 0;
    while (go()) await read('anon-read', paths[n++ % paths.length], {}, (s) => s < 400);
  };

  const userLoop = async () => {
    const paths = ['/api/auth/me', '/api/posts?limit=5'];
    let n = 0;
    while (go()) {
      const s = await ensureSession('user');
      if (!s) break;
      const { res } = await read('user-read', paths[n++ % paths.length], { cookie: s.cookie }, (st) => st === 200);
      if (res?.status === 401 && session === s) session = null; // session gone: log in again
    }
  };

  const writerLoop = async (writer: number) => {
    while (go()) {
      const s = await ensureSession('writer');
      if (!s) break;
      const seq = ++writeSeq;
      const key = `drill-${runId}-${writer}-${seq}`;
      const title = `Drill ${runId} ${writer}-${seq}`;
      const body = JSON.stringify({ title, content: `Written by the failover drill ${runId}.`, status: 'published' });
      const w: WriteRecord = { key, title, attempts: 0, acknowledged: false, id: null, firstSentMs: Date.now(), finishedMs: null, ackMs: null };
      writes.push(w);
      let last: RequestEvent | null = null;
      for (let attempt = 1; attempt <= 2 && (attempt === 1 || go()); attempt++) {
        w.attempts = attempt;
        // The retry goes out on a new connection: the pooled ones may be the stale cause.
        const { res, ok, event } = await attemptOnce('write', '/api/posts', {
          method: 'POST',
          headers: { 'content-type': 'application/json', cookie: s.cookie, 'x-csrf-token': s.csrf, 'idempotency-key': key },
          body,
        }, (st) => st === 201, attempt, attempt === 2 ? false : agent);
        last = event;
        if (ok && res) {
          w.acknowledged = true;
          w.ackMs = Date.now();
          w.id = Number((JSON.parse(res.body) as { id: number }).id);
          break;
        }
        if ((res?.status === 401 || res?.status === 403) && session === s) session = null;
        if (attempt === 1) await sleep(opts.retryDelayMs ?? 300);
      }
      w.finishedMs = last?.endMs ?? Date.now();
      operations.push({ kind: 'write', sentMs: w.firstSentMs, finishedMs: w.finishedMs, attempts: w.attempts, ok: w.acknowledged, outcome: last ? outcomeOf(last) : 'not sent' });
      if (w.acknowledged && w.id !== null) {
        // Read-your-writes: the writer must see its own post at once.
        const { res } = await read('verify-read', `/api/posts/${w.id}`, { cookie: s.cookie }, (st) => st === 200);
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
      ...Array.from({ length: opts.writerLoops ?? 2 }, (_, i) => writerLoop(i)),
    ]);
  })();

  return {
    sent: () => sent,
    writes: () => writes,
    async stop() {
      running = false;
      await loops;
      agent.destroy();
      return { runId, startedMs, endedMs: Date.now(), events, operations, writes, sessionWaits, staleReads };
    },
  };
}
