import type { Command } from 'commander';
import { formatReport, formatTable, type DrillReport, type Scenario } from '../../drills/drill-report';
import { LocalDriver } from '../../drills/local-driver';
import { ALL_ORDER, isScenario, runDrills } from '../../drills/run-drill';
import { action, integer, requireCluster, withOutput, withStateDir, type ExitSink, type OutputOptions, type StateDirOptions } from '../args';
import { UsageError } from '../exit-codes';
import { emitResult, progress } from '../output';

// `aidiary drill <scenario|all> [--duration S] [--json] [--out FILE]`: runs failover drills under
// a steady mixed load against the local cluster and prints the measured report. Exit 0 when every
// drill meets its targets, 1 otherwise.

interface DrillOptions extends StateDirOptions, OutputOptions { duration: number }

export function registerDrill(program: Command, exit: ExitSink): void {
  const cmd = program.command('drill')
    .description('failover drills under a steady mixed load, with a measured report (exit 1 when a target is missed)')
    .argument('<scenario>', `one of ${[...ALL_ORDER, 'all'].join(', ')}`)
    .option('--duration <s>', 'seconds of load per drill (2-3600)', integer(2, 3600), 20);
  withOutput(withStateDir(cmd)).action(action(exit, async (name: string, opts: DrillOptions) => {
    if (name !== 'all' && !isScenario(name)) throw new UsageError(`unknown scenario "${name}"; one of ${[...ALL_ORDER, 'all'].join(', ')}`);
    const scenarios: Scenario[] = name === 'all' ? ALL_ORDER : [name as Scenario];
    const { state } = requireCluster(opts);
    const driver = new LocalDriver({ stateDir: state.root, log: progress });
    try {
      const { reports, errors } = await runDrills(driver, scenarios, {
        durationMs: opts.duration * 1000,
        log: progress,
        onReport: (r) => { if (!opts.json) process.stdout.write(`${formatReport(r)}\n\n`); },
      });
      const pass = errors.length === 0 && reports.every((r) => r.pass);
      const summary = { pass, reports, errors, table: formatTable(reports) };
      const human = [
        formatTable(reports),
        ...errors.map((e) => `drill ${e.scenario}: ERROR ${e.error}`),
        `${pass ? 'PASS' : 'FAIL'}: ${reports.filter((r: DrillReport) => r.pass).length}/${scenarios.length} drills met their targets`,
      ].join('\n');
      emitResult(opts, summary, human);
      return pass ? 0 : 1;
    } finally {
      await driver.close();
    }
  }));
}
