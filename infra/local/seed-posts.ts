import pg from 'pg';
import { seedPublishedPosts, type TopUpResult } from '../../app/db/seed';
import type { AppDbConnection } from './app-database';

// `aidiary seed --posts N` (and `up --seed-posts N`): top the site up to N published posts, as the
// app's own role on the primary. Idempotent: what is already published counts.

export async function seedPostsTo(conn: AppDbConnection, posts: number, log: (line: string) => void = () => {}): Promise<TopUpResult> {
  const client = new pg.Client({ ...conn, connectionTimeoutMillis: 5000 });
  client.on('error', () => { /* a dropped connection surfaces on the next query */ });
  await client.connect();
  try {
    const started = Date.now();
    return await seedPublishedPosts(client, {
      posts,
      onProgress: (published, target) => log(`seed: ${published} / ${target} published posts (${((Date.now() - started) / 1000).toFixed(1)} s)`),
    });
  } finally {
    await client.end().catch(() => {});
  }
}
