import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps } from '../../deps';
import type { Queryable } from '../../db/db';
import { can, type Action } from '../../auth/roles';
import { readContextFor } from '../../session/plugin';
import { mapDbError } from '../api/guards';
import type { AdminViews } from './admin-views';
import { assetUrl } from '../../cdn/static-assets';

// What every logged-in admin page needs: the layout data (user, CSRF token, which links and
// buttons this role may see) and reads through the router with read-your-writes.

const navActions: Action[] = [
  'admin:access', 'post:create', 'post:edit-any', 'tag:create', 'taxonomy:manage', 'account:self', 'user:manage', 'settings:manage', 'cache:manage',
];

export interface AdminPageKit {
  /** Renders `name` inside the admin layout with the session's user, CSRF token and permissions. */
  page(request: FastifyRequest, reply: FastifyReply, name: string, data: object, status?: number): string;
  /** A read with this session's LSN floor; records the LSN read at (monotonic reads). */
  read<T>(request: FastifyRequest, fn: (q: Queryable) => Promise<T>): Promise<{ value: T; node: string }>;
}

export function adminPageKit(deps: AppDeps, views: AdminViews): AdminPageKit {
  return {
    page(request, reply, name, data, status = 200) {
      const session = request.session;
      const role = session?.data.role;
      const canDo = Object.fromEntries(navActions.map((a) => [a, role ? can(role, a) : false]));
      reply.code(status).type('text/html; charset=utf-8');
      return views.render(name, {
        user: session ? { id: session.data.userId, username: session.data.username, role } : null,
        csrfToken: session?.data.csrfToken ?? '', can: canDo, appName: deps.config.appName, notice: null, error: null, asset: assetUrl, ...data,
      });
    },
    async read(request, fn) {
      try {
        const res = await deps.db.read(readContextFor(request), fn);
        await request.server.sessionKit.recordRead(request, res.lsn);
        return { value: res.value, node: res.node };
      } catch (err) {
        mapDbError(err);
      }
    },
  };
}
