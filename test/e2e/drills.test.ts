import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drillCommand } from '../../infra/cli/commands/drill';
import { formatReport, formatTable, type DrillReport, type Scenario } from '../../infra/drills/drill-report';
import { LocalDriver } from '../../infra/drills/local-driver';
import { ALL_ORDER, runDrill } from '../../infra/drills/run-drill';
import { BASE_PORT_SPAN } from '../../infra/local/cluster-layout';
import { freePortBlock } from '../../infra/local/process';
import { runCli } from './helpers-cluster';

// Every local drill in a short form (a few seconds of load each) on a real local cluster
// (3 apps, primary + 2 streaming replicas, both Redis roles, nginx) started through the CLI in a
// temp state dir on free ports. Each drill must meet the targets of issue 7. Drills run in the
// `aidiary drill all` order; after a drill that moves the primary, a switchover brings it back to
// pg-0 so that every later drill starts from the same shape.

const stateDir = mkdtempSync(join(tmpdir(), 'aidiary-drills-'));
chmodSync(stateDir, 0o755);
const durationMs = 4000;
const reports: DrillReport[] = [];
let driver: LocalDriver;

/** Captures what the command writes to stdout/stderr (the CLI prints progress on stderr). */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await fn();
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

function expectTargets(r: DrillReport) {
  console.log(formatReport(r));
  expect(r.requests.sent).toBeGreaterThan(50);
  expect(r.writes.acknowledged).toBeGreaterThan(0);
  expect(r.checks.filter((c) => !c.pass)).toEqual([]);
  expect(r.pass).toBe(true);
}

beforeAll(async () => {
  const basePort = await freePortBlock(BASE_PORT_SPAN);
  const r = await runCli(['up', '--detach', '--apps', '3', '--db-replicas', '2', '--base-port', String(basePort), '--state-dir', stateDir]);
  if (r.code !== 0) throw new Error(`up failed (${r.code}): ${r.stderr}`);
  driver = new LocalDriver({ stateDir });
}, 240_000);

afterAll(async () => {
  if (reports.length) console.log(formatTable(reports));
  await runCli(['down', '--state-dir', stateDir]);
  rmSync(stateDir, { recursive: true, force: true });
}, 120_000);

describe('failover drills (short form)', () => {
  it('kill-app through `aidiary drill kill-app --json --out`: a report that meets the targets', async () => {
    const out = join(stateDir, 'kill-app.json');
    const code = await quietly(() => drillCommand(['kill-app', '--duration', String(durationMs / 1000), '--json', '--out', out, '--state-dir', stateDir]));
    const summary = JSON.parse(readFileSync(out, 'utf8')) as { pass: boolean; reports: DrillReport[]; errors: unknown[] };
    expect(summary.errors).toEqual([]);
    expect(summary.reports).toHaveLength(1);
    const r = summary.reports[0];
    reports.push(r);
    expectTargets(r);
    expect(r.scenario).toBe('kill-app');
    expect(code).toBe(0);
  }, 180_000);

  for (const scenario of ALL_ORDER.filter((s) => s !== 'kill-app') as Scenario[]) {
    it(`${scenario} meets its targets`, async () => {
      const r = await runDrill(driver, scenario, { durationMs });
      reports.push(r);
      try {
        expectTargets(r);
        if (scenario === 'restore') {
          expect(r.restore!.expectedBack).toBeGreaterThan(0);
        }
        if (scenario === 'kill-primary' || scenario === 'switchover' || scenario === 'kill-replica') {
          expect(r.replicasStreamingAgainSeconds).not.toBeNull();
        }
      } finally {
        if (scenario === 'kill-primary' || scenario === 'switchover') {
          // Back to the starting shape (pg-0 primary) for the drills that follow.
          const primary = await driver.currentPrimary();
          if (primary && primary.name !== 'pg-0') await driver.switchover('pg-0');
        }
      }
    }, 240_000);
  }
});
