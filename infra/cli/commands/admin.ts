import type { Command } from 'commander';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { FastifyBaseLogger } from 'fastify';
import { loadConfig, type AppConfig } from '../../../app/config';
import { hashPassword } from '../../../app/auth/passwords';
import { setPasswordHash } from '../../../app/db/queries/admin-users';
import { passwordField } from '../../../app/routes/admin/user-schemas';
import { createRedisSessionStore } from '../../../app/session/redis-session-store';
import { clearLoginBackoff } from '../../../app/session/rate-limit';
import type { Redis } from 'ioredis';
import type { SessionStore } from '../../../app/deps';
import { connectPrimary, findPrimary } from '../app-primary';
import { localClusterEnv } from '../local-cluster-env';
import { action, withOutput, withStateDir, type ExitSink, type OutputOptions, type StateDirOptions } from '../args';
import { UsageError } from '../exit-codes';
import { emitResult, progress } from '../output';
import { readSecretFile, readSecretStdin } from '../secret-input';

// `aidiary admin reset-password [--user NAME] [--password-file FILE]`: the operator's way back in
// when an account's password is lost, on every target (`docker exec` into an app container,
// `kubectl exec` into an app pod, or a shell next to the local cluster). Configured by the app's
// own environment (or, with no database address in it, by the local cluster of --state-dir); the
// new password comes from the file or stdin, never argv. It sets the password on the primary and
// logs the user out everywhere (the sessions Redis keeps a set of each user's sessions).

/**
 * Refuses `--password` before commander parses the line: its error messages would echo the value.
 * main() calls it for `admin …`.
 */
export function refusePasswordArgument(argv: string[]): void {
  if (argv.some((a) => a === '--password' || a.startsWith('--password='))) {
    throw new UsageError('--password is not accepted (argv shows in `ps` and shell history); use --password-file FILE or pipe the password on stdin');
  }
}

interface ResetOptions extends StateDirOptions, OutputOptions { user: string; passwordFile?: string }

/** The sessions store, once its Redis answers; fails with one line when it does not. */
async function openSessionStore(config: AppConfig): Promise<SessionStore & { redis: Redis }> {
  const store = createRedisSessionStore({
    url: config.redisSessionsUrl, auth: config.redisSessionsAuth, secret: config.sessionSecret, logger: pino({ level: 'silent' }) as unknown as FastifyBaseLogger, metrics: new Registry(),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      if (store.redis.status === 'ready') return resolve();
      const fail = (why: string) => reject(new Error(`cannot reach the sessions Redis at ${config.redisSessionsUrl} (${why}); nothing changed (the user's sessions could not be logged out); check AIDIARY_REDIS_SESSIONS_URL`));
      const timer = setTimeout(() => fail('no answer within 5 s'), 5000);
      store.redis.once('ready', () => { clearTimeout(timer); resolve(); });
      store.redis.once('error', (err: Error) => { clearTimeout(timer); fail(err.message); });
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

async function resetPassword(values: ResetOptions, extra: string[]): Promise<number> {
  if (extra.length > 0) {
    throw new UsageError('passwords are never taken as arguments (argv shows in `ps` and shell history); use --password-file FILE or pipe the password on stdin');
  }
  const username = values.user;
  const password = values.passwordFile !== undefined ? readSecretFile(values.passwordFile) : await readSecretStdin();
  const policy = passwordField.safeParse(password);
  if (!policy.success) throw new UsageError(`new password: ${policy.error.issues[0].message}`);

  const local = localClusterEnv(values.stateDir, process.env);
  if (local) progress(`no AIDIARY_DB_NODES in the environment: using the local cluster in ${local.stateDir}`);
  const env = local?.env ?? process.env;
  const config = loadConfig(env);
  const sessions = await openSessionStore(config);
  try {
    const primary = await findPrimary(config, env);
    const hash = await hashPassword(password);
    const client = await connectPrimary(config, env, primary);
    let user: { id: number; disabled: boolean };
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ id: string; disabled: boolean }>(
        'SELECT id, disabled_at IS NOT NULL AS disabled FROM users WHERE username = $1 FOR UPDATE', [username]);
      if (rows.length === 0) {
        throw new Error(`no user named "${username}" (names are case-sensitive); check --user`);
      }
      user = { id: Number(rows[0].id), disabled: rows[0].disabled };
      await setPasswordHash(client, user.id, hash);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      await client.end().catch(() => {});
    }
    const revoked = await sessions.revokeUser(user.id).catch((err: Error) => {
      throw new Error(`password of "${username}" reset, but its sessions could not be logged out (${err.message}); run the command again`);
    });
    // A user locked out by failed logins can use the new password at once (the per-username
    // backoff only; the per-address windows stay, they guard against password spraying).
    await clearLoginBackoff(sessions.redis, username).catch((err: Error) => {
      throw new Error(`password of "${username}" reset and its sessions logged out, but its login backoff could not be cleared (${err.message}); run the command again, or wait at most ${config.login.backoffCapSeconds} s`);
    });
    progress(`password of "${username}" reset on ${primary.name} (${primary.host}:${primary.port}); ${revoked} session(s) logged out`);
    if (user.disabled) progress(`note: "${username}" is disabled and cannot log in until an admin enables it under /admin/users`);
    emitResult(values, { user: username, node: primary.name, sessionsLoggedOut: revoked, disabled: user.disabled });
    return 0;
  } finally {
    await sessions.close();
  }
}

export function registerAdmin(program: Command, exit: ExitSink): void {
  const admin = program.command('admin').description('account maintenance, configured like the app (or by the local cluster when no AIDIARY_DB_NODES is set)');
  const reset = admin.command('reset-password')
    .description('set a user\'s password (read from --password-file or stdin, never an argument) and log the user out everywhere')
    .option('--user <name>', 'the account (names are case-sensitive)', 'admin')
    .option('--password-file <file>', 'a file holding the new password (default: one line on stdin)')
    // Extra words are accepted by the parser only to refuse them with the reason (a password typed as an argument).
    .allowExcessArguments(true);
  withOutput(withStateDir(reset)).action(action(exit, (opts: ResetOptions, cmd: Command) => resetPassword(opts, cmd.args)));
}
