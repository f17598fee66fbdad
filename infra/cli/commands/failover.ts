import { parseArgs } from 'node:util';
import { pgNodes } from '../../local/cluster-layout';
import { failover, localFailoverInput, switchover } from '../../local/failover';
import { postmasterPid } from '../../local/postgres';
import { recordPrimary } from '../../local/rejoin';
import { resolveStateDir, StateDir } from '../../local/state';
import { emitJson, progress, UsageError } from '../output';

// `aidiary failover [--to pg-K] [--planned]`: promotes the most advanced (or named) replica; the
// others follow it and the old primary rejoins as a standby (infra/local/failover.ts).
// --planned is the switchover: the primary stops cleanly once the target has all of its WAL.
export async function failoverCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      to: { type: 'string' }, planned: { type: 'boolean', default: false },
      'state-dir': { type: 'string' }, json: { type: 'boolean', default: false }, out: { type: 'string' },
    },
    strict: true,
  });
  if (values.to !== undefined && !/^pg-\d+$/.test(values.to)) throw new UsageError(`--to: expected a node name like pg-1, got "${values.to}"`);
  const state = new StateDir(resolveStateDir(values['state-dir']));
  const s = state.read();
  if (!s) throw new Error(`no cluster in ${state.root}; run \`aidiary up\` first`);
  const release = state.acquireLock('failover');
  try {
    const input = localFailoverInput(state, s.topology, progress);
    const result = await (values.planned ? switchover : failover)(input, { to: values.to });
    // `up` starts this node as the primary next time (the data dirs alone can disagree when a node missed the failover).
    recordPrimary(state.root, result.newPrimary);
    // Postmaster pids change when nodes restart (fenced primary, rejoined standby).
    for (const { node } of pgNodes(state, s.topology)) {
      const pid = postmasterPid(node);
      if (pid) state.writePid(node.name, pid);
      else state.removePid(node.name);
    }
    progress(`${result.newPrimary} is the primary (was ${result.oldPrimary ?? 'none'}); streaming: ${result.streaming.join(', ') || 'none'}; in ${result.durationMs} ms`);
    if (values.json) emitJson(result, values.out);
    return 0;
  } finally {
    release();
  }
}
