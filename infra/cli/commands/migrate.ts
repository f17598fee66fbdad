import type { Command } from 'commander';
import { loadConfig } from '../../../app/config';
import { runMigrations } from '../../../app/db/migrate';
import { createInitialAdmin, initialAdminUsername } from '../../../app/db/initial-admin';
import { connectPrimary, findPrimary } from '../app-primary';
import { action, integer, withOutput, type ExitSink, type OutputOptions } from '../args';
import { emitResult, progress } from '../output';

// `aidiary migrate [--wait SECONDS]`: the release step of every target (the Docker one-shot, the
// Kubernetes Job; the local runner calls the same functions). Configured like the app (env via
// loadConfig), it finds the primary, applies the migrations, then creates the `admin` account with
// the stack's admin password when no such user exists (create-only: a password changed later is
// never reset by a release). Any failure exits non-zero with one line naming the cause.

export function registerMigrate(program: Command, exit: ExitSink): void {
  const cmd = program.command('migrate')
    .description('apply the database migrations, then create the `admin` account if it is missing (configured like the app: the release step of every target)')
    .option('--wait <s>', 'wait up to S seconds for the primary to answer', integer(0), 0);
  withOutput(cmd).action(action(exit, (opts: OutputOptions & { wait: number }) => migrate(opts)));
}

async function migrate(opts: OutputOptions & { wait: number }): Promise<number> {
  const waitSeconds = opts.wait;
  const env = process.env;
  const config = loadConfig(env);
  const primary = await findPrimary(config, env, {
    waitMs: waitSeconds * 1000,
    onRetry: (reason) => progress(`waiting up to ${waitSeconds} s for the primary: ${reason}`),
  });
  progress(`migrating ${config.dbName} on ${primary.name} (${primary.host}:${primary.port})…`);
  const { applied } = await runMigrations({ host: primary.host, port: primary.port, user: config.dbUser, password: config.dbPassword, database: config.dbName })
    .catch((err: Error) => { throw new Error(err.message.replace(/\s+/g, ' '), { cause: err }); }); // one line for the Job's log
  progress(applied.length ? `applied ${applied.join(', ')}` : 'migrations: up to date');

  const adminVariable = env.AIDIARY_ADMIN_PASSWORD_FILE ? 'AIDIARY_ADMIN_PASSWORD_FILE' : 'AIDIARY_ADMIN_PASSWORD';
  const client = await connectPrimary(config, env, primary);
  try {
    if (!config.adminPassword) {
      const { rows } = await client.query('SELECT 1 FROM users WHERE username = $1', [initialAdminUsername]);
      if (rows.length === 0) {
        throw new Error(`schema is up to date, but no \`${initialAdminUsername}\` account exists and AIDIARY_ADMIN_PASSWORD_FILE is not set; point it at a file holding the initial admin password and run migrate again`);
      }
      progress(`admin account: exists (no initial password configured; none needed)`);
      emitResult(opts, { primary: primary.name, applied, admin: 'exists' });
      return 0;
    }
    const { created } = await createInitialAdmin(client, config.adminPassword);
    progress(created
      ? `admin account: created \`${initialAdminUsername}\` with the password from ${adminVariable}`
      : `admin account: \`${initialAdminUsername}\` exists; its password is left as it is`);
    emitResult(opts, { primary: primary.name, applied, admin: created ? 'created' : 'exists' });
  } finally {
    await client.end().catch(() => {});
  }
  return 0;
}
