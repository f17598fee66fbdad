import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startTestPostgres, type TestPostgres } from '../helpers/services';
import { freePort } from '../../infra/local/process';
import { hashPassword, verifyPassword } from '../../app/auth/passwords';
import { appSql, expectOneErrorLine, runBuiltCli, secretFiles, stackEnv, type SecretFiles } from './built-cli-helpers';

// `node dist/cli.mjs migrate`, the release step both stacks declare, run as the image runs it
// against a real PostgreSQL (a primary and a streaming replica): it creates the schema and the
// `admin` account, changes nothing on a second run, never resets a changed admin password, and
// fails with one line naming the cause when it cannot do its work.

let db: TestPostgres;
let secrets: SecretFiles;
let env: Record<string, string>;

const sql = <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) => appSql<R>(db, text, values);

const adminRow = async () => (await sql<{ id: string; password_hash: string; role: string; updated_at: Date }>(
  "SELECT id, password_hash, role::text AS role, updated_at FROM users WHERE username = 'admin'"))[0];
const migrations = () => sql<{ name: string; run_on: Date }>('SELECT name, run_on FROM pgmigrations ORDER BY id');

beforeAll(async () => {
  db = await startTestPostgres({ replicas: 1 });
  secrets = secretFiles(db);
  // The node list as the app gets it, the replica listed first: migrate must pick the primary by role.
  const [primary, replica] = db.nodes;
  env = stackEnv(db, secrets, { nodes: `${replica.name}@${replica.host}:${replica.port},${primary.name}@${primary.host}:${primary.port}` });
}, 120_000);

afterAll(async () => {
  secrets?.remove();
  await db?.stop();
});

describe('migrate on a fresh database', () => {
  it('creates the schema and the admin account with the password from AIDIARY_ADMIN_PASSWORD_FILE', async () => {
    const run = await runBuiltCli(['migrate'], env);
    expect(run.stderr).toContain('admin account: created');
    expect(run.code).toBe(0);
    const applied = await migrations();
    expect(applied.length).toBeGreaterThanOrEqual(4);
    const tables = await sql<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'");
    expect(tables.map((r) => r.t)).toEqual(expect.arrayContaining(['users', 'posts', 'categories', 'tags', 'site_settings', 'media_blobs']));
    const admin = await adminRow();
    expect(admin.role).toBe('admin');
    expect(await verifyPassword(admin.password_hash, secrets.adminPassword)).toBe(true);
    expect(await verifyPassword(admin.password_hash, `${secrets.adminPassword}x`)).toBe(false);
  });

  it('changes nothing on a second run (same admin row and hash, no new migration)', async () => {
    const before = { admin: await adminRow(), migrations: await migrations() };
    const run = await runBuiltCli(['migrate'], env);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('migrations: up to date');
    expect(run.stderr).toContain('admin account: `admin` exists; its password is left as it is');
    expect(await adminRow()).toEqual(before.admin);
    expect(await migrations()).toEqual(before.migrations);
  });

  it('never resets an admin password changed after the first release', async () => {
    const changed = await hashPassword('changed-in-the-ui-1');
    await sql("UPDATE users SET password_hash = $1 WHERE username = 'admin'", [changed]);
    const run = await runBuiltCli(['migrate'], env);
    expect(run.code).toBe(0);
    const admin = await adminRow();
    expect(admin.password_hash).toBe(changed);
    expect(await verifyPassword(admin.password_hash, secrets.adminPassword)).toBe(false);
  });

  it('works with the Kubernetes form of the address (AIDIARY_DB_PRIMARY_SERVICE)', async () => {
    const k8sEnv = stackEnv(db, secrets, { primaryService: `${db.primary.host}:${db.primary.port}` });
    const run = await runBuiltCli(['migrate'], k8sEnv);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`on ${db.primary.host} (${db.primary.host}:${db.primary.port})`);
  });

  it('recreates a missing admin account, and refuses to finish without one when no initial password is configured', async () => {
    await sql("DELETE FROM users WHERE username = 'admin'");
    const { AIDIARY_ADMIN_PASSWORD_FILE: _unset, ...noAdminEnv } = env;
    const refused = await runBuiltCli(['migrate'], noAdminEnv);
    expect(refused.code).toBe(1);
    expect(expectOneErrorLine(refused.stderr)).toMatch(/^aidiary migrate: schema is up to date, but no `admin` account exists and AIDIARY_ADMIN_PASSWORD_FILE is not set/);
    expect(await adminRow()).toBeUndefined();
    const run = await runBuiltCli(['migrate'], env);
    expect(run.code).toBe(0);
    expect(await verifyPassword((await adminRow()).password_hash, secrets.adminPassword)).toBe(true);
  });
});

