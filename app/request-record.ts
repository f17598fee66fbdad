import type { Histogram } from 'prom-client';
import type { AppDeps } from './deps';
import { accessLoggerOf, httpDurationMetric } from './create-deps';

// What every answered request leaves behind: its one log line (its reqId is the edge's
// X-Request-Id when nginx sent it, so the edge's access line and this one join) and its sample in
// the latency histogram. Fastify's onResponse hook (app/server.ts) and the hot path
// (app/hot-path.ts) both call it, so the two paths log and count alike.

export interface AnsweredRequest {
  reqId: string;
  method: string;
  url: string;
  statusCode: number;
  elapsedMs: number;
  /** X-Cache of the answer, if any. */
  cache: unknown;
  /** The client as trusted (the edge's X-Forwarded-For, else the peer). */
  remoteAddress: string | undefined;
  /** The route's pattern ('/posts/:slug'), or 'unmatched'. */
  route: string;
}

export type RequestRecorder = (answered: AnsweredRequest) => void;

const statusClasses = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

export function createRequestRecorder(deps: Pick<AppDeps, 'logger' | 'metrics'>): RequestRecorder {
  const duration = deps.metrics.getSingleMetric(httpDurationMetric) as Histogram<'route' | 'method' | 'status'> | undefined;
  // The labelled child per (route, method, status class): prom-client hashes the label object on
  // every observe() otherwise.
  const durationByLabels = new Map<string, Histogram.Internal<'route' | 'method' | 'status'>>();
  const access = accessLoggerOf(deps.logger);
  return (r) => {
    access.info({
      reqId: r.reqId, method: r.method, url: r.url, statusCode: r.statusCode,
      responseTime: Math.round(r.elapsedMs * 1000) / 1000, cache: r.cache, remoteAddress: r.remoteAddress,
    }, 'request completed');
    if (!duration) return;
    const statusClass = statusClasses[Math.floor(r.statusCode / 100)] ?? `${Math.floor(r.statusCode / 100)}xx`;
    const key = `${r.route}\u0000${r.method}\u0000${statusClass}`;
    let child = durationByLabels.get(key);
    if (!child) durationByLabels.set(key, (child = duration.labels({ route: r.route, method: r.method, status: statusClass })));
    child.observe(r.elapsedMs / 1000);
  };
}
