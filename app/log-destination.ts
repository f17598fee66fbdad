import { closeSync, openSync, writeSync } from 'node:fs';

// The app's log destination: pino's stream (createLogger in create-deps.ts). Lines are batched in
// memory and written with one write(2) per ~8 KiB and at least once a second, like nginx's
// buffered access log.
//
// Hand-rolled rather than pino.destination({ sync: false, minLength }) (sonic-boom): sonic-boom's
// write() appends each line to one growing pending string and calls Buffer.byteLength on it for
// every line, which flattens the string: measured at 2.7 µs per 220-byte line with event-loop
// turns between lines, against 0.03 µs for pushing onto an array and joining once per batch. At
// one line per request that was several percent of an app's CPU per request. What is kept from
// sonic-boom: synchronous writes on the fd (no libuv thread-pool round trip), partial writes
// completed, EAGAIN retried later (stdout is often a non-blocking pipe in containers), and a
// synchronous flush when the process exits so process.exit() loses no line.

export interface LogDestinationOptions {
  /** File descriptor to write to (default 1, stdout). Ignored when `path` is given. */
  fd?: number;
  /** A file to append to instead of an fd (opened here, closed by close()). */
  path?: string;
  /** Write once this many characters are pending (default 8 KiB). */
  batchChars?: number;
  /** Write pending lines at least this often (default 1000 ms). */
  flushIntervalMs?: number;
  /** Bytes a blocked reader may leave unwritten before new batches are dropped (default 16 MiB). */
  maxBacklogBytes?: number;
  /** How long a synchronous flush (at exit) waits for a reader that takes nothing (default 1000 ms). */
  syncFlushWaitMs?: number;
}

export interface LogDestinationStats {
  /** Batches dropped: a write error other than EAGAIN, or the backlog cap reached. */
  droppedBatches: number;
  droppedBytes: number;
  /** Bytes waiting for a blocked reader (EAGAIN). */
  backlogBytes: number;
}

/** Retry delay while the reader is blocked: no busy loop on the event loop. */
const eagainRetryMs = 10;

export class LogDestination {
  private readonly fd: number;
  private readonly ownsFd: boolean;
  private readonly batchChars: number;
  private readonly maxBacklogBytes: number;
  private readonly syncFlushWaitMs: number;
  private pending: string[] = [];
  private pendingChars = 0;
  /** Bytes already taken from `pending` that the fd did not accept yet (EAGAIN), in order. */
  private backlog: Buffer[] = [];
  private backlogBytes = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly interval: NodeJS.Timeout;
  private drainCallbacks: Array<(err?: Error) => void> = [];
  private droppedBatches = 0;
  private droppedBytes = 0;
  private reported = false;
  private closed = false;

  constructor(options: LogDestinationOptions = {}) {
    if (options.path !== undefined) {
      this.fd = openSync(options.path, 'a');
      this.ownsFd = true;
    } else {
      this.fd = options.fd ?? 1;
      this.ownsFd = false;
    }
    this.batchChars = options.batchChars ?? 8 * 1024;
    this.maxBacklogBytes = options.maxBacklogBytes ?? 16 * 1024 * 1024;
    this.syncFlushWaitMs = options.syncFlushWaitMs ?? 1000;
    // Unref'd: a quiet app's last lines appear within a second, and the timer never keeps a
    // process alive (the exit hook writes what is left).
    this.interval = setInterval(() => this.writePending(), options.flushIntervalMs ?? 1000);
    this.interval.unref();
    openDestinations.add(this);
    installExitHook();
  }

  /** pino's stream interface: one serialized line (newline included). Never throws. */
  write(line: string): void {
    if (this.closed) return;
    this.pending.push(line);
    this.pendingChars += line.length;
    if (this.pendingChars >= this.batchChars) this.writePending();
  }

  /**
   * Asynchronous flush (pino's logger.flush(cb)): writes what is pending; cb runs once the fd has
   * taken every byte, or with the error that made a batch be dropped.
   */
  flush(cb?: (err?: Error) => void): void {
    this.writePending();
    if (!cb) return;
    if (this.backlog.length === 0) process.nextTick(cb);
    else this.drainCallbacks.push(cb);
  }