describe('migrate fails loudly', () => {
  it('names host:port and the variable when the database is unreachable', async () => {
    const port = await freePort();
    const run = await runBuiltCli(['migrate'], { ...env, AIDIARY_DB_NODES: `pg-0@127.0.0.1:${port}` });
    expect(run.code).toBe(1);
    const line = expectOneErrorLine(run.stderr);
    expect(line).toContain(`cannot reach PostgreSQL at 127.0.0.1:${port} (connect ECONNREFUSED`);
    expect(line).toContain('check AIDIARY_DB_NODES');
  });

  it('waits up to --wait seconds for an unreachable database, then fails the same way', async () => {
    const port = await freePort();
    const started = Date.now();
    const run = await runBuiltCli(['migrate', '--wait', '2'], { ...env, AIDIARY_DB_NODES: `pg-0@127.0.0.1:${port}` });
    expect(run.code).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(run.stderr).toContain('aidiary: waiting up to 2 s for the primary');
    expect(expectOneErrorLine(run.stderr)).toContain(`127.0.0.1:${port}`);
  });

  it('names each node when none of AIDIARY_DB_NODES is a primary', async () => {
    const replica = db.replicas[0];
    const port = await freePort();
    const run = await runBuiltCli(['migrate'], { ...env, AIDIARY_DB_NODES: `pg-1@${replica.host}:${replica.port},pg-2@127.0.0.1:${port}` });
    expect(run.code).toBe(1);
    const line = expectOneErrorLine(run.stderr);
    expect(line).toContain(`pg-1: ${replica.host}:${replica.port} is a replica (in recovery)`);
    expect(line).toContain(`pg-2: cannot reach PostgreSQL at 127.0.0.1:${port}`);
  });

  it('names the password variable when the login is refused', async () => {
    const wrong = secrets.write('wrong-db-password', 'not-the-password');
    const run = await runBuiltCli(['migrate'], { ...env, AIDIARY_DB_PASSWORD_FILE: wrong });
    expect(run.code).toBe(1);
    const line = expectOneErrorLine(run.stderr);
    expect(line).toContain(`refused user "${db.appUser}"`);
    expect(line).toContain('password authentication failed');
    expect(line).toContain('check AIDIARY_DB_USER and AIDIARY_DB_PASSWORD_FILE');
  });

  it('names the missing variable when the environment is empty', async () => {
    const run = await runBuiltCli(['migrate'], {});
    expect(run.code).toBe(1);
    expect(expectOneErrorLine(run.stderr)).toMatch(/^aidiary migrate: AIDIARY_DB_NODES: missing; set it .* or AIDIARY_DB_PRIMARY_SERVICE$/);
  });

  it('names an unreadable secret file', async () => {
    const run = await runBuiltCli(['migrate'], { ...env, AIDIARY_DB_PASSWORD_FILE: `${secrets.dir}/absent` });
    expect(run.code).toBe(1);
    expect(expectOneErrorLine(run.stderr)).toContain(`AIDIARY_DB_PASSWORD_FILE: cannot read "${secrets.dir}/absent" (ENOENT)`);
  });
});
