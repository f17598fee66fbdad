import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPostgres, type TestPostgres } from '../helpers/services';
import { migrateAppDatabase, provisionLocalAdmin, type AppDbConnection } from '../../infra/local/app-database';
import { hashPassword, verifyPassword } from '../../app/auth/passwords';
import { appSql } from './built-cli-helpers';

// The local `up`'s admin account on a real PostgreSQL: created once from the state dir's password
// file, then left alone (a password changed in the admin UI survives restarts), unless `up` runs
// with AIDIARY_ADMIN_PASSWORD set, which sets that password again.

let db: TestPostgres;
let conn: AppDbConnection;

const adminHash = async () => (await appSql<{ password_hash: string }>(db, "SELECT password_hash FROM users WHERE username = 'admin'"))[0]?.password_hash;
const setAdminHash = (hash: string) => appSql(db, "UPDATE users SET password_hash = $1 WHERE username = 'admin'", [hash]);

beforeAll(async () => {
  db = await startTestPostgres();
  conn = { host: db.primary.host, port: db.primary.port, user: db.appUser, password: db.appPassword, database: db.dbName };
  await migrateAppDatabase(conn);
}, 120_000);

afterAll(async () => {
  await db?.stop();
});

describe('local up: the admin account', () => {
  it('is created from the password file on the first start, then left as it is on restarts', async () => {
    expect(await provisionLocalAdmin(conn, 'generated-pass-1', {})).toEqual({ created: true, updated: false });
    expect(await verifyPassword((await adminHash())!, 'generated-pass-1')).toBe(true);
    const changed = await hashPassword('changed-in-ui-2');
    await setAdminHash(changed);
    expect(await provisionLocalAdmin(conn, 'generated-pass-1', {})).toEqual({ created: false, updated: false });
    expect(await adminHash()).toBe(changed);
  });

  it('takes the password again when AIDIARY_ADMIN_PASSWORD is set for that up', async () => {
    expect(await provisionLocalAdmin(conn, 'explicit-pass-3', { AIDIARY_ADMIN_PASSWORD: 'explicit-pass-3' })).toEqual({ created: false, updated: true });
    const hash = (await adminHash())!;
    expect(await verifyPassword(hash, 'explicit-pass-3')).toBe(true);
    // The same explicit password again: nothing to re-hash.
    expect(await provisionLocalAdmin(conn, 'explicit-pass-3', { AIDIARY_ADMIN_PASSWORD: 'explicit-pass-3' })).toEqual({ created: false, updated: false });
    expect(await adminHash()).toBe(hash);
  });
});
