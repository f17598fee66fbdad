import { randomBytes, timingSafeEqual } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps, SessionData } from '../deps';
import { compareLsn, type ReadContext } from '../db/db';
import { httpError } from '../errors';
import type { Role } from '../auth/roles';
import { sessionIdPattern } from './redis-session-store';
import type { LoginRateLimiter, LoginRateLimitResult } from './rate-limit';

// Sessions, CSRF and read-your-writes bookkeeping for every route.
//
// Request decorators (set by an onRequest hook, before any route runs):
//   request.session      { id, data: SessionData } | null — the logged-in session, if any
//   request.sessionUser  { id, username, role } | null    — shorthand for public pages: non-null means
//                        "logged in: bypass the page cache and read with readContextFor(request)"
//   request.sessionUnavailable  true when a session cookie came in but Redis was unreachable
//                        (the request is then anonymous for public pages; session routes answer 503)
//
// Public pages: when request.sessionUser is set, bypass the page cache, read with
// `deps.db.read(readContextFor(request), …)` and then call `app.sessionKit.recordRead(request, res.lsn)`.
//
// Cookie `aidiary_session`: HttpOnly, SameSite=Lax, Path=/, Secure over HTTPS. Anonymous visitors
// never get one: a session is created only by a successful login (with a fresh id).
// CSRF: every POST/PUT/PATCH/DELETE made with a session needs `X-CSRF-Token` (or the `_csrf` form
// field) equal to the session's token; a route opts out with `config: { csrf: false }` (the JSON
// login, and the HTML login form which uses a double-submit cookie instead).

export const sessionCookieName = 'aidiary_session';
export const loginCsrfCookieName = 'aidiary_login_csrf';

export interface SessionState { id: string; data: SessionData }
export interface SessionUser { id: number; username: string; role: Role }

declare module 'fastify' {
  interface FastifyRequest {
    session: SessionState | null;
    sessionUser: SessionUser | null;
    sessionUnavailable: boolean;
  }
  interface FastifyInstance {
    sessionKit: SessionKit;
  }
  interface FastifyContextConfig {
    /** false: this state-changing route does its own CSRF check (login forms). */
    csrf?: boolean;
  }
}

