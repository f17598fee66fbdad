import { InvalidArgumentError, type Command } from 'commander';
import { listBackups, restore } from '../../local/backup';
import { pgNodes } from '../../local/cluster-layout';
import { livePrimary } from '../../local/runner';
import {
  action, requireCluster, withConfirmation, withOutput, withStateDir, type ConfirmOptions, type ExitSink, type OutputOptions, type StateDirOptions,
} from '../args';
import { confirm, type Plan } from '../confirm';
import { exitCodes } from '../exit-codes';
import { emitResult, progress } from '../output';

// `aidiary restore [--time T] [--yes] [--dry-run]`: point-in-time recovery of the primary from the
// newest base backup before T plus the WAL archive (to the end of the archive without --time);
// replicas re-cloned. Destructive (writes after T are gone): confirmed (infra/cli/confirm.ts).

function dateTime(value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError('Give a date-time such as 2026-01-31T12:00:00Z.');
  return d;
}

interface RestoreOptions extends StateDirOptions, OutputOptions, ConfirmOptions { time?: Date }

export function registerRestore(program: Command, exit: ExitSink): void {
  const cmd = program.command('restore')
    .description('point-in-time restore of the database from the newest base backup before --time (asks first)')
    .option('--time <date-time>', 'restore to this moment, e.g. 2026-01-31T12:00:00Z (default: the end of the WAL archive)', dateTime);
  withConfirmation(withOutput(withStateDir(cmd))).action(action(exit, async (opts: RestoreOptions) => {
    const { state, recorded } = requireCluster(opts);
    const t = recorded.topology;
    const candidates = listBackups(state.root).filter((b) => !opts.time || new Date(b.finishedAt) <= opts.time);
    const chosen = candidates.at(-1);
    if (!chosen) throw new Error(opts.time ? `no base backup finished before ${opts.time.toISOString()}; run \`aidiary backup\` earlier` : 'no base backup; run `aidiary backup` first');
    const nodes = pgNodes(state, t).map((n) => n.node);
    const to = opts.time ? opts.time.toISOString() : 'the end of the WAL archive';
    // Made only when shown (infra/cli/confirm.ts): it asks the nodes which one is primary.
    const plan = async (): Promise<Plan> => {
      const primary = await livePrimary(state, t).catch(() => nodes[0]);
      const replicas = nodes.filter((n) => n.name !== primary.name).map((n) => n.name);
      return {
        summary: `restore ${primary.name} from backup ${chosen.id} to ${to}`,
        steps: [
          `stop every PostgreSQL node (${nodes.map((n) => n.name).join(', ')}): writes fail until the restore ends`,
          `replace ${primary.name}'s data with backup ${chosen.id} (finished ${chosen.finishedAt}) and replay the archive to ${to}; everything written after that is lost (the old data dir is kept as ${primary.dataDir}.pre-restore until the next restore)`,
          `re-clone the replicas from it: ${replicas.join(', ') || 'none'}`,
          'flush the cache Redis and restart the apps one by one',
        ],
      };
    };
    const decision = await confirm('restore', plan, opts, true);
    if (decision === 'dry-run') return exitCodes.ok;
    if (decision === 'declined') { progress('restore: not confirmed; nothing changed'); return exitCodes.failure; }
    const r = await restore({ stateDir: state.root, time: opts.time, log: progress });
    emitResult(opts, r, `restored ${r.primary} from backup ${r.backupId} to ${r.targetTime ?? 'the end of the archive'} in ${r.elapsedMs} ms; replicas re-cloned: ${r.replicas.join(', ') || 'none'}`);
    return exitCodes.ok;
  }));
}
