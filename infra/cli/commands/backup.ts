import { parseArgs } from 'node:util';
import { backup } from '../../local/backup';
import { resolveStateDir } from '../../local/state';
import { emitJson, progress } from '../output';

// `aidiary backup`: a base backup of the primary into <state>/backups/, with continuous WAL
// archiving into <state>/wal-archive/ (turned on the first time if the cluster was made without it).
export async function backupCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'state-dir': { type: 'string' }, json: { type: 'boolean', default: false }, out: { type: 'string' } }, strict: true });
  const info = await backup({ stateDir: resolveStateDir(values['state-dir']), log: progress });
  if (values.json) emitJson(info, values.out);
  else process.stdout.write(`backup ${info.id} of ${info.fromNode} in ${info.dir} (${info.startedAt} → ${info.finishedAt})\n`);
  return 0;
}
