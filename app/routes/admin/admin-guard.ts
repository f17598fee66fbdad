import type { FastifyReply, FastifyRequest } from 'fastify';
import { can, type Action } from '../../auth/roles';
import { httpError } from '../../errors';
import type { SessionState } from '../../session/plugin';

// Admin pages: not logged in → redirect to the login form (HTML); store down → 503; wrong role → 403.

/** The session, or null after sending a redirect to /admin/login?redirect=<this page>. */
export function adminSession(request: FastifyRequest, reply: FastifyReply, action: Action = 'admin:access'): SessionState | null {
  const session = request.session;
  if (!session) {
    if (request.sessionUnavailable || !request.server.sessionKit) throw httpError('sessions_unavailable');
    request.server.sessionKit.requireStore();
    const back = request.method === 'GET' ? `?redirect=${encodeURIComponent(request.url)}` : '';
    reply.redirect(`/admin/login${back}`, 303);
    return null;
  }
  if (!can(session.data.role, action)) throw httpError('forbidden');
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
