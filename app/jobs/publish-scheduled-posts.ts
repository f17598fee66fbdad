import type { Db } from '../db/db';
import type { ContentChange } from '../deps';
import { getPost, snapshotOf } from '../db/queries/admin-posts';

// Scheduled publishing: a post is scheduled when status = 'draft' and scheduled_at is set (the
// admin post form writes it). The repeatable job calls this every few seconds on whichever app
// takes it. Exactly once per post even if two runs overlapped: the rows are claimed with
// FOR UPDATE SKIP LOCKED and flipped by `UPDATE … WHERE status = 'draft'` in one transaction, so a
// second run finds nothing. The purge goes through onContentChanged with the commit LSN, like any
// publish from the editor (invariant 4: the re-render reads at or after that LSN).

const batchLimit = 100;

export interface PublishedPost { id: number; slug: string; title: string }

export async function publishDuePosts(
  db: Db,
  onContentChanged: (change: ContentChange) => Promise<void>,
): Promise<PublishedPost[]> {
  const res = await db.write(async (q) => {
    const due = await q.query<{ id: string }>({
      name: 'scheduled_due',
      text: `SELECT id FROM posts WHERE status = 'draft' AND scheduled_at <= now()
             ORDER BY scheduled_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`,
      values: [batchLimit],
    });
    const changes = [];
    for (const { id } of due.rows) {
      const before = await getPost(q, Number(id));
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
      const after = (await getPost(q, Number(id)))!;
      changes.push({ before: snapshotOf(before), after: snapshotOf(after), title: after.title });
    }
    return changes;
  });
  for (const change of res.value) {
    await onContentChanged({ kind: 'post', before: change.before, after: change.after, lsn: res.lsn });
  }
  return res.value.map((c) => ({ id: c.after.id, slug: c.after.slug, title: c.title }));
}
