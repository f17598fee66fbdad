import type { ClusterHealth } from './cluster-health';
import { targetsFor, UNAVAILABLE_AFTER_MS } from './drill-targets';
import { unionLengthMs, unionOf, type Interval } from './interval-union';
import { REQUEST_KINDS, type LoadResult, type Operation, type RequestKind, type SessionWait } from './load-generator';
import type { RestreamResult } from './replication-watch';

// The measured report of one drill, computed from the load's request log, the verification on the
// final primary, the replication watch and the health check after, with pass/fail lines against
// the targets (drill-targets.ts). Pure functions. Nothing is left out: every retry is counted,
// and a request counts as unavailable when it failed as its user saw it OR took longer than
// UNAVAILABLE_AFTER_MS; unavailability is the total length of the union of such requests'
// [sent, finished] intervals, so a blocked-but-eventually-answered writer is not reported as 0 s.

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

export interface Check { name: string; pass: boolean; detail: string }

export interface KindFigures {
  /** Requests as their users made them (a resend or retry belongs to its request). */
  requests: number;
  /** HTTP attempts: requests + retries. */
  attempts: number;
  /** Resends (GET on a reset keep-alive socket) and write retries made. */
  retries: number;
  /** Requests whose first attempt failed: what users would have seen without any retry. */
  failedWithoutRetry: number;
  /** Requests that failed after their resend/retry: what users saw. */
  failedAfterRetry: number;
  /** Requests slower than the unavailability threshold (answered or not). */
  slow: number;
}

