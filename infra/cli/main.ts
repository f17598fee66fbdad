import { Command, CommanderError } from 'commander';
import packageJson from '../../package.json' with { type: 'json' };
import { refusePasswordArgument, registerAdmin } from './commands/admin';
import { registerBackup } from './commands/backup';
import { registerBench } from './commands/bench';
import { registerDown } from './commands/down';
import { registerDrill } from './commands/drill';
import { registerFailover } from './commands/failover';
import { registerLogs } from './commands/logs';
import { registerMigrate } from './commands/migrate';
import { registerRelease } from './commands/release';
import { registerRestore } from './commands/restore';
import { registerScale } from './commands/scale';
import { registerSeed } from './commands/seed';
import { registerStatus } from './commands/status';
import { registerUp } from './commands/up';
import { exitCodeOf, exitCodes, UsageError } from './exit-codes';

// The `aidiary` CLI. dist/cli.mjs (built from ./entry.ts) calls main(argv) and exits with its
// code; bin/aidiary.mjs builds dist/ when needed and imports it; the e2e tests call main() in
// process. Every command returns an exit code and closes what it opened (no dangling handles).
// The conventions (help, exit codes, --json/--out, confirmation) are in ARCHITECTURE.md.

const epilog = `
Exit codes: 0 ok, 1 failure, 2 usage error (also: a destructive command with no terminal and no --yes),
3 no cluster in the state dir, 4 degraded (status: a node is unhealthy).
Environment: AIDIARY_STATE_DIR (default state dir), AIDIARY_ASSUME_YES=1 (answer yes to confirmations),
AIDIARY_DEBUG=1 (stack traces).
Run \`aidiary <command> --help\` for a command's options.`;

/** A fresh program per call: commander keeps parsed values on its objects, and tests call main() repeatedly. */
export function buildProgram(exit: (code: number) => void, commandName = ''): Command {
  // Commander's own errors (unknown option, bad value, missing argument) read like ours:
  // "aidiary <command>: …", then where to find the options.
  let where = 'aidiary'; // set to `aidiary <command>` below once the command is known to exist
  const program = new Command('aidiary')
    .description('Run and operate the AIDiary cluster: nginx → N apps → Redis + PostgreSQL primary with streaming replicas.')
    .version(packageJson.version, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help (also: aidiary <command> --help)')
    .addHelpText('after', epilog)
    // Settings the subcommands inherit (they are copied when each one is created below).
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(`${s.replace(/^error: /, `${where}: `).trimEnd()}\n(see \`${where} --help\` for every option)\n`),
    })
    .showSuggestionAfterError(true)
    .allowExcessArguments(false);
  for (const register of [registerUp, registerStatus, registerDown, registerScale, registerFailover, registerLogs, registerSeed,
    registerMigrate, registerAdmin, registerRelease, registerDrill, registerBench, registerBackup, registerRestore]) {
    register(program, exit);
  }
  if (program.commands.some((c) => c.name() === commandName || c.aliases().includes(commandName))) where = `aidiary ${commandName}`;
  return program;
}

export async function main(argv: string[]): Promise<number> {
  let code: number = exitCodes.ok;
  const program = buildProgram((c) => { code = c; }, argv[0]);
  if (argv.length === 0) {
    process.stderr.write(program.helpInformation() + epilog.trimStart() + '\n');
    return exitCodes.usage;
  }
  try {
    if (argv[0] === 'admin') refusePasswordArgument(argv);
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    // Commander already printed its message (unknown option, bad value, …); help and --version exit 0.
    if (err instanceof CommanderError) return err.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    const e = err as Error;
    process.stderr.write(`aidiary ${argv[0]}: ${e.message}\n`);
    if (err instanceof UsageError) process.stderr.write(`(see \`aidiary ${argv[0]} --help\` for every option)\n`);
    if (process.env.AIDIARY_DEBUG && e.stack) process.stderr.write(`${e.stack}\n`);
    return exitCodeOf(err);
  }
}
