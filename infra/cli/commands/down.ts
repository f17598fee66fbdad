import { parseArgs } from 'node:util';
import { down } from '../../local/runner';
import { resolveStateDir } from '../../local/state';
import { emitJson, progress } from '../output';

// `aidiary down`: stops everything it started, by pid; keeps the data.
export async function downCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'state-dir': { type: 'string' }, json: { type: 'boolean', default: false }, out: { type: 'string' } }, strict: true });
  const { stopped } = await down({ stateDir: resolveStateDir(values['state-dir']), log: progress });
  progress(stopped.length ? `stopped ${stopped.join(', ')} (data kept)` : 'nothing was running');
  if (values.json) emitJson({ stopped }, values.out);
  return 0;
}
