import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from '../../deps';
import { authenticate } from '../../auth/login';
import { httpError } from '../../errors';
import { parseWith, requireCsrf, requireJson, requireUser } from './guards';

// /api/auth/login, /logout, /me. There is deliberately no registration route (LuaAIDiary's open
// registration let anyone pick their own role); accounts are made by an admin or the seed.

const loginBody = z.object({
  username: z.string().min(1).max(100),
  password: z.string().min(1).max(1024),
}).strict();

export function registerAuthRoutes(api: FastifyInstance, deps: AppDeps): void {
  const kit = api.sessionKit;

  // JSON only: a cross-site form cannot send application/json without a CORS preflight, so
  // this login needs no CSRF token (login CSRF would need one).
  api.post('/auth/login', { config: { csrf: false }, bodyLimit: 8 * 1024 }, async (request, reply) => {
    requireJson(request);
    const { username, password } = parseWith(loginBody, request.body);
    const limit = await kit.countLoginAttempt(request, reply, username);
    if (!limit.allowed) {
      throw httpError('rate_limited', `Too many login attempts; try again in ${limit.retryAfterSeconds} s.`);
    }
    const user = await authenticate(deps.db, username, password);
    if (!user) {
      await kit.rateLimiter.fail(username).catch((err: Error) => request.log.warn({ err }, 'login rate limit: could not record a failure'));
      throw httpError('invalid_credentials');
    }
    await kit.rateLimiter.reset(request.ip, username).catch(() => {});
    const session = await kit.startSession(request, reply, { id: user.id, username: user.username, role: user.role });
    reply.header('Cache-Control', 'no-store');
    return { user: { id: user.id, username: user.username, role: user.role }, csrfToken: session.data.csrfToken };
  });

  api.post('/auth/logout', async (request, reply) => {
    requireUser(request);
    requireCsrf(request);
    await kit.endSession(request, reply);
    return { ok: true };
  });

  api.get('/auth/me', async (request) => {
    const session = requireUser(request);
    const { userId, username, role, csrfToken } = session.data;
    return { user: { id: userId, username, role }, csrfToken };
  });
}
