import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps, ContentChange, PostSnapshot } from '../../deps';
import type { Queryable } from '../../db/db';
import { httpError } from '../../errors';
import { claimIdempotencyKey, storeIdempotentResponse } from '../../db/queries/admin-idempotency';
import { mapDbError } from './guards';
import { currentRole } from '../../db/queries/admin-users';
import { roleRank } from '../../auth/roles';
import { maxJsonDepth } from '../json-body';

// Runs one content write in a primary transaction and does the bookkeeping every write needs:
// Idempotency-Key (stored in the SAME transaction, so "wrote" and "remembered the answer" cannot
// diverge), the purge after commit (onContentChanged with the commit LSN), and the session's
// read-your-writes LSN.

export interface WriteOutcome {
  status: number;
  body: unknown;
  /** What changed, without the LSN (known only after commit); null when nothing changed. */
  change: { kind: 'post'; before: PostSnapshot | null; after: PostSnapshot | null } | { kind: 'site' } | null;
}

const keyPattern = /^[\x21-\x7e]{1,200}$/;

/**
 * Canonical JSON (sorted keys) so that key order does not change a request's signature. Bodies
 * are depth-checked when parsed (app/routes/json-body.ts); the bound here keeps the recursion
 * finite for a body that came from any other parser.
 */
function canonical(value: unknown, depth = 0): string {
  if (depth > maxJsonDepth) throw httpError('bad_request', `The body nests deeper than ${maxJsonDepth} levels; send a flatter body.`);
  if (Array.isArray(value)) return `[${value.map((v) => canonical(v, depth + 1)).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k], depth + 1)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export interface WriteAnswer { status: number; body: unknown; replay: boolean; lsn: string }

/** Runs the write and its bookkeeping; the caller decides how to answer (JSON or a redirect). */
export async function performWrite(
  request: FastifyRequest,
  deps: AppDeps,
  userId: number,
  fn: (q: Queryable) => Promise<WriteOutcome>,
): Promise<WriteAnswer> {
  const rawKey = request.headers['idempotency-key'];
  const key = typeof rawKey === 'string' ? rawKey : null;
  if (rawKey !== undefined && (key === null || !keyPattern.test(key))) {
    throw httpError('bad_request', 'Idempotency-Key must be 1-200 visible ASCII characters.');
  }
  const signature = createHash('sha256')
    .update(`${request.method} ${request.url.split('?')[0]}\n${canonical(request.body ?? null)}`)
    .digest('hex');

  let result;
  try {
    result = await deps.db.write(async (q) => {
      // The session holds the role from login: a user demoted or deleted since then loses the
      // write here, in the same transaction, instead of at the session's expiry.
      const session = request.session;
      const role = await currentRole(q, userId);
      if (!role || (session && roleRank[role] < roleRank[session.data.role])) {
        throw httpError('forbidden', 'Your account changed since you logged in; log in again.');
      }
      if (key) {
        const prior = await claimIdempotencyKey(q, userId, key, signature);
        if (prior) {
          if (prior.requestSig !== signature) {
            throw httpError('invalid_field', 'Idempotency-Key: already used for a different request; use a new key.');
          }
          return { replay: true as const, status: prior.statusCode, body: prior.response, change: null };
        }
      }
      const outcome = await fn(q);
      if (key) await storeIdempotentResponse(q, userId, key, outcome.status, outcome.body);
      return { replay: false as const, ...outcome };
    });
  } catch (err) {
    mapDbError(err);
  }

  const { value, lsn } = result;
  if (value.change) {
    const change: ContentChange = value.change.kind === 'post'
      ? { kind: 'post', before: value.change.before, after: value.change.after, lsn }
      : { kind: 'site', lsn };
    try {
      await deps.onContentChanged(change);
    } catch (err) {
      request.log.error({ err }, 'onContentChanged failed after a committed write');
    }
  }
  await request.server.sessionKit.recordWrite(request, lsn);
  return { status: value.status, body: value.body, replay: value.replay, lsn };
}

/** performWrite answered as JSON; a replay carries `Idempotency-Replayed: true`. */
export async function idempotentWrite(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: AppDeps,
  userId: number,
  fn: (q: Queryable) => Promise<WriteOutcome>,
): Promise<unknown> {
  const answer = await performWrite(request, deps, userId, fn);
  if (answer.replay) reply.header('Idempotency-Replayed', 'true');
  reply.code(answer.status);
  return answer.body;
}
