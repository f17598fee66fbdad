import pg from 'pg';
import { runMigrations } from '../../app/db/migrate';
import { ensureAdminUser, seedDemoContent, type SeedResult } from '../../app/db/seed';
import { createInitialAdmin } from '../../app/db/initial-admin';

// The runner's bridge to the app's database code (migrations, demo content, the admin account).
// Connects as the app's own role over TCP, like the app does.

export interface AppDbConnection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export async function migrateAppDatabase(conn: AppDbConnection): Promise<{ applied: string[] }> {
  return runMigrations(conn);
}

async function withClient<T>(conn: AppDbConnection, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ ...conn, connectionTimeoutMillis: 5000 });
  client.on('error', () => { /* a dropped connection surfaces on the next query */ });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Demo content (first start only: seedDemoContent is a no-op once its marker row exists). */
export function seedAppDatabase(conn: AppDbConnection, opts: { posts?: number } = {}): Promise<SeedResult> {
  return withClient(conn, (client) => seedDemoContent(client, { posts: opts.posts }));
}

/**
 * The local `up`'s `admin` account, from the password in the 0600 file. Create-only, as
 * `aidiary migrate` on every target, so a password changed in the admin UI survives restarts;
 * but an AIDIARY_ADMIN_PASSWORD set in `up`'s environment is the operator asking for that
 * password, so it is set again (ensureAdminUser re-hashes only when it differs).
 */
export async function provisionLocalAdmin(conn: AppDbConnection, password: string, env: NodeJS.ProcessEnv): Promise<{ created: boolean; updated: boolean }> {
  if (env.AIDIARY_ADMIN_PASSWORD) return withClient(conn, (client) => ensureAdminUser(client, password));
  const { created } = await withClient(conn, (client) => createInitialAdmin(client, password));
  return { created, updated: false };
}
