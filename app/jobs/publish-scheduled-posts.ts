import type { Db } from '../db/db';
import type { ContentChange } from '../deps';
import { can, roles, type Role } from '../auth/roles';
import { getPost, snapshotOf } from '../db/queries/admin-posts';

// Scheduled publishing: a post is scheduled when status = 'draft' and scheduled_at is set (the
// admin post form writes it). The repeatable job calls this every few seconds on whichever app
// takes it. Exactly once per post even if two runs overlapped: the rows are claimed with
// FOR UPDATE SKIP LOCKED and flipped by `UPDATE … WHERE status = 'draft'` in one transaction, so a
// second run finds nothing. The purge goes through onContentChanged with the commit LSN, like any
// publish from the editor (the re-render reads at or after that LSN).
//
// A post publishes only if its author may still publish: an enabled account whose role can write
// posts, read in the same transaction. Otherwise its schedule is cleared and it stays a plain
// draft, reported to the caller (the job logs it). Not left scheduled: it would stay due and
// appear on the site the moment the account is re-enabled or promoted, possibly months late and
// without anyone choosing it then; a draft is there for the author or an editor to schedule again.

const batchLimit = 100;

/** Roles that may publish their own posts (the role matrix in app/auth/roles.ts). */
const publishingRoles: Role[] = roles.filter((r) => can(r, 'post:create'));

export interface PublishedPost { id: number; slug: string; title: string }
export interface UnscheduledPost { id: number; slug: string; author: string; reason: string }
export interface PublishRun { published: PublishedPost[]; unscheduled: UnscheduledPost[] }

export async function publishDuePosts(
  db: Db,
  onContentChanged: (change: ContentChange) => Promise<void>,
): Promise<PublishRun> {
  const res = await db.write(async (q) => {
    const due = await q.query<{ id: string; slug: string; username: string; role: Role; disabled: boolean }>({
      name: 'scheduled_due',
      text: `SELECT p.id, p.slug, u.username, u.role, u.disabled_at IS NOT NULL AS disabled
             FROM posts p JOIN users u ON u.id = p.author_id
             WHERE p.status = 'draft' AND p.scheduled_at <= now()
             ORDER BY p.scheduled_at, p.id LIMIT $1 FOR UPDATE OF p SKIP LOCKED`,
      values: [batchLimit],
    });
    const changes = [];
    const unscheduled: UnscheduledPost[] = [];
    for (const row of due.rows) {
      const id = Number(row.id);
      if (row.disabled || !publishingRoles.includes(row.role)) {
        await q.query({
          name: 'scheduled_unschedule',
          text: `UPDATE posts SET scheduled_at = NULL, updated_at = now() WHERE id = $1 AND status = 'draft'`,
          values: [id],
        });
        unscheduled.push({
          id, slug: row.slug, author: row.username,
          reason: row.disabled ? 'the author\'s account is disabled' : `the author's role (${row.role}) cannot publish`,
        });
        continue;
      }
      const before = await getPost(q, id);
      if (!before) continue;
      // published_at = the scheduled time (the post is dated when it was meant to appear), and the
      // schedule is cleared so a later unpublish does not publish it again.
      const updated = await q.query({
        name: 'scheduled_publish',
        text: `UPDATE posts SET status = 'published', published_at = COALESCE(published_at, scheduled_at),
                 scheduled_at = NULL, updated_at = now()
               WHERE id = $1 AND status = 'draft'`,
        values: [id],
      });
      if ((updated.rowCount ?? 0) === 0) continue;
      const after = (await getPost(q, id))!;
      changes.push({ before: snapshotOf(before), after: snapshotOf(after), title: after.title });
    }
    return { changes, unscheduled };
  });
  for (const change of res.value.changes) {
    await onContentChanged({ kind: 'post', before: change.before, after: change.after, lsn: res.lsn });
  }
  return {
    published: res.value.changes.map((c) => ({ id: c.after.id, slug: c.after.slug, title: c.title })),
    unscheduled: res.value.unscheduled,
  };
}