export interface DrillReport {
  scenario: Scenario;
  driver: string;
  runId: string;
  startedAt: string;
  durationSeconds: number;
  fault: { description: string; injectedAtSeconds: number | null; recoveredAtSeconds: number | null };
  requests: KindFigures & {
    byKind: Record<RequestKind, KindFigures>;
    /** Failed attempts by kind and status (or error code). */
    failedByStatus: Record<string, number>;
    /** Logged-in loops that had to wait for a login; how many of those logins failed. */
    sessionWaits: number;
    failedLogins: number;
  };
  writes: { attempted: number; acknowledged: number; retried: number; failedAfterRetry: number; lost: number; duplicated: number };
  /** Seconds (union of [sent, finished]) during which a request failed after retry or took > 1 s. */
  unavailability: {
    thresholdSeconds: number;
    /** Writes, and writers waiting for a login that failed or was slow. */
    writesSeconds: number;
    /** Every read kind together. */
    readsSeconds: number;
    anonymousReadsSeconds: number;
    /** user-read and verify-read, and the logged-in reader waiting for a login that failed or was slow. */
    loggedInReadsSeconds: number;
    /** When writes / reads were unavailable, in seconds since the load started (the union's pieces). */
    writeIntervals: { fromSeconds: number; toSeconds: number }[];
    readIntervals: { fromSeconds: number; toSeconds: number }[];
  };
  writeLatency: {
    /** The slowest write, first attempt sent → acknowledged or given up. */
    slowestSeconds: number;
    slowestAcknowledged: boolean;
    /** p99 (nearest rank) of the writes in flight during the fault window; null when none were. */
    p99FaultWindowSeconds: number | null;
    faultWindowWrites: number;
  };
  staleReads: number;
  /** Slowest replica; null when one did not stream again in time. */
  replicasStreamingAgainSeconds: number | null;
  restream: RestreamResult & { targetSeconds: number };
  health: ClusterHealth;
  restore?: { targetTime: string; expectedBack: number; missing: number; extra: number };
  notes: string[];
  checks: Check[];
  pass: boolean;
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** A request its user could not use: failed after its retry, or slower than the threshold. */
export function isUnavailable(op: Pick<Operation, 'ok' | 'sentMs' | 'finishedMs'>): boolean {
  return !op.ok || op.finishedMs - op.sentMs > UNAVAILABLE_AFTER_MS;
}

function isUnavailableWait(w: SessionWait): boolean {
  return w.failedLogins > 0 || w.toMs - w.fromMs > UNAVAILABLE_AFTER_MS;
}

function unavailableIntervals(ops: readonly Operation[], waits: readonly SessionWait[]): Interval[] {
  return [
    ...ops.filter(isUnavailable).map((o) => ({ fromMs: o.sentMs, toMs: o.finishedMs })),
    ...waits.filter(isUnavailableWait).map((w) => ({ fromMs: w.fromMs, toMs: w.toMs })),
  ];
}

/** Seconds covered by the union of the unavailable operations (and session waits) given. */
export function unavailabilitySeconds(ops: readonly Operation[], waits: readonly SessionWait[] = []): number {
  return round(unionLengthMs(unavailableIntervals(ops, waits)) / 1000);
}

/**
 * Nearest-rank percentile (the smallest value with at least p % of the values at or below it).
 * Hand-written: exact over a few hundred samples, where a digest library would approximate.
 */
export function percentile(values: readonly number[], p: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

function figuresOf(ops: readonly Operation[]): KindFigures {
  return {
    requests: ops.length,
    attempts: ops.reduce((n, o) => n + o.attempts, 0),
    retries: ops.reduce((n, o) => n + Math.max(0, o.attempts - 1), 0),
    failedWithoutRetry: 0, // filled from the attempt log below
    failedAfterRetry: ops.filter((o) => !o.ok).length,
    slow: ops.filter((o) => o.finishedMs - o.sentMs > UNAVAILABLE_AFTER_MS).length,
  };
}

export interface ReportInput {
  scenario: Scenario;
  driver: string;
  load: LoadResult;
  verification: Verification;
  fault: { description: string; injectedAtMs: number | null; recoveredAtMs: number | null };
  restream: RestreamResult;
  health: ClusterHealth;
  restoreTargetTime?: string;
  restoreExpectedBack?: number;
  notes?: string[];
}

export function buildReport(input: ReportInput): DrillReport {
  const { load, verification: v, scenario } = input;
  const ops = load.operations;
  const ofKind = (...kinds: RequestKind[]) => ops.filter((o) => kinds.includes(o.kind));
  const byKind = Object.fromEntries(REQUEST_KINDS.map((k) => {
    const f = figuresOf(ofKind(k));
    // A request failed "without retry" when its first attempt failed.
    f.failedWithoutRetry = load.events.filter((e) => e.kind === k && (e.attempt ?? 1) === 1 && !e.ok).length;
    return [k, f];
  })) as Record<RequestKind, KindFigures>;
  const total = figuresOf(ops);
  total.failedWithoutRetry = REQUEST_KINDS.reduce((n, k) => n + byKind[k].failedWithoutRetry, 0);
  const failedByStatus: Record<string, number> = {};
  for (const e of load.events.filter((x) => !x.ok)) {
    const key = `${e.kind} ${e.status ?? e.error ?? 'error'}`;
    failedByStatus[key] = (failedByStatus[key] ?? 0) + 1;
  }
  const rel = (ms: number | null) => (ms === null ? null : round((ms - load.startedMs) / 1000));
  const writerWaits = load.sessionWaits.filter((w) => w.loop === 'writer');
  const userWaits = load.sessionWaits.filter((w) => w.loop === 'user');

  const finished = load.writes.filter((w) => w.finishedMs !== null);
  const slowest = finished.reduce<(typeof finished)[number] | null>((a, w) => (!a || w.finishedMs! - w.firstSentMs > a.finishedMs! - a.firstSentMs ? w : a), null);
  const { injectedAtMs, recoveredAtMs } = input.fault;
  const inWindow = injectedAtMs === null ? [] : finished.filter((w) => w.firstSentMs <= (recoveredAtMs ?? load.endedMs) && w.finishedMs! >= injectedAtMs);
  const p99 = percentile(inWindow.map((w) => w.finishedMs! - w.firstSentMs), 99);

  const report: DrillReport = {
    scenario,
    driver: input.driver,
    runId: load.runId,
    startedAt: new Date(load.startedMs).toISOString(),
    durationSeconds: round((load.endedMs - load.startedMs) / 1000),
    fault: { description: input.fault.description, injectedAtSeconds: rel(injectedAtMs), recoveredAtSeconds: rel(recoveredAtMs) },
    requests: {
      ...total,
      byKind,
      failedByStatus,
      sessionWaits: load.sessionWaits.length,
      failedLogins: byKind.login.failedAfterRetry,
    },
    writes: {
      attempted: load.writes.length,
      acknowledged: load.writes.filter((w) => w.acknowledged).length,
      retried: load.writes.filter((w) => w.attempts > 1).length,
      failedAfterRetry: load.writes.filter((w) => !w.acknowledged).length,
      lost: v.lostIds.length,
      duplicated: v.duplicated.length,
    },
    unavailability: {
      thresholdSeconds: UNAVAILABLE_AFTER_MS / 1000,
      writesSeconds: unavailabilitySeconds(ofKind('write'), writerWaits),
      readsSeconds: unavailabilitySeconds(ofKind('anon-read', 'user-read', 'verify-read'), userWaits),
      anonymousReadsSeconds: unavailabilitySeconds(ofKind('anon-read')),
      loggedInReadsSeconds: unavailabilitySeconds(ofKind('user-read', 'verify-read'), userWaits),
      writeIntervals: unionOf(unavailableIntervals(ofKind('write'), writerWaits)).map((i) => ({ fromSeconds: rel(i.fromMs)!, toSeconds: rel(i.toMs)! })),
      readIntervals: unionOf(unavailableIntervals(ofKind('anon-read', 'user-read', 'verify-read'), userWaits)).map((i) => ({ fromSeconds: rel(i.fromMs)!, toSeconds: rel(i.toMs)! })),
    },
    writeLatency: {
      slowestSeconds: slowest ? round((slowest.finishedMs! - slowest.firstSentMs) / 1000) : 0,
      slowestAcknowledged: slowest?.acknowledged ?? true,
      p99FaultWindowSeconds: p99 === null ? null : round(p99 / 1000),
      faultWindowWrites: inWindow.length,
    },
    staleReads: load.staleReads.length,
    replicasStreamingAgainSeconds: input.restream.seconds,
    restream: { ...input.restream, targetSeconds: targetsFor(scenario).restreamSeconds },
    health: input.health,
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
  const q = r.requests;
  const checks: Check[] = [];
  if (q.requests === 0) checks.push({ name: 'load ran', pass: false, detail: 'no request was sent' });
  if (r.writes.acknowledged === 0) checks.push({ name: 'writes acknowledged', pass: false, detail: 'no write was acknowledged: nothing was verified' });
  if (t.zeroFailedAnonymousReads) {
    const k = q.byKind['anon-read'];
    checks.push({ name: '0 failed anonymous reads', pass: k.failedAfterRetry === 0, detail: `${k.failedAfterRetry} of ${k.requests} failed (${k.failedWithoutRetry} without the resend)` });
  }
  if (t.zeroFailedAfterRetry) {
    checks.push({
      name: '0 failed requests after ≤ 1 retry',
      pass: q.failedAfterRetry === 0,
      detail: `${q.failedAfterRetry} failed (${Object.entries(q.byKind).filter(([, f]) => f.failedAfterRetry).map(([k, f]) => `${k} ${f.failedAfterRetry}`).join(', ') || 'none'})`,
    });
  }
  if (t.failuresOnly503) {
    const other = Object.entries(q.failedByStatus).filter(([key]) => !key.endsWith(' 503'));
    const failedAttempts = Object.values(q.failedByStatus).reduce((a, b) => a + b, 0);
    checks.push({ name: 'every failed request answered 503 (session store down)', pass: other.length === 0, detail: other.length ? other.map(([k, n]) => `${k} ×${n}`).join(', ') : `${failedAttempts} failed, all 503` });
  }
  if (t.maxWriteUnavailabilitySeconds !== null) {
    checks.push({ name: `write unavailability ≤ ${t.maxWriteUnavailabilitySeconds} s`, pass: r.unavailability.writesSeconds <= t.maxWriteUnavailabilitySeconds, detail: `${r.unavailability.writesSeconds} s (slowest write ${r.writeLatency.slowestSeconds} s)` });
  }
  checks.push({ name: '0 acknowledged writes lost', pass: r.writes.lost === 0, detail: `${r.writes.lost} of ${r.writes.acknowledged} acknowledged` });
  checks.push({ name: '0 duplicated writes', pass: r.writes.duplicated === 0, detail: `${r.writes.duplicated} keys with > 1 row` });
  checks.push({ name: '0 stale reads', pass: r.staleReads === 0, detail: `${r.staleReads} of ${q.byKind['verify-read'].requests} read-your-writes checks answered 404` });
  const late = r.restream.perReplica.filter((p) => p.seconds === null || p.seconds > t.restreamSeconds);
  checks.push({
    name: `every replica streaming again within ${t.restreamSeconds} s`,
    pass: late.length === 0,
    detail: r.restream.perReplica.length ? r.restream.perReplica.map((p) => `${p.name} ${p.seconds === null ? 'not streaming' : `${p.seconds} s`}`).join(', ') : 'no replica in the topology',
  });
  checks.push({ name: 'cluster healthy after the drill', pass: r.health.healthy, detail: r.health.healthy ? `healthy (checked ${r.health.waitedSeconds} s after)` : r.health.problems.join('; ') });
  if (r.restore) {
    checks.push({ name: 'every write acknowledged before T restored', pass: r.restore.missing === 0, detail: `${r.restore.missing} of ${r.restore.expectedBack} missing` });
    checks.push({ name: 'no write acknowledged after T restored', pass: r.restore.extra === 0, detail: `${r.restore.extra} present` });
  }
  return checks;
}

const fmt = (n: number | null, unit = ' s') => (n === null ? 'n/a' : `${n}${unit}`);
/** At most 6 spans, then how many more: a long outage of short failures stays one line. */
const spans = (list: { fromSeconds: number; toSeconds: number }[]) =>
  (list.length ? `${list.slice(0, 6).map((i) => `${i.fromSeconds}–${i.toSeconds}`).join(', ')}${list.length > 6 ? ` and ${list.length - 6} more` : ''}` : 'never');

/** The human report printed by `aidiary drill`. */
export function formatReport(r: DrillReport): string {
  const q = r.requests;
  const u = r.unavailability;
  const kind = (k: RequestKind) => {
    const f = q.byKind[k];
    return `${k} ${f.requests} (retries ${f.retries}, failed ${f.failedWithoutRetry} without retry / ${f.failedAfterRetry} after, slow ${f.slow})`;
  };
  const lines = [
    `drill ${r.scenario} (${r.driver}, run ${r.runId}): ${r.pass ? 'PASS' : 'FAIL'}`,
    `  fault: ${r.fault.description} at ${fmt(r.fault.injectedAtSeconds)}; recovered at ${fmt(r.fault.recoveredAtSeconds)}; load ${r.durationSeconds} s`,
    `  requests: ${q.requests} (${q.attempts} attempts, ${q.retries} retries); failed ${q.failedWithoutRetry} without retry, ${q.failedAfterRetry} after ≤ 1 retry; ${q.slow} slower than ${u.thresholdSeconds} s`,
    `  by kind: ${REQUEST_KINDS.map(kind).join('; ')}`,
    `  logins: ${q.byKind.login.requests} sent, ${q.failedLogins} failed; ${q.sessionWaits} waits for a session`,
  ];
  if (Object.keys(q.failedByStatus).length) lines.push(`  failed attempts by status: ${Object.entries(q.failedByStatus).map(([k, v]) => `${k} ×${v}`).join(', ')}`);
  lines.push(
    `  writes: ${r.writes.attempted} attempted, ${r.writes.acknowledged} acknowledged, ${r.writes.retried} retried, ${r.writes.failedAfterRetry} failed after the retry, ${r.writes.lost} lost, ${r.writes.duplicated} duplicated`,
    `  write latency: slowest ${r.writeLatency.slowestSeconds} s${r.writeLatency.slowestAcknowledged ? '' : ' (not acknowledged)'}; p99 during the fault ${fmt(r.writeLatency.p99FaultWindowSeconds)} over ${r.writeLatency.faultWindowWrites} writes`,
    `  unavailability (failed after retry or > ${u.thresholdSeconds} s, union of [sent, finished]): writes ${u.writesSeconds} s, reads ${u.readsSeconds} s (anonymous ${u.anonymousReadsSeconds} s, logged-in ${u.loggedInReadsSeconds} s)`,
    `  unavailable at (s since the load started): writes ${spans(u.writeIntervals)}; reads ${spans(u.readIntervals)}`,
    `  stale reads seen by the writer: ${r.staleReads}`,
    `  re-stream (target ${r.restream.targetSeconds} s): ${r.restream.perReplica.map((p) => `${p.name} ${fmt(p.seconds)}`).join(', ') || 'no replica seen'}`,
    `  cluster after: ${r.health.healthy ? 'healthy' : `UNHEALTHY: ${r.health.problems.join('; ')}`} (waited ${r.health.waitedSeconds} s)`,
  );
  if (r.restore) lines.push(`  restore to ${r.restore.targetTime}: ${r.restore.expectedBack} expected back, ${r.restore.missing} missing, ${r.restore.extra} extra`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  for (const c of r.checks) lines.push(`  [${c.pass ? 'pass' : 'FAIL'}] ${c.name}: ${c.detail}`);
  return lines.join('\n');
}

/** The README table: one row per drill, every figure the tool measures. */
export function formatTable(reports: DrillReport[]): string {
  const head = '| scenario | requests | retries | failed w/o retry | failed after retry | failed logins | write unavail. | read unavail. | slowest write | p99 write (fault) | acked writes | lost | dup | stale | re-stream | healthy after | result |';
  const sep = `| --- |${' ---: |'.repeat(14)} --- | --- |`;
  const rows = reports.map((r) => {
    const q = r.requests;
    return `| ${r.scenario} | ${q.requests} | ${q.retries} | ${q.failedWithoutRetry} | ${q.failedAfterRetry} | ${q.failedLogins} | ${r.unavailability.writesSeconds} s | ${r.unavailability.readsSeconds} s | ${r.writeLatency.slowestSeconds} s | ${fmt(r.writeLatency.p99FaultWindowSeconds)} | ${r.writes.acknowledged} | ${r.writes.lost} | ${r.writes.duplicated} | ${r.staleReads} | ${fmt(r.replicasStreamingAgainSeconds)} | ${r.health.healthy ? 'yes' : 'NO'} | ${r.pass ? 'pass' : 'FAIL'} |`;
  });
  return [head, sep, ...rows].join('\n');
}
