import { createInterface } from 'node:readline/promises';
import type { ConfirmOptions } from './args';
import { UsageError } from './exit-codes';
import { emitResult, type OutputOptions } from './output';

// Confirmation of destructive commands (restore, an unplanned failover, a scale-down that removes
// a database node): the plan is shown and, on a terminal, the operator answers y/N. Without a
// terminal (scripts, monitors, CI) nobody can answer, so --yes or AIDIARY_ASSUME_YES=1 must say so
// up front; otherwise the command exits 2 naming the flag. --dry-run prints the plan and stops.
// node:readline is enough for one y/N question; a prompt library would add nothing here.

export interface Plan {
  /** What the command does, e.g. "restore pg-0 from backup 20260101T000000Z". */
  summary: string;
  /** The steps, in order, with what is lost. */
  steps: string[];
}

export type Decision = 'proceed' | 'dry-run' | 'declined';

export interface ConfirmIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

const defaultIo = (): ConfirmIo => ({ stdin: process.stdin, stderr: process.stderr, env: process.env });

export function formatPlan(plan: Plan): string {
  return [`plan: ${plan.summary}`, ...plan.steps.map((s, i) => `  ${i + 1}. ${s}`)].join('\n');
}

/**
 * `destructive` false (e.g. a planned switchover, a scale-down of apps only): no question, but
 * --dry-run still prints the plan. A plan given as a function is made only when it is shown: making
 * it may probe the cluster (which node is primary), and a frozen primary would hold up a failover
 * that --yes has already confirmed.
 */
export async function confirm(command: string, makePlan: Plan | (() => Promise<Plan>), opts: ConfirmOptions & OutputOptions, destructive: boolean, io: ConfirmIo = defaultIo()): Promise<Decision> {
  const planned = () => (typeof makePlan === 'function' ? makePlan() : Promise.resolve(makePlan));
  if (opts.dryRun) {
    const plan = await planned();
    emitResult(opts, { dryRun: true, command, ...plan }, `${formatPlan(plan)}\n(dry run: nothing changed)`);
    return 'dry-run';
  }
  if (!destructive || opts.yes || io.env.AIDIARY_ASSUME_YES === '1') return 'proceed';
  const plan = await planned();
  if (!io.stdin.isTTY || !io.stderr.isTTY) {
    throw new UsageError(`${plan.summary}: this cannot be undone and there is no terminal to confirm on; pass --yes (or set AIDIARY_ASSUME_YES=1) to go ahead, or --dry-run to see the plan`);
  }
  io.stderr.write(`${formatPlan(plan)}\n`);
  const rl = createInterface({ input: io.stdin, output: io.stderr });
  try {
    const answer = await rl.question(`aidiary ${command}: go ahead? [y/N] `);
    return /^(y|yes)$/i.test(answer.trim()) ? 'proceed' : 'declined';
  } finally {
    rl.close();
  }
}
