import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app';
import { createUser } from './auth-test-helpers';
import { waitFor } from './media-test-helpers';

// A scheduled post is published by the job only if its author may still publish: an enabled
// account whose role can write posts. A post of a disabled or demoted author goes back to being
// a plain draft (its schedule cleared) and the job reports it, instead of appearing on the site.
// Runs the real scheduled-posts job (BullMQ on Redis) every 300 ms.

let t: TestApp;
let queueConnection: Redis;
let queue: Queue;
const ids: Record<string, number> = {};

async function scheduledPost(slug: string, authorId: number): Promise<number> {
  const [row] = await t.sql<{ id: string }>(
    `INSERT INTO posts (title, slug, content, author_id, status, scheduled_at)
     VALUES ($1, $1, 'x', $2, 'draft', now() - interval '1 second') RETURNING id`, [slug, authorId]);
  return Number(row.id);
}

beforeAll(async () => {
  t = await startTestApp({ posts: 0, jobs: { scheduleEveryMs: 300 } });
  const able = await createUser(t, 'able', 'author');
  const boss = await createUser(t, 'boss', 'editor');
  const gone = await createUser(t, 'gone', 'author');
  const demoted = await createUser(t, 'demoted', 'author');
  ids.able = await scheduledPost('sched-able', able);
  ids.boss = await scheduledPost('sched-boss', boss);
  ids.gone = await scheduledPost('sched-gone', gone);
  ids.demoted = await scheduledPost('sched-demoted', demoted);
  // Changed after scheduling, as an admin would.
  await t.sql('UPDATE users SET disabled_at = now() WHERE id = $1', [gone]);
  await t.sql("UPDATE users SET role = 'subscriber' WHERE id = $1", [demoted]);
  queueConnection = new Redis(t.redis.url, { maxRetriesPerRequest: null });
  queue = new Queue('scheduled-posts', { connection: queueConnection, prefix: 'jobs' });
  t.deps.jobs!.start();
  await t.deps.jobs!.ready();
});
afterAll(async () => {
  await queue?.close();
  queueConnection?.disconnect();
  await t?.close();
});

describe('scheduled posts and the author\'s rights', () => {
  it('publish for an enabled author or editor; go back to drafts for a disabled or demoted author, reported by the job', async () => {
    await waitFor('the allowed posts to be published', async () => {
      const rows = await t.sql("SELECT 1 FROM posts WHERE id = ANY($1) AND status = 'published'", [[ids.able, ids.boss]]);
      return rows.length === 2;
    });
    const rows = await t.sql<{ id: string; status: string; scheduled_at: Date | null }>(
      'SELECT id, status, scheduled_at FROM posts WHERE id = ANY($1) ORDER BY id', [[ids.gone, ids.demoted]]);
    expect(rows.map((r) => [Number(r.id), r.status, r.scheduled_at])).toEqual([[ids.gone, 'draft', null], [ids.demoted, 'draft', null]]);
    expect((await t.app.inject('/posts/sched-able')).statusCode).toBe(200);
    for (const slug of ['sched-gone', 'sched-demoted']) expect((await t.app.inject(`/posts/${slug}`)).statusCode).toBe(404);

    const reported = await waitFor('the job\'s report', async () => {
      const done = await queue.getCompleted(0, 200);
      return done.map((j) => j.returnvalue as { unscheduled?: Array<{ id: number; reason: string }> })
        .find((v) => v?.unscheduled?.length)?.unscheduled;
    });
    expect(reported).toEqual([
      { id: ids.gone, slug: 'sched-gone', author: 'gone', reason: 'the author\'s account is disabled' },
      { id: ids.demoted, slug: 'sched-demoted', author: 'demoted', reason: 'the author\'s role (subscriber) cannot publish' },
    ]);
  });

  it('a post put back to draft is not published later, even once its author may publish again', async () => {
    await t.sql("UPDATE users SET disabled_at = NULL WHERE username = 'gone'");
    await new Promise((r) => setTimeout(r, 1000)); // three job runs
    const [row] = await t.sql<{ status: string }>('SELECT status FROM posts WHERE id = $1', [ids.gone]);
    expect(row.status).toBe('draft');
  });
});
