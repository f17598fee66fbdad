import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { FastifyBaseLogger } from 'fastify';
import { startTestPostgres, startTestRedis, type TestPostgres, type TestRedis } from '../helpers/services';
import { freePort } from '../../infra/local/process';
import { hashPassword, verifyPassword } from '../../app/auth/passwords';
import { createRedisSessionStore } from '../../app/session/redis-session-store';
import { localTopology } from '../../infra/local/cluster-layout';
import { StateDir } from '../../infra/local/state';
import { appSql, expectOneErrorLine, runBuiltCli, secretFiles, stackEnv, type SecretFiles } from './built-cli-helpers';
import { startTestApp } from '../helpers/app';

// `node dist/cli.mjs admin reset-password`, the operator's way back in on every target, run as the
// image runs it against real PostgreSQL and the sessions Redis: the new password comes from stdin
// or --password-file (never argv), must pass the password policy, and the user's sessions end.

let db: TestPostgres;
let redis: TestRedis;
let secrets: SecretFiles;
let env: Record<string, string>;
let sessions: ReturnType<typeof createRedisSessionStore>;

const sql = <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) => appSql<R>(db, text, values);

const hashOf = async (username: string) => (await sql<{ password_hash: string }>('SELECT password_hash FROM users WHERE username = $1', [username]))[0]?.password_hash;
const idOf = async (username: string) => Number((await sql<{ id: string }>('SELECT id FROM users WHERE username = $1', [username]))[0].id);

async function loggedIn(username: string): Promise<string> {
  const { id } = await sessions.create({ userId: await idOf(username), username, role: 'admin', csrfToken: 't', lastWriteLsn: null, lastReadLsn: null });
  return id;
}

beforeAll(async () => {
  [db, redis] = await Promise.all([startTestPostgres(), startTestRedis('sessions')]);
  secrets = secretFiles(db);
  env = { ...stackEnv(db, secrets, { nodes: `pg-0@${db.primary.host}:${db.primary.port}` }), AIDIARY_REDIS_SESSIONS_URL: redis.url };
  const migrated = await runBuiltCli(['migrate'], env);
  expect(migrated.code, migrated.stderr).toBe(0);
  await sql("INSERT INTO users (username, email, display_name, password_hash, role) VALUES ('writer', 'w@example.invalid', 'W', $1, 'author')", [await hashPassword('writer-pass-1')]);
  sessions = createRedisSessionStore({ url: redis.url, secret: 'admin-password-test-session-secret-0123456789', logger: pino({ level: 'silent' }) as unknown as FastifyBaseLogger, metrics: new Registry() });
  await new Promise<void>((resolve) => { if (sessions.isAvailable()) resolve(); else sessions.redis.once('ready', () => resolve()); });
}, 120_000);

afterAll(async () => {
  await sessions?.close();
  secrets?.remove();
  await Promise.all([db?.stop(), redis?.stop()]);
});

