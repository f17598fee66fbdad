import { describe, expect, it } from 'vitest';
import { unionLengthMs, unionOf } from '../../infra/drills/interval-union';

describe('interval union', () => {
  it('is empty for no intervals and drops empty or inverted ones', () => {
    expect(unionOf([])).toEqual([]);
    expect(unionLengthMs([{ fromMs: 5, toMs: 5 }, { fromMs: 9, toMs: 3 }])).toBe(0);
  });

  it('counts overlapping intervals once, whatever their order', () => {
    const overlapping = [{ fromMs: 1500, toMs: 4000 }, { fromMs: 1000, toMs: 2000 }, { fromMs: 1800, toMs: 1900 }];
    expect(unionOf(overlapping)).toEqual([{ fromMs: 1000, toMs: 4000 }]);
    expect(unionLengthMs(overlapping)).toBe(3000);
  });

  it('merges touching intervals and keeps gaps out', () => {
    expect(unionOf([{ fromMs: 0, toMs: 10 }, { fromMs: 10, toMs: 20 }, { fromMs: 30, toMs: 35 }])).toEqual([{ fromMs: 0, toMs: 20 }, { fromMs: 30, toMs: 35 }]);
    expect(unionLengthMs([{ fromMs: 0, toMs: 10 }, { fromMs: 10, toMs: 20 }, { fromMs: 30, toMs: 35 }])).toBe(25);
  });

  it('does not change its input', () => {
    const input = [{ fromMs: 2, toMs: 4 }, { fromMs: 0, toMs: 3 }];
    unionOf(input);
    expect(input).toEqual([{ fromMs: 2, toMs: 4 }, { fromMs: 0, toMs: 3 }]);
  });
});
