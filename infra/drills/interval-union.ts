// Interval arithmetic for the drill figures: how long, in total, at least one request of a kind
// was unavailable. Overlapping and touching intervals count once (the union), so two writers
// blocked over the same second report one second, not two. Hand-written: a sort and one sweep,
// smaller than any dependency that would do it.

export interface Interval { fromMs: number; toMs: number }

/** The union of the intervals as disjoint intervals in time order (empty ones dropped). */
export function unionOf(intervals: readonly Interval[]): Interval[] {
  const sorted = intervals.filter((i) => i.toMs > i.fromMs).sort((a, b) => a.fromMs - b.fromMs);
  const merged: Interval[] = [];
  for (const i of sorted) {
    const last = merged[merged.length - 1];
    if (last && i.fromMs <= last.toMs) last.toMs = Math.max(last.toMs, i.toMs);
    else merged.push({ fromMs: i.fromMs, toMs: i.toMs });
  }
  return merged;
}

/** Total length of the union, in milliseconds. */
export function unionLengthMs(intervals: readonly Interval[]): number {
  return unionOf(intervals).reduce((sum, i) => sum + (i.toMs - i.fromMs), 0);
}
