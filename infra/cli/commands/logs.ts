import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { resolveStateDir, StateDir } from '../../local/state';
import { UsageError } from '../output';

// `aidiary logs <node> [--lines N]`: the tail of a node's log (lb, lb-access, app-K, pg-K, redis-*).
export async function logsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { 'state-dir': { type: 'string' }, lines: { type: 'string', short: 'n', default: '200' } },
    strict: true,
  });
  const state = new StateDir(resolveStateDir(values['state-dir']));
  const node = positionals[0];
  const known = existsSync(state.logsDir) ? readdirSync(state.logsDir).filter((f) => f.endsWith('.log')).map((f) => f.slice(0, -4)).sort() : [];
  if (!node) throw new UsageError(`logs: name a node: ${known.join(', ') || '(no logs yet)'}`);
  if (!/^[a-z0-9-]+$/.test(node) || !known.includes(node)) throw new UsageError(`logs: no log for "${node}"; known: ${known.join(', ') || '(none)'}`);
  const lines = Number(values.lines);
  const file = state.logFile(node);
  // Read only the last ~256 bytes per wanted line: logs can be large.
  const size = statSync(file).size;
  const start = Math.max(0, size - Math.max(1, lines) * 256);
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(file, { start })) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').split('\n');
  if (start > 0) text.shift(); // a partial first line
  process.stdout.write(text.slice(-lines - 1).join('\n'));
  return 0;
}
