import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatReport, formatTable, type DrillReport, type Scenario } from '../../drills/drill-report';
import { LocalDriver } from '../../drills/local-driver';
import { ALL_ORDER, isScenario, runDrills } from '../../drills/run-drill';
import { resolveStateDir } from '../../local/state';
import { emitJson, progress, UsageError } from '../output';

// `aidiary drill <scenario|all> [--json] [--out FILE] [--duration S]`: runs failover drills under
// a steady mixed load against the local cluster and prints the measured report. Exit 0 when every
// drill meets its targets, 1 otherwise.
export async function drillCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      duration: { type: 'string' },
      'state-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
    strict: true,
  });
  const name = positionals[0];
  if (!name || positionals.length > 1) throw new UsageError(`drill: give one scenario: ${[...ALL_ORDER, 'all'].join(' | ')}`);
  if (name !== 'all' && !isScenario(name)) throw new UsageError(`drill: unknown scenario "${name}"; one of ${[...ALL_ORDER, 'all'].join(', ')}`);
  const durationSeconds = values.duration === undefined ? 20 : Number(values.duration);
  if (!Number.isFinite(durationSeconds) || durationSeconds < 2 || durationSeconds > 3600) throw new UsageError(`--duration: seconds between 2 and 3600, got "${values.duration}"`);
  const scenarios: Scenario[] = name === 'all' ? ALL_ORDER : [name as Scenario];

  const driver = new LocalDriver({ stateDir: resolveStateDir(values['state-dir']), log: progress });
  try {
    const { reports, errors } = await runDrills(driver, scenarios, {
      durationMs: durationSeconds * 1000,
      log: progress,
      onReport: (r) => { if (!values.json) process.stdout.write(`${formatReport(r)}\n\n`); },
    });
    const pass = errors.length === 0 && reports.every((r) => r.pass);
    const summary = { pass, reports, errors, table: formatTable(reports) };
    if (values.json) emitJson(summary, values.out);
    else {
      process.stdout.write(`${formatTable(reports)}\n`);
      for (const e of errors) process.stdout.write(`drill ${e.scenario}: ERROR ${e.error}\n`);
      process.stdout.write(`${pass ? 'PASS' : 'FAIL'}: ${reports.filter((r: DrillReport) => r.pass).length}/${scenarios.length} drills met their targets\n`);
      if (values.out) writeFileSync(values.out, JSON.stringify(summary, null, 2) + '\n');
    }
    return pass ? 0 : 1;
  } finally {
    await driver.close();
  }
}
