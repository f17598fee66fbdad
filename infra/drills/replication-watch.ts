import type { ClusterDriver } from './cluster-driver';

// Polls the primary's view of its standbys during a drill, to measure per replica how long after
// the fault it streams again. A poll that fails or is not answered within pollTimeoutMs (no
// primary answering, or a frozen one: its standbys still show "streaming" once it thaws, but no
// WAL reached them meanwhile) counts as "not streaming" for every replica known so far. A replica promoted during the drill is no longer expected to
// stream and drops out of the figures; the old primary rejoining as a replica enters them.

export interface ReplicaRestream {
  name: string;
  /** Seconds from the fault to its first streaming poll after the last broken one; 0 when it never broke; null when it did not stream again in time. */
  seconds: number | null;
}

export interface RestreamResult {
  perReplica: ReplicaRestream[];
  /** The slowest replica (null when one did not stream again in time, or no fault was marked). */
  seconds: number | null;
}

interface ReplicaTrack { lastBrokenMs: number | null; firstStreamingAfterBrokenMs: number | null }

type Poll = { expected: string[]; streaming: string[] } | null;

export class ReplicationWatch {
  private faultAtMs: number | null = null;
  private readonly tracks = new Map<string, ReplicaTrack>();
  /** Replicas the primary expected at the last successful poll. */
  private expected: string[] = [];
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly driver: ClusterDriver, private readonly intervalMs = 250, private readonly pollTimeoutMs = 1000) {}

  /**
   * One poll, observed. An unanswered poll is observed as broken when it times out, and its late
   * answer when it comes; the next poll waits for it, so a frozen primary does not pile up
   * connections.
   */
  private async pollAndObserve(): Promise<void> {
    const answer = this.driver.replicationState().catch(() => null);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), this.pollTimeoutMs); });
    const first = await Promise.race([answer, timedOut]);
    clearTimeout(timer);
    if (first !== 'timeout') {
      this.observe(first, Date.now());
      return;
    }
    this.observe(null, Date.now());
    this.observe(await answer, Date.now());
  }

  private track(name: string): ReplicaTrack {
    let t = this.tracks.get(name);
    if (!t) this.tracks.set(name, (t = { lastBrokenMs: null, firstStreamingAfterBrokenMs: null }));
    return t;
  }

  /** Records one poll (public for the unit test: the timing logic without a cluster). */
  observe(poll: Poll, atMs: number): void {
    if (poll) this.expected = poll.expected;
    if (this.faultAtMs === null || atMs < this.faultAtMs) {
      for (const name of this.expected) this.track(name);
      return;
    }
    const broken = (t: ReplicaTrack) => { t.lastBrokenMs = atMs; t.firstStreamingAfterBrokenMs = null; };
    if (!poll) {
      for (const name of new Set([...this.tracks.keys(), ...this.expected])) broken(this.track(name));
      return;
    }
    for (const name of poll.expected) {
      const t = this.track(name);
      if (!poll.streaming.includes(name)) broken(t);
      else if (t.lastBrokenMs !== null && t.firstStreamingAfterBrokenMs === null) t.firstStreamingAfterBrokenMs = atMs;
    }
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await this.pollAndObserve();
        await new Promise((r) => setTimeout(r, this.intervalMs));
      }
    })();
  }

  markFault(atMs = Date.now()): void {
    this.faultAtMs = atMs;
  }

  private recovered(): boolean {
    return this.expected.every((name) => {
      const t = this.tracks.get(name);
      return !t || t.lastBrokenMs === null || t.firstStreamingAfterBrokenMs !== null;
    });
  }

  /** The figures as they stand (public for the unit test). */
  result(): RestreamResult {
    if (this.faultAtMs === null) return { perReplica: [], seconds: null };
    const perReplica = [...this.expected].sort().map((name): ReplicaRestream => {
      const t = this.tracks.get(name);
      if (!t || t.lastBrokenMs === null) return { name, seconds: 0 };
      if (t.firstStreamingAfterBrokenMs === null) return { name, seconds: null };
      return { name, seconds: Math.round((t.firstStreamingAfterBrokenMs - this.faultAtMs!) / 10) / 100 };
    });
    const seconds = perReplica.some((r) => r.seconds === null) ? null : Math.max(0, ...perReplica.map((r) => r.seconds!));
    return { perReplica, seconds };
  }

  /** Stops the background loop, then keeps polling until every expected replica streams again (or timeoutMs). */
  async finish(timeoutMs = 60_000): Promise<RestreamResult> {
    this.running = false;
    await this.loop;
    if (this.faultAtMs === null) return this.result();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.pollAndObserve();
      if (this.recovered() || Date.now() > deadline) return this.result();
      await new Promise((r) => setTimeout(r, this.intervalMs));
    }
  }
}
