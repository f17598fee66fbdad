import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { StateDir } from '../../local/state';
import { action, integer, requireCluster, withOutput, withStateDir, type ExitSink, type OutputOptions, type StateDirOptions } from '../args';
import { UsageError } from '../exit-codes';
import { emitResult } from '../output';

// `aidiary logs [<node>] [--lines N] [--request-id ID] [-f]`: the tail of one node's log (lb,
// lb-access, app-K, pg-K, redis-*), or of every log with no node, each line prefixed by its node.
// --request-id ID: the lines of the edge (lb-access, lb) and app logs that carry the id nginx gave
// the request (the X-Request-Id the apps log), to follow one request through the cluster.
// -f: keep printing what is appended until Ctrl-C. Following is a poll of the files' sizes:
// `tail -F` cannot filter and prefix several files, and a 300 ms poll is cheap.

interface LogsOptions extends StateDirOptions, OutputOptions { lines: number; requestId?: string; follow?: boolean }

function requestId(value: string): string {
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(value)) throw new InvalidArgumentError('Give a request id as nginx logs it (rid=… in lb-access, 32 hex digits), letters, digits and . _ : - only.');
  return value;
}

const knownLogs = (state: StateDir) =>
  (existsSync(state.logsDir) ? readdirSync(state.logsDir).filter((f) => f.endsWith('.log')).map((f) => f.slice(0, -4)).sort() : []);

/** The last `lines` lines of a file, reading only ~256 bytes per line from its end (logs can be large). */
function tail(file: string, lines: number): { text: string[]; size: number } {
  const size = statSync(file).size;
  const start = Math.max(0, size - Math.max(1, lines) * 256);
  const text = readRange(file, start, size).split('\n');
  if (start > 0) text.shift(); // a partial first line
  if (text.at(-1) === '') text.pop();
  return { text: text.slice(-lines), size };
}

function readRange(file: string, start: number, end: number): string {
  if (end <= start) return '';
  const buf = Buffer.alloc(end - start);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, buf.length, start);
  } finally {
    closeSync(fd);
  }
  return buf.toString('utf8');
}

/** Every line of a file that contains `needle` (whole file: a request id can be anywhere). */
function grep(file: string, needle: string): { text: string[]; size: number } {
  const size = statSync(file).size;
  return { text: readRange(file, 0, size).split('\n').filter((l) => l.includes(needle)), size };
}

export function registerLogs(program: Command, exit: ExitSink): void {
  const cmd = program.command('logs')
    .description('a node\'s log (lb, lb-access, app-K, pg-K, redis-sessions, redis-cache), every log, or one request\'s lines')
    .argument('[node]', 'the node (default: every log, each line prefixed by its node)')
    .option('-n, --lines <n>', 'lines from the end of each log', integer(1), 200)
    .option('--request-id <id>', 'only the edge and app lines of this request (its X-Request-Id / nginx rid=)', requestId)
    .option('-f, --follow', 'keep printing new lines until Ctrl-C');
  withOutput(withStateDir(cmd)).action(action(exit, async (node: string | undefined, opts: LogsOptions) => {
    const { state } = requireCluster(opts);
    const known = knownLogs(state);
    if (node !== undefined && (!/^[a-z0-9-]+$/.test(node) || !known.includes(node))) {
      throw new UsageError(`no log for "${node}"; known: ${known.join(', ') || '(none yet)'}`);
    }
    if (opts.follow && opts.json) throw new UsageError('--follow prints lines as they come; drop --json (or drop --follow)');
    const id = opts.requestId;
    const names = node ? [node] : id ? known.filter((n) => n === 'lb' || n === 'lb-access' || n.startsWith('app-')) : known;
    const prefix = names.length > 1 || node === undefined;
    const show = (name: string, line: string) => (prefix ? `${name} | ${line}` : line);
    const offsets = new Map<string, number>();
    const result: { node: string; line: string }[] = [];
    for (const name of names) {
      const { text, size } = id ? grep(state.logFile(name), id) : tail(state.logFile(name), opts.lines);
      offsets.set(name, size);
      for (const line of text) result.push({ node: name, line });
    }
    emitResult(opts, { nodes: names, requestId: id ?? null, lines: result }, result.map((r) => show(r.node, r.line)).join('\n'));
    if (!opts.follow) return 0;
    return follow(state, names, offsets, (name, line) => {
      if (!id || line.includes(id)) process.stdout.write(`${show(name, line)}\n`);
    });
  }));
}

/** Prints lines appended to the files until SIGINT/SIGTERM; a truncated (rotated) file is read from its start. */
function follow(state: StateDir, names: string[], offsets: Map<string, number>, emit: (name: string, line: string) => void): Promise<number> {
  const partial = new Map<string, string>();
  return new Promise((resolve) => {
    const poll = () => {
      for (const name of names) {
        const file = state.logFile(name);
        if (!existsSync(file)) continue;
        const size = statSync(file).size;
        let from = offsets.get(name) ?? 0;
        if (size < from) from = 0;
        if (size === from) continue;
        const text = (partial.get(name) ?? '') + readRange(file, from, size);
        offsets.set(name, size);
        const lines = text.split('\n');
        partial.set(name, lines.pop() ?? '');
        for (const line of lines) emit(name, line);
      }
    };
    const timer = setInterval(poll, 300);
    const stop = () => {
      clearInterval(timer);
      poll();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
