import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { expect } from 'vitest';
import { projectRoot } from '../../app/project-root';
import type { TestPostgres } from '../helpers/services';

// The production CLI bundle (dist/cli.mjs, built by the test global setup) run as the images run
// it: `node dist/cli.mjs <command>` with only the environment a stack declares (no inherited
// AIDIARY_* variables) and secrets in 0600 files named by *_FILE variables.

export interface CliRun { code: number | null; stdout: string; stderr: string }

export function runBuiltCli(args: string[], env: Record<string, string>, opts: { input?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(projectRoot(), 'dist', 'cli.mjs'), ...args], {
      cwd: projectRoot(), env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`cli ${args.join(' ')} did not finish in time; stderr: ${stderr}`)); }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(opts.input ?? '');
  });
}

/** The error lines a failed command printed (progress lines start with `aidiary: `). */
export const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('aidiary ') && !l.startsWith('aidiary: '));

/** The one error line a failed command printed, with no stack trace (none without AIDIARY_DEBUG). */
export function expectOneErrorLine(stderr: string): string {
  const lines = errorLines(stderr);
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  return lines[0];
}

export interface SecretFiles {
  dir: string;
  dbPasswordFile: string;
  sessionSecretFile: string;
  adminPasswordFile: string;
  adminPassword: string;
  write(name: string, value: string): string;
  remove(): void;
}

/** Secret files as the stacks mount them (one value per 0600 file, newline-terminated). */
export function secretFiles(pg: TestPostgres): SecretFiles {
  const dir = mkdtempSync(join(tmpdir(), 'aidiary-secrets-'));
  const write = (name: string, value: string) => {
    const file = join(dir, name);
    writeFileSync(file, `${value}\n`, { mode: 0o600 });
    return file;
  };
  const adminPassword = randomBytes(18).toString('base64url');
  return {
    dir,
    dbPasswordFile: write('db-password', pg.appPassword),
    sessionSecretFile: write('session-secret', randomBytes(32).toString('hex')),
    adminPasswordFile: write('admin-password', adminPassword),
    adminPassword,
    write,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The app environment the stacks declare for the migrate step (infra/topology/derive.ts appEnvironment). */
export function stackEnv(pg: TestPostgres, s: SecretFiles, db: { nodes: string } | { primaryService: string }): Record<string, string> {
  return {
    NODE_ENV: 'production',
    AIDIARY_APP_NAME: 'migrate',
    AIDIARY_DB_NAME: pg.dbName,
    AIDIARY_DB_USER: pg.appUser,
    ...('nodes' in db ? { AIDIARY_DB_NODES: db.nodes } : { AIDIARY_DB_PRIMARY_SERVICE: db.primaryService }),
    AIDIARY_DB_PASSWORD_FILE: s.dbPasswordFile,
    AIDIARY_SESSION_SECRET_FILE: s.sessionSecretFile,
    AIDIARY_ADMIN_PASSWORD_FILE: s.adminPasswordFile,
  };
}

/** One query as the app's role on the test primary, on its own connection. */
export async function appSql<R extends pg.QueryResultRow>(db: TestPostgres, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ host: db.primary.host, port: db.primary.port, user: db.appUser, password: db.appPassword, database: db.dbName });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}
