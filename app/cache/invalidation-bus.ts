import type { Redis } from 'ioredis';

// Cluster-wide L1 invalidation over Redis pub/sub. A message is a hint that makes every replica
// drop the entries within milliseconds; it is not the source of truth: generations in
// `cache:tags` are (a lost message is caught by the backstop poll in page-cache.ts).

export const invalidationChannel = 'cache:invalidate';

export type InvalidationMessage =
  | { type: 'invalidate'; tags: string[]; gens: Record<string, number>; sentAtMs: number; origin: string }
  | { type: 'flush'; sentAtMs: number; origin: string };

export interface BusEvents {
  onMessage(msg: InvalidationMessage): void;
  /** The subscriber (re)connected after having been connected: messages may have been missed. */
  onResubscribed(): void;
  onError(err: Error): void;
}

export class InvalidationBus {
  private connectedOnce = false;
  /** Test hook: drop incoming messages as if they were lost on the way. */
  dropIncoming = false;

  constructor(private readonly publisher: Redis, private readonly subscriber: Redis, private readonly events: BusEvents) {
    subscriber.on('message', (channel: string, payload: string) => {
      if (channel !== invalidationChannel || this.dropIncoming) return;
      try {
        this.events.onMessage(JSON.parse(payload) as InvalidationMessage);
      } catch (err) {
        this.events.onError(new Error('invalid invalidation message', { cause: err }));
      }
    });
    // ioredis resubscribes by itself after a reconnect (autoResubscribe); 'ready' fires each time.
    subscriber.on('ready', () => {
      if (this.connectedOnce) this.events.onResubscribed();
      this.connectedOnce = true;
    });
  }

  async start(): Promise<void> {
    await this.subscriber.subscribe(invalidationChannel);
  }

  async publish(msg: InvalidationMessage): Promise<void> {
    await this.publisher.publish(invalidationChannel, JSON.stringify(msg));
  }
}
