import type { LoadResult, RequestEvent, RequestKind } from './load-generator';

// The measured report of one drill, computed from the load's request log and the verification
// on the final primary, with pass/fail lines against the targets of issue 7. Pure functions.

export const SCENARIOS = [
  'kill-app', 'rolling-restart', 'kill-replica', 'kill-primary', 'switchover', 'restart-redis', 'stop-redis', 'scale',
  'partition-primary', 'restore',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Verification {
  /** Acknowledged write ids missing on the final primary. */
  lostIds: number[];
  /** Idempotency keys with more than one row (same title). */
  duplicated: { title: string; rows: number }[];
  /** restore only: acknowledged before T but absent after the restore / acknowledged after T but present. */
  restoreMissing?: number[];
  restoreExtra?: number[];
}

export interface Window { fromMs: number; toMs: number | null }

export interface Check { name: string; pass: boolean; detail: string }

export interface DrillReport {
  scenario: Scenario;
  driver: string;
  runId: string;
  startedAt: string;
  durationSeconds: number;
  fault: { description: string; injectedAtSeconds: number | null; recoveredAtSeconds: number | null };
  requests: {
    sent: number;
    failed: number;
    byKind: Record<RequestKind, { sent: number; failed: number }>;
    failedByStatus: Record<string, number>;
    failedReads: number;
    failedWrites: number;
    /** Writes not acknowledged even after the one retry. */
    writesFailedAfterRetry: number;
    /** Failed reads + writes failed after the retry: what a user would see. */
    failedAfterRetry: number;
  };
  writes: { attempted: number; acknowledged: number; retried: number; lost: number; duplicated: number };
  writeUnavailabilitySeconds: number;
  /** The slowest acknowledged write, first attempt sent → acknowledged: a wait the client saw even without a failure. */
  writeMaxLatencySeconds: number;
  readUnavailabilitySeconds: number;
  loggedInUnavailabilitySeconds: number;
  staleReads: number;
  replicasStreamingAgainSeconds: number | null;
  restore?: { targetTime: string; expectedBack: number; missing: number; extra: number };
  notes: string[];
  checks: Check[];
  pass: boolean;
}

/** Failure windows: from a failed request's start to the end of the first success that started after it. */
export function unavailabilityWindows(events: RequestEvent[]): Window[] {
  const sorted = [...events].sort((a, b) => a.startMs - b.startMs);
  const windows: Window[] = [];
  let open: Window | null = null;
  for (const e of sorted) {
    if (!e.ok && !open) {
      open = { fromMs: e.startMs, toMs: null };
      windows.push(open);
    } else if (e.ok && open && e.startMs >= open.fromMs) {
      open.toMs = e.endMs;
      open = null;
    }
  }
  return windows;
}

/** The longest window in seconds; an unclosed window runs to `endMs`. */
export function longestWindowSeconds(events: RequestEvent[], endMs: number): number {
  let longest = 0;
  for (const w of unavailabilityWindows(events)) longest = Math.max(longest, (w.toMs ?? endMs) - w.fromMs);
  return round(longest / 1000);
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Which targets of issue 7 apply to a scenario. */
export function targetsFor(scenario: Scenario) {
  return {
    zeroFailedAnonymousReads: scenario !== 'partition-primary',
    zeroFailedAfterRetry: ['kill-app', 'rolling-restart', 'kill-replica', 'scale'].includes(scenario),
    maxWriteUnavailabilitySeconds: scenario === 'kill-primary' ? 5 : null,
    // Redis down is answered by the app itself: session routes say 503 "session store down"
    // (issue 4); a 502/500 or a dropped connection means nginx or the app got it wrong.
    failuresOnly503: scenario === 'restart-redis' || scenario === 'stop-redis',
  };
}

export interface ReportInput {
  scenario: Scenario;
  driver: string;
  load: LoadResult;
  verification: Verification;
  fault: { description: string; injectedAtMs: number | null; recoveredAtMs: number | null };
  replicasStreamingAgainSeconds: number | null;
  restoreTargetTime?: string;
  restoreExpectedBack?: number;
  notes?: string[];
}

export function buildReport(input: ReportInput): DrillReport {
  const { load, verification: v, scenario } = input;
  const ev = load.events;
  const kinds: RequestKind[] = ['anon-read', 'user-read', 'write', 'verify-read'];
  const byKind = Object.fromEntries(kinds.map((k) => {
    const of = ev.filter((e) => e.kind === k);
    return [k, { sent: of.length, failed: of.filter((e) => !e.ok).length }];
  })) as DrillReport['requests']['byKind'];
  const failedByStatus: Record<string, number> = {};
  for (const e of ev.filter((x) => !x.ok)) {
    const key = `${e.kind} ${e.status ?? e.error ?? 'error'}`;
    failedByStatus[key] = (failedByStatus[key] ?? 0) + 1;
  }
  const failedReads = byKind['anon-read'].failed + byKind['user-read'].failed + byKind['verify-read'].failed;
  const writesFailedAfterRetry = load.writes.filter((w) => !w.acknowledged).length;
  const rel = (ms: number | null) => (ms === null ? null : round((ms - load.startedMs) / 1000));

  const report: DrillReport = {
    scenario,
    driver: input.driver,
    runId: load.runId,
    startedAt: new Date(load.startedMs).toISOString(),
    durationSeconds: round((load.endedMs - load.startedMs) / 1000),
    fault: { description: input.fault.description, injectedAtSeconds: rel(input.fault.injectedAtMs), recoveredAtSeconds: rel(input.fault.recoveredAtMs) },
    requests: {
      sent: ev.length,
      failed: ev.filter((e) => !e.ok).length,
      byKind,
      failedByStatus,
      failedReads,
      failedWrites: byKind.write.failed,
      writesFailedAfterRetry,
      failedAfterRetry: failedReads + writesFailedAfterRetry,
    },
    writes: {
      attempted: load.writes.length,
      acknowledged: load.writes.filter((w) => w.acknowledged).length,
      retried: load.writes.filter((w) => w.attempts > 1).length,
      lost: v.lostIds.length,
      duplicated: v.duplicated.length,
    },
    writeUnavailabilitySeconds: longestWindowSeconds(ev.filter((e) => e.kind === 'write'), load.endedMs),
    writeMaxLatencySeconds: round(Math.max(0, ...load.writes.filter((w) => w.acknowledged).map((w) => w.ackMs! - w.firstSentMs)) / 1000),
    readUnavailabilitySeconds: longestWindowSeconds(ev.filter((e) => e.kind === 'anon-read'), load.endedMs),
    loggedInUnavailabilitySeconds: longestWindowSeconds(ev.filter((e) => e.kind === 'user-read' || e.kind === 'verify-read'), load.endedMs),
    staleReads: load.staleReads.length,
    replicasStreamingAgainSeconds: input.replicasStreamingAgainSeconds,
    notes: [...(input.notes ?? [])],
    checks: [],
    pass: false,
  };
  if (input.restoreTargetTime) {
    report.restore = {
      targetTime: input.restoreTargetTime,
      expectedBack: input.restoreExpectedBack ?? 0,
      missing: v.restoreMissing?.length ?? 0,
      extra: v.restoreExtra?.length ?? 0,
    };
  }
  report.checks = checksFor(report);
  report.pass = report.checks.every((c) => c.pass);
  return report;
}

function checksFor(r: DrillReport): Check[] {
  const t = targetsFor(r.scenario);
  const checks: Check[] = [];
  if (r.requests.sent === 0) checks.push({ name: 'load ran', pass: false, detail: 'no request was sent' });
  if (r.writes.acknowledged === 0) checks.push({ name: 'writes acknowledged', pass: false, detail: 'no write was acknowledged: nothing was verified' });
  if (t.zeroFailedAnonymousReads) {
    const n = r.requests.byKind['anon-read'].failed;
    checks.push({ name: '0 failed anonymous reads', pass: n === 0, detail: `${n} of ${r.requests.byKind['anon-read'].sent} failed` });
  }
  if (t.zeroFailedAfterRetry) {
    checks.push({ name: '0 failed requests after ≤ 1 write retry', pass: r.requests.failedAfterRetry === 0, detail: `${r.requests.failedReads} failed reads, ${r.requests.writesFailedAfterRetry} writes failed after the retry` });
  }
  if (t.failuresOnly503) {
    const other = Object.entries(r.requests.failedByStatus).filter(([key]) => !key.endsWith(' 503'));
    checks.push({ name: 'every failed request answered 503 (session store down)', pass: other.length === 0, detail: other.length ? other.map(([k, n]) => `${k} ×${n}`).join(', ') : `${r.requests.failed} failed, all 503` });
  }
  if (t.maxWriteUnavailabilitySeconds !== null) {
    checks.push({ name: `write unavailability ≤ ${t.maxWriteUnavailabilitySeconds} s`, pass: r.writeUnavailabilitySeconds <= t.maxWriteUnavailabilitySeconds, detail: `${r.writeUnavailabilitySeconds} s` });
  }
  checks.push({ name: '0 acknowledged writes lost', pass: r.writes.lost === 0, detail: `${r.writes.lost} of ${r.writes.acknowledged} acknowledged` });
  checks.push({ name: '0 duplicated writes', pass: r.writes.duplicated === 0, detail: `${r.writes.duplicated} keys with > 1 row` });
  if (r.restore) {
    checks.push({ name: 'every write acknowledged before T restored', pass: r.restore.missing === 0, detail: `${r.restore.missing} of ${r.restore.expectedBack} missing` });
    checks.push({ name: 'no write acknowledged after T restored', pass: r.restore.extra === 0, detail: `${r.restore.extra} present` });
  }
  return checks;
}

const fmt = (n: number | null, unit = ' s') => (n === null ? 'n/a' : `${n}${unit}`);

/** The human report printed by `aidiary drill`. */
export function formatReport(r: DrillReport): string {
  const q = r.requests;
  const lines = [
    `drill ${r.scenario} (${r.driver}, run ${r.runId}): ${r.pass ? 'PASS' : 'FAIL'}`,
    `  fault: ${r.fault.description} at ${fmt(r.fault.injectedAtSeconds)}; recovered at ${fmt(r.fault.recoveredAtSeconds)}; load ${r.durationSeconds} s`,
    `  requests: ${q.sent} sent, ${q.failed} failed (reads ${q.failedReads}, write attempts ${q.failedWrites}); after ≤ 1 write retry: ${q.failedAfterRetry}`,
    `  by kind: ${Object.entries(q.byKind).map(([k, v]) => `${k} ${v.failed}/${v.sent}`).join(', ')}`,
  ];
  if (Object.keys(q.failedByStatus).length) lines.push(`  failed by status: ${Object.entries(q.failedByStatus).map(([k, v]) => `${k} ×${v}`).join(', ')}`);
  lines.push(
    `  writes: ${r.writes.attempted} attempted, ${r.writes.acknowledged} acknowledged, ${r.writes.retried} retried, ${r.writes.lost} lost, ${r.writes.duplicated} duplicated`,
    `  unavailability: writes ${r.writeUnavailabilitySeconds} s (slowest acknowledged write ${r.writeMaxLatencySeconds} s), anonymous reads ${r.readUnavailabilitySeconds} s, logged-in reads ${r.loggedInUnavailabilitySeconds} s`,
    `  stale reads seen by the writer: ${r.staleReads}; replicas streaming again after: ${fmt(r.replicasStreamingAgainSeconds)}`,
  );
  if (r.restore) lines.push(`  restore to ${r.restore.targetTime}: ${r.restore.expectedBack} expected back, ${r.restore.missing} missing, ${r.restore.extra} extra`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  for (const c of r.checks) lines.push(`  [${c.pass ? 'pass' : 'FAIL'}] ${c.name}: ${c.detail}`);
  return lines.join('\n');
}

/** The README table: one row per drill. */
export function formatTable(reports: DrillReport[]): string {
  const head = '| scenario | requests | failed (after retry) | write unavail. | slowest write | read unavail. | acked writes | lost | dup | stale | re-stream | result |';
  const sep = '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |';
  const rows = reports.map((r) => `| ${r.scenario} | ${r.requests.sent} | ${r.requests.failed} (${r.requests.failedAfterRetry}) | ${r.writeUnavailabilitySeconds} s | ${r.writeMaxLatencySeconds} s | ${r.readUnavailabilitySeconds} s | ${r.writes.acknowledged} | ${r.writes.lost} | ${r.writes.duplicated} | ${r.staleReads} | ${fmt(r.replicasStreamingAgainSeconds)} | ${r.pass ? 'pass' : 'FAIL'} |`);
  return [head, sep, ...rows].join('\n');
}