describe('admin reset-password', () => {
  it('reads the new password from stdin, sets it and logs the user out everywhere', async () => {
    const [a, b] = [await loggedIn('admin'), await loggedIn('admin')];
    const writerSession = await loggedIn('writer');
    const run = await runBuiltCli(['admin', 'reset-password'], env, { input: 'stdin-pass-123\n' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('password of "admin" reset on pg-0');
    expect(run.stderr).toContain('2 session(s) logged out');
    const hash = await hashOf('admin');
    expect(await verifyPassword(hash, 'stdin-pass-123')).toBe(true);
    expect(await verifyPassword(hash, secrets.adminPassword)).toBe(false);
    expect(await sessions.get(a)).toBeNull();
    expect(await sessions.get(b)).toBeNull();
    expect(await sessions.get(writerSession)).not.toBeNull(); // another user's session stays
  });

  it('reads it from --password-file and resets the user named by --user', async () => {
    const file = secrets.write('new-writer-password', 'file-pass-456');
    const adminBefore = await hashOf('admin');
    const run = await runBuiltCli(['admin', 'reset-password', '--user', 'writer', '--password-file', file], env);
    expect(run.code, run.stderr).toBe(0);
    expect(await verifyPassword(await hashOf('writer'), 'file-pass-456')).toBe(true);
    expect(await hashOf('admin')).toBe(adminBefore);
    expect(run.stdout).toBe('');
    expect(run.stderr).not.toContain('file-pass-456');
  });

  it('refuses a password given as an argument, without echoing it, and changes nothing', async () => {
    const before = await hashOf('admin');
    for (const args of [['admin', 'reset-password', 'argv-pass-789'], ['admin', 'reset-password', '--password=argv-pass-789'], ['admin', 'reset-password', '--password', 'argv-pass-789']]) {
      const run = await runBuiltCli(args, env, { input: 'stdin-pass-999\n' });
      expect(run.code).toBe(2);
      expect(expectOneErrorLine(run.stderr)).toMatch(/--password-file FILE or pipe the password on stdin/);
      expect(run.stderr).not.toContain('argv-pass-789');
    }
    expect(await hashOf('admin')).toBe(before);
  });

  it('exits 1 naming an unknown user, and changes nothing', async () => {
    const before = await hashOf('admin');
    const run = await runBuiltCli(['admin', 'reset-password', '--user', 'ghost'], env, { input: 'ghost-pass-123\n' });
    expect(run.code).toBe(1);
    expect(expectOneErrorLine(run.stderr)).toBe('aidiary admin: no user named "ghost" (names are case-sensitive); check --user');
    expect(await hashOf('admin')).toBe(before);
  });

  it('applies the password policy and the one-line rule before touching anything', async () => {
    const before = await hashOf('admin');
    const cases: Array<[string, RegExp]> = [
      ['short1\n', /new password: at least 8 characters/],
      ['onlyletters\n', /new password: use letters and digits/],
      ['', /stdin: empty/],
      ['first-line-1\nsecond-line-2\n', /stdin: expected one line, found several/],
    ];
    for (const [input, message] of cases) {
      const run = await runBuiltCli(['admin', 'reset-password'], env, { input });
      expect(run.code).toBe(2);
      expect(expectOneErrorLine(run.stderr)).toMatch(message);
    }
    expect(await hashOf('admin')).toBe(before);
  });

  it('changes nothing and names the URL when the sessions Redis is unreachable (the sessions could not end)', async () => {
    const before = await hashOf('admin');
    const port = await freePort();
    const run = await runBuiltCli(['admin', 'reset-password'], { ...env, AIDIARY_REDIS_SESSIONS_URL: `redis://127.0.0.1:${port}` }, { input: 'redis-pass-123\n' });
    expect(run.code).toBe(1);
    const line = expectOneErrorLine(run.stderr);
    expect(line).toContain(`cannot reach the sessions Redis at redis://127.0.0.1:${port}`);
    expect(line).toContain('nothing changed');
    expect(await hashOf('admin')).toBe(before);
  });

  it('names host:port when the database is unreachable', async () => {
    const port = await freePort();
    const run = await runBuiltCli(['admin', 'reset-password'], { ...env, AIDIARY_DB_NODES: `pg-0@127.0.0.1:${port}` }, { input: 'unreach-pass-1\n' });
    expect(run.code).toBe(1);
    expect(expectOneErrorLine(run.stderr)).toContain(`cannot reach PostgreSQL at 127.0.0.1:${port}`);
  });

  it('clears the user\'s login backoff: a locked-out user logs in with the new password at once', async () => {
    // The app's own login route, on the same PostgreSQL and sessions Redis as the CLI.
    const t = await startTestApp({ pg: db, redis, posts: 0 });
    try {
      const attempt = (password: string) => t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'writer', password } });
      // Three wrong passwords: the username now waits (2^k s, capped), whatever the password.
      for (let failures = 0; failures < 3;) {
        const res = await attempt('wrong-pass-1');
        if (res.statusCode === 429) {
          await new Promise((r) => setTimeout(r, Number(res.headers['retry-after']) * 1000 + 100));
        } else {
          expect(res.statusCode).toBe(401);
          failures++;
        }
      }
      const locked = await attempt('wrong-pass-1');
      expect(locked.statusCode).toBe(429);
      expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(4);
      const run = await runBuiltCli(['admin', 'reset-password', '--user', 'writer'], env, { input: 'unlock-pass-42\n' });
      expect(run.code, run.stderr).toBe(0);
      const login = await attempt('unlock-pass-42');
      expect(login.statusCode, login.body).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('with no database address in the environment, uses the local cluster recorded in --state-dir', async () => {
    // A state dir as `aidiary up` leaves it, its ports pointed at this test's PostgreSQL and Redis.
    const root = mkdtempSync(join(tmpdir(), 'aidiary-local-'));
    try {
      const state = new StateDir(join(root, '.aidiary'));
      state.ensureLayout();
      state.ensureSecrets({});
      writeFileSync(state.dbPasswordFile, `${db.appPassword}\n`, { mode: 0o600 });
      writeFileSync(state.redisPasswordFile('sessions'), `${redis.passwords.app}\n`, { mode: 0o600 });
      const t = localTopology({ apps: 1, dbReplicas: 0, basePort: 20000 });
      const topology = { ...t, host: '127.0.0.1', ports: { ...t.ports, pgBase: db.primary.port, redisSessions: redis.port } };
      state.write({ version: 1, topology, createdAt: new Date().toISOString(), seeded: true, supervisorPid: null });
      const session = await loggedIn('admin');
      const run = await runBuiltCli(['admin', 'reset-password', '--state-dir', state.root], {}, { input: 'local-pass-321\n' });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain(`using the local cluster in ${state.root}`);
      expect(await verifyPassword(await hashOf('admin'), 'local-pass-321')).toBe(true);
      expect(await sessions.get(session)).toBeNull();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
