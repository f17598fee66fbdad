import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LogDestination } from '../../app/log-destination';

// The app's batched log destination, on real files and real pipes: order and completeness across
// batches, the once-a-second write of a quiet app, no line lost on process.exit (children run the
// real createLogger through tsx), and a slow reader on a non-blocking pipe (EAGAIN).

const repo = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'aidiary-logdest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lineOf = (i: number) => `${JSON.stringify({ i, msg: `line ${i} ${'é✓'.repeat(i % 7)}${'x'.repeat(i % 300)}` })}\n`;

interface ChildResult { code: number | null; stdout: string; stderr: string; /** What stderr held when the parent began reading stdout. */ stderrBeforeReading: string }

/**
 * Runs a TypeScript child (tsx) in the repo. With `readAfter`, its stdout is read only `delayMs`
 * after the child wrote `marker` on stderr: until then the pipe fills and the child sees EAGAIN.
 */
function runChild(name: string, source: string, readAfter?: { marker: string; delayMs: number }): Promise<ChildResult> {
  const file = join(dir, `${name}.mts`);
  writeFileSync(file, source);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    // Until the 'data' listener, the parent reads at most its stream buffer: the pipe fills.
    let stderrBeforeReading = '';
    const read = () => {
      stderrBeforeReading = stderr;
      child.stdout.on('data', (d: Buffer) => out.push(d));
    };
    let reading = !readAfter;
    if (reading) read();
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (!reading && stderr.includes(readAfter!.marker)) {
        reading = true;
        setTimeout(read, readAfter!.delayMs);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr, stderrBeforeReading }));
  });
}

const destinationModule = JSON.stringify(join(repo, 'app/log-destination.ts'));
const createDepsModule = JSON.stringify(join(repo, 'app/create-deps.ts'));

