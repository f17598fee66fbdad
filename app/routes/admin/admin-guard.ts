import type { FastifyReply, FastifyRequest } from 'fastify';
import { can, type Action } from '../../auth/roles';
import { httpError } from '../../errors';
import type { SessionState } from '../../session/plugin';

// One guard for every /admin route, run as a preHandler in the admin scope (after the session
// plugin's CSRF check and after the form body is parsed). Each route names what it needs in
// `config.adminAction`; a route that names nothing needs 'admin:access' (secure by default), and
// 'public' is only for the login form and logout. Not logged in → GET: redirect to the login form,
// anything else: 401 (a form posted after the session ended must not be half-applied);
// store down → 503; role without the action → 403.

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The role-matrix action an /admin route needs ('public': login/logout only). */
    adminAction?: Action | 'public';
  }
}

export const defaultAdminAction: Action = 'admin:access';

export function adminActionOf(config: { adminAction?: Action | 'public' } | undefined): Action | 'public' {
  return config?.adminAction ?? defaultAdminAction;
}

const isRead = (method: string) => method === 'GET' || method === 'HEAD';

/** preHandler for the admin scope: enforces the route's declared action. */
export async function adminRouteGuard(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  const action = adminActionOf(request.routeOptions.config);
  if (action === 'public') return undefined;
  const session = request.session;
  if (!session) {
    if (request.sessionUnavailable || !request.server.sessionKit) throw httpError('sessions_unavailable');
    request.server.sessionKit.requireStore();
    if (!isRead(request.method)) throw httpError('unauthenticated', 'You are not logged in (or your session ended); log in and send the form again.');
    return reply.redirect(`/admin/login?redirect=${encodeURIComponent(request.url)}`, 303);
  }
  if (!can(session.data.role, action)) throw httpError('forbidden');
  return undefined;
}

/**
 * The session of a request that passed adminRouteGuard, re-checked for `action` (a handler that
 * needs more than its route's action, e.g. editing somebody else's post).
 */
export function adminSession(request: FastifyRequest, action?: Action): SessionState;
/** The earlier (request, reply, action) form, kept for routes written against it. */
export function adminSession(request: FastifyRequest, reply: FastifyReply, action?: Action): SessionState;
export function adminSession(request: FastifyRequest, second?: FastifyReply | Action, third?: Action): SessionState {
  const action = typeof second === 'string' ? second : third;
  const session = request.session;
  if (!session) throw httpError('unauthenticated');
  if (action && !can(session.data.role, action)) throw httpError('forbidden');
  return session;
}

/** Every admin POST: the session's CSRF token in the `_csrf` field (the plugin's hook checks it too). */
export function adminCsrf(request: FastifyRequest): void {
  request.server.sessionKit.checkCsrf(request);
}

export function formField(body: unknown, name: string): string {
  const v = body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return '';
}

export function formList(body: unknown, name: string): string[] {
  const v = body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}
