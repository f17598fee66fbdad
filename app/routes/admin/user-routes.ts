import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppDeps } from '../../deps';
import { isRole, roles } from '../../auth/roles';
import { hashPassword } from '../../auth/passwords';
import { HttpError, httpError } from '../../errors';
import { deleteUser, getUser, insertUser, listUsers, otherActiveAdmins, updateUserAccount, type AdminUser } from '../../db/queries/admin-users';
import { parseId, parseWith } from '../api/guards';
import { performWrite } from '../api/idempotent-write';
import type { AdminPageKit } from './admin-page';
import { adminCsrf, adminSession, formField } from './admin-guard';
import { displayNameField, emailField, mapUserConflict, passwordField, roleField, usernameField } from './user-schemas';

// /admin/users (admins only; LuaAIDiary's URLs): list with a role filter and post counts, create,
// edit (role, e-mail, display name, disabled), delete. At least one active admin always remains:
// the check locks the other admins' rows in the same transaction, so two concurrent demotions
// cannot both pass. A changed, disabled or deleted account loses its sessions at once.

const newUserInput = z.object({
  username: usernameField, email: emailField, displayName: displayNameField, role: roleField, password: passwordField,
}).strict();
const updateUserInput = z.object({ email: emailField, displayName: displayNameField, role: roleField, disabled: z.boolean() }).strict();

const lastAdminMessage = 'At least one active admin must remain: make another user an admin first.';

/**
 * Two admins changing each other at once lock each other's rows (performWrite holds the actor's
 * row FOR SHARE): PostgreSQL aborts one transaction as a deadlock. Nothing of it was written, so
 * that request gets a 409 asking to retry, never a 500.
 */
function concurrentChange(err: unknown): never {
  const code = (err as { code?: string } | null)?.code;
  if (code === '40P01' || code === '40001') throw httpError('conflict', 'Another change to these accounts ran at the same time; nothing was saved. Try again.', { cause: err });
  throw err;
}

