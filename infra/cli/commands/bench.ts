import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { localTarget, urlTarget } from '../../bench/bench-target';
import { defaultPlanning } from '../../bench/capacity-report';
import { runBench } from '../../bench/run-bench';
import { formatReport } from '../../bench/report-table';
import { parseScenarioList } from '../../bench/scenarios';
import { projectRoot } from '../../local/state';
import { action, integer, requireCluster, withOutput, withStateDir, type ExitSink, type OutputOptions, type StateDirOptions } from '../args';
import { UsageError } from '../exit-codes';
import { emitResult, progress } from '../output';

// `aidiary bench [--duration S] [--connections C] [--scenario X[,Y]] [--rounds N] [--json]
// [--out FILE] [--url U] [--hit-ratio R] [--logged-in S] [--node-cores N] [--nodes N]`: the
// benchmark scenarios against the running local cluster (found via its state dir) or any deployed
// stack (--url: scenarios that need a switch are reported as not run), with CPU per request per
// tier and the capacity model's projection for the given mix and node shape.
// Progress on stderr; the table (or JSON with --json) on stdout; bench-results/latest.{json,svg}.
// Exit code: 0 valid run, 1 when any scenario had errors (an invalid run is not a result).

interface BenchOptions extends StateDirOptions, OutputOptions {
  duration: number;
  warmup?: number;
  connections: number;
  threads?: number;
  scenario?: string;
  rounds: number;
  url?: string;
  resultsDir?: string;
  hitRatio: number;
  loggedIn: number;
  edgeShare?: number;
  nodeCores: number;
  nodes: number;
}

/** A share between 0 and 1 (commander parser: commander names the option in its error). */
function share(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('Give a share between 0 and 1, e.g. 0.95.');
  return n;
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
    .option('--rounds <n>', 'interleaved rounds; each scenario reports its median round and the min-max', integer(1), 5)
    .option('--url <u>', 'a deployed stack instead of the local cluster (scenarios needing a switch are not run)')
    .option('--results-dir <dir>', 'where latest.json and latest.svg go (default: bench-results/)')
    .option('--hit-ratio <r>', 'capacity projection: share of anonymous requests served from a cache', share, defaultPlanning.anonymousHitRatio)
    .option('--logged-in <s>', 'capacity projection: share of requests from logged-in users (never cached)', share, defaultPlanning.loggedInShare)
    .option('--edge-share <s>', 'capacity projection: share of the hits nginx serves (default: as measured on zipf-mix)', share)
    .option('--node-cores <n>', 'capacity projection: cores per node', integer(1), defaultPlanning.coresPerNode)
    .option('--nodes <n>', 'capacity projection: nodes in the cluster', integer(1), defaultPlanning.nodes);
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
      planning: { anonymousHitRatio: opts.hitRatio, loggedInShare: opts.loggedIn, edgeShareOfHits: opts.edgeShare ?? null, coresPerNode: opts.nodeCores, nodes: opts.nodes },
      progress: (m) => progress(`bench: ${m}`),
    });
    emitResult(opts, report, formatReport(report));
    return report.valid ? 0 : 1;
  }));
}
