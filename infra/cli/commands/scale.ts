import type { Command } from 'commander';
import { appNodes, localTopology, pgNodes } from '../../local/cluster-layout';
import { scale } from '../../local/runner';
import {
  action, appCount, dbReplicaCount, requireCluster, withConfirmation, withOutput, withStateDir,
  type ConfirmOptions, type ExitSink, type OutputOptions, type StateDirOptions,
} from '../args';
import { confirm, type Plan } from '../confirm';
import { exitCodes, UsageError } from '../exit-codes';
import { emitResult, progress } from '../output';

// `aidiary scale [--apps N] [--db-replicas M] [--yes] [--dry-run]`: add → reload nginx → drain
// removed; no failed request. The counts are stored in the state dir's topology, so the next `up`
// starts the same shape. Removing a database node deletes its data directory: confirmed
// (infra/cli/confirm.ts); adding nodes or removing apps is not.

interface ScaleCliOptions extends StateDirOptions, OutputOptions, ConfirmOptions { apps?: number; dbReplicas?: number }

export function registerScale(program: Command, exit: ExitSink): void {
  const cmd = program.command('scale')
    .description('change the number of apps and/or DB replicas with no failed request (kept for the next up)')
    .option('--apps <n>', 'app processes behind nginx (1-64)', appCount)
    .option('--db-replicas <m>', 'PostgreSQL streaming replicas (0-8); removing one deletes its data (asks first)', dbReplicaCount);
  withConfirmation(withOutput(withStateDir(cmd))).action(action(exit, async (opts: ScaleCliOptions) => {
    if (opts.apps === undefined && opts.dbReplicas === undefined) throw new UsageError('give --apps N and/or --db-replicas M');
    const { state, recorded } = requireCluster(opts);
    const oldT = recorded.topology;
    const newT = localTopology({ apps: opts.apps, dbReplicas: opts.dbReplicas }, oldT);
    const names = (xs: { name: string }[]) => xs.map((x) => x.name);
    const oldApps = names(appNodes(oldT));
    const newApps = names(appNodes(newT));
    const oldDb = pgNodes(state, oldT).map((n) => n.node);
    const newDb = names(pgNodes(state, newT).map((n) => n.node));
    const removedDb = oldDb.filter((n) => !newDb.includes(n.name));
    const steps = [
      ...newDb.filter((n) => !oldDb.some((o) => o.name === n)).map((n) => `add ${n}: a replica cloned from the primary`),
      ...newApps.filter((n) => !oldApps.includes(n)).map((n) => `add ${n} and put it behind nginx`),
      ...oldApps.filter((n) => !newApps.includes(n)).map((n) => `take ${n} out of nginx, drain it, stop it`),
      ...removedDb.map((n) => `stop ${n.name}, drop its replication slot and delete its data directory ${n.dataDir}`),
    ];
    const plan: Plan = {
      summary: `scale to ${newT.appReplicas} app(s) and ${newT.dbReplicas} DB replica(s) (now ${oldT.appReplicas} and ${oldT.dbReplicas})`,
      steps: steps.length ? steps : ['nothing to change'],
    };
    const decision = await confirm('scale', plan, opts, removedDb.length > 0);
    if (decision === 'dry-run') return exitCodes.ok;
    if (decision === 'declined') { progress('scale: not confirmed; nothing changed'); return exitCodes.failure; }
    const started = Date.now();
    const { topology } = await scale({ stateDir: state.root, apps: opts.apps, dbReplicas: opts.dbReplicas, log: progress });
    const elapsedMs = Date.now() - started;
    progress(`scaled to ${topology.appReplicas} app(s) and ${topology.dbReplicas} DB replica(s) in ${elapsedMs} ms`);
    emitResult(opts, { apps: topology.appReplicas, dbReplicas: topology.dbReplicas, elapsedMs });
    return exitCodes.ok;
  }));
}
