import { describe, expect, it } from 'vitest';
import { sqlLiteral, jsonRowsSql } from '../../infra/drills/cluster-driver';
import type { ClusterHealth } from '../../infra/drills/cluster-health';
import { buildReport, formatReport, formatTable, percentile, unavailabilitySeconds, type ReportInput } from '../../infra/drills/drill-report';
import { targetsFor } from '../../infra/drills/drill-targets';
import type { LoadResult, Operation, RequestEvent, SessionWait, WriteRecord } from '../../infra/drills/load-generator';
import type { RestreamResult } from '../../infra/drills/replication-watch';

const op = (kind: Operation['kind'], sentMs: number, ok: boolean, finishedMs = sentMs + 10, attempts = 1): Operation =>
  ({ kind, sentMs, finishedMs, attempts, ok, outcome: ok ? '200' : '502' });
const ev = (kind: RequestEvent['kind'], startMs: number, ok: boolean, status: number | null = ok ? 200 : 502, attempt = 1): RequestEvent =>
  ({ kind, startMs, endMs: startMs + 10, ok, status, attempt });
/** A write with its operation and attempt events: sent at `sentMs`, finished `ms` later. */
function write(id: number, sentMs: number, ms: number, acknowledged = true, attempts = 1) {
  const w: WriteRecord = { key: `k${id}`, title: `t${id}`, attempts, acknowledged, id: acknowledged ? id : null, firstSentMs: sentMs, finishedMs: sentMs + ms, ackMs: acknowledged ? sentMs + ms : null };
  const events = Array.from({ length: attempts }, (_, i) => ev('write', sentMs + i, acknowledged && i === attempts - 1, acknowledged && i === attempts - 1 ? 201 : 502, i + 1));
  return { w, op: { kind: 'write' as const, sentMs, finishedMs: sentMs + ms, attempts, ok: acknowledged, outcome: acknowledged ? '201' : '502' }, events };
}

const healthy: ClusterHealth = { healthy: true, problems: [], waitedSeconds: 0.1 };
const streaming: RestreamResult = { perReplica: [{ name: 'pg_1', seconds: 0 }, { name: 'pg_2', seconds: 0 }], seconds: 0 };

function input(scenario: ReportInput['scenario'], parts: { writes?: ReturnType<typeof write>[]; ops?: Operation[]; events?: RequestEvent[]; waits?: SessionWait[]; stale?: number }, extra: Partial<ReportInput> = {}): ReportInput {
  const writes = parts.writes ?? [write(1, 1100, 20), write(2, 1200, 20)];
  const load: LoadResult = {
    runId: 'r1', startedMs: 1000, endedMs: 11_000,
    events: [...(parts.events ?? []), ...writes.flatMap((x) => x.events)],
    operations: [...(parts.ops ?? []), ...writes.map((x) => x.op)],
    writes: writes.map((x) => x.w),
    sessionWaits: parts.waits ?? [],
    staleReads: Array.from({ length: parts.stale ?? 0 }, (_, i) => ({ id: i, atMs: 2000 })),
  };
  return {
    scenario, driver: 'local', load, verification: { lostIds: [], duplicated: [] },
    fault: { description: 'x', injectedAtMs: 2000, recoveredAtMs: 4000 }, restream: streaming, health: healthy, ...extra,
  };
}
const failed = (r: ReturnType<typeof buildReport>) => r.checks.filter((c) => !c.pass).map((c) => c.name);

