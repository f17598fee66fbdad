import { join } from 'node:path';
import { runner } from 'node-pg-migrate';

// The runner's bridge to the app's database code: migrations (and, once app/db/seed.ts lands,
// the demo content and the admin account). Connects as the app's own role over TCP.

export interface AppDbConnection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export async function migrateAppDatabase(root: string, conn: AppDbConnection): Promise<void> {
  // Provisional until app/db/migrate.ts (runMigrations) lands: same migration dir and table.
  await runner({
    databaseUrl: conn,
    dir: join(root, 'app', 'db', 'migrations'),
    migrationsTable: 'pgmigrations',
    direction: 'up',
    count: Infinity,
    log: () => {},
    singleTransaction: true,
    checkOrder: true,
  });
}

export async function seedAppDatabase(_root: string, _conn: AppDbConnection, _opts: { adminPassword: string; posts?: number }): Promise<{ seeded: boolean }> {
  return { seeded: false };
}
