import { backup, restore } from '../local/backup';
import { InterruptedError, withRestoreStack, type RestoreStack } from '../restore-stack';
import type { ClusterDriver } from './cluster-driver';
import { waitForClusterHealth } from './cluster-health';
import { buildReport, SCENARIOS, type DrillReport, type Scenario, type Verification } from './drill-report';
import { targetsFor } from './drill-targets';
import { startLoad, type LoadOptions, type LoadResult } from './load-generator';
import { LocalDriver } from './local-driver';
import { ReplicationWatch } from './replication-watch';
import { scenarioPlans, type ScenarioContext } from './scenarios';
import { titlesPresent, verifyWrites } from './verify-writes';

// Runs one drill: healthy cluster → steady mixed load → fault + recovery → a little more load →
// verification on the final primary → replicas streaming again → cluster health → report. `all` runs them in an order where each drill
// leaves a whole cluster for the next (the failovers last, the restore at the very end).
// Ctrl-C or SIGTERM mid-drill puts back what the drill changed (infra/restore-stack.ts) and exits.

export interface DrillOptions {
  /** Total load time of one drill. */
  durationMs: number;
  log?: (message: string) => void;
  load?: Partial<Pick<LoadOptions, 'anonLoops' | 'userLoops' | 'writerLoops' | 'writePauseMs' | 'maxRequests'>>;
  /** The run's restore stack (runDrills makes one; a lone runDrill makes its own). */
  restore?: RestoreStack;
}

export const ALL_ORDER: Scenario[] = [
  'kill-app', 'rolling-restart', 'scale', 'restart-redis', 'stop-redis', 'kill-replica', 'partition-primary', 'switchover', 'kill-primary', 'restore',
];

export function isScenario(name: string): name is Scenario {
  return (SCENARIOS as readonly string[]).includes(name);
}

/**
 * Starts app and PostgreSQL nodes that are down (a crash in an earlier drill), as a supervisor
 * would (a stray old primary rejoins as a replica); returns their names so the report says so.
 */
async function restartCrashedNodes(driver: ClusterDriver, log: (m: string) => void): Promise<string[]> {
  const down = (await driver.listNodes()).filter((n) => (n.kind === 'app' || n.kind === 'postgres') && !n.healthy).map((n) => n.name);
  const restarted: string[] = [];
  for (const name of down) {
    try {
      log(`${name} is down before the drill: starting it`);
      await driver.startNode(name);
      restarted.push(name);
    } catch (err) {
      log(`${name}: ${(err as Error).message}`);
    }
  }
  return restarted;
}

