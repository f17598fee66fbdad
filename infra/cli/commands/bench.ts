import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { localTarget, urlTarget } from '../../bench/bench-target';
import { runBench } from '../../bench/run-bench';
import { formatReport } from '../../bench/report-table';
import { parseScenarioList } from '../../bench/scenarios';
import { projectRoot, resolveStateDir } from '../../local/state';
import { emitJson, intOption, progress, UsageError } from '../output';

// `aidiary bench [--duration S] [--connections C] [--scenario X[,Y]] [--rounds N] [--json]
// [--out FILE] [--url U]`: the issue-8 scenarios against the running local cluster (found via its
// state dir) or any deployed stack (--url: scenarios that need a switch are reported as not run).
// Progress on stderr; the table (or JSON with --json) on stdout; bench-results/latest.{json,svg}.
// Exit code: 0 valid run, 1 when any scenario had errors (an invalid run is not a result).

export async function benchCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      threads: { type: 'string' },
      scenario: { type: 'string' },
      rounds: { type: 'string' },
      url: { type: 'string' },
      'results-dir': { type: 'string' },
      'state-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
    strict: true,
  });
  const durationSeconds = intOption('duration', values.duration, 1) ?? 10;
  const connections = intOption('connections', values.connections, 1) ?? 64;
  let scenarios;
  try {
    scenarios = parseScenarioList(values.scenario);
  } catch (err) {
    throw new UsageError(`--scenario: ${(err as Error).message}`);
  }
  const target = values.url ? urlTarget(values.url) : await localTarget(resolveStateDir(values['state-dir']));
  const report = await runBench({
    target,
    durationSeconds,
    warmupSeconds: intOption('warmup', values.warmup, 1),
    connections,
    threads: intOption('threads', values.threads, 1),
    scenarios,
    rounds: intOption('rounds', values.rounds, 1),
    resultsDir: values['results-dir'] ?? join(projectRoot(), 'bench-results'),
    outFile: values.out,
    progress: (m) => progress(`bench: ${m}`),
  });
  if (values.json) emitJson(report);
  else process.stdout.write(`${formatReport(report)}\n`);
  return report.valid ? 0 : 1;
}
