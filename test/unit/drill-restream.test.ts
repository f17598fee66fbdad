import { describe, expect, it } from 'vitest';
import type { ClusterDriver } from '../../infra/drills/cluster-driver';
import { healthProblems } from '../../infra/drills/cluster-health';
import { ReplicationWatch } from '../../infra/drills/replication-watch';

// The timing logic of the replication watch, fed polls by hand (the polling itself runs against
// real PostgreSQL in test/e2e/drills.test.ts); the driver is never called here.
const watch = () => new ReplicationWatch({} as ClusterDriver);

describe('re-stream time per replica', () => {
  it('is measured from the fault to the first streaming poll after the last broken one', () => {
    const w = watch();
    w.observe({ expected: ['pg_1', 'pg_2'], streaming: ['pg_1', 'pg_2'] }, 500);
    w.markFault(1000);
    w.observe({ expected: ['pg_1', 'pg_2'], streaming: ['pg_1'] }, 1200);
    w.observe({ expected: ['pg_1', 'pg_2'], streaming: ['pg_1', 'pg_2'] }, 3000);
    w.observe({ expected: ['pg_1', 'pg_2'], streaming: ['pg_1'] }, 3500); // broke again: counts from here
    w.observe({ expected: ['pg_1', 'pg_2'], streaming: ['pg_1', 'pg_2'] }, 5250);
    expect(w.result()).toEqual({ perReplica: [{ name: 'pg_1', seconds: 0 }, { name: 'pg_2', seconds: 4.25 }], seconds: 4.25 });
  });

  it('a failed poll (no primary) breaks every replica; a promoted one drops out, the old primary enters', () => {
    const w = watch();
    w.observe({ expected: ['pg_1', 'pg_2'], streaming: ['pg_1', 'pg_2'] }, 0);
    w.markFault(1000);
    w.observe(null, 1500);
    // pg_1 was promoted; pg_0 (the old primary) has not rejoined yet.
    w.observe({ expected: ['pg_0', 'pg_2'], streaming: ['pg_2'] }, 4000);
    expect(w.result()).toEqual({ perReplica: [{ name: 'pg_0', seconds: null }, { name: 'pg_2', seconds: 3 }], seconds: null });
    w.observe({ expected: ['pg_0', 'pg_2'], streaming: ['pg_0', 'pg_2'] }, 9000);
    expect(w.result()).toEqual({ perReplica: [{ name: 'pg_0', seconds: 8 }, { name: 'pg_2', seconds: 3 }], seconds: 8 });
  });

  it('has no figure without a fault, and 0 when the fault never broke replication', () => {
    const w = watch();
    w.observe({ expected: ['pg_1'], streaming: [] }, 0);
    expect(w.result()).toEqual({ perReplica: [], seconds: null });
    w.markFault(100);
    w.observe({ expected: ['pg_1'], streaming: ['pg_1'] }, 200);
    expect(w.result()).toEqual({ perReplica: [{ name: 'pg_1', seconds: 0 }], seconds: 0 });
  });
});

describe('cluster health after a drill', () => {
  const whole = [
    { name: 'lb', kind: 'lb', healthy: true },
    { name: 'app-0', kind: 'app', healthy: true },
    { name: 'pg-0', kind: 'postgres', role: 'primary', healthy: true, streaming: null },
    { name: 'pg-1', kind: 'postgres', role: 'replica', healthy: true, streaming: true },
    { name: 'redis-sessions', kind: 'redis', healthy: true },
  ];
  it('is healthy only with every node up, one primary and every replica streaming', () => {
    expect(healthProblems(whole)).toEqual([]);
    expect(healthProblems(whole.map((n) => (n.name === 'app-0' ? { ...n, healthy: false } : n)))).toEqual(['app-0 (app) is down']);
    expect(healthProblems(whole.map((n) => (n.name === 'pg-1' ? { ...n, streaming: false } : n)))).toEqual(['replica pg-1 is not streaming']);
    expect(healthProblems(whole.map((n) => (n.name === 'pg-1' ? { ...n, role: 'primary' } : n)))).toEqual(['more than one primary: pg-0, pg-1']);
    expect(healthProblems(whole.map((n) => (n.name === 'pg-0' ? { ...n, healthy: false } : n)))).toEqual(['pg-0 (postgres) is down', 'no PostgreSQL primary answers']);
    expect(healthProblems(whole, ['pg_2'])).toEqual(['replica pg_2 is not streaming (seen by the primary)']);
  });
});
