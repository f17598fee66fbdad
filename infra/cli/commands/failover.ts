import { parseArgs } from 'node:util';
import { resolveStateDir } from '../../local/state';
import { UsageError } from '../output';

// `aidiary failover [--to pg-K]`: promotes the most advanced (or named) replica. The promotion
// itself lives in infra/local/failover.ts (router engineer); wired here once it lands.
export async function failoverCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { to: { type: 'string' }, 'state-dir': { type: 'string' }, json: { type: 'boolean', default: false }, out: { type: 'string' } }, strict: true });
  if (values.to !== undefined && !/^pg-\d+$/.test(values.to)) throw new UsageError(`--to: expected a node name like pg-1, got "${values.to}"`);
  resolveStateDir(values['state-dir']);
  process.stderr.write('aidiary failover: not implemented yet (infra/local/failover.ts has not landed)\n');
  return 2;
}