const stateChanging = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time string equality (length leaks, content does not). */
export function tokensEqual(a: unknown, b: unknown): boolean {
  if (typeof a !== 'string' || typeof b !== 'string' || a.length === 0) return false;
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

const maxLsn = (a: string | null | undefined, b: string | null | undefined): string | null =>
  !a ? (b ?? null) : !b ? a : compareLsn(a, b) >= 0 ? a : b;

/** The ReadContext for this request's reads: a logged-in user sees its own writes, and never goes back in time. */
export function readContextFor(request: FastifyRequest): ReadContext {
  const data = request.session?.data;
  if (!data) return {};
  return { minLsn: maxLsn(data.lastWriteLsn, data.lastReadLsn) };
}

export interface SessionKit {
  rateLimiter: LoginRateLimiter;
  /** True when the request came over HTTPS (X-Forwarded-Proto only from the trusted edge). */
  isHttps(request: FastifyRequest): boolean;
  /** The session, or 503 (store down) / 401 (not logged in). */
  requireSession(request: FastifyRequest): SessionState;
  /** Throws 503 when the session store cannot be used right now. */
  requireStore(): void;
  /**
   * Counts one login attempt for (IP, username) in the shared limiter; 503 when the store is down.
   * When over the limit it sets Retry-After and returns `allowed: false` (the caller answers 429).
   */
  countLoginAttempt(request: FastifyRequest, reply: FastifyReply, username: string): Promise<LoginRateLimitResult>;
  /** Destroys any current session and starts a new one (new id, new CSRF token); sets the cookie. */
  startSession(request: FastifyRequest, reply: FastifyReply, user: SessionUser): Promise<SessionState>;
  /** Revokes the session everywhere (deletes it) and clears the cookie. */
  endSession(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** After a committed write: remember its LSN (read-your-writes). Never throws. */
  recordWrite(request: FastifyRequest, lsn: string | null | undefined): Promise<void>;
  /** After a read: remember the newest LSN read at (monotonic reads). Never throws. */
  recordRead(request: FastifyRequest, lsn: string | null | undefined): Promise<void>;
  /** Throws 403 csrf unless the request carries the session's token. */
  checkCsrf(request: FastifyRequest): void;
}

function csrfTokenOf(request: FastifyRequest): unknown {
  const header = request.headers['x-csrf-token'];
  if (typeof header === 'string') return header;
  const body = request.body as Record<string, unknown> | null | undefined;
  return body && typeof body === 'object' && !Array.isArray(body) ? body._csrf : undefined;
}

export async function registerSessionPlugin(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { sessions, config } = deps;
  const absoluteTtlSeconds = 30 * 24 * 3600;
  if (!app.hasReplyDecorator('setCookie')) await app.register(fastifyCookie);

  // The limiter counts in the sessions Redis (all apps together) on the store's own connection.
  const rateLimiter = deps.loginLimiter;

  // fastify's request.protocol believes X-Forwarded-Proto only from the trusted edge (server.ts).
  const isHttps = (request: FastifyRequest) => request.protocol === 'https';

  const cookieOptions = (request: FastifyRequest) => ({
    httpOnly: true, sameSite: 'lax' as const, path: '/', secure: isHttps(request), maxAge: absoluteTtlSeconds,
  });

  const unavailable = (cause?: unknown) => httpError('sessions_unavailable', undefined, { cause });

  const kit: SessionKit = {
    rateLimiter,
    isHttps,
    requireStore() {
      if (!sessions.isAvailable()) throw unavailable();
    },
    async countLoginAttempt(request, reply, username) {
      kit.requireStore();
      let limit: LoginRateLimitResult;
      try {
        limit = await rateLimiter.hit(request.ip, username);
      } catch (err) {
        throw httpError('sessions_unavailable', undefined, { cause: err });
      }
      if (!limit.allowed) reply.header('Retry-After', String(limit.retryAfterSeconds));
      return limit;
    },
    requireSession(request) {
      if (request.session) return request.session;
      if (request.sessionUnavailable || !sessions.isAvailable()) throw unavailable();
      throw httpError('unauthenticated');
    },
    async startSession(request, reply, user) {
      try {
        if (request.session) await sessions.destroy(request.session.id);
        const created = await sessions.create({
          userId: user.id, username: user.username, role: user.role, csrfToken: newToken(), lastWriteLsn: null, lastReadLsn: null,
        });
        request.session = created;
        request.sessionUser = user;
        reply.setCookie(sessionCookieName, created.id, cookieOptions(request));
        return created;
      } catch (err) {
        throw unavailable(err);
      }
    },
    async endSession(request, reply) {
      if (request.session) {
        try {
          await sessions.destroy(request.session.id);
        } catch (err) {
          throw unavailable(err);
        }
      }
      request.session = null;
      request.sessionUser = null;
      reply.clearCookie(sessionCookieName, { path: '/' });
    },
    async recordWrite(request, lsn) {
      const s = request.session;
      if (!s || !lsn) return;
      s.data.lastWriteLsn = maxLsn(s.data.lastWriteLsn, lsn);
      await sessions.update(s.id, { lastWriteLsn: s.data.lastWriteLsn }).catch((err) =>
        request.log.warn({ err }, 'could not record the write LSN in the session'));
    },
    async recordRead(request, lsn) {
      const s = request.session;
      if (!s || !lsn) return;
      const current = maxLsn(s.data.lastWriteLsn, s.data.lastReadLsn);
      if (current && compareLsn(lsn, current) <= 0) return; // nothing new: skip the Redis write
      s.data.lastReadLsn = lsn;
      await sessions.update(s.id, { lastReadLsn: lsn }).catch((err) =>
        request.log.warn({ err }, 'could not record the read LSN in the session'));
    },
    checkCsrf(request) {
      const s = request.session;
      if (!s || !tokensEqual(csrfTokenOf(request), s.data.csrfToken)) throw httpError('csrf');
    },
  };

  app.decorate('sessionKit', kit);
  app.decorateRequest('session', null);
  app.decorateRequest('sessionUser', null);
  app.decorateRequest('sessionUnavailable', false);

  const loadSession = async (request: FastifyRequest, reply: FastifyReply, id: string) => {
    if (!sessionIdPattern.test(id)) {
      reply.clearCookie(sessionCookieName, { path: '/' });
      return;
    }
    if (!sessions.isAvailable()) {
      request.sessionUnavailable = true;
      return;
    }
    try {
      const data = await sessions.get(id);
      if (!data) {
        // Expired or revoked: drop the cookie so caches treat the visitor as anonymous again.
        reply.clearCookie(sessionCookieName, { path: '/' });
        return;
      }
      request.session = { id, data };
      request.sessionUser = { id: data.userId, username: data.username, role: data.role };
    } catch (err) {
      request.sessionUnavailable = true;
      request.log.warn({ err: { message: (err as Error).message } }, 'session lookup failed; treating the request as anonymous');
    }
  };
  // Callback-style hooks: a request without a session cookie (every anonymous page view) passes
  // through without a promise or a Redis round trip.
  app.addHook('onRequest', (request, reply, done) => {
    const id = request.cookies?.[sessionCookieName];
    if (!id) return done();
    loadSession(request, reply, id).then(() => done(), done);
  });

  // preHandler: after body parsing, so the `_csrf` form field is available.
  app.addHook('preHandler', (request, _reply, done) => {
    if (!stateChanging.has(request.method) || !request.session || request.routeOptions.config?.csrf === false) return done();
    try {
      kit.checkCsrf(request);
    } catch (err) {
      return done(err as Error);
    }
    done();
  });

  // A response made for a logged-in user must never be kept by a shared cache.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (request.session) reply.header('Cache-Control', 'private, no-store');
    done(null, payload);
  });
}