describe('unavailability', () => {
  it('counts requests that failed after retry or took longer than 1 s, as the union of their [sent, finished]', () => {
    const ops = [
      op('write', 1000, true, 1500), // fast: available
      op('write', 2000, true, 3500), // 1.5 s: unavailable although answered
      op('write', 3000, false, 3100), // failed, overlaps the slow one
      op('write', 6000, false, 6200), // failed on its own
    ];
    expect(unavailabilitySeconds(ops)).toBe(1.7);
    // A writer waiting for a login that failed counts; a quick successful login does not.
    const waits: SessionWait[] = [{ loop: 'writer', fromMs: 7000, toMs: 7500, failedLogins: 2 }, { loop: 'writer', fromMs: 8000, toMs: 8100, failedLogins: 0 }];
    expect(unavailabilitySeconds(ops, waits)).toBe(2.2);
    expect(unavailabilitySeconds([])).toBe(0);
  });

  it('kill-primary: a writer blocked 4.5 s in the DB router and then answered is 4.5 s of write unavailability, not 0', () => {
    const r = buildReport(input('kill-primary', { writes: [write(1, 1100, 20), write(2, 2000, 4500), write(3, 6600, 20)] }));
    expect(r.requests.failedAfterRetry).toBe(0);
    expect(r.unavailability.writesSeconds).toBe(4.5);
    expect(r.unavailability.writeIntervals).toEqual([{ fromSeconds: 1, toSeconds: 5.5 }]);
    expect(formatReport(r)).toContain('unavailable at (s since the load started): writes 1–5.5; reads never');
    expect(r.writeLatency.slowestSeconds).toBe(4.5);
    expect(r.pass).toBe(true);
    const slow = buildReport(input('kill-primary', { writes: [write(1, 1100, 20), write(2, 2000, 5200), write(3, 7300, 20)] }));
    expect(slow.unavailability.writesSeconds).toBe(5.2);
    expect(failed(slow)).toEqual(['write unavailability ≤ 5 s']);
  });

  it('p99 write latency covers only the writes in flight during the fault window', () => {
    expect(percentile([], 99)).toBeNull();
    expect(percentile([5, 1, 3], 50)).toBe(3);
    expect(percentile(Array.from({ length: 200 }, (_, i) => i + 1), 99)).toBe(198);
    const writes = [write(1, 1100, 3000), ...Array.from({ length: 10 }, (_, i) => write(i + 2, 2500 + i * 100, 200 + i * 10)), write(20, 9000, 8000)];
    // Write 1 ends at 4100 (in the 2000–4000 window); write 20 starts after it: only 11 writes count.
    const r = buildReport(input('kill-app', { writes }));
    expect(r.writeLatency.faultWindowWrites).toBe(11);
    expect(r.writeLatency.p99FaultWindowSeconds).toBe(3);
    expect(r.writeLatency.slowestSeconds).toBe(8);
  });
});

describe('request figures', () => {
  it('count resends and retries, failures with and without them, and failed logins', () => {
    const r = buildReport(input('kill-app', {
      ops: [op('anon-read', 1100, true, 1120, 2), op('anon-read', 1200, true), op('login', 1300, false), op('login', 1600, true)],
      events: [{ ...ev('anon-read', 1100, false, null, 1), error: 'ECONNRESET' }, ev('anon-read', 1110, true, 200, 2), ev('anon-read', 1200, true), ev('login', 1300, false, 503), ev('login', 1600, true)],
      writes: [write(1, 1100, 400, true, 2), write(2, 1800, 20)],
    }));
    expect(r.requests.byKind['anon-read']).toEqual({ requests: 2, attempts: 3, retries: 1, failedWithoutRetry: 1, failedAfterRetry: 0, slow: 0 });
    expect(r.requests.byKind.write).toMatchObject({ requests: 2, retries: 1, failedWithoutRetry: 1, failedAfterRetry: 0 });
    expect(r.requests).toMatchObject({ requests: 6, retries: 2, failedWithoutRetry: 3, failedAfterRetry: 1, failedLogins: 1 });
    expect(r.requests.failedByStatus).toEqual({ 'anon-read ECONNRESET': 1, 'login 503': 1, 'write 502': 1 });
    // kill-app allows no failure after retry: the failed login fails it.
    expect(failed(r)).toEqual(['0 failed requests after ≤ 1 retry']);
    expect(formatReport(r)).toContain('logins: 2 sent, 1 failed');
  });
});

