import { describe, expect, it } from 'vitest';
import { sqlLiteral, jsonRowsSql } from '../../infra/drills/cluster-driver';
import { buildReport, formatReport, formatTable, longestWindowSeconds, targetsFor, unavailabilityWindows } from '../../infra/drills/drill-report';
import type { LoadResult, RequestEvent, WriteRecord } from '../../infra/drills/load-generator';

const ev = (kind: RequestEvent['kind'], startMs: number, ok: boolean, status: number | null = ok ? 200 : 502, endMs = startMs + 10): RequestEvent =>
  ({ kind, startMs, endMs, ok, status });
const w = (id: number, acknowledged = true, attempts = 1): WriteRecord =>
  ({ key: `k${id}`, title: `t${id}`, attempts, acknowledged, id: acknowledged ? id : null, firstSentMs: 0, ackMs: acknowledged ? 1 : null });

function load(events: RequestEvent[], writes: WriteRecord[] = [w(1), w(2)]): LoadResult {
  return { runId: 'r1', startedMs: 1000, endedMs: 11_000, events, writes, staleReads: [] };
}

describe('unavailability windows', () => {
  it('runs from the first failure to the end of the first success that started after it', () => {
    const events = [ev('write', 1000, true), ev('write', 2000, false), ev('write', 2500, false), ev('write', 4000, true, 201, 4200), ev('write', 5000, false)];
    expect(unavailabilityWindows(events)).toEqual([{ fromMs: 2000, toMs: 4200 }, { fromMs: 5000, toMs: null }]);
    // The unclosed window runs to the end of the load: 9 s > 2.2 s.
    expect(longestWindowSeconds(events, 14_000)).toBe(9);
    expect(longestWindowSeconds(events.slice(0, 4), 14_000)).toBe(2.2);
    expect(longestWindowSeconds([ev('write', 1, true)], 10)).toBe(0);
  });
});

describe('targets', () => {
  it('follow issue 7 per scenario', () => {
    expect(targetsFor('partition-primary').zeroFailedAnonymousReads).toBe(false);
    expect(targetsFor('stop-redis')).toEqual({ zeroFailedAnonymousReads: true, zeroFailedAfterRetry: false, maxWriteUnavailabilitySeconds: null, failuresOnly503: true });
    expect(targetsFor('restart-redis').failuresOnly503).toBe(true);
    expect(targetsFor('kill-app').failuresOnly503).toBe(false);
    expect(targetsFor('kill-app').zeroFailedAfterRetry).toBe(true);
    expect(targetsFor('kill-primary').maxWriteUnavailabilitySeconds).toBe(5);
  });

  it('kill-app passes only with no failure left after the one write retry', () => {
    const good = buildReport({
      scenario: 'kill-app', driver: 'local', load: load([ev('anon-read', 1100, true), ev('write', 1200, false), ev('write', 1500, true, 201)], [w(1, true, 2)]),
      verification: { lostIds: [], duplicated: [] }, fault: { description: 'x', injectedAtMs: 2000, recoveredAtMs: 3000 }, replicasStreamingAgainSeconds: 0,
    });
    expect(good.pass).toBe(true);
    expect(good.requests.failedByStatus).toEqual({ 'write 502': 1 });
    expect(good.writes).toMatchObject({ attempted: 1, acknowledged: 1, retried: 1 });
    expect(good.fault.injectedAtSeconds).toBe(1);

    const bad = buildReport({
      scenario: 'kill-app', driver: 'local', load: load([ev('anon-read', 1100, false, 502), ev('write', 1200, true, 201)], [w(1), w(2, false, 2)]),
      verification: { lostIds: [], duplicated: [] }, fault: { description: 'x', injectedAtMs: null, recoveredAtMs: null }, replicasStreamingAgainSeconds: 0,
    });
    expect(bad.pass).toBe(false);
    expect(bad.checks.filter((c) => !c.pass).map((c) => c.name)).toEqual(['0 failed anonymous reads', '0 failed requests after ≤ 1 write retry']);
  });

  it('Redis drills pass only when every failure is the app\'s 503 (not 502 from nginx, not 500)', () => {
    const redis = (events: RequestEvent[]) => buildReport({
      scenario: 'stop-redis', driver: 'local', load: load(events),
      verification: { lostIds: [], duplicated: [] }, fault: { description: 'x', injectedAtMs: 2000, recoveredAtMs: 5000 }, replicasStreamingAgainSeconds: null,
    });
    const good = redis([ev('anon-read', 1100, true), ev('user-read', 2100, false, 503), ev('write', 2200, false, 503), ev('write', 6000, true, 201)]);
    expect(good.pass).toBe(true);
    expect(good.checks.find((c) => c.name.startsWith('every failed request'))).toEqual({ name: 'every failed request answered 503 (session store down)', pass: true, detail: '2 failed, all 503' });
    const bad = redis([ev('user-read', 2100, false, 502), ev('write', 2200, false, 503), { kind: 'user-read', startMs: 2300, endMs: 2400, ok: false, status: null, error: 'ECONNRESET' }]);
    expect(bad.pass).toBe(false);
    expect(bad.checks.filter((c) => !c.pass)).toEqual([{ name: 'every failed request answered 503 (session store down)', pass: false, detail: 'user-read 502 ×1, user-read ECONNRESET ×1' }]);
  });

  it('fails on a lost or duplicated write, and on slow failover', () => {
    const r = buildReport({
      scenario: 'kill-primary', driver: 'local',
      load: load([ev('write', 1000, false), ev('write', 7000, true, 201, 7100)]),
      verification: { lostIds: [2], duplicated: [{ title: 't1', rows: 2 }] }, fault: { description: 'x', injectedAtMs: 1000, recoveredAtMs: 2000 }, replicasStreamingAgainSeconds: 1.5,
    });
    expect(r.writeUnavailabilitySeconds).toBe(6.1);
    expect(r.checks.filter((c) => !c.pass).map((c) => c.name)).toEqual(['write unavailability ≤ 5 s', '0 acknowledged writes lost', '0 duplicated writes']);
    expect(formatReport(r)).toContain('[FAIL] 0 acknowledged writes lost: 1 of 2 acknowledged');
    expect(formatTable([r])).toContain('| kill-primary | 2 | 1 (0) | 6.1 s | 0 s |');
  });

  it('a restore reports writes missing before T and present after it', () => {
    const r = buildReport({
      scenario: 'restore', driver: 'local', load: load([ev('write', 1000, true, 201)]),
      verification: { lostIds: [], duplicated: [], restoreMissing: [], restoreExtra: [7] }, fault: { description: 'x', injectedAtMs: null, recoveredAtMs: null },
      replicasStreamingAgainSeconds: null, restoreTargetTime: '2026-01-01T00:00:00.000Z', restoreExpectedBack: 3,
    });
    expect(r.restore).toEqual({ targetTime: '2026-01-01T00:00:00.000Z', expectedBack: 3, missing: 0, extra: 1 });
    expect(r.pass).toBe(false);
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