describe('LogDestination', () => {
  it('writes every line complete and in order across many batches, one write per batch', async () => {
    const path = join(dir, 'order.log');
    const destination = new LogDestination({ path });
    const expected: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const line = lineOf(i);
      expected.push(line);
      destination.write(line);
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
      // Below one batch only the pending lines are missing from the file: it is written per batch.
      if (i === 10) expect(existsSync(path) ? readFileSync(path, 'utf8') : '').toBe('');
    }
    const beforeClose = readFileSync(path, 'utf8');
    expect(beforeClose.length).toBeGreaterThan(0);
    expect(expected.join('').startsWith(beforeClose)).toBe(true);
    destination.close();
    expect(readFileSync(path, 'utf8')).toBe(expected.join(''));
    expect(destination.stats()).toEqual({ droppedBatches: 0, droppedBytes: 0, backlogBytes: 0 });
  });

  it('writes a quiet destination\'s lines within about a second, without a flush', async () => {
    const path = join(dir, 'quiet.log');
    const destination = new LogDestination({ path });
    const started = Date.now();
    destination.write('{"msg":"one"}\n');
    destination.write('{"msg":"two"}\n');
    expect(readFileSync(path, 'utf8')).toBe('');
    while (readFileSync(path, 'utf8') === '' && Date.now() - started < 5000) await sleep(25);
    const elapsed = Date.now() - started;
    expect(readFileSync(path, 'utf8')).toBe('{"msg":"one"}\n{"msg":"two"}\n');
    expect(elapsed).toBeLessThan(1500);
    destination.close();
  });

  it('flush(cb) calls back once the lines are written', async () => {
    const path = join(dir, 'flush.log');
    const destination = new LogDestination({ path });
    destination.write('{"msg":"a"}\n');
    await new Promise<void>((resolve, reject) => destination.flush((err) => (err ? reject(err) : resolve())));
    expect(readFileSync(path, 'utf8')).toBe('{"msg":"a"}\n');
    destination.close();
  });

  it('drops a batch on a write error other than EAGAIN, reports it, and never throws to the caller', () => {
    const path = join(dir, 'read-only.log');
    writeFileSync(path, '');
    const fd = openSync(path, 'r'); // writing to it fails with EBADF
    const broken = new LogDestination({ fd, batchChars: 10 });
    expect(() => broken.write('{"msg":"lost"}\n')).not.toThrow();
    expect(() => broken.flushSync()).not.toThrow();
    expect(broken.stats()).toMatchObject({ droppedBatches: 1, droppedBytes: 15, backlogBytes: 0 });
    broken.close();
    closeSync(fd);
    expect(readFileSync(path, 'utf8')).toBe('');
  });

  it('loses no line when the app logs through createLogger and calls process.exit, just ends, or dies of an uncaught exception', async () => {
    const n = 3000;
    const endings = { 'process.exit(3)': 3, '/* the event loop empties */': 0, 'throw new Error("uncaught")': 1 };
    for (const [ending, code] of Object.entries(endings)) {
      const result = await runChild('exit', `
        import { createLogger, accessLoggerOf } from ${createDepsModule};
        const logger = createLogger({ appName: 'child', logLevel: 'info' });
        for (let i = 0; i < ${n}; i++) (i % 2 ? accessLoggerOf(logger) : logger).info({ i }, 'request completed');
        logger.info({ i: ${n} }, 'last words'); // not fatal: pino's fatal() flushes by itself
        ${ending};
      `);
      expect(result.code).toBe(code);
      expect(result.stderr).not.toContain('log lines dropped');
      if (code !== 1) expect(result.stderr).toBe('');
      const lines = result.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { i: number; app: string; msg: string });
      expect(lines.map((l) => l.i)).toEqual(Array.from({ length: n + 1 }, (_, i) => i));
      expect(lines[n]).toMatchObject({ app: 'child', msg: 'last words', level: 30 });
    }
  });

  it('keeps a slow reader\'s lines on a non-blocking pipe (EAGAIN) without blocking the writer', async () => {
    // The child makes its stdout pipe non-blocking (process.stdout's handle does), writes 4 MiB
    // while the parent is not reading (it starts 2 s after the child's 'writing' marker), then
    // waits for flush(cb) and exits. A writer that waited for the reader could not finish its
    // 4 MiB (the pipe holds 64 KiB) before the parent began to read.
    const result = await runChild('slow-reader', `
      import { LogDestination } from ${destinationModule};
      void process.stdout; // libuv sets O_NONBLOCK on the pipe
      const destination = new LogDestination({ fd: 1 });
      let maxBacklog = 0;
      process.stderr.write('writing\\n');
      for (let i = 0; i < 20000; i++) {
        destination.write(JSON.stringify({ i, pad: 'p'.repeat(200) }) + '\\n');
        maxBacklog = Math.max(maxBacklog, destination.stats().backlogBytes);
        if (i % 50 === 49) await new Promise((r) => setImmediate(r));
      }
      process.stderr.write('written\\n');
      // The retry timer is unref'd (it never holds a process open): this one plays the server.
      const alive = setInterval(() => {}, 1000);
      await new Promise((resolve) => destination.flush(resolve));
      clearInterval(alive);
      process.stderr.write(JSON.stringify({ maxBacklog, stats: destination.stats() }));
    `, { marker: 'writing\n', delayMs: 2000 });
    const report = JSON.parse(result.stderr.replace('writing\nwritten\n', '')) as { maxBacklog: number; stats: object };
    expect(result.code).toBe(0);
    // The pipe filled (EAGAIN) and the writer kept going: it finished before anyone read.
    expect(report.maxBacklog).toBeGreaterThan(1024 * 1024);
    expect(result.stderrBeforeReading).toBe('writing\nwritten\n');
    expect(report.stats).toEqual({ droppedBatches: 0, droppedBytes: 0, backlogBytes: 0 });
    const lines = result.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { i: number }).i);
    expect(lines).toEqual(Array.from({ length: 20000 }, (_, i) => i));
  });

  it('waits for a blocked reader at process.exit, within its bound', async () => {
    const result = await runChild('exit-blocked', `
      import { LogDestination } from ${destinationModule};
      void process.stdout;
      const destination = new LogDestination({ fd: 1 });
      for (let i = 0; i < 2000; i++) destination.write(JSON.stringify({ i, pad: 'p'.repeat(200) }) + '\\n');
      process.stderr.write(destination.stats().backlogBytes > 0 ? 'pipe full\\n' : 'the pipe never filled\\n');
      process.exit(0); // the exit hook waits for the reader, which starts reading 200 ms later
    `, { marker: 'pipe full\n', delayMs: 200 });
    expect(result.stderr).toBe('pipe full\n');
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { i: number }).i);
    expect(lines).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  });
});
