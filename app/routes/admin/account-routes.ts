import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from '../../deps';
import { hashPassword, verifyPassword } from '../../auth/passwords';
import { HttpError, httpError } from '../../errors';
import { getUser, passwordHashOf, setPasswordHash, updateProfile } from '../../db/queries/admin-users';
import { parseWith } from '../api/guards';
import { performWrite } from '../api/idempotent-write';
import type { AdminPageKit } from './admin-page';
import { adminCsrf, adminSession, formField } from './admin-guard';
import { bioField, displayNameField, emailField, mapUserConflict, passwordField } from './user-schemas';

// The own account, for every logged-in user (subscribers included): profile (display name, bio,
// e-mail; never the own role) and password change. A password change needs the current password
// (counted by the login rate limiter, so a stolen session cannot guess it), then regenerates the
// session id and revokes every other session of the user.

const profileInput = z.object({ email: emailField, displayName: displayNameField, bio: bioField }).strict();

export function registerAdminAccountRoutes(admin: FastifyInstance, deps: AppDeps, kit: AdminPageKit): void {
  const config = { adminAction: 'account:self' as const };
  const sessionKit = admin.sessionKit;

  const profilePage = async (request: FastifyRequest, reply: FastifyReply, opts: { error?: string; notice?: string; status?: number; values?: Record<string, string> } = {}) => {
    const me = (await kit.read(request, (q) => getUser(q, request.session!.data.userId))).value;
    if (!me) throw httpError('not_found', 'Your account no longer exists.');
    return kit.page(request, reply, 'profile', {
      title: 'Profile', me: { ...me, ...opts.values }, error: opts.error ?? null, notice: opts.notice ?? null,
    }, opts.status ?? 200);
  };

  for (const url of ['/admin/profile', '/admin/profile/edit']) {
    admin.get<{ Querystring: Record<string, string> }>(url, { config }, async (request, reply) =>
      profilePage(request, reply, { notice: request.query?.saved ? 'Profile saved.' : request.query?.password ? 'Password changed; your other sessions were logged out.' : undefined }));
  }

  admin.post('/admin/profile/update', { config, bodyLimit: 64 * 1024 }, async (request, reply) => {
    const session = adminSession(request);
    adminCsrf(request);
    const b = request.body;
    const values = { email: formField(b, 'email'), displayName: formField(b, 'display_name'), bio: formField(b, 'bio') };
    try {
      const input = parseWith(profileInput, values, 'form');
      await performWrite(request, deps, session.data.userId, async (q) => {
        await updateProfile(q, session.data.userId, input).catch(mapUserConflict);
        return { status: 200, body: { id: session.data.userId }, change: { kind: 'site' } }; // bylines show the display name
      });
    } catch (err) {
      if (err instanceof HttpError && (err.status === 422 || err.status === 409)) return profilePage(request, reply, { error: err.message, status: err.status, values });
      throw err;
    }
    return reply.redirect('/admin/profile?saved=1', 303);
  });

  const passwordPage = (request: FastifyRequest, reply: FastifyReply, error: string | null = null, status = 200) =>
    kit.page(request, reply, 'password', { title: 'Change password', error }, status);

  admin.get('/admin/change-password', { config }, async (request, reply) => passwordPage(request, reply));

  admin.post('/admin/change-password', { config, bodyLimit: 16 * 1024 }, async (request, reply) => {
    const session = adminSession(request);
    adminCsrf(request);
    const b = request.body;
    const current = formField(b, 'current_password');
    const next = formField(b, 'new_password');
    try {
      if (!current) throw httpError('invalid_field', 'current_password: enter your current password.');
      const parsed = passwordField.safeParse(next);
      if (!parsed.success) throw httpError('invalid_field', `new_password: ${parsed.error.issues[0].message}`);
      if (next !== formField(b, 'new_password_confirm')) throw httpError('invalid_field', 'new_password_confirm: the two new passwords differ.');
      if (next === current) throw httpError('invalid_field', 'new_password: choose a password different from the current one.');
      const limit = await sessionKit.countLoginAttempt(request, reply, session.data.username);
      if (!limit.allowed) return passwordPage(request, reply, `Too many attempts; try again in ${limit.retryAfterSeconds} s.`, 429);
      const newHash = await hashPassword(next);
      await performWrite(request, deps, session.data.userId, async (q) => {
        const hash = await passwordHashOf(q, session.data.userId);
        if (!hash || !(await verifyPassword(hash, current))) throw httpError('invalid_field', 'current_password: wrong password.');
        await setPasswordHash(q, session.data.userId, newHash);
        return { status: 200, body: { id: session.data.userId }, change: null };
      });
    } catch (err) {
      if (err instanceof HttpError && err.status === 422) return passwordPage(request, reply, err.message, 422);
      throw err;
    }
    await sessionKit.rateLimiter.reset(request.ip, session.data.username).catch(() => {});
    const lsn = session.data.lastWriteLsn;
    // New session id (a stolen old id stops working), then every other session of this user ends.
    const fresh = await sessionKit.startSession(request, reply, { id: session.data.userId, username: session.data.username, role: session.data.role });
    await sessionKit.recordWrite(request, lsn);
    const revoked = await deps.sessions.revokeUser(session.data.userId, fresh.id).catch((err: Error) => {
      request.log.warn({ err, userId: session.data.userId }, 'could not revoke the other sessions after a password change');
      return -1;
    });
    request.log.info({ audit: 'user.password', userId: session.data.userId, sessionsRevoked: revoked }, 'password changed');
    return reply.redirect('/admin/profile?password=1', 303);
  });
}
