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

/** The `admin` account with the password from the 0600 file, only when no `admin` exists (as on every target). */
export function createAdmin(conn: AppDbConnection, password: string): Promise<{ created: boolean }> {
  return withClient(conn, (client) => createInitialAdmin(client, password));
}

/** The `admin` account with this password, re-set when it differs (an explicit AIDIARY_ADMIN_PASSWORD). */
export function ensureAdmin(conn: AppDbConnection, password: string): Promise<{ created: boolean; updated: boolean }> {
  return withClient(conn, (client) => ensureAdminUser(client, password));
}
