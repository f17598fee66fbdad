import { parseArgs } from 'node:util';
import { restore } from '../../local/backup';
import { resolveStateDir } from '../../local/state';
import { emitJson, progress, UsageError } from '../output';

// `aidiary restore [--time T]`: point-in-time recovery of the primary from the newest base backup
// before T plus the WAL archive (to the end of the archive without --time); replicas re-cloned.
export async function restoreCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { time: { type: 'string' }, 'state-dir': { type: 'string' }, json: { type: 'boolean', default: false }, out: { type: 'string' } }, strict: true });
  let time: Date | undefined;
  if (values.time !== undefined) {
    time = new Date(values.time);
    if (Number.isNaN(time.getTime())) throw new UsageError(`--time: expected a date-time such as 2026-01-31T12:00:00Z, got "${values.time}"`);
  }
  const r = await restore({ stateDir: resolveStateDir(values['state-dir']), time, log: progress });
  if (values.json) emitJson(r, values.out);
  else process.stdout.write(`restored ${r.primary} from backup ${r.backupId} to ${r.targetTime ?? 'the end of the archive'} in ${r.elapsedMs} ms; replicas re-cloned: ${r.replicas.join(', ') || 'none'}\n`);
  return 0;
}
