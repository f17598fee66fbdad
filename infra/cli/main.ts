import { adminCommand } from './commands/admin';
import { downCommand } from './commands/down';
import { failoverCommand } from './commands/failover';
import { logsCommand } from './commands/logs';
import { migrateCommand } from './commands/migrate';
import { releaseCommand } from './commands/release';
import { drillCommand } from './commands/drill';
import { benchCommand } from './commands/bench';
import { backupCommand } from './commands/backup';
import { restoreCommand } from './commands/restore';
import { scaleCommand } from './commands/scale';
import { seedCommand } from './commands/seed';
import { statusCommand } from './commands/status';
import { upCommand } from './commands/up';
import { UsageError } from './output';

// The `aidiary` CLI. dist/cli.mjs (built from ./entry.ts) calls main(argv) and exits
// with its code; bin/aidiary.mjs builds dist/ when needed and imports it.
// Every command returns an exit code and closes what it opened (no dangling handles).

const USAGE = `usage: aidiary <command> [options]

  up [--detach] [--apps N] [--db-replicas M] [--port P] [--base-port B|auto] [--seed-posts N]
                              start the local cluster (foreground unless --detach)
  status [--json]             nodes, pids, ports, health, roles, replica lag
  down                        stop everything (data kept)
  scale [--apps N] [--db-replicas M]
                              change replica counts with no failed request
  failover [--to pg-K]        promote a replica
  logs <node> [--lines N]     a node's log (lb, app-K, pg-K, redis-sessions, redis-cache)
  seed --posts N              deterministic demo content
  migrate [--wait S]          run migrations, then create the \`admin\` account if it is missing
                              (configured like the app; the release step of every target)
  admin reset-password [--user NAME] [--password-file F]
                              set a user's password (read from F or stdin, never an argument)
                              and log the user out everywhere; configured like the app, or by
                              the local cluster when no AIDIARY_DB_NODES is set
  release [--registry R] [--tag T] [--push]
                              build the app and edge images tagged with the commit, push them
                              to R, print the \`pulumi config set\` lines for prod
  drill <scenario|all> [--duration S] [--json] [--out FILE]
                              failover drill under load, with a report
  bench [--duration S] [--connections C] [--scenario X] [--url U]
                              benchmark scenarios (wrk), ratios, chart
  backup | restore [--time T] base backup + WAL archive; point-in-time restore

common: --state-dir DIR (or AIDIARY_STATE_DIR; default .aidiary/), --json, --out FILE`;

const commands: Record<string, (argv: string[]) => Promise<number>> = {
  up: upCommand,
  start: upCommand,
  down: downCommand,
  stop: downCommand,
  status: statusCommand,
  scale: scaleCommand,
  failover: failoverCommand,
  logs: logsCommand,
  seed: seedCommand,
  migrate: migrateCommand,
  admin: adminCommand,
  release: releaseCommand,
  drill: drillCommand,
  bench: benchCommand,
  backup: backupCommand,
  restore: restoreCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`aidiary: unknown command "${name}"\n${USAGE}\n`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (err) {
    const e = err as Error & { code?: string };
    const usage = err instanceof UsageError || e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL';
    process.stderr.write(`aidiary ${name}: ${e.message}\n`);
    if (process.env.AIDIARY_DEBUG && e.stack) process.stderr.write(`${e.stack}\n`);
    return usage ? 2 : 1;
  }
}