describe('pass criteria', () => {
  it('follow the targets per scenario', () => {
    expect(targetsFor('partition-primary')).toMatchObject({ zeroFailedAnonymousReads: false, restreamSeconds: 30 });
    expect(targetsFor('stop-redis')).toEqual({ zeroFailedAnonymousReads: true, zeroFailedAfterRetry: false, maxWriteUnavailabilitySeconds: null, failuresOnly503: true, restreamSeconds: 30 });
    expect(targetsFor('kill-primary')).toMatchObject({ maxWriteUnavailabilitySeconds: 5, restreamSeconds: 30 });
    expect(targetsFor('restore').restreamSeconds).toBe(60);
  });

  it('a drill fails on a stale read, a lost or duplicated write, a replica not streaming in time, or an unhealthy cluster after', () => {
    expect(buildReport(input('switchover', {})).pass).toBe(true);
    expect(failed(buildReport(input('switchover', { stale: 1 })))).toEqual(['0 stale reads']);
    expect(failed(buildReport(input('switchover', {}, { verification: { lostIds: [2], duplicated: [{ title: 't1', rows: 2 }] } }))))
      .toEqual(['0 acknowledged writes lost', '0 duplicated writes']);
    const late = buildReport(input('switchover', {}, { restream: { perReplica: [{ name: 'pg_0', seconds: 31.2 }, { name: 'pg_2', seconds: 3 }], seconds: 31.2 } }));
    expect(late.checks.find((c) => !c.pass)).toEqual({ name: 'every replica streaming again within 30 s', pass: false, detail: 'pg_0 31.2 s, pg_2 3 s' });
    const never = buildReport(input('restore', {}, { restream: { perReplica: [{ name: 'pg_1', seconds: null }], seconds: null } }));
    expect(failed(never)).toEqual(['every replica streaming again within 60 s']);
    expect(formatTable([never])).toContain('| n/a | yes | FAIL |');
    const sick = buildReport(input('kill-replica', {}, { health: { healthy: false, problems: ['replica pg-2 is not streaming'], waitedSeconds: 30 } }));
    expect(sick.checks.find((c) => !c.pass)).toEqual({ name: 'cluster healthy after the drill', pass: false, detail: 'replica pg-2 is not streaming' });
    expect(formatReport(sick)).toContain('cluster after: UNHEALTHY: replica pg-2 is not streaming');
  });

  it('Redis drills pass only when every failed attempt is the app\'s 503 (not 502 from nginx, not a dropped connection)', () => {
    const redis = (events: RequestEvent[], ops: Operation[]) => buildReport(input('stop-redis', { events, ops }));
    const good = redis([ev('user-read', 2100, false, 503)], [op('user-read', 2100, false)]);
    expect(good.pass).toBe(true);
    const bad = redis([ev('user-read', 2100, false, 502), { kind: 'user-read', startMs: 2300, endMs: 2400, ok: false, status: null, error: 'ECONNRESET', attempt: 1 }], [op('user-read', 2100, false), op('user-read', 2300, false)]);
    expect(bad.checks.filter((c) => !c.pass)).toEqual([{ name: 'every failed request answered 503 (session store down)', pass: false, detail: 'user-read 502 ×1, user-read ECONNRESET ×1' }]);
  });

  it('a restore reports writes missing before T and present after it', () => {
    const r = buildReport(input('restore', {}, {
      verification: { lostIds: [], duplicated: [], restoreMissing: [], restoreExtra: [7] }, restoreTargetTime: '2026-01-01T00:00:00.000Z', restoreExpectedBack: 3,
    }));
    expect(r.restore).toEqual({ targetTime: '2026-01-01T00:00:00.000Z', expectedBack: 3, missing: 0, extra: 1 });
    expect(failed(r)).toEqual(['no write acknowledged after T restored']);
  });

  it('the table shows every figure', () => {
    const r = buildReport(input('kill-primary', { writes: [write(1, 1100, 20), write(2, 2000, 2500), write(3, 4600, 20, false, 2)] }));
    const [head, , row] = formatTable([r]).split('\n');
    expect(head).toBe('| scenario | requests | retries | failed w/o retry | failed after retry | failed logins | write unavail. | read unavail. | slowest write | p99 write (fault) | acked writes | lost | dup | stale | re-stream | healthy after | result |');
    expect(row).toBe('| kill-primary | 3 | 1 | 1 | 1 | 0 | 2.52 s | 0 s | 2.5 s | 2.5 s | 2 | 0 | 0 | 0 | 0 s | yes | pass |');
  });
});

describe('SQL helpers for psql-based drivers', () => {
  it('quote literals and wrap rows as JSON', () => {
    expect(sqlLiteral("Drill o'k %")).toBe("'Drill o''k %'");
    expect(sqlLiteral(42)).toBe('42');
    expect(() => sqlLiteral(Number.NaN)).toThrow();
    expect(jsonRowsSql('SELECT 1 AS a;')).toBe("SELECT coalesce(json_agg(t), '[]'::json) FROM (SELECT 1 AS a) t");
  });
});
