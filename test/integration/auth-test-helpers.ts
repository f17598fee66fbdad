import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { hashPassword } from '../../app/auth/passwords';
import type { TestApp } from '../helpers/app';

// Shared by the auth-*, api-*, admin-* and sessions-redis tests: users with roles, JSON login,
// cookie handling for app.inject().

export type Role = 'admin' | 'editor' | 'author' | 'subscriber';

export async function createUser(t: TestApp, username: string, role: Role, password = `${username}-pass-123`): Promise<number> {
  const hash = await hashPassword(password);
  const rows = await t.sql<{ id: string }>(
    `INSERT INTO users (username, email, display_name, password_hash, role) VALUES ($1, $1 || '@test.invalid', $1, $2, $3)
     ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role RETURNING id`,
    [username, hash, role],
  );
  return Number(rows[0].id);
}

/** `name=value` of a Set-Cookie for `name`, or null. */
export function setCookie(res: LightMyRequestResponse, name: string): { value: string; header: string } | null {
  const raw = res.headers['set-cookie'];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
  const header = list.find((c) => c.startsWith(`${name}=`));
  if (!header) return null;
  return { value: header.slice(name.length + 1).split(';')[0], header };
}

export interface LoggedIn { cookie: string; csrf: string; sessionId: string; userId: number }

export async function login(app: FastifyInstance, username: string, password: string, extraHeaders: Record<string, string> = {}): Promise<LoggedIn> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password }, headers: extraHeaders });
  if (res.statusCode !== 200) throw new Error(`login ${username} failed: ${res.statusCode} ${res.body}`);
  const c = setCookie(res, 'aidiary_session');
  if (!c) throw new Error('login set no session cookie');
  const body = res.json() as { user: { id: number }; csrfToken: string };
  return { cookie: `aidiary_session=${c.value}`, csrf: body.csrfToken, sessionId: c.value, userId: body.user.id };
}

/**
 * Log in right after a refused attempt for the same username: the per-username backoff first
 * answers 429 with Retry-After (never a server-side wait), then the login goes through.
 */
export async function loginAfterRefusedAttempt(app: FastifyInstance, username: string, password: string): Promise<LoggedIn> {
  const early = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
  if (early.statusCode !== 429) throw new Error(`expected the username's backoff (429) after a refused attempt, got ${early.statusCode} ${early.body}`);
  const waitSeconds = Number(early.headers['retry-after']);
  if (!(waitSeconds > 0)) throw new Error(`429 without a usable Retry-After: ${String(early.headers['retry-after'])}`);
  await new Promise((r) => setTimeout(r, waitSeconds * 1000 + 100));
  return login(app, username, password);
}

/** Inject as a logged-in user; state-changing methods carry the CSRF token unless `csrf: false`. */
export function as(app: FastifyInstance, who: LoggedIn) {
  return (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: unknown, opts: { csrf?: boolean | string; headers?: Record<string, string> } = {}) => {
    const headers: Record<string, string> = { cookie: who.cookie, ...opts.headers };
    if (method !== 'GET' && opts.csrf !== false) headers['x-csrf-token'] = typeof opts.csrf === 'string' ? opts.csrf : who.csrf;
    return app.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });
  };
}

/** The role cast several API/media tests share: eddie (editor), alice and bob (authors), sam (subscriber), plus admin. */
export interface Cast { admin: LoggedIn; editor: LoggedIn; alice: LoggedIn; bob: LoggedIn; sam: LoggedIn }

export async function createCast(t: TestApp): Promise<Cast> {
  await createUser(t, 'eddie', 'editor', 'eddie-pass-1');
  await createUser(t, 'alice', 'author', 'alice-pass-1');
  await createUser(t, 'bob', 'author', 'bob-pass-1');
  await createUser(t, 'sam', 'subscriber', 'sam-pass-1');
  return {
    admin: await login(t.app, 'admin', t.adminPassword),
    editor: await login(t.app, 'eddie', 'eddie-pass-1'),
    alice: await login(t.app, 'alice', 'alice-pass-1'),
    bob: await login(t.app, 'bob', 'bob-pass-1'),
    sam: await login(t.app, 'sam', 'sam-pass-1'),
  };
}
