import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps } from '../../deps';
import { authenticate } from '../../auth/login';
import { httpError } from '../../errors';
import { loginCsrfCookieName, newToken, tokensEqual } from '../../session/plugin';
import type { AdminViews } from './admin-views';
import { adminCsrf, formField } from './admin-guard';
import { defaultAdminPath, safeAdminRedirect } from './safe-redirect';
import { can } from '../../auth/roles';

// The HTML login form. There is no session before login, so CSRF uses a double-submit token:
// a random value in a short-lived cookie (Path=/admin/login, SameSite=Strict) that must equal the
// form's hidden field. That blocks login CSRF (logging a victim into the attacker's account).

export function registerAdminLoginRoutes(admin: FastifyInstance, deps: AppDeps, views: AdminViews): void {
  const kit = admin.sessionKit;

  const renderForm = (request: FastifyRequest, reply: FastifyReply, opts: { redirect: string; username?: string; error?: string; status?: number }) => {
    const loginToken = newToken();
    reply.setCookie(loginCsrfCookieName, loginToken, {
      httpOnly: true, sameSite: 'strict', path: '/admin/login', maxAge: 3600, secure: kit.isHttps(request),
    });
    reply.code(opts.status ?? 200).type('text/html; charset=utf-8');
    return views.render('login', {
      title: 'Log in', user: null, appName: deps.config.appName, loginToken, redirect: opts.redirect,
      username: opts.username ?? '', error: opts.error ?? null, notice: null,
    });
  };

  admin.get<{ Querystring: { redirect?: string } }>('/admin/login', { config: { adminAction: 'public' } }, async (request, reply) => {
    const redirect = safeAdminRedirect(request.query?.redirect);
    if (request.session) return reply.redirect(redirect, 303);
    return renderForm(request, reply, { redirect });
  });

  admin.post('/admin/login', { config: { csrf: false, adminAction: 'public' }, bodyLimit: 16 * 1024 }, async (request, reply) => {
    const body = request.body;
    const redirect = safeAdminRedirect(formField(body, 'redirect'));
    if (!tokensEqual(formField(body, '_csrf'), request.cookies?.[loginCsrfCookieName])) {
      throw httpError('csrf', 'The login form expired or was not sent from this site; reload it and try again.');
    }
    const username = formField(body, 'username');
    const password = formField(body, 'password');
    if (!username || !password || username.length > 100 || password.length > 1024) {
      return renderForm(request, reply, { redirect, username: username.slice(0, 100), error: 'Enter a username and a password.', status: 422 });
    }
    const limit = await kit.countLoginAttempt(request, reply, username);
    if (!limit.allowed) {
      return renderForm(request, reply, { redirect, username, error: `Too many login attempts; try again in ${limit.retryAfterSeconds} s.`, status: 429 });
    }
    const user = await authenticate(deps.db, username, password);
    if (!user) {
      await kit.rateLimiter.fail(username).catch((err: Error) => request.log.warn({ err }, 'login rate limit: could not record a failure'));
      return renderForm(request, reply, { redirect, username, error: 'Wrong username or password.', status: 401 });
    }
    await kit.rateLimiter.reset(request.ip, username).catch(() => {});
    await kit.startSession(request, reply, { id: user.id, username: user.username, role: user.role });
    reply.clearCookie(loginCsrfCookieName, { path: '/admin/login' });
    // Subscribers may use only their own profile: send them there rather than to a 403 dashboard.
    const landing = redirect === defaultAdminPath && !can(user.role, 'admin:access') ? '/admin/profile' : redirect;
    return reply.redirect(landing, 303);
  });

  admin.post('/admin/logout', { config: { adminAction: 'public' } }, async (request, reply) => {
    if (request.session) {
      adminCsrf(request);
      await kit.endSession(request, reply);
    } else if (request.sessionUnavailable) {
      throw httpError('sessions_unavailable');
    }
    return reply.redirect('/admin/login', 303);
  });
}
