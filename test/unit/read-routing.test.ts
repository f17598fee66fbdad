import { describe, expect, it } from 'vitest';
import { chooseReadNode, type ChooseInput } from '../../app/db/read-routing';
import type { NodeStatus } from '../../app/db/node-monitor';
import { isConnectionError, isPrimaryLostError, isReadOnlyError } from '../../app/db/pg-errors';
import { lsnDiffBytes, maxLsn } from '../../app/db/lsn';

const node = (name: string, over: Partial<NodeStatus> = {}): NodeStatus => ({
  name, role: name === 'pg-0' ? 'primary' : 'replica', healthy: true, lagBytes: 0, lagMs: 0, replayLsn: '0/3000000', checkedAtMs: 0, ...over,
});

const base = (over: Partial<ChooseInput> = {}): ChooseInput => ({
  ctx: {},
  nodes: [node('pg-0', { replayLsn: '0/5000000' }), node('pg-1'), node('pg-2')],
  primary: 'pg-0',
  bounds: { maxLagBytes: 1024, maxLagMs: 1000 },
  busy: () => 0,
  tieBreak: 0,
  ...over,
});

describe('chooseReadNode', () => {
  it('alternates between equal replicas and never picks the primary for an anonymous read', () => {
    expect(chooseReadNode(base({ tieBreak: 0 })).node).toBe('pg-1');
    expect(chooseReadNode(base({ tieBreak: 1 })).node).toBe('pg-2');
  });

  it('prefers the least busy replica', () => {
    expect(chooseReadNode(base({ busy: (n) => (n === 'pg-1' ? 5 : 1) })).node).toBe('pg-2');
  });

  it('skips a replica that is down or lags past either bound', () => {
    const nodes = [node('pg-0'), node('pg-1', { healthy: false }), node('pg-2', { lagMs: 1001 })];
    expect(chooseReadNode(base({ nodes }))).toEqual({ node: 'pg-0', fallback: 'lag' });
    const bytes = [node('pg-0'), node('pg-1', { lagBytes: 2048 }), node('pg-2')];
    expect(chooseReadNode(base({ nodes: bytes })).node).toBe('pg-2');
  });

  it('read-your-writes checks every candidate against minLsn, else the primary', () => {
    const nodes = [node('pg-0', { replayLsn: '0/5000000' }), node('pg-1', { replayLsn: '0/4FFFFFF' }), node('pg-2', { replayLsn: '0/5000000' })];
    for (const tieBreak of [0, 1, 2, 3]) {
      expect(chooseReadNode(base({ nodes, tieBreak, ctx: { minLsn: '0/5000000' } }))).toEqual({ node: 'pg-2', pinned: true });
    }
    expect(chooseReadNode(base({ nodes, ctx: { minLsn: '0/5000001' } }))).toEqual({ node: 'pg-0', fallback: 'min_lsn' });
    // A replica that has replayed nothing yet (null) never serves a RYW read.
    expect(chooseReadNode(base({ nodes: [node('pg-0'), node('pg-1', { replayLsn: null })], ctx: { minLsn: '0/1' } })).node).toBe('pg-0');
  });

  it('forced primary, no replicas, and a failed node excluded from the retry', () => {
    expect(chooseReadNode(base({ ctx: { primary: true } }))).toEqual({ node: 'pg-0', fallback: 'forced' });
    expect(chooseReadNode(base({ nodes: [node('pg-0')] }))).toEqual({ node: 'pg-0', fallback: 'no_replica' });
    expect(chooseReadNode(base({ exclude: new Set(['pg-1']) })).node).toBe('pg-2');
  });

  it('with the primary gone, live replicas serve (lag is unknown, not infinite); with nothing, null', () => {
    const nodes = [node('pg-0', { healthy: false, role: 'unknown' }), node('pg-1', { lagBytes: null, lagMs: null }), node('pg-2', { healthy: false })];
    expect(chooseReadNode(base({ nodes, primary: null })).node).toBe('pg-1');
    expect(chooseReadNode(base({ nodes: [node('pg-1', { healthy: false })], primary: null })).node).toBeNull();
  });
});

describe('pg error classes', () => {
  it('connection-class errors', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', '57P01', '57P02', '57P03', '08006', '08001']) expect(isConnectionError({ code })).toBe(true);
    expect(isConnectionError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isConnectionError(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isConnectionError(new Error('wrapped', { cause: { code: 'ECONNRESET' } }))).toBe(true);
    for (const code of ['23505', '42P01', '25006', '40001']) expect(isConnectionError({ code })).toBe(false);
  });

  it('a read-only node means the primary moved', () => {
    expect(isReadOnlyError({ code: '25006' })).toBe(true);
    expect(isPrimaryLostError({ code: '25006' })).toBe(true);
    expect(isPrimaryLostError({ code: '23505' })).toBe(false);
  });
});

describe('LSN arithmetic', () => {
  it('diffs across the 32-bit boundary and never goes negative', () => {
    expect(lsnDiffBytes('1/0', '0/FFFFFFFF')).toBe(1);
    expect(lsnDiffBytes('0/10', '0/20')).toBe(0);
    expect(maxLsn('0/A', '0/9')).toBe('0/A');
    expect(maxLsn(null, '0/9')).toBe('0/9');
  });
});
