import type { ClusterDriver } from './cluster-driver';

// Polls the primary's view of its standbys during a drill, to measure how long after the fault
// every replica streams again. A poll that fails (no primary answering) counts as "not streaming".

export class ReplicationWatch {
  private faultAtMs: number | null = null;
  private lastBrokenMs: number | null = null;
  private firstHealthyAfterBrokenMs: number | null = null;
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly driver: ClusterDriver, private readonly intervalMs = 250) {}

  private async poll(): Promise<boolean> {
    try {
      const { expected, streaming } = await this.driver.replicationState();
      return expected.every((n) => streaming.includes(n));
    } catch {
      return false;
    }
  }

  private observe(ok: boolean, atMs: number) {
    if (this.faultAtMs === null) return;
    if (!ok) {
      this.lastBrokenMs = atMs;
      this.firstHealthyAfterBrokenMs = null;
    } else if (this.lastBrokenMs !== null && this.firstHealthyAfterBrokenMs === null) {
      this.firstHealthyAfterBrokenMs = atMs;
    }
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const ok = await this.poll();
        this.observe(ok, Date.now());
        await new Promise((r) => setTimeout(r, this.intervalMs));
      }
    })();
  }

  markFault(atMs = Date.now()): void {
    this.faultAtMs = atMs;
  }

  /**
   * Stops the background loop, then keeps polling until every replica streams (or timeoutMs).
   * Seconds from the fault to the first all-streaming poll after the last broken one; 0 when the
   * fault never broke replication; null when it did not recover in time or no fault was marked.
   */
  async finish(timeoutMs = 60_000): Promise<number | null> {
    this.running = false;
    await this.loop;
    if (this.faultAtMs === null) return null;
    const deadline = Date.now() + timeoutMs;
    while (this.lastBrokenMs !== null && this.firstHealthyAfterBrokenMs === null) {
      if (Date.now() > deadline) return null;
      this.observe(await this.poll(), Date.now());
      if (this.firstHealthyAfterBrokenMs === null) await new Promise((r) => setTimeout(r, this.intervalMs));
    }
    if (this.lastBrokenMs === null) return 0;
    return Math.round((this.firstHealthyAfterBrokenMs! - this.faultAtMs) / 10) / 100;
  }
}