  /**
   * Synchronous flush: main.ts's shutdown path and fatal paths end in process.exit(), whose exit
   * hook calls this. A blocked reader is waited for in short sleeps; the wait ends when it has
   * taken nothing for syncFlushWaitMs (a reader that keeps reading gets the whole backlog, which
   * maxBacklogBytes bounds).
   */
  flushSync(): void {
    this.takePending();
    let stalledSince = Date.now();
    let sleepMs = 1;
    while (this.backlog.length > 0) {
      const before = this.backlogBytes;
      if (this.writeBacklog()) break;
      if (this.backlogBytes < before) {
        stalledSince = Date.now();
        sleepMs = 1;
      } else if (Date.now() - stalledSince >= this.syncFlushWaitMs) {
        const bytes = this.backlogBytes;
        this.backlog = [];
        this.backlogBytes = 0;
        this.drop(bytes, `log reader took nothing for ${this.syncFlushWaitMs} ms at a synchronous flush`);
        break;
      }
      // Atomics.wait is the only synchronous sleep: the event loop cannot run here (exit hook).
      Atomics.wait(sleepCell, 0, 0, sleepMs);
      sleepMs = Math.min(sleepMs * 2, 20);
    }
    this.settleDrain();
  }

  /** Flushes synchronously, stops the timers and closes a file this destination opened. */
  close(): void {
    if (this.closed) return;
    this.flushSync();
    this.closed = true;
    clearInterval(this.interval);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    openDestinations.delete(this);
    if (this.ownsFd) closeSync(this.fd);
  }

  stats(): LogDestinationStats {
    return { droppedBatches: this.droppedBatches, droppedBytes: this.droppedBytes, backlogBytes: this.backlogBytes };
  }

  /** Moves pending lines into the backlog and writes as much as the fd takes now. */
  private writePending(): void {
    this.takePending();
    if (this.backlog.length === 0 || this.retryTimer) return; // a blocked reader: the retry timer writes
    if (!this.writeBacklog()) this.scheduleRetry();
    else this.settleDrain();
  }

  private takePending(): void {
    if (this.pending.length === 0) return;
    const batch = Buffer.from(this.pending.length === 1 ? this.pending[0] : this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingChars = 0;
    if (this.backlogBytes + batch.length > this.maxBacklogBytes) {
      // Memory stays bounded when the reader stops reading for good: newest lines are dropped.
      this.drop(batch.length, `log reader blocked with ${this.backlogBytes} bytes unwritten`);
      return;
    }
    this.backlog.push(batch);
    this.backlogBytes += batch.length;
  }

  /**
   * Writes the backlog in order; true when all of it was written (or dropped on an error), false
   * on EAGAIN with the unwritten remainder kept at the head. Errors never reach the caller (the
   * request path): any error other than EAGAIN drops the batch, counts it and is reported once on
   * stderr, so a closed stdout (EPIPE) or a full disk costs log lines, not requests.
   */
  private writeBacklog(): boolean {
    while (this.backlog.length > 0) {
      let buf = this.backlog[0];
      try {
        while (buf.length > 0) {
          const n = writeSync(this.fd, buf, 0, buf.length);
          this.backlogBytes -= n;
          buf = buf.subarray(n); // a partial write: the remainder next
        }
        this.backlog.shift();
      } catch (err) {
        this.backlog[0] = buf;
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return false;
        this.backlog.shift();
        this.backlogBytes -= buf.length;
        this.drop(buf.length, (err as Error).message);
      }
    }
    return true;
  }

  private scheduleRetry(): void {
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.writePending();
    }, eagainRetryMs);
    this.retryTimer.unref();
  }

  /** Counts bytes already taken out of the backlog (or never put in it); reports the first drop. */
  private drop(bytes: number, reason: string): void {
    this.droppedBatches += 1;
    this.droppedBytes += bytes;
    if (!this.reported) {
      this.reported = true;
      try {
        writeSync(2, `aidiary: log lines dropped (${reason}); further drops are counted, not reported\n`);
      } catch {
        // stderr gone too: nothing left to tell.
      }
    }
    this.settleDrain(new Error(`log lines dropped: ${reason}`));
  }

  private settleDrain(err?: Error): void {
    if (this.drainCallbacks.length === 0 || (!err && this.backlog.length > 0)) return;
    const callbacks = this.drainCallbacks;
    this.drainCallbacks = [];
    for (const cb of callbacks) process.nextTick(cb, err);
  }
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
const openDestinations = new Set<LogDestination>();
let exitHookInstalled = false;

/** One 'exit' listener for every open destination (process.exit and a natural end alike). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const destination of openDestinations) destination.flushSync();
  });
}

let stdoutDestination: LogDestination | null = null;

/** The process's one stdout destination: every logger writing to stdout shares its batch. */
export function stdoutLogDestination(): LogDestination {
  stdoutDestination ??= new LogDestination({ fd: 1 });
  return stdoutDestination;
}