export function registerAdminUserRoutes(admin: FastifyInstance, deps: AppDeps, kit: AdminPageKit): void {
  const config = { adminAction: 'user:manage' as const };

  admin.get<{ Querystring: Record<string, string> }>('/admin/users', { config }, async (request, reply) => {
    const role = request.query?.role;
    const filter = isRole(role) ? role : null;
    const users = (await kit.read(request, (q) => listUsers(q, filter))).value;
    const notice = request.query?.done ? { created: 'User created.', updated: 'User updated.', deleted: 'User deleted.' }[request.query.done] ?? null : null;
    return kit.page(request, reply, 'users', { title: 'Users', users, roles, role: filter, notice });
  });

  const newForm = (request: FastifyRequest, reply: FastifyReply, values: Record<string, string>, error: string | null = null, status = 200) =>
    kit.page(request, reply, 'user-new', { title: 'New user', roles, values: { username: '', email: '', displayName: '', role: 'author', ...values }, error }, status);

  admin.get('/admin/users/new', { config }, async (request, reply) => newForm(request, reply, {}));

  admin.post('/admin/users/create', { config, bodyLimit: 64 * 1024 }, async (request, reply) => {
    const session = adminSession(request);
    adminCsrf(request);
    const b = request.body;
    const values = { username: formField(b, 'username'), email: formField(b, 'email'), displayName: formField(b, 'display_name'), role: formField(b, 'role') };
    try {
      const input = parseWith(newUserInput, { ...values, password: formField(b, 'password') }, 'form');
      if (formField(b, 'password') !== formField(b, 'password_confirm')) throw httpError('invalid_field', 'password_confirm: the two passwords differ.');
      const passwordHash = await hashPassword(input.password);
      const answer = await performWrite(request, deps, session.data.userId, async (q) => {
        const id = await insertUser(q, { ...input, passwordHash }).catch(mapUserConflict);
        return { status: 201, body: { id }, change: null };
      });
      request.log.info({ audit: 'user.create', actorId: session.data.userId, userId: (answer.body as { id: number }).id, role: input.role }, 'user created');
      return reply.redirect('/admin/users?done=created', 303);
    } catch (err) {
      if (err instanceof HttpError && (err.status === 422 || err.status === 409)) return newForm(request, reply, values, err.message, err.status);
      throw err;
    }
  });

  const editForm = async (request: FastifyRequest, reply: FastifyReply, id: number, error: string | null = null, status = 200, override?: Partial<AdminUser>) => {
    const target = (await kit.read(request, (q) => getUser(q, id))).value;
    if (!target) throw httpError('not_found', 'No such user.');
    return kit.page(request, reply, 'user-edit', {
      title: `User ${target.username}`, target: { ...target, ...override }, roles, error, isSelf: target.id === request.session!.data.userId,
    }, status);
  };

  admin.get<{ Params: { id: string } }>('/admin/users/:id/edit', { config }, async (request, reply) => editForm(request, reply, parseId(request.params.id)));

  admin.post<{ Params: { id: string } }>('/admin/users/:id/update', { config, bodyLimit: 64 * 1024 }, async (request, reply) => {
    const session = adminSession(request);
    adminCsrf(request);
    const id = parseId(request.params.id);
    const b = request.body;
    const raw = { email: formField(b, 'email'), displayName: formField(b, 'display_name'), role: formField(b, 'role'), disabled: formField(b, 'disabled') === 'on' };
    try {
      const input = parseWith(updateUserInput, raw, 'form');
      await performWrite(request, deps, session.data.userId, async (q) => {
        const target = await getUser(q, id, { forUpdate: true });
        if (!target) throw httpError('not_found', 'No such user.');
        const losesAdmin = target.role === 'admin' && !target.disabled && (input.role !== 'admin' || input.disabled);
        if (losesAdmin && (await otherActiveAdmins(q, id)) === 0) throw httpError('conflict', lastAdminMessage);
        await updateUserAccount(q, id, input).catch(mapUserConflict);
        // The display name shows on public pages (author archives, bylines).
        return { status: 200, body: { id }, change: { kind: 'site' } };
      }).catch(concurrentChange);
      // The session keeps the role from login: end every session of the account so the change holds now.
      const revoked = await deps.sessions.revokeUser(id).catch((err: Error) => {
        request.log.warn({ err, userId: id }, 'could not revoke the sessions of a changed user');
        return -1;
      });
      request.log.info({ audit: 'user.update', actorId: session.data.userId, userId: id, role: input.role, disabled: input.disabled, sessionsRevoked: revoked }, 'user updated');
      if (id === session.data.userId) {
        reply.clearCookie('aidiary_session', { path: '/' });
        return reply.redirect('/admin/login', 303);
      }
      return reply.redirect('/admin/users?done=updated', 303);
    } catch (err) {
      if (err instanceof HttpError && (err.status === 422 || err.status === 409)) {
        return editForm(request, reply, id, err.message, err.status, { email: raw.email, displayName: raw.displayName, ...(isRole(raw.role) ? { role: raw.role } : {}), disabled: raw.disabled });
      }
      throw err;
    }
  });

  admin.post<{ Params: { id: string } }>('/admin/users/:id/delete', { config }, async (request, reply) => {
    const session = adminSession(request);
    adminCsrf(request);
    const id = parseId(request.params.id);
    try {
      if (id === session.data.userId) throw httpError('conflict', 'You cannot delete your own account; another admin can.');
      await performWrite(request, deps, session.data.userId, async (q) => {
        const target = await getUser(q, id, { forUpdate: true });
        if (!target) throw httpError('not_found', 'No such user.');
        if (target.role === 'admin' && !target.disabled && (await otherActiveAdmins(q, id)) === 0) throw httpError('conflict', lastAdminMessage);
        if (target.postCount > 0) {
          throw httpError('conflict', `${target.username} wrote ${target.postCount} post(s): disable the account instead, so the posts keep their author.`);
        }
        await deleteUser(q, id);
        return { status: 200, body: { id }, change: { kind: 'site' } };
      }).catch(concurrentChange);
    } catch (err) {
      if (err instanceof HttpError && err.status === 409) return editForm(request, reply, id, err.message, 409);
      throw err;
    }
    const revoked = await deps.sessions.revokeUser(id).catch(() => -1);
    request.log.info({ audit: 'user.delete', actorId: session.data.userId, userId: id, sessionsRevoked: revoked }, 'user deleted');
    return reply.redirect('/admin/users?done=deleted', 303);
  });
}
