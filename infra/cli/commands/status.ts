import { parseArgs } from 'node:util';
import { clusterStatus, formatStatus } from '../../local/status';
import { resolveStateDir } from '../../local/state';
import { emitJson } from '../output';

// `aidiary status [--json]`: exit 0 when every node is healthy, 1 otherwise.
export async function statusCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'state-dir': { type: 'string' }, json: { type: 'boolean', default: false }, out: { type: 'string' } }, strict: true });
  const status = await clusterStatus(resolveStateDir(values['state-dir']));
  if (values.json) emitJson(status, values.out);
  else process.stdout.write(formatStatus(status) + '\n');
  const all = [status.lb, ...status.apps, ...status.postgres, ...status.redis];
  return all.every((n) => n.healthy) ? 0 : 1;
}
