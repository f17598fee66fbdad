import type { Queryable } from '../db';

// Idempotency-Key bookkeeping, always inside the write's own transaction: the claim row is
// inserted first, so a concurrent retry with the same key blocks on the primary key until the
// first transaction commits (then sees the stored answer) or rolls back (then runs the write).

/**
 * How long a key is remembered (Stripe's 24 h): a retry within it gets the first answer; after it
 * the key is free again and the expired rows are deleted by the maintenance job.
 */
export const idempotencyKeyTtlHours = 24;

export interface StoredResponse { requestSig: string; statusCode: number; response: unknown }

/** Claims (user, key); returns the earlier answer when the key was already used. */
export async function claimIdempotencyKey(q: Queryable, userId: number, key: string, requestSig: string): Promise<StoredResponse | null> {
  const claimed = await q.query({
    name: 'admin_idem_claim',
    text: `INSERT INTO idempotency_keys (key, user_id, request_sig, status_code, response)
           VALUES ($1, $2, $3, 0, 'null')
           ON CONFLICT (user_id, key) DO UPDATE
             SET request_sig = EXCLUDED.request_sig, status_code = 0, response = 'null', created_at = now()
             WHERE idempotency_keys.created_at < now() - make_interval(hours => $4)`,
    values: [key, userId, requestSig, idempotencyKeyTtlHours],
  });
  if ((claimed.rowCount ?? 0) > 0) return null;
  const { rows } = await q.query<{ request_sig: string; status_code: number; response: unknown }>({
    name: 'admin_idem_get',
    text: 'SELECT request_sig, status_code, response FROM idempotency_keys WHERE user_id = $1 AND key = $2',
    values: [userId, key],
  });
  const r = rows[0];
  return { requestSig: r.request_sig, statusCode: r.status_code, response: r.response };
}

export async function storeIdempotentResponse(q: Queryable, userId: number, key: string, statusCode: number, response: unknown): Promise<void> {
  await q.query({
    name: 'admin_idem_store',
    text: 'UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE user_id = $1 AND key = $2',
    values: [userId, key, statusCode, JSON.stringify(response)],
  });
}

/** Deletes keys older than the TTL (uses idempotency_keys_created_idx); returns how many. */
export async function deleteExpiredIdempotencyKeys(q: Queryable): Promise<number> {
  const r = await q.query({
    name: 'admin_idem_expire',
    text: 'DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)',
    values: [idempotencyKeyTtlHours],
  });
  return r.rowCount ?? 0;
}
