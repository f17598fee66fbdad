import { describe, expect, it } from 'vitest';
import { checkpointOffHistory } from '../../infra/local/rejoin';

// The start-up rule `aidiary up` applies before starting a standby (infra/local/rejoin.ts): a node
// whose latest checkpoint lies past the point where the primary's history left its timeline
// cannot follow without pg_rewind.

// A primary on timeline 3: timeline 1 ended at 0/5000000, timeline 2 at 0/7000000.
const history = '1\t0/5000000\tno recovery target specified\n2\t0/7000000\tno recovery target specified\n';

describe('checkpointOffHistory', () => {
  it('same timeline: follows', () => {
    expect(checkpointOffHistory({ timeline: 3, checkpointLsn: '0/9000000' }, 3, history)).toBe(false);
  });
  it('an ancestor timeline, checkpoint before its switch point: follows (switches timeline while replaying)', () => {
    expect(checkpointOffHistory({ timeline: 2, checkpointLsn: '0/6FFFFFF' }, 3, history)).toBe(false);
    expect(checkpointOffHistory({ timeline: 1, checkpointLsn: '0/4000028' }, 3, history)).toBe(false);
  });
  it('an ancestor timeline, checkpoint at or past its switch point: diverged', () => {
    expect(checkpointOffHistory({ timeline: 2, checkpointLsn: '0/7000000' }, 3, history)).toBe(true);
    expect(checkpointOffHistory({ timeline: 1, checkpointLsn: '0/5000100' }, 3, history)).toBe(true);
  });
  it('a newer timeline than the primary (promoted on its own): diverged', () => {
    expect(checkpointOffHistory({ timeline: 4, checkpointLsn: '0/1000000' }, 3, history)).toBe(true);
  });
  it('a timeline that is not in the primary history at all: diverged', () => {
    expect(checkpointOffHistory({ timeline: 2, checkpointLsn: '0/1000000' }, 3, '1\t0/5000000\treason\n')).toBe(true);
  });
  it('LSNs compare as numbers, not strings', () => {
    expect(checkpointOffHistory({ timeline: 1, checkpointLsn: '0/A000000' }, 2, '1\t0/9000000\treason\n')).toBe(true);
    expect(checkpointOffHistory({ timeline: 1, checkpointLsn: '0/9000000' }, 2, '1\t1/0\treason\n')).toBe(false);
  });
});
