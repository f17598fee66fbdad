import type { FastifyBaseLogger } from 'fastify';
import { renderPostBody, renderedPostVersion } from '../content/rendered-post';
import type { MigrationConnection } from './migrate';
import { withMigrationClient } from './migration-client';

// Fills posts.content_html / content_text for rows written before they existed or rendered by an
// older renderer (rendered_version ≠ renderedPostVersion). Run after the migrations
// (runMigrations), in batches by id; idempotent, so concurrent or repeated runs only redo work.
// A row whose Markdown changed since it was read is left alone (the UPDATE matches the content
// it rendered): its writer stored its own rendering.

const batchSize = 500;

export async function backfillRenderedPosts(conn: MigrationConnection, logger?: Pick<FastifyBaseLogger, 'info'>): Promise<number> {
  const done = await withMigrationClient(conn, async (client) => {
    let rendered = 0;
    for (let afterId = 0; ;) {
      const { rows } = await client.query<{ id: string; content: string }>(
        'SELECT id, content FROM posts WHERE id > $1 AND rendered_version IS DISTINCT FROM $2 ORDER BY id LIMIT $3',
        [afterId, renderedPostVersion, batchSize],
      );
      if (rows.length === 0) break;
      const bodies = rows.map((r) => renderPostBody(r.content));
      const res = await client.query(
        `UPDATE posts p SET content_html = u.html, content_text = u.text, rendered_version = $5
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u(id, content, html, text)
         WHERE p.id = u.id AND p.content = u.content`,
        [rows.map((r) => r.id), rows.map((r) => r.content), bodies.map((b) => b.html), bodies.map((b) => b.text), renderedPostVersion],
      );
      rendered += res.rowCount ?? 0;
      afterId = Number(rows[rows.length - 1].id);
    }
    return rendered;
  });
  if (done > 0) logger?.info({ posts: done }, `rendered ${done} post bodies ahead of time`);
  return done;
}
