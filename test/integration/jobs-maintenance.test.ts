import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotencyKeyTtlHours } from '../../app/db/queries/admin-idempotency';
import { startTestApp, type TestApp } from '../helpers/app';
import { waitFor } from './media-test-helpers';

// The maintenance job scheduler deletes expired Idempotency-Key rows (once per cluster, on the
// BullMQ queue like every other job); keys still inside their TTL stay.

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ posts: 0, jobs: { maintenanceEveryMs: 300, prefix: `jobs-maint-${process.pid}` } });
});

afterAll(async () => {
  await t?.close();
});

describe('maintenance job', () => {
  it('deletes expired idempotency keys and keeps fresh ones', async () => {
    const [{ id: adminId }] = await t.sql<{ id: number }>("SELECT id FROM users WHERE username = 'admin'");
    await t.sql(
      `INSERT INTO idempotency_keys (key, user_id, request_sig, status_code, response, created_at) VALUES
         ('maint-old', $1, 'sig', 201, '{}', now() - make_interval(hours => $2 + 1)),
         ('maint-fresh', $1, 'sig', 201, '{}', now())`,
      [adminId, idempotencyKeyTtlHours],
    );
    t.deps.jobs!.start();
    await t.deps.jobs!.ready();
    await waitFor('the expired key deleted', async () => (await t.sql("SELECT 1 FROM idempotency_keys WHERE key = 'maint-old'")).length === 0);
    expect((await t.sql("SELECT key FROM idempotency_keys WHERE key LIKE 'maint-%'")).map((r) => r.key)).toEqual(['maint-fresh']);
    const summary = await t.deps.jobs!.summary();
    expect(summary.find((q) => q.queue === 'maintenance')!.completed).toBeGreaterThan(0);
  });
});
