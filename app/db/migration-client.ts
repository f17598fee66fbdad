import pg from 'pg';
import type { MigrationConnection } from './migrate';

/**
 * One client on the migration's connection for work that cannot run in node-pg-migrate's
 * transaction (backfills in batches, VACUUM), closed whatever `work` does.
 */
export async function withMigrationClient<T>(conn: MigrationConnection, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ host: conn.host, port: conn.port, database: conn.database, user: conn.user, password: conn.password });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
