import type { Command } from 'commander';
import { backup } from '../../local/backup';
import { action, requireCluster, withOutput, withStateDir, type ExitSink, type OutputOptions, type StateDirOptions } from '../args';
import { emitResult, progress } from '../output';

// `aidiary backup`: a base backup of the primary into <state>/backups/, with continuous WAL
// archiving into <state>/wal-archive/ (turned on the first time if the cluster was made without it).
export function registerBackup(program: Command, exit: ExitSink): void {
  const cmd = program.command('backup').description('base backup of the primary, with continuous WAL archiving (for restore)');
  withOutput(withStateDir(cmd)).action(action(exit, async (opts: StateDirOptions & OutputOptions) => {
    const { state } = requireCluster(opts);
    const info = await backup({ stateDir: state.root, log: progress });
    emitResult(opts, info, `backup ${info.id} of ${info.fromNode} in ${info.dir} (${info.startedAt} → ${info.finishedAt})`);
    return 0;
  }));
}
