import { InvalidArgumentError, type Command } from 'commander';
import { resolveStateDir, StateDir, type ClusterState } from '../local/state';
import { NoClusterError } from './exit-codes';
import type { OutputOptions } from './output';

// Shared pieces of the command line, parsed by commander (per-command help, typed values, unknown
// options refused with a suggestion). A value parser throws InvalidArgumentError; commander then
// names the option and the value, and the message here says what would be accepted.

/** A whole number within [min, max]: `--lines abc`, `--apps -1` and `--port 99999` are refused. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  const range = max === Number.MAX_SAFE_INTEGER ? `a whole number ≥ ${min}` : `a whole number from ${min} to ${max}`;
  return (value) => {
    const n = Number(value);
    if (!/^[+-]?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`Give ${range}.`);
    }
    return n;
  };
}

/** A TCP port. */
export const port = integer(1, 65535);

/** One of a fixed set of words. */
export function oneOf<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`Give one of: ${choices.join(', ')}.`);
    return value as T;
  };
}

export interface StateDirOptions { stateDir?: string }
export interface ConfirmOptions { yes?: boolean; dryRun?: boolean }

export function withStateDir(cmd: Command): Command {
  return cmd.option('--state-dir <dir>', 'the local cluster\'s state directory (default: $AIDIARY_STATE_DIR, else .aidiary/ in the checkout)');
}

export function withOutput(cmd: Command): Command {
  return cmd
    .option('--json', 'print the result as JSON on stdout (progress stays on stderr)')
    .option('--out <file>', 'also write the JSON result to FILE');
}

/** The confirmation switches of a destructive command (infra/cli/confirm.ts). */
export function withConfirmation(cmd: Command): Command {
  return cmd
    .option('-y, --yes', 'do it without asking (also AIDIARY_ASSUME_YES=1); needed when there is no terminal to ask on')
    .option('--dry-run', 'print the plan and change nothing');
}

/** The recorded cluster of --state-dir, or exit 3. */
export function requireCluster(opts: StateDirOptions): { state: StateDir; recorded: ClusterState } {
  const state = new StateDir(resolveStateDir(opts.stateDir));
  const recorded = state.read();
  if (!recorded) throw new NoClusterError(state.root);
  return { state, recorded };
}

export type { OutputOptions };

/** A command's body returns its exit code; main() collects it (commander ignores return values). */
export type ExitSink = (code: number) => void;
export function action<A extends unknown[]>(exit: ExitSink, body: (...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async (...args: A) => { exit(await body(...args)); };
}

// The topology counts (infra/topology/parse.ts checks them again against the whole topology).
export const appCount = integer(1, 64);
export const dbReplicaCount = integer(0, 8);
