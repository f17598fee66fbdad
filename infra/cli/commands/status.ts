import type { Command } from 'commander';
import { clusterStatus, formatStatus } from '../../local/status';
import { action, requireCluster, withOutput, withStateDir, type ExitSink, type OutputOptions, type StateDirOptions } from '../args';
import { exitCodes } from '../exit-codes';
import { emitResult } from '../output';

// `aidiary status [--json] [--out FILE]`: exit 0 when every node is healthy, 4 (degraded) when one
// is not, 3 when the state dir holds no cluster. The JSON shape (infra/local/status.ts) only grows.
export function registerStatus(program: Command, exit: ExitSink): void {
  const cmd = program.command('status')
    .description('nodes, pids, ports, health, roles, replication (streaming, timeline, lag), the CDN tier');
  withOutput(withStateDir(cmd)).action(action(exit, async (opts: StateDirOptions & OutputOptions) => {
    const { state } = requireCluster(opts);
    const status = await clusterStatus(state.root);
    emitResult(opts, status, formatStatus(status));
    const all = [status.lb, ...status.apps, ...status.postgres, ...status.redis, ...status.monitoring, ...(status.cdn ? [status.cdn] : [])];
    return all.every((n) => n.healthy) ? exitCodes.ok : exitCodes.degraded;
  }));
}
