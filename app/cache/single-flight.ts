// One in-flight promise per key inside this process. Hand-rolled (a Map of promises) because the
// whole job is ~10 lines and the libraries that offer it add timers/caching semantics we do not
// want: the cache layers decide freshness, single-flight only dedupes concurrent work.

export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  /** Runs `fn` unless a call for `key` is already running; every caller gets the same result. */
  do(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.inFlight.get(key);
    if (running) return running;
    const promise = fn().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, promise);
    return promise;
  }

  has(key: string): boolean {
    return this.inFlight.has(key);
  }

  get size(): number {
    return this.inFlight.size;
  }
}
