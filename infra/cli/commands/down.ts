import type { Command } from 'commander';
import { down } from '../../local/runner';
import { action, requireCluster, withOutput, withStateDir, type ExitSink, type OutputOptions, type StateDirOptions } from '../args';
import { emitResult, progress } from '../output';

// `aidiary down`: stops everything it started, by pid; keeps the data. Exit 3 with no cluster.
export function registerDown(program: Command, exit: ExitSink): void {
  const cmd = program.command('down').alias('stop').description('stop every process of the cluster (data kept)');
  withOutput(withStateDir(cmd)).action(action(exit, async (opts: StateDirOptions & OutputOptions) => {
    const { state } = requireCluster(opts);
    const { stopped } = await down({ stateDir: state.root, log: progress });
    progress(stopped.length ? `stopped ${stopped.join(', ')} (data kept)` : 'nothing was running');
    emitResult(opts, { stopped });
    return 0;
  }));
}
