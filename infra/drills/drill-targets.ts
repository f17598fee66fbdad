import type { Scenario } from './drill-report';

// The targets each drill is judged by (README, failover drills). Every drill also needs 0 lost,
// 0 duplicated writes, 0 stale reads and a healthy cluster afterwards (drill-report.ts checksFor).

/** A request slower than this counts as unavailable even when it succeeds: its user was blocked. */
export const UNAVAILABLE_AFTER_MS = 1000;

export interface DrillTargets {
  /** Every anonymous read answered (after the one resend HTTP allows). */
  zeroFailedAnonymousReads: boolean;
  /** No request failed as its user saw it (reads after the resend, writes after the retry, logins). */
  zeroFailedAfterRetry: boolean;
  maxWriteUnavailabilitySeconds: number | null;
  /** Redis down: every failure is the app's own 503, never a 502/500 or a dropped connection. */
  failuresOnly503: boolean;
  /** Seconds from the fault until every replica streams again. */
  restreamSeconds: number;
}

/**
 * Re-stream bounds: a restore re-clones every replica from the new base backup (60 s); every other
 * drill either restarts or re-points replicas (30 s), or should not break replication at all, so
 * the same 30 s bound holds there.
 */
const RESTREAM_SECONDS: Record<Scenario, number> = {
  'kill-app': 30, 'rolling-restart': 30, scale: 30, 'restart-redis': 30, 'stop-redis': 30,
  'kill-replica': 30, 'partition-primary': 30, switchover: 30, 'kill-primary': 30, restore: 60,
};

export function targetsFor(scenario: Scenario): DrillTargets {
  return {
    zeroFailedAnonymousReads: scenario !== 'partition-primary',
    zeroFailedAfterRetry: ['kill-app', 'rolling-restart', 'kill-replica', 'scale'].includes(scenario),
    // The apps' DB router waits up to 5 s for a new primary; the failover must fit in it.
    maxWriteUnavailabilitySeconds: scenario === 'kill-primary' ? 5 : null,
    failuresOnly503: scenario === 'restart-redis' || scenario === 'stop-redis',
    restreamSeconds: RESTREAM_SECONDS[scenario],
  };
}
