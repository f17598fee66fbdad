import { join } from 'node:path';
import type { Command } from 'commander';
import { localTarget, urlTarget } from '../../bench/bench-target';
import { runBench } from '../../bench/run-bench';
import { formatReport } from '../../bench/report-table';
import { parseScenarioList } from '../../bench/scenarios';
import { projectRoot } from '../../local/state';
import { action, integer, requireCluster, withOutput, withStateDir, type ExitSink, type OutputOptions, type StateDirOptions } from '../args';
import { UsageError } from '../exit-codes';
import { emitResult, progress } from '../output';

// `aidiary bench [--duration S] [--connections C] [--scenario X[,Y]] [--rounds N] [--json]
// [--out FILE] [--url U]`: the benchmark scenarios against the running local cluster (found via its
// state dir) or any deployed stack (--url: scenarios that need a switch are reported as not run).
// Progress on stderr; the table (or JSON with --json) on stdout; bench-results/latest.{json,svg}.
// Exit code: 0 valid run, 1 when any scenario had errors (an invalid run is not a result).

interface BenchOptions extends StateDirOptions, OutputOptions {
  duration: number;
  warmup?: number;
  connections: number;
  threads?: number;
  scenario?: string;
  rounds?: number;
  url?: string;
  resultsDir?: string;
}

function httpUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`--url: "${value}" is not a URL; give e.g. https://blog.example.org/`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--url: give an http:// or https:// URL, got "${value}"`);
  return value;
}

export function registerBench(program: Command, exit: ExitSink): void {
  const cmd = program.command('bench')
    .description('benchmark scenarios (wrk) against the local cluster or --url, with ratios and a chart')
    .option('--duration <s>', 'seconds measured per scenario and round', integer(1), 10)
    .option('--warmup <s>', 'seconds of warm-up before each measurement', integer(1))
    .option('--connections <c>', 'concurrent connections', integer(1), 64)
    .option('--threads <t>', 'wrk threads', integer(1))
    .option('--scenario <x[,y]>', 'scenarios to run (default: all)')
    .option('--rounds <n>', 'rounds per scenario', integer(1))
    .option('--url <u>', 'a deployed stack instead of the local cluster (scenarios needing a switch are not run)')
    .option('--results-dir <dir>', 'where latest.json and latest.svg go (default: bench-results/)');
  withOutput(withStateDir(cmd)).action(action(exit, async (opts: BenchOptions) => {
    let scenarios;
    try {
      scenarios = parseScenarioList(opts.scenario);
    } catch (err) {
      throw new UsageError(`--scenario: ${(err as Error).message}`);
    }
    const target = opts.url ? urlTarget(httpUrl(opts.url)) : await localTarget(requireCluster(opts).state.root);
    const report = await runBench({
      target,
      durationSeconds: opts.duration,
      warmupSeconds: opts.warmup,
      connections: opts.connections,
      threads: opts.threads,
      scenarios,
      rounds: opts.rounds,
      resultsDir: opts.resultsDir ?? join(projectRoot(), 'bench-results'),
      progress: (m) => progress(`bench: ${m}`),
    });
    emitResult(opts, report, formatReport(report));
    return report.valid ? 0 : 1;
  }));
}
