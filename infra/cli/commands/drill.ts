import type { Command } from 'commander';
import { formatReport, formatTable, type DrillReport, type Scenario } from '../../drills/drill-report';
import { checkTargetOptions, drillTargets, driverFor, DrillTargetError, unsupportedScenario, type DrillTarget } from '../../drills/drill-target';
import { ALL_ORDER, isScenario, runDrills } from '../../drills/run-drill';
import { action, integer, oneOf, requireCluster, withOutput, withStateDir, type ExitSink, type OutputOptions, type StateDirOptions } from '../args';
import { UsageError } from '../exit-codes';
import { emitResult, progress } from '../output';

// `aidiary drill <scenario|all> [--duration S] [--target local|docker|kubernetes] [--json] [--out FILE]`:
// runs failover drills under a steady mixed load and prints the measured report. The local cluster
// by default; --target docker drives the staging stack (docker + pulumi on this host), --target
// kubernetes the prod stack (kubectl) through infra/drills/drill-target.ts. Exit 0 when every drill
// meets its targets, 1 otherwise, 2 for a command line that cannot work.

interface DrillOptions extends StateDirOptions, OutputOptions {
  duration: number;
  target: DrillTarget;
  url?: string;
  stack?: string;
  context?: string;
  namespace?: string;
  adminPasswordFile?: string;
}

export function registerDrill(program: Command, exit: ExitSink): void {
  const cmd = program.command('drill')
    .description('failover drills under a steady mixed load, with a measured report (exit 1 when a target is missed)')
    .argument('<scenario>', `one of ${[...ALL_ORDER, 'all'].join(', ')}`)
    .option('--duration <s>', 'seconds of load per drill (2-3600)', integer(2, 3600), 20)
    .option('--target <where>', `the cluster to drill: ${drillTargets.join(', ')}`, oneOf(drillTargets), 'local')
    .option('--url <url>', 'docker/kubernetes: the site\'s URL (docker default http://127.0.0.1:8080; kubernetes: required)')
    .option('--stack <name>', 'docker/kubernetes: the Pulumi stack (default staging / prod)')
    .option('--context <ctx>', 'kubernetes: the kubectl context (default: the current one)')
    .option('--namespace <ns>', 'kubernetes: the stack\'s namespace (default aidiary)')
    .option('--admin-password-file <file>', 'docker/kubernetes: file with the admin password the load logs in with');
  withOutput(withStateDir(cmd)).action(action(exit, async (name: string, opts: DrillOptions) => {
    if (name !== 'all' && !isScenario(name)) throw new UsageError(`unknown scenario "${name}"; one of ${[...ALL_ORDER, 'all'].join(', ')}`);
    // `all` is every scenario the target can run (restore is local-only, no partition on Kubernetes).
    const scenarios: Scenario[] = name === 'all' ? ALL_ORDER.filter((s) => !unsupportedScenario(opts.target, s)) : [name as Scenario];
    let driver;
    try {
      checkTargetOptions(opts, scenarios);
      driver = driverFor({ ...opts, stateDir: opts.target === 'local' ? requireCluster(opts).state.root : undefined }, progress);
    } catch (err) {
      if (err instanceof DrillTargetError) throw new UsageError(err.message);
      throw err;
    }
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
