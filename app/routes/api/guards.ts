import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { can, type Action } from '../../auth/roles';
import { httpError, HttpError } from '../../errors';
import type { SessionState } from '../../session/plugin';

// Small request guards shared by the JSON API routes (and reused by the admin pages).

/** The logged-in session with the role for `action` (503 store down, 401 no session, 403 role). */
export function requireUser(request: FastifyRequest, action?: Action): SessionState {
  const session = request.server.sessionKit.requireSession(request);
  if (action && !can(session.data.role, action)) throw httpError('forbidden');
  return session;
}

/** State-changing call: the session's CSRF token must come along (also enforced by the plugin's hook). */
export function requireCsrf(request: FastifyRequest): void {
  request.server.sessionKit.checkCsrf(request);
}

export function requireJson(request: FastifyRequest): void {
  const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') throw httpError('unsupported_media_type');
}

/** Validates a parsed body/query: not an object → 400; a bad field → 422 naming the field. */
export function parseWith<S extends z.ZodTypeAny>(schema: S, value: unknown, what = 'body'): z.infer<S> {
  if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value)) {
    throw httpError('bad_request', `The ${what} must be a JSON object.`);
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.length ? issue.path.join('.') : what;
  const message = issue.code === 'unrecognized_keys'
    ? `${issue.keys.join(', ')}: unknown field${issue.keys.length > 1 ? 's' : ''}`
    : `${field}: ${issue.message}`;
  throw httpError('invalid_field', message, { details: { field, issues: result.error.issues.slice(0, 5) } });
}

/** Route `:id` → positive integer, else 404 (no row can have it). */
export function parseId(raw: unknown): number {
  if (typeof raw !== 'string' || !/^[1-9][0-9]{0,14}$/.test(raw)) throw httpError('not_found', 'No such id.');
  return Number(raw);
}

const connectionCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '53300']);

/** PostgreSQL errors a client caused → 4xx; an unreachable database → 503; anything else rethrown. */
export function mapDbError(err: unknown): never {
  if (err instanceof HttpError) throw err;
  const code = (err as { code?: string } | null)?.code;
  const constraint = (err as { constraint?: string } | null)?.constraint;
  if (code === '23505') throw httpError('conflict', constraint?.includes('slug') ? 'That slug is already used.' : undefined, { cause: err });
  if (code === '23503') throw httpError('invalid_field', 'A referenced row does not exist.', { cause: err });
  // Class 22 (data exception: NUL bytes, out-of-range values, bad encodings) and check violations.
  if (code === '23514' || code?.startsWith('22')) {
    throw httpError('invalid_field', `A field is out of range${constraint ? ` (${constraint})` : ''}.`, { cause: err });
  }
  if (code && (connectionCodes.has(code) || code.startsWith('08'))) throw httpError('db_unavailable', undefined, { cause: err });
  throw err;
}
