import { z } from 'zod';

// Parses the JSON line our Lua done() hook prints (`BENCH_JSON {...}`), never wrk's human text:
// the text rounds, changes units, and hides per-status counts (wrk counts only >= 400 as errors).

const marker = 'BENCH_JSON ';

const num = z.number().finite();
const luaJson = z.object({
  duration_us: num,
  /** sequence.lua once=1: µs from the first request to the end of the list (0: not exhausted). */
  active_us: num.optional(),
  requests: num,
  bytes: num,
  errors: z.object({ connect: num, read: num, write: num, status: num, timeout: num }),
  latency_us: z.object({
    min: num, max: num, mean: num, stdev: num,
    percentiles: z.record(z.string(), num),
  }),
  // Lua serialises an empty table as {} either way; keys are status codes as strings.
  statuses: z.record(z.string(), num),
  responses: num,
  body_bytes: num,
  body_min: num,
  body_max: num,
  wrong_size: num,
  repeats: num,
});

export interface WrkResult {
  durationSeconds: number;
  /** True when sequence.lua (once=1) ran out of paths before wrk's -d: req/s is over the active time. */
  exhausted: boolean;
  requests: number;
  requestsPerSecond: number;
  latencyMs: { mean: number; p50: number; p75: number; p90: number; p99: number; p999: number; max: number; stdev: number };
  /** Count per HTTP status, e.g. { "200": 1234 }. */
  statuses: Record<string, number>;
  /** Responses whose status is not 2xx (3xx included: a redirect loop is not a success). */
  non2xx: number;
  /** Socket-level failures: connect/read/write errors and timeouts (dropped from the latency histogram). */
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  bytesPerResponse: { mean: number; min: number; max: number };
  /** Bodies outside the expected size range (a redirect, an error page, a truncated body). */
  wrongSizeBodies: number;
  /** Requests that wrapped around the path sequence (for posts-cold: no longer a first request). */
  repeatedPaths: number;
}

export class WrkOutputError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'WrkOutputError';
  }
}

const ms = (us: number) => Math.round(us) / 1000;

export function parseWrkOutput(stdout: string): WrkResult {
  const line = stdout.split('\n').reverse().find((l) => l.startsWith(marker));
  if (!line) throw new WrkOutputError(`wrk printed no ${marker.trim()} line (did the Lua done() hook run?): ${stdout.slice(-500)}`);
  let raw: unknown;
  try {
    raw = JSON.parse(line.slice(marker.length));
  } catch (err) {
    throw new WrkOutputError('wrk printed malformed JSON', { cause: err });
  }
  const parsed = luaJson.safeParse(raw);
  if (!parsed.success) throw new WrkOutputError(`wrk JSON has an unexpected shape: ${parsed.error.message}`, { cause: parsed.error });
  const r = parsed.data;
  const p = (k: string) => ms(r.latency_us.percentiles[k] ?? Number.NaN);
  const exhausted = (r.active_us ?? 0) > 0;
  const durationSeconds = (exhausted ? r.active_us! : r.duration_us) / 1e6;
  const non2xx = Object.entries(r.statuses).reduce((sum, [status, n]) => (/^2\d\d$/.test(status) ? sum : sum + n), 0);
  return {
    durationSeconds,
    exhausted,
    requests: r.requests,
    requestsPerSecond: durationSeconds > 0 ? Math.round((r.requests / durationSeconds) * 10) / 10 : 0,
    latencyMs: {
      mean: ms(r.latency_us.mean), p50: p('50'), p75: p('75'), p90: p('90'), p99: p('99'), p999: p('99.9'),
      max: ms(r.latency_us.max), stdev: ms(r.latency_us.stdev),
    },
    statuses: Object.fromEntries(Object.entries(r.statuses).sort(([a], [b]) => a.localeCompare(b))),
    non2xx,
    socketErrors: { connect: r.errors.connect, read: r.errors.read, write: r.errors.write, timeout: r.errors.timeout },
    bytesPerResponse: {
      mean: r.responses > 0 ? Math.round(r.body_bytes / r.responses) : 0,
      min: Math.max(0, r.body_min),
      max: r.body_max,
    },
    wrongSizeBodies: r.wrong_size,
    repeatedPaths: r.repeats,
  };
}