export async function runDrill(driver: ClusterDriver, scenario: Scenario, opts: DrillOptions): Promise<DrillReport> {
  if (!opts.restore) return withRestoreStack(opts.log ?? (() => {}), (restore) => runDrill(driver, scenario, { ...opts, restore }));
  const stack = opts.restore;
  const sleep = (ms: number) => stack.sleep(ms);
  const log = opts.log ?? (() => {});
  const restartedBefore = await restartCrashedNodes(driver, log);
  await driver.waitHealthy(60_000);
  const holdMs = Math.min(10_000, Math.max(1000, Math.round(opts.durationMs * 0.3)));
  const warmupMs = Math.min(2000, Math.max(500, Math.round(opts.durationMs * 0.2)));
  const tailMs = Math.min(3000, Math.max(1000, Math.round(opts.durationMs * 0.2)));
  const notes: string[] = restartedBefore.length ? [`${restartedBefore.join(', ')} had crashed before this drill and was restarted first`] : [];
  const fault = { description: scenario === 'restore' ? 'base backup, load, point-in-time restore to T' : scenarioPlans[scenario].description, injectedAtMs: null as number | null, recoveredAtMs: null as number | null };

  let backupDone: Awaited<ReturnType<typeof backup>> | null = null;
  if (scenario === 'restore') {
    if (!(driver instanceof LocalDriver)) throw new Error('the restore drill runs on the local cluster only (aidiary backup/restore)');
    log('base backup (WAL archiving on)');
    backupDone = await backup({ stateDir: driver.state.root, log });
    notes.push(`base backup ${backupDone.id} of ${backupDone.fromNode}`);
    await driver.waitHealthy(60_000);
  }

  const watch = new ReplicationWatch(driver);
  watch.start();
  const credentials = await driver.adminCredentials();
  const loadStartedAt = Date.now();
  const load = startLoad({
    baseUrl: await driver.baseUrl(),
    credentials,
    // A bound even if a fault hangs: the load never outlives the drill by much.
    maxDurationMs: opts.durationMs + 180_000,
    ...opts.load,
  });
  let result: LoadResult;
  let restoreTime: Date | null = null;
  try {
    await sleep(warmupMs);
    const ctx: ScenarioContext = {
      driver, holdMs, log, notes, restore: stack,
      markFault: () => { fault.injectedAtMs = Date.now(); watch.markFault(fault.injectedAtMs); },
    };
    if (scenario === 'restore') {
      // T: halfway through the load; writes keep flowing on both sides of it.
      await sleep(Math.max(0, opts.durationMs / 2 - warmupMs));
      // T must have acknowledged writes before it (the short form's first writes can be slow).
      const waitUntil = Date.now() + 30_000;
      while (!load.writes().some((w) => w.acknowledged) && Date.now() < waitUntil) await sleep(100);
      await sleep(200);
      restoreTime = new Date();
      log(`T = ${restoreTime.toISOString()}`);
    } else {
      await scenarioPlans[scenario].inject(ctx);
      fault.recoveredAtMs = Date.now();
    }
    // At least the full duration, and always a tail after recovery to see it from the client side.
    const endAt = Math.max(Date.now() + tailMs, loadStartedAt + opts.durationMs);
    while (Date.now() < endAt) await sleep(100);
  } finally {
    result = await load.stop();
  }

  let verification: Verification;
  let restoreExpectedBack: number | undefined;
  if (scenario === 'restore' && restoreTime && driver instanceof LocalDriver) {
    const T = restoreTime.getTime();
    fault.injectedAtMs = Date.now();
    watch.markFault(fault.injectedAtMs);
    log(`restore to ${restoreTime.toISOString()}`);
    const r = await restore({ stateDir: driver.state.root, time: restoreTime, log });
    fault.recoveredAtMs = Date.now();
    notes.push(`restored ${r.primary} from ${r.backupId} in ${r.elapsedMs} ms; re-cloned ${r.replicas.join(', ') || 'no replicas'}`);
    const present = await titlesPresent(driver, result.runId);
    // Acknowledged before T: must be back. Sent after T: must not. In flight across T: either.
    const before = result.writes.filter((w) => w.acknowledged && w.ackMs! <= T);
    const after = result.writes.filter((w) => w.firstSentMs > T);
    const missing = before.filter((w) => !present.has(w.title)).map((w) => w.id!);
    const extra = after.filter((w) => present.has(w.title)).map((w) => w.id ?? -1);
    restoreExpectedBack = before.length;
    const dup = await verifyWrites(driver, result.runId, []);
    verification = { lostIds: missing, duplicated: dup.duplicated, restoreMissing: missing, restoreExtra: extra };
    notes.push(`${result.writes.filter((w) => w.firstSentMs <= T && (w.ackMs ?? Infinity) > T).length} write(s) in flight across T (either outcome is correct)`);
  } else {
    verification = await verifyWrites(driver, result.runId, result.writes);
  }
  // Wait a little past the target, so a late replica shows its real figure rather than "not streaming".
  const restream = await watch.finish(targetsFor(scenario).restreamSeconds * 1000 + 15_000);
  const health = await waitForClusterHealth(driver, 30_000);

  return buildReport({
    scenario,
    driver: driver.kind,
    load: result,
    verification,
    fault,
    restream,
    health,
    restoreTargetTime: restoreTime?.toISOString(),
    restoreExpectedBack,
    notes,
  });
}

/** Runs several drills in order; a drill that throws is reported as failed and the run goes on. */
export async function runDrills(driver: ClusterDriver, scenarios: Scenario[], opts: DrillOptions & { onReport?: (r: DrillReport) => void }): Promise<{ reports: DrillReport[]; errors: { scenario: Scenario; error: string }[] }> {
  if (!opts.restore) return withRestoreStack(opts.log ?? (() => {}), (restore) => runDrills(driver, scenarios, { ...opts, restore }));
  const reports: DrillReport[] = [];
  const errors: { scenario: Scenario; error: string }[] = [];
  for (const s of scenarios) {
    opts.log?.(`drill ${s}: start`);
    try {
      const r = await runDrill(driver, s, opts);
      reports.push(r);
      opts.onReport?.(r);
    } catch (err) {
      if (err instanceof InterruptedError || opts.restore.interrupted) throw err; // the restore stack takes over
      errors.push({ scenario: s, error: (err as Error).message });
      opts.log?.(`drill ${s}: error: ${(err as Error).message}`);
    }
  }
  return { reports, errors };
}
