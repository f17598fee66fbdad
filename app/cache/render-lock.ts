import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

// A short per-key Redis lock (SET NX PX) so one replica renders a missing page while the others
// wait for its L2 entry. The lease is short: a crashed holder blocks the key for leaseMs at most.
// Release is compare-and-delete so a holder whose lease expired cannot drop a newer holder's lock.

const releaseScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export const lockKey = (key: string) => `cache:lock:${key}`;

export interface LockHandle {
  release(): Promise<void>;
}

export class RenderLock {
  constructor(private readonly redis: Redis, private readonly leaseMs: number) {}

  /** Returns a handle when acquired, null when another holder has it. Throws on Redis errors. */
  async tryAcquire(name: string, leaseMs = this.leaseMs): Promise<LockHandle | null> {
    const token = randomBytes(12).toString('base64url');
    const ok = await this.redis.set(name, token, 'PX', leaseMs, 'NX');
    if (ok !== 'OK') return null;
    return {
      release: async () => {
        await this.redis.eval(releaseScript, 1, name, token);
      },
    };
  }

  async isHeld(name: string): Promise<boolean> {
    return (await this.redis.exists(name)) === 1;
  }
}
