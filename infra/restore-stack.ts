import { setTimeout as delay } from 'node:timers/promises';

// Commands that change a running cluster for a while (`aidiary bench`, `aidiary drill`) register
// how to undo each change at the moment they make it; the undo actions run most recent first when
// the command ends, normally, by an error, or by Ctrl-C/SIGTERM, and each one prints what it put
// back. A second Ctrl-C exits at once, naming what was left. Hand-rolled because the exit-hook
// libraries (signal-exit, exit-hook) run synchronous callbacks at exit and cannot await a restart.

export type Log = (message: string) => void;
type Undo = () => Promise<unknown> | unknown;

export class InterruptedError extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
    this.name = 'InterruptedError';
  }
}

export class RestoreStack {
  private entries: { id: number; what: string; undo: Undo }[] = [];
  private nextId = 1;
  private readonly controller = new AbortController();
  /** Aborted at the first signal: the command's waits end there, so it makes no further change. */
  readonly signal: AbortSignal = this.controller.signal;

  constructor(private readonly log: Log) {}

  /**
   * Registers the undo of a change just made. Call the returned function once the command has
   * undone it itself (e.g. the frozen node was resumed after the hold); the undo then never runs.
   */
  push(what: string, undo: Undo): () => void {
    const id = this.nextId++;
    this.entries.push({ id, what, undo });
    return () => { this.entries = this.entries.filter((e) => e.id !== id); };
  }

  /** What is still to put back, most recent first. */
  pending(): string[] {
    return this.entries.map((e) => e.what).reverse();
  }

  get interrupted(): boolean {
    return this.signal.aborted;
  }

  interrupt(signal: NodeJS.Signals): void {
    if (!this.signal.aborted) this.controller.abort(new InterruptedError(signal));
  }

  /** Throws InterruptedError once a signal came. */
  check(): void {
    if (this.signal.aborted) throw this.signal.reason as InterruptedError;
  }

  /** Waits ms, or rejects with InterruptedError at the first signal. */
  async sleep(ms: number): Promise<void> {
    try {
      await delay(ms, undefined, { signal: this.signal });
    } catch (err) {
      if (this.signal.aborted) throw this.signal.reason as InterruptedError;
      throw err;
    }
  }

  /** Runs every pending undo, most recent first; one that fails is reported and the others still run. */
  async unwind(): Promise<{ restored: string[]; failed: string[] }> {
    const restored: string[] = [];
    const failed: string[] = [];
    // An entry leaves the stack once its undo is over: a second signal meanwhile still names it.
    for (let e = this.entries.at(-1); e; e = this.entries.at(-1)) {
      try {
        await e.undo();
        restored.push(e.what);
        this.log(`restored: ${e.what}`);
      } catch (err) {
        failed.push(e.what);
        this.log(`could not restore ${e.what}: ${(err as Error).message}`);
      } finally {
        const id = e.id;
        this.entries = this.entries.filter((x) => x.id !== id);
      }
    }
    return { restored, failed };
  }
}

export const interruptExitCode = (signal: NodeJS.Signals): number => (signal === 'SIGINT' ? 130 : 143);

/**
 * Runs `fn` with a restore stack that unwinds when it returns or throws. On SIGINT/SIGTERM the
 * stack unwinds at once (fn's waits are aborted) and the process exits 130 (SIGINT) or 143
 * (SIGTERM), the shell's codes for a command ended by that signal; a second signal exits at once.
 */
export async function withRestoreStack<T>(log: Log, fn: (stack: RestoreStack) => Promise<T>, exit: (code: number) => void = (code) => process.exit(code)): Promise<T> {
  const stack = new RestoreStack(log);
  let unwound: Promise<unknown> | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (unwound) {
      const left = stack.pending();
      log(`${signal} again: exiting now${left.length ? `; not restored: ${left.join('; ')}` : ''}`);
      exit(interruptExitCode(signal));
      return;
    }
    const left = stack.pending();
    log(`${signal}: putting back what this command changed${left.length ? ` (${left.length}: ${left.join('; ')})` : ' (nothing to put back)'}; ${signal === 'SIGINT' ? 'Ctrl-C' : 'a second signal'} again exits at once`);
    stack.interrupt(signal);
    unwound = stack.unwind().then(({ failed }) => {
      log(failed.length ? `interrupted; NOT restored: ${failed.join('; ')}` : 'interrupted; everything this command changed is back');
      exit(interruptExitCode(signal));
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(stack);
  } finally {
    if (unwound) {
      // The signal handler owns the end: it exits once the stack is unwound.
      await unwound;
      await new Promise(() => {});
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stack.unwind();
  }
}
