import { InvalidArgumentError, type Command } from 'commander';
import { pgNodes } from '../../local/cluster-layout';
import { failoverLocalCluster } from '../../local/failover';
import { livePrimary } from '../../local/runner';
import {
  action, requireCluster, withConfirmation, withOutput, withStateDir, type ConfirmOptions, type ExitSink, type OutputOptions, type StateDirOptions,
} from '../args';
import { confirm, type Plan } from '../confirm';
import { exitCodes, UsageError } from '../exit-codes';
import { emitResult, progress } from '../output';

// `aidiary failover [--to pg-K] [--planned] [--yes] [--dry-run]`: promotes the most advanced (or
// named) replica; the others follow it and the old primary rejoins as a standby
// (infra/local/failover.ts). --planned is the switchover: the primary stops cleanly once the target
// has all of its WAL, so nothing is lost and nothing is asked. An unplanned failover can lose the
// writes no replica received: it is confirmed (infra/cli/confirm.ts).

function nodeName(value: string): string {
  if (!/^pg-\d+$/.test(value)) throw new InvalidArgumentError('Give a PostgreSQL node name such as pg-1 (see `aidiary status`).');
  return value;
}

interface FailoverCliOptions extends StateDirOptions, OutputOptions, ConfirmOptions { to?: string; planned?: boolean }

export function registerFailover(program: Command, exit: ExitSink): void {
  const cmd = program.command('failover')
    .description('promote a replica to primary; the old primary rejoins as a standby (unplanned: asks first)')
    .option('--to <pg-K>', 'the replica to promote (default: the most advanced one)', nodeName)
    .option('--planned', 'switchover: stop the primary cleanly once the target has all of its WAL (no write lost, no question)');
  withConfirmation(withOutput(withStateDir(cmd))).action(action(exit, async (opts: FailoverCliOptions) => {
    const { state, recorded } = requireCluster(opts);
    const names = pgNodes(state, recorded.topology).map((n) => n.node.name);
    if (opts.to !== undefined && !names.includes(opts.to)) throw new UsageError(`--to: the cluster has no ${opts.to}; one of: ${names.join(', ')}`);
    const target = opts.to ?? 'the most advanced replica (highest received WAL position, chosen when it runs)';
    // Made only when shown (infra/cli/confirm.ts): the probe waits up to 5 s on a frozen primary.
    const plan = async (): Promise<Plan> => {
      const current = await livePrimary(state, recorded.topology).then((n) => n.name, () => null);
      return opts.planned
        ? {
          summary: `switch the primary over from ${current ?? '(none running)'} to ${target}`,
          steps: [
            `stop ${current ?? 'the primary'} cleanly once ${target} has all of its WAL (writes wait meanwhile)`,
            `promote ${target}; the other replicas follow it`,
            `${current ?? 'the old primary'} rejoins as a standby; no write is lost`,
          ],
        }
        : {
          summary: `fail over from ${current ?? '(no primary running)'} to ${target}`,
          steps: [
            `fence ${current ?? 'the old primary'} (immediate stop) so that it takes no more writes`,
            `promote ${target}; the other replicas follow it`,
            `${current ?? 'the old primary'} rejoins as a standby (pg_rewind, else a re-clone): writes it accepted that no replica had received are discarded`,
          ],
        };
    };
    const decision = await confirm('failover', plan, opts, !opts.planned);
    if (decision === 'dry-run') return exitCodes.ok;
    if (decision === 'declined') { progress('failover: not confirmed; nothing changed'); return exitCodes.failure; }

    const result = await failoverLocalCluster(state, recorded.topology, { to: opts.to, planned: opts.planned, log: progress });
    progress(`${result.newPrimary} is the primary (was ${result.oldPrimary ?? 'none'}); streaming: ${result.streaming.join(', ') || 'none'}; in ${result.durationMs} ms`);
    emitResult(opts, result);
    return exitCodes.ok;
  }));
}
